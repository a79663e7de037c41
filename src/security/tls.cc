#include "security/tls.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/server_context.h>

#include <filesystem>

#include "fmt/format.h"
#include "security/certs.h"
#include "security/grpc_diag.h"
#include "security/peer_verifier.h"
#include "spdlog/spdlog.h"

namespace prewarm::security {
namespace {
namespace ge = grpc::experimental;

constexpr auto kWarnBefore = std::chrono::hours(24 * 7);

bool IsLoopback(const IpAddr& a) {
  if (a.is_v4()) {
    return (a.v4_host_order() >> 24) == 127;
  }
  absl::StatusOr<IpAddr> v6_loopback = IpAddr::Parse("::1");
  return v6_loopback.ok() && a == *v6_loopback;
}

// The host of a gRPC target: "127.0.0.1:7400", "dns:///localhost:7400", "ipv4:127.0.0.1:7400",
// "[::1]:7400".
std::string TargetHost(std::string_view target) {
  for (std::string_view scheme : {"dns:///", "dns:", "ipv4:", "ipv6:"}) {
    if (target.starts_with(scheme)) {
      target.remove_prefix(scheme.size());
      break;
    }
  }
  if (target.starts_with('[')) {
    return std::string(target.substr(1, target.find(']') - 1));
  }
  return std::string(target.substr(0, target.rfind(':')));
}

bool TargetIsLoopback(std::string_view target) {
  std::string host = TargetHost(target);
  absl::StatusOr<IpAddr> ip = IpAddr::Parse(host);
  return host == "localhost" || (ip.ok() && IsLoopback(*ip));
}

std::string_view View(const grpc::string_ref& s) { return std::string_view(s.data(), s.size()); }

struct LoadedTls {
  std::shared_ptr<const TrustAnchor> ca;
  std::string cert_pem;
  std::string key_pem;
  Credential credential;
};

absl::StatusOr<std::string> ReadTlsFile(std::string_view field, const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        fmt::format("tls.{} {}", field, text.status().message()));
  }
  return text;
}

// Reads the three files; the key must belong to the certificate. Validity is CheckTlsFiles'.
absl::StatusOr<LoadedTls> Load(const TlsConfig& tls) {
  LoadedTls out;
  ASSIGN_OR_RETURN(std::string ca_pem, ReadTlsFile("ca", tls.ca_file));
  ASSIGN_OR_RETURN(out.cert_pem, ReadTlsFile("cert", tls.cert_file));
  ASSIGN_OR_RETURN(out.key_pem, ReadTlsFile("key", tls.key_file));
  absl::StatusOr<TrustAnchor> ca =
      TrustAnchor::FromPem(ca_pem, std::filesystem::path(tls.ca_file).filename().string());
  if (!ca.ok()) {
    return absl::InvalidArgumentError(fmt::format("tls.ca {}", ca.status().message()));
  }
  out.ca = std::make_shared<const TrustAnchor>(*std::move(ca));
  ASSIGN_OR_RETURN(out.credential.cert, CertFromPem(out.cert_pem, "tls.cert " + tls.cert_file));
  ASSIGN_OR_RETURN(out.credential.key, KeyFromPem(out.key_pem, "tls.key " + tls.key_file));
  if (EVP_PKEY_eq(X509_get0_pubkey(out.credential.cert.get()), out.credential.key.get()) != 1) {
    DrainOpenSslErrors();
    return absl::InvalidArgumentError(fmt::format("tls.key {}: not the key of tls.cert {} ({})",
                                                  tls.key_file, tls.cert_file,
                                                  SubjectOf(*out.credential.cert)));
  }
  return out;
}

void WarnIfExpiresSoon(std::string_view what, const X509& cert, TimePoint now) {
  TimePoint until = NotAfter(cert);
  if (until - now > kWarnBefore) {
    return;
  }
  auto days = std::chrono::duration_cast<std::chrono::hours>(until - now).count() / 24;
  spdlog::warn("{}: expires on {} (in {} days): issue a new one (prewarm certs issue)", what,
               FormatDate(until), days);
}

const char* Article(Role r) {
  return r == Role::kAgent || r == Role::kOrchestrator || r == Role::kOperator || r == Role::kEtcd
             ? "an"
             : "a";
}

}  // namespace

const char* RoleName(Role r) {
  switch (r) {
    case Role::kAgent:
      return "agent";
    case Role::kOrchestrator:
      return "orchestrator";
    case Role::kForecaster:
      return "forecaster";
    case Role::kOperator:
      return "operator";
    case Role::kEtcd:
      return "etcd";
  }
  return "unknown";
}

absl::StatusOr<TlsConfig> ParseTlsConfig(const YamlReader& r) {
  ASSIGN_OR_RETURN(std::optional<YamlReader> t, r.Map("tls"));
  if (!t) {
    return TlsConfig{};
  }
  RETURN_IF_ERROR(t->CheckKnown({"ca", "cert", "key"}));
  if (!t->Has("ca") || !t->Has("cert") || !t->Has("key")) {
    return t->Error("",
                    "needs all three of ca, cert and key (or no tls: for plaintext on loopback)");
  }
  TlsConfig out;
  ASSIGN_OR_RETURN(out.ca_file, t->String("ca"));
  ASSIGN_OR_RETURN(out.cert_file, t->String("cert"));
  ASSIGN_OR_RETURN(out.key_file, t->String("key"));
  for (auto [key, value] :
       {std::pair{"ca", &out.ca_file}, {"cert", &out.cert_file}, {"key", &out.key_file}}) {
    if (value->empty()) {
      return t->Error(key, "must name a file");
    }
  }
  return out;
}

absl::Status CheckTlsFiles(const TlsConfig& tls) {
  if (!tls.enabled()) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(LoadedTls t, Load(tls));
  TimePoint now = std::chrono::system_clock::now();
  const X509& cert = *t.credential.cert;
  absl::Status verified = t.ca->Verify(cert, nullptr, Purpose::kAny, now);
  if (!verified.ok()) {
    return absl::FailedPreconditionError(
        fmt::format("tls.cert {}: {}", tls.cert_file, verified.message()));
  }
  absl::StatusOr<Identity> id = IdentityOf(cert);
  if (!id.ok()) {
    return absl::FailedPreconditionError(
        fmt::format("tls.cert {}: {}", tls.cert_file, id.status().message()));
  }
  WarnIfExpiresSoon(fmt::format("tls.cert {}", tls.cert_file), cert, now);
  spdlog::info("TLS: we are {} (tls.cert {}, valid until {}); peers must be signed by {}",
               id->Describe(), tls.cert_file, FormatDate(NotAfter(cert)), t.ca->Describe());
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const TlsConfig& tls,
                                                                           const HostPort& listen) {
  if (!tls.enabled()) {
    if (!IsLoopback(listen.addr)) {
      return absl::FailedPreconditionError(fmt::format(
          "gRPC {}: plaintext is allowed only on a loopback address (anyone who reaches it could "
          "drain nodes or pose as an agent): set tls: {{ca, cert, key}} (prewarm certs init) or "
          "listen on 127.0.0.1",
          listen.ToString()));
    }
    spdlog::warn(
        "gRPC {}: plaintext without authentication: any local process can connect and "
        "act as any agent, forecaster or operator (set tls: to require certificates)",
        listen.ToString());
    return grpc::InsecureServerCredentials();
  }
  ASSIGN_OR_RETURN(LoadedTls t, Load(tls));
  if (!Inspect(*t.credential.cert).usage.server_auth) {
    return absl::FailedPreconditionError(
        fmt::format("tls.cert {}: {} cannot serve: its extendedKeyUsage lacks serverAuth",
                    tls.cert_file, SubjectOf(*t.credential.cert)));
  }
  auto provider = std::make_shared<ge::StaticDataCertificateProvider>(
      t.ca->pem(), std::vector<ge::IdentityKeyCertPair>{{t.key_pem, t.cert_pem}});
  ge::TlsServerCredentialsOptions options(provider);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  // A certificate is required; MakeClientCertVerifier, not OpenSSL, decides whether it is good.
  options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  options.set_certificate_verifier(MakeClientCertVerifier(t.ca, listen.ToString()));
  return ge::TlsServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(
    const TlsConfig& tls, const std::string& target) {
  if (!tls.enabled()) {
    if (!TargetIsLoopback(target)) {
      return absl::FailedPreconditionError(fmt::format(
          "gRPC to {}: plaintext is allowed only to a loopback address: set tls: {{ca, cert, key}}",
          target));
    }
    spdlog::warn("gRPC to {}: plaintext without authentication (set tls: to use certificates)",
                 target);
    return grpc::InsecureChannelCredentials();
  }
  ASSIGN_OR_RETURN(LoadedTls t, Load(tls));
  auto provider = std::make_shared<ge::StaticDataCertificateProvider>(
      t.ca->pem(), std::vector<ge::IdentityKeyCertPair>{{t.key_pem, t.cert_pem}});
  ge::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  // MakeServerCertVerifier checks the chain, dates, serverAuth and the host itself.
  options.set_verify_server_certs(false);
  options.set_check_call_host(false);
  options.set_certificate_verifier(MakeServerCertVerifier(t.ca));
  RememberClientTls(target, ClientTlsInfo{tls.cert_file, t.cert_pem, t.ca});
  return ge::TlsCredentials(options);
}

std::string Peer::Describe() const {
  if (!authenticated) {
    return fmt::format("unauthenticated caller ({})", address);
  }
  return fmt::format("{} {} ({})", RoleName(role), name, address);
}

absl::StatusOr<Peer> PeerOf(const grpc::ServerContext& ctx) {
  Peer peer;
  peer.address = ctx.peer();
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  std::vector<grpc::string_ref> type =
      auth ? auth->FindPropertyValues("transport_security_type") : std::vector<grpc::string_ref>{};
  if (type.empty() || View(type.front()) == "insecure") {
    return peer;  // plaintext (loopback)
  }
  std::vector<grpc::string_ref> pems = auth->FindPropertyValues("x509_pem_cert");
  bool tls =
      View(type.front()) == "tls" || View(type.front()) == "ssl";  // Tls* or Ssl* credentials
  if (!tls || pems.empty()) {
    return absl::UnauthenticatedError(fmt::format("{}: no client certificate", peer.address));
  }
  absl::StatusOr<X509Ptr> cert = CertFromPem(View(pems.front()), "client certificate");
  absl::StatusOr<Identity> id = cert.ok() ? IdentityOf(**cert) : cert.status();
  if (!id.ok()) {
    return absl::UnauthenticatedError(fmt::format("{}: {}", peer.address, id.status().message()));
  }
  peer.authenticated = true;
  peer.role = id->role;
  peer.name = id->name;
  peer.range = id->range;
  return peer;
}

absl::Status Require(const Peer& peer, Role role, std::string_view action) {
  if (!peer.authenticated || peer.role == role) {
    return absl::OkStatus();
  }
  std::string message = fmt::format("{}: refused for {}: needs {} {} certificate, not {} {} one",
                                    action, peer.Describe(), Article(role), RoleName(role),
                                    Article(peer.role), RoleName(peer.role));
  spdlog::warn("{}", message);
  return absl::PermissionDeniedError(message);
}

absl::Status RequireAgent(const Peer& peer, std::string_view node_id, std::string_view action) {
  RETURN_IF_ERROR(Require(peer, Role::kAgent, action));
  if (!peer.authenticated || peer.name == node_id) {
    return absl::OkStatus();
  }
  std::string message = fmt::format("{} as node {}: refused for {}: its certificate is for node {}",
                                    action, node_id, peer.Describe(), peer.name);
  spdlog::warn("{}", message);
  return absl::PermissionDeniedError(message);
}

}  // namespace prewarm::security
