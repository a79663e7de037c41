// OpenSSL plumbing for src/security: owners (unique_ptr with the matching *_free) for
// every OpenSSL object we hold, OpenSSL's error queue as an absl::Status, PEM in and out,
// certificate dates, and writing a file atomically with a given mode (keys are 0600).
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace prewarm::security {

template <auto Free>
struct OsslDeleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};

using PkeyPtr = std::unique_ptr<EVP_PKEY, OsslDeleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, OsslDeleter<X509_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, OsslDeleter<X509_STORE_free>>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, OsslDeleter<X509_STORE_CTX_free>>;
using X509ExtPtr = std::unique_ptr<X509_EXTENSION, OsslDeleter<X509_EXTENSION_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, OsslDeleter<GENERAL_NAMES_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, OsslDeleter<GENERAL_NAME_free>>;
using BioPtr = std::unique_ptr<BIO, OsslDeleter<BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, OsslDeleter<BN_free>>;

using TimePoint = std::chrono::system_clock::time_point;

// X509_NAME_print_ex flags for "O=prewarm, OU=agent, CN=fra-1".
constexpr unsigned long kNameFlags = XN_FLAG_ONELINE & ~XN_FLAG_SPC_EQ & ~ASN1_STRFLGS_ESC_MSB;

// Drains OpenSSL's error queue of this thread into one line ("" when empty).
std::string DrainOpenSslErrors();
// Internal error "what: <OpenSSL's errors>".
absl::Status OpenSslError(std::string_view what);

// The first certificate in `pem`; `source` names it in errors (a file path).
absl::StatusOr<X509Ptr> CertFromPem(std::string_view pem, std::string_view source);
// Every certificate in `pem` (a CA bundle); at least one.
absl::StatusOr<std::vector<X509Ptr>> CertsFromPem(std::string_view pem, std::string_view source);
absl::StatusOr<PkeyPtr> KeyFromPem(std::string_view pem, std::string_view source);
absl::StatusOr<std::string> CertToPem(X509& cert);
// PKCS#8, unencrypted.
absl::StatusOr<std::string> KeyToPem(EVP_PKEY& key);

// "O=prewarm, OU=agent, CN=fra-1".
std::string SubjectOf(const X509& cert);
TimePoint NotBefore(const X509& cert);
TimePoint NotAfter(const X509& cert);
// "2026-11-30" (UTC).
std::string FormatDate(TimePoint t);

// The whole file; NotFound/PermissionDenied naming the path.
absl::StatusOr<std::string> ReadFile(const std::string& path);
// Writes `path` through a temporary file in the same directory created with `mode`,
// fsynced and renamed over `path`: readers see the old file or the new one, never a part.
absl::Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode);

}  // namespace prewarm::security
