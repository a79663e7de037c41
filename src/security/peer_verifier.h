// The check of the peer's certificate on every prewarm TLS link, done by us with OpenSSL
// (X509_verify_cert against our CA: signature chain, validity, extendedKeyUsage; plus the
// prewarm identity, and on the client the host we dialled) instead of inside gRPC's
// handshake.
//
// Why (measured with gRPC 1.51.1 + OpenSSL 3.0, TLS 1.3): when OpenSSL verifies inside the
// handshake, a refused client certificate is logged by the server only as "Handshake
// failed with fatal error SSL_ERROR_SSL: error:0A000086:SSL routines::certificate verify
// failed." (no subject, no reason, no address), and a client refusing the server's
// certificate reports the same words. Through grpc::experimental::TlsServerCredentials /
// TlsCredentials with an ExternalCertificateVerifier, the refusing side logs (server) or
// returns (client) the certificate's subject, identity and the exact reason. gRPC gives the
// verifier no peer address, so the server's log names the certificate, not the address.
// The TLS handshake itself still proves the peer holds the certificate's private key.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "security/certs.h"
#include "security/verify.h"

namespace grpc::experimental {
class CertificateVerifier;
}  // namespace grpc::experimental

namespace prewarm::security {

// A client's certificate, seen by a server: chains to `ca`, valid at `now`, allows
// clientAuth, carries a prewarm identity. `chain_pem` holds any further certificates
// the peer sent (untrusted). Errors read "the client's certificate (<identity>; <subject>):
// <reason>".
absl::StatusOr<Identity> CheckClientCert(const TrustAnchor& ca, std::string_view leaf_pem,
                                         std::string_view chain_pem, TimePoint now);
// A server's certificate, seen by a client dialling `host` (a DNS name or IP literal): as
// above with serverAuth, and a DNS or IP subjectAltName must match `host`.
absl::StatusOr<Identity> CheckServerCert(const TrustAnchor& ca, std::string_view leaf_pem,
                                         std::string_view chain_pem, std::string_view host,
                                         TimePoint now);

// Verifiers for TlsCredentialsOptions::set_certificate_verifier. The server's logs each
// refusal as a warning naming `listen`, the certificate and the reason.
std::shared_ptr<grpc::experimental::CertificateVerifier> MakeClientCertVerifier(
    std::shared_ptr<const TrustAnchor> ca, std::string listen);
std::shared_ptr<grpc::experimental::CertificateVerifier> MakeServerCertVerifier(
    std::shared_ptr<const TrustAnchor> ca);

}  // namespace prewarm::security
