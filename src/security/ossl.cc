#include "security/ossl.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <fstream>
#include <sstream>

#include "common/net.h"
#include "fmt/format.h"

namespace prewarm::security {
namespace {

BioPtr MemBio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string BioText(BIO& bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(&bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

TimePoint FromAsn1(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return TimePoint{};
  }
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

std::string DrainOpenSslErrors() {
  std::string out;
  for (int i = 0; i < 16; ++i) {  // bounded: the queue holds at most 16 entries
    unsigned long e = ERR_get_error();
    if (e == 0) {
      break;
    }
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) {
      out += "; ";
    }
    out += buf;
  }
  ERR_clear_error();
  return out;
}

absl::Status OpenSslError(std::string_view what) {
  std::string errors = DrainOpenSslErrors();
  if (errors.empty()) {
    return absl::InternalError(std::string(what));
  }
  return absl::InternalError(fmt::format("{}: {}", what, errors));
}

absl::StatusOr<std::vector<X509Ptr>> CertsFromPem(std::string_view pem, std::string_view source) {
  BioPtr bio = MemBio(pem);
  std::vector<X509Ptr> certs;
  for (int i = 0; bio && i < 1000; ++i) {  // bounded: a CA bundle, not a database
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
      break;
    }
    certs.push_back(std::move(cert));
  }
  DrainOpenSslErrors();  // the read past the last certificate leaves "no start line"
  if (certs.empty()) {
    return absl::InvalidArgumentError(fmt::format("{}: no PEM certificate in it", source));
  }
  return certs;
}

absl::StatusOr<X509Ptr> CertFromPem(std::string_view pem, std::string_view source) {
  ASSIGN_OR_RETURN(std::vector<X509Ptr> certs, CertsFromPem(pem, source));
  return std::move(certs.front());
}

absl::StatusOr<PkeyPtr> KeyFromPem(std::string_view pem, std::string_view source) {
  BioPtr bio = MemBio(pem);
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) {
    std::string errors = DrainOpenSslErrors();
    return absl::InvalidArgumentError(
        fmt::format("{}: not a PEM private key ({})", source, errors));
  }
  return key;
}

absl::StatusOr<std::string> CertToPem(X509& cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), &cert) != 1) {
    return OpenSslError("PEM certificate");
  }
  return BioText(*bio);
}

absl::StatusOr<std::string> KeyToPem(EVP_PKEY& key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), &key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError("PEM private key");
  }
  return BioText(*bio);
}

std::string SubjectOf(const X509& cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) {
    return "?";
  }
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(&cert), 0, kNameFlags);
  return BioText(*bio);
}

TimePoint NotBefore(const X509& cert) { return FromAsn1(X509_get0_notBefore(&cert)); }
TimePoint NotAfter(const X509& cert) { return FromAsn1(X509_get0_notAfter(&cert)); }

std::string FormatDate(TimePoint t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return fmt::format("{:04}-{:02}-{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    return err == EACCES ? absl::PermissionDeniedError(fmt::format("{}: permission denied", path))
                         : absl::NotFoundError(fmt::format("{}: cannot read it", path));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode) {
  std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  ScopedFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd.valid()) {
    return ErrnoStatus(errno, "create " + tmp);
  }
  absl::Status st =
      ::fchmod(fd.get(), mode) == 0 ? absl::OkStatus() : ErrnoStatus(errno, "chmod " + tmp);
  size_t done = 0;
  for (int pass = 0; st.ok() && done < data.size(); ++pass) {
    ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n == 0 || errno != EINTR || pass > 100) {
      st = ErrnoStatus(n == 0 ? EIO : errno, "write " + tmp);
    }
  }
  if (st.ok() && ::fsync(fd.get()) != 0) {
    st = ErrnoStatus(errno, "fsync " + tmp);
  }
  fd.reset();
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    st = ErrnoStatus(errno, "rename " + path);
  }
  if (!st.ok()) {
    ::unlink(tmp.c_str());
  }
  return st;
}

}  // namespace prewarm::security
