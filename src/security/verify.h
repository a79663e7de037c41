// Verifying a certificate against prewarm's CA with OpenSSL (X509_verify_cert: signature
// chain, dates, extendedKeyUsage), with the reason put the way an operator can act on it:
// "expired on 2026-11-30 (now 2026-12-05)", "issued by O=prewarm, CN=prewarm CA b-7f3e,
// not by our CA (ca.crt: O=prewarm, CN=prewarm CA a-19c2)".
#pragma once

#include <string>
#include <string_view>

#include "security/ossl.h"

namespace prewarm::security {

// What the certificate is being used for: its extendedKeyUsage must allow it.
enum class Purpose { kAny, kTlsServer, kTlsClient };

class TrustAnchor {
 public:
  // The CA certificate(s) in a PEM file; `source` names it in reasons.
  static absl::StatusOr<TrustAnchor> Load(const std::string& ca_file);
  static absl::StatusOr<TrustAnchor> FromPem(std::string_view pem, std::string source);

  // OK, or FailedPrecondition whose message is the reason alone (no subject, no path).
  absl::Status Verify(const X509& leaf, STACK_OF(X509) * untrusted, Purpose purpose,
                      TimePoint now) const;

  const std::string& pem() const { return pem_; }
  const std::string& source() const { return source_; }
  // "ca.crt: O=prewarm, CN=prewarm CA fra-7f3e1c"
  std::string Describe() const;

 private:
  TrustAnchor(X509StorePtr store, std::string pem, std::string source, std::string subject)
      : store_(std::move(store)),
        pem_(std::move(pem)),
        source_(std::move(source)),
        subject_(std::move(subject)) {}

  X509StorePtr store_;
  std::string pem_;
  std::string source_;
  std::string subject_;
};

// The reason X509_verify_cert gave `err` for `bad` (the certificate it failed on).
std::string VerifyReason(int err, const X509& leaf, const X509* bad, Purpose purpose, TimePoint now,
                         const std::string& ca);

}  // namespace prewarm::security
