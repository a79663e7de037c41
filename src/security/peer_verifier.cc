#include "security/peer_verifier.h"

#include <grpcpp/security/tls_certificate_verifier.h>
#include <openssl/pem.h>

#include <optional>

#include "absl/strings/str_join.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace prewarm::security {
namespace {
namespace ge = grpc::experimental;

struct X509StackFree {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackFree>;

// The certificates the peer sent besides its own; they may only lead to our CA, never
// stand in for it (X509_verify_cert trusts the store alone).
X509StackPtr UntrustedChain(std::string_view chain_pem) {
  X509StackPtr stack(sk_X509_new_null());
  if (chain_pem.empty() || !stack) {
    return stack;
  }
  absl::StatusOr<std::vector<X509Ptr>> certs = CertsFromPem(chain_pem, "peer chain");
  if (!certs.ok()) {
    return stack;
  }
  for (X509Ptr& c : *certs) {
    if (sk_X509_push(stack.get(), c.get()) > 0) {
      static_cast<void>(c.release());  // owned by the stack now
    }
  }
  return stack;
}

// "agent fra-1; O=prewarm, OU=agent, CN=fra-1", or the subject alone without an identity.
std::string Who(const X509& cert) {
  absl::StatusOr<Identity> id = IdentityOf(cert);
  return id.ok() ? fmt::format("{}; {}", id->Describe(), SubjectOf(cert)) : SubjectOf(cert);
}

bool MatchesHost(const X509& cert, std::string host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  X509* c = const_cast<X509*>(&cert);  // the X509_check_* functions only read it
  if (IpAddr::Parse(host).ok()) {
    return X509_check_ip_asc(c, host.c_str(), 0) == 1;
  }
  return X509_check_host(c, host.data(), host.size(),
                         X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
                         nullptr) == 1;
}

absl::StatusOr<Identity> Check(const TrustAnchor& ca, std::string_view leaf_pem,
                               std::string_view chain_pem, Purpose purpose,
                               std::optional<std::string_view> host, TimePoint now) {
  const char* side = purpose == Purpose::kTlsServer ? "server" : "client";
  absl::StatusOr<X509Ptr> leaf = CertFromPem(leaf_pem, fmt::format("the {}'s certificate", side));
  if (!leaf.ok()) {
    return absl::UnauthenticatedError(leaf.status().message());
  }
  std::string who = fmt::format("the {}'s certificate ({})", side, Who(**leaf));
  X509StackPtr chain = UntrustedChain(chain_pem);
  absl::Status verified = ca.Verify(**leaf, chain.get(), purpose, now);
  if (!verified.ok()) {
    return absl::UnauthenticatedError(fmt::format("{}: {}", who, verified.message()));
  }
  if (host && !MatchesHost(**leaf, std::string(*host))) {
    CertInfo info = Inspect(**leaf);
    return absl::UnauthenticatedError(
        fmt::format("{}: is not for {}: its subjectAltName names DNS [{}] IP [{}]", who, *host,
                    absl::StrJoin(info.dns_names, ", "), absl::StrJoin(info.ips, ", ")));
  }
  absl::StatusOr<Identity> id = IdentityOf(**leaf);
  if (!id.ok()) {
    return absl::UnauthenticatedError(
        fmt::format("{}: carries no prewarm identity: {}", who, id.status().message()));
  }
  return id;
}

std::string_view View(const grpc::string_ref& s) { return std::string_view(s.data(), s.size()); }

class ClientCertVerifier final : public ge::ExternalCertificateVerifier {
 public:
  ClientCertVerifier(std::shared_ptr<const TrustAnchor> ca, std::string listen)
      : ca_(std::move(ca)), listen_(std::move(listen)) {}

  bool Verify(ge::TlsCustomVerificationCheckRequest* request, std::function<void(grpc::Status)>,
              grpc::Status* sync_status) override {
    absl::StatusOr<Identity> id =
        CheckClientCert(*ca_, View(request->peer_cert()), View(request->peer_cert_full_chain()),
                        std::chrono::system_clock::now());
    if (!id.ok()) {
      spdlog::warn("gRPC {}: refused a connection: {}", listen_, id.status().message());
      *sync_status =
          grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(id.status().message()));
    } else {
      spdlog::debug("gRPC {}: TLS peer {}", listen_, id->Describe());
      *sync_status = grpc::Status::OK;
    }
    return true;  // done synchronously
  }
  void Cancel(ge::TlsCustomVerificationCheckRequest*) override {}

 private:
  std::shared_ptr<const TrustAnchor> ca_;
  std::string listen_;
};

class ServerCertVerifier final : public ge::ExternalCertificateVerifier {
 public:
  explicit ServerCertVerifier(std::shared_ptr<const TrustAnchor> ca) : ca_(std::move(ca)) {}

  bool Verify(ge::TlsCustomVerificationCheckRequest* request, std::function<void(grpc::Status)>,
              grpc::Status* sync_status) override {
    absl::StatusOr<Identity> id =
        CheckServerCert(*ca_, View(request->peer_cert()), View(request->peer_cert_full_chain()),
                        View(request->target_name()), std::chrono::system_clock::now());
    *sync_status = id.ok() ? grpc::Status::OK
                           : grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                          std::string(id.status().message()));
    return true;  // done synchronously
  }
  void Cancel(ge::TlsCustomVerificationCheckRequest*) override {}

 private:
  std::shared_ptr<const TrustAnchor> ca_;
};

}  // namespace

absl::StatusOr<Identity> CheckClientCert(const TrustAnchor& ca, std::string_view leaf_pem,
                                         std::string_view chain_pem, TimePoint now) {
  return Check(ca, leaf_pem, chain_pem, Purpose::kTlsClient, std::nullopt, now);
}

absl::StatusOr<Identity> CheckServerCert(const TrustAnchor& ca, std::string_view leaf_pem,
                                         std::string_view chain_pem, std::string_view host,
                                         TimePoint now) {
  return Check(ca, leaf_pem, chain_pem, Purpose::kTlsServer, host, now);
}

std::shared_ptr<ge::CertificateVerifier> MakeClientCertVerifier(
    std::shared_ptr<const TrustAnchor> ca, std::string listen) {
  return ge::ExternalCertificateVerifier::Create<ClientCertVerifier>(std::move(ca),
                                                                     std::move(listen));
}

std::shared_ptr<ge::CertificateVerifier> MakeServerCertVerifier(
    std::shared_ptr<const TrustAnchor> ca) {
  return ge::ExternalCertificateVerifier::Create<ServerCertVerifier>(std::move(ca));
}

}  // namespace prewarm::security
