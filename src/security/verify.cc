#include "security/verify.h"

#include <filesystem>

#include "fmt/format.h"

namespace prewarm::security {
namespace {

std::string IssuerOf(const X509& cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) {
    return "?";
  }
  X509_NAME_print_ex(bio.get(), X509_get_issuer_name(&cert), 0, kNameFlags);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

std::string PurposeText(Purpose p) {
  return p == Purpose::kTlsServer ? "a TLS server: its extendedKeyUsage lacks serverAuth"
                                  : "a TLS client: its extendedKeyUsage lacks clientAuth";
}

bool IsUnknownIssuer(int err) {
  switch (err) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<TrustAnchor> TrustAnchor::Load(const std::string& ca_file) {
  ASSIGN_OR_RETURN(std::string pem, ReadFile(ca_file));
  return FromPem(pem, std::filesystem::path(ca_file).filename().string());
}

absl::StatusOr<TrustAnchor> TrustAnchor::FromPem(std::string_view pem, std::string source) {
  ASSIGN_OR_RETURN(std::vector<X509Ptr> certs, CertsFromPem(pem, source));
  X509StorePtr store(X509_STORE_new());
  if (!store) {
    return OpenSslError("X509_STORE");
  }
  for (X509Ptr& cert : certs) {
    if (X509_check_ca(cert.get()) <= 0) {
      return absl::InvalidArgumentError(
          fmt::format("{}: {} is not a CA certificate", source, SubjectOf(*cert)));
    }
    if (X509_STORE_add_cert(store.get(), cert.get()) != 1) {
      return OpenSslError(source);
    }
  }
  return TrustAnchor(std::move(store), std::string(pem), std::move(source),
                     SubjectOf(*certs.front()));
}

std::string TrustAnchor::Describe() const { return fmt::format("{}: {}", source_, subject_); }

absl::Status TrustAnchor::Verify(const X509& leaf, STACK_OF(X509) * untrusted, Purpose purpose,
                                 TimePoint now) const {
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509* cert = const_cast<X509*>(&leaf);  // X509_STORE_CTX_init only reads it
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store_.get(), cert, untrusted) != 1) {
    return OpenSslError("X509_STORE_CTX");
  }
  X509_STORE_CTX_set_time(ctx.get(), 0, std::chrono::system_clock::to_time_t(now));
  if (purpose != Purpose::kAny) {
    X509_STORE_CTX_set_purpose(ctx.get(), purpose == Purpose::kTlsServer ? X509_PURPOSE_SSL_SERVER
                                                                         : X509_PURPOSE_SSL_CLIENT);
  }
  if (X509_verify_cert(ctx.get()) == 1) {
    return absl::OkStatus();
  }
  int err = X509_STORE_CTX_get_error(ctx.get());
  const X509* bad = X509_STORE_CTX_get_current_cert(ctx.get());
  DrainOpenSslErrors();
  return absl::FailedPreconditionError(VerifyReason(err, leaf, bad, purpose, now, Describe()));
}

std::string VerifyReason(int err, const X509& leaf, const X509* bad, Purpose purpose, TimePoint now,
                         const std::string& ca) {
  const X509& c = bad != nullptr ? *bad : leaf;
  std::string who = X509_cmp(&c, &leaf) == 0 ? "" : fmt::format("its CA {} ", SubjectOf(c));
  switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return fmt::format("{}expired on {} (now {})", who, FormatDate(NotAfter(c)), FormatDate(now));
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return fmt::format("{}not valid before {} (now {}; is a clock wrong?)", who,
                         FormatDate(NotBefore(c)), FormatDate(now));
    case X509_V_ERR_INVALID_PURPOSE:
      return fmt::format("{}not for use as {}", who, PurposeText(purpose));
    default:
      break;
  }
  if (IsUnknownIssuer(err)) {
    return fmt::format("issued by {}, not by our CA ({})", IssuerOf(leaf), ca);
  }
  return fmt::format("{}{}", who, X509_verify_cert_error_string(err));
}

}  // namespace prewarm::security
