// RouteGrpcLogsToSpdlog and DescribeRpcError (tls.h).
//
// What gRPC 1.51.1 with OpenSSL 3.0 (TLS 1.3) reports on the client, measured:
//   our verifier refused the server's certificate:
//     UNAVAILABLE "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:7400:
//     Custom verification check failed with error: UNAUTHENTICATED: <our reason>"
//   the server refused our certificate (its verifier failed after the handshake):
//     UNAVAILABLE "failed to connect to all addresses; last error: UNAVAILABLE:
//     ipv4:127.0.0.1:7400: Socket closed": no alert, no reason reaches the client
//   OpenSSL itself failed the handshake:
//     "...: Ssl handshake failed: SSL_ERROR_SSL: error:0A00010B:SSL routines::wrong version number"
#include "security/grpc_diag.h"

#include <grpc/support/log.h>
#include <grpcpp/support/status.h>

#include <map>
#include <mutex>
#include <optional>

#include "absl/synchronization/mutex.h"
#include "fmt/format.h"
#include "security/certs.h"
#include "security/tls.h"
#include "spdlog/spdlog.h"

namespace prewarm::security {
namespace {

constexpr std::string_view kCustomCheck = "Custom verification check failed with error: ";
constexpr std::string_view kUnauthenticated = "UNAUTHENTICATED: ";

struct Registry {
  absl::Mutex mu;
  std::map<std::string, ClientTlsInfo, std::less<>> by_target ABSL_GUARDED_BY(mu);
};

Registry& TheRegistry() {
  static Registry* registry = new Registry();  // never destroyed: used from gRPC threads
  return *registry;
}

std::optional<ClientTlsInfo> FindClientTls(std::string_view target) {
  Registry& r = TheRegistry();
  absl::MutexLock lock(&r.mu);
  auto it = r.by_target.find(target);
  if (it == r.by_target.end()) {
    return std::nullopt;
  }
  return it->second;
}

// Words for gRPC's own lines that do not say what they mean for a prewarm link.
std::string_view HintFor(std::string_view message) {
  if (message.find("wrong version number") != std::string_view::npos) {
    return " [one side of this link has tls: configured and the other does not]";
  }
  if (message.find("No match found for server name") != std::string_view::npos) {
    return " [a client dialled an address this server's certificate does not name]";
  }
  return "";
}

void GrpcLog(gpr_log_func_args* args) {
  spdlog::level::level_enum level = args->severity == GPR_LOG_SEVERITY_ERROR ? spdlog::level::err
                                    : args->severity == GPR_LOG_SEVERITY_INFO
                                        ? spdlog::level::info
                                        : spdlog::level::debug;
  std::string_view file = args->file != nullptr ? args->file : "?";
  if (size_t slash = file.rfind('/'); slash != std::string_view::npos) {
    file.remove_prefix(slash + 1);
  }
  std::string_view message = args->message != nullptr ? args->message : "";
  // A handshake still pending when a server shuts down: not actionable.
  if (message.find("Listener stopped serving") != std::string_view::npos) {
    level = spdlog::level::debug;
  }
  spdlog::log(level, "grpc: {}{} ({}:{})", message, HintFor(message), file, args->line);
}

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// The server closed the link right after the handshake: say whether our certificate is why.
std::string OurCertificateRefused(std::string_view target, const ClientTlsInfo& tls) {
  absl::StatusOr<X509Ptr> cert = CertFromPem(tls.cert_pem, tls.cert_file);
  if (!cert.ok()) {
    return fmt::format("TLS to {} failed: {}", target, cert.status().message());
  }
  absl::StatusOr<Identity> id = IdentityOf(**cert);
  std::string ours =
      fmt::format("tls.cert {}: {}", tls.cert_file, id.ok() ? id->Describe() : SubjectOf(**cert));
  absl::Status st =
      tls.ca->Verify(**cert, nullptr, Purpose::kTlsClient, std::chrono::system_clock::now());
  if (!st.ok()) {
    return fmt::format("TLS to {} failed: our certificate was refused: {} ({})", target,
                       st.message(), ours);
  }
  return fmt::format(
      "TLS to {} failed: the server closed the connection right after the TLS handshake, so it "
      "refused our certificate ({}), which is valid for our CA ({}): the server trusts another "
      "CA or is shutting down; its log names the reason",
      target, ours, tls.ca->Describe());
}

std::string HandshakeFailed(std::string_view target, std::string_view message) {
  size_t colon = message.rfind("::");
  std::string_view reason = colon == std::string_view::npos ? message : message.substr(colon + 2);
  std::string hint;
  if (Contains(reason, "wrong version number") || Contains(reason, "packet length too long")) {
    hint = " (the server does not speak TLS: is it running without tls:?)";
  }
  return fmt::format("TLS to {} failed: the TLS handshake failed: {}{}", target, reason, hint);
}

}  // namespace

void RememberClientTls(const std::string& target, ClientTlsInfo info) {
  Registry& r = TheRegistry();
  absl::MutexLock lock(&r.mu);
  r.by_target.insert_or_assign(target, std::move(info));
}

void RouteGrpcLogsToSpdlog() {
  static std::once_flag once;
  std::call_once(once, [] { gpr_set_log_function(&GrpcLog); });
}

std::string DescribeRpcError(const grpc::Status& status, std::string_view target) {
  if (status.ok()) {
    return "";
  }
  const std::string& message = status.error_message();
  std::optional<ClientTlsInfo> tls = FindClientTls(target);
  if (size_t at = message.find(kCustomCheck); at != std::string::npos) {
    std::string_view reason = std::string_view(message).substr(at + kCustomCheck.size());
    if (reason.starts_with(kUnauthenticated)) {
      reason.remove_prefix(kUnauthenticated.size());
    }
    return fmt::format("TLS to {} failed: {}", target, reason);
  }
  if (Contains(message, "Ssl handshake failed") || Contains(message, "Tls handshake failed")) {
    return HandshakeFailed(target, message);
  }
  bool closed = Contains(message, "Socket closed") || Contains(message, "Connection reset") ||
                Contains(message, "Broken pipe");
  if (closed && status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    if (tls) {
      return OurCertificateRefused(target, *tls);
    }
    return fmt::format(
        "{}: the server closed the connection while it was being set up: if it requires TLS, "
        "set tls: {{ca, cert, key}} here too ({})",
        target, message);
  }
  return fmt::format("{}: {}: {}", target,
                     absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())),
                     message);
}

}  // namespace prewarm::security
