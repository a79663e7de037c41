#include "security/certs.h"

#include <openssl/ec.h>
#include <openssl/rand.h>

#include <array>
#include <cctype>
#include <utility>

#include "fmt/format.h"

namespace prewarm::security {
namespace {

constexpr std::string_view kScheme = "prewarm://";
constexpr std::string_view kRangeHost = "range";
constexpr Role kRoles[] = {Role::kAgent, Role::kOrchestrator, Role::kForecaster, Role::kOperator,
                           Role::kEtcd};

bool ValidName(std::string_view n) {
  if (n.empty() || n.size() > 63 || !std::isalnum(static_cast<unsigned char>(n[0]))) {
    return false;
  }
  for (char c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

std::string Asn1Text(const ASN1_STRING* s) {
  if (s == nullptr) {
    return "";
  }
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

// The value of the first `nid` entry of the subject ("" when absent).
std::string SubjectField(const X509& cert, int nid) {
  const X509_NAME* name = X509_get_subject_name(&cert);
  int i = X509_NAME_get_index_by_NID(name, nid, -1);
  if (i < 0) {
    return "";
  }
  return Asn1Text(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
}

absl::StatusOr<X509Ptr> NewCert(EVP_PKEY& key, int days, bool expired) {
  X509Ptr x(X509_new());
  std::array<unsigned char, 20> serial{};
  if (!x || RAND_bytes(serial.data(), serial.size()) != 1) {
    return OpenSslError("new certificate");
  }
  serial[0] &= 0x7f;  // positive
  BignumPtr bn(BN_bin2bn(serial.data(), serial.size(), nullptr));
  long from = expired ? -2 * 86400L : -3600L;
  long until = expired ? -86400L : days * 86400L;
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x.get())) ||
      X509_set_version(x.get(), X509_VERSION_3) != 1 || X509_set_pubkey(x.get(), &key) != 1 ||
      !X509_gmtime_adj(X509_getm_notBefore(x.get()), from) ||
      !X509_gmtime_adj(X509_getm_notAfter(x.get()), until)) {
    return OpenSslError("new certificate");
  }
  return x;
}

absl::Status SetSubject(X509& x, const std::vector<std::pair<const char*, std::string>>& fields) {
  X509_NAME* name = X509_get_subject_name(&x);
  for (const auto& [field, value] : fields) {
    if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.data()),
                                   static_cast<int>(value.size()), -1, 0) != 1) {
      return OpenSslError(fmt::format("subject {}={}", field, value));
    }
  }
  return absl::OkStatus();
}

absl::Status AddExt(X509& x, X509& issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, &issuer, &x, nullptr, nullptr, 0);
  X509ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(&x, ext.get(), -1) != 1) {
    return OpenSslError(fmt::format("extension {} {}", OBJ_nid2sn(nid), value));
  }
  return absl::OkStatus();
}

absl::Status PushName(GENERAL_NAMES& names, int type, const unsigned char* data, size_t size) {
  GeneralNamePtr g(GENERAL_NAME_new());
  ASN1_STRING* s = type == GEN_IPADD ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
  if (!g || s == nullptr || ASN1_STRING_set(s, data, static_cast<int>(size)) != 1) {
    ASN1_STRING_free(s);
    return OpenSslError("subjectAltName entry");
  }
  GENERAL_NAME_set0_value(g.get(), type, s);
  if (sk_GENERAL_NAME_push(&names, g.get()) <= 0) {
    return OpenSslError("subjectAltName");
  }
  static_cast<void>(g.release());  // owned by `names` now
  return absl::OkStatus();
}

absl::Status PushText(GENERAL_NAMES& names, int type, std::string_view text) {
  return PushName(names, type, reinterpret_cast<const unsigned char*>(text.data()), text.size());
}

absl::Status AddSubjectAltName(X509& x, const LeafSpec& spec) {
  GeneralNamesPtr names(GENERAL_NAMES_new());
  if (!names) {
    return OpenSslError("subjectAltName");
  }
  RETURN_IF_ERROR(PushText(*names, GEN_URI, IdentityUri(spec.identity)));
  if (spec.identity.range) {
    RETURN_IF_ERROR(PushText(*names, GEN_URI, RangeUri(*spec.identity.range)));
  }
  for (const std::string& uri : spec.extra_uris) {
    RETURN_IF_ERROR(PushText(*names, GEN_URI, uri));
  }
  for (const std::string& dns : spec.dns_names) {
    RETURN_IF_ERROR(PushText(*names, GEN_DNS, dns));
  }
  for (const IpAddr& ip : spec.ips) {
    RETURN_IF_ERROR(PushName(*names, GEN_IPADD, ip.bytes(), ip.size()));
  }
  if (X509_add1_ext_i2d(&x, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return OpenSslError("subjectAltName");
  }
  return absl::OkStatus();
}

absl::Status Sign(X509& x, EVP_PKEY& issuer_key) {
  if (X509_sign(&x, &issuer_key, EVP_sha256()) <= 0) {
    return OpenSslError("sign certificate");
  }
  return absl::OkStatus();
}

absl::Status CheckSpec(const LeafSpec& spec) {
  RETURN_IF_ERROR(ValidateIdentity(spec.identity));
  if (!spec.expired && (spec.days < 1 || spec.days > 36500)) {
    return absl::InvalidArgumentError(fmt::format("days: {} is not in 1..36500", spec.days));
  }
  for (const std::string& dns : spec.dns_names) {
    bool all_digits = dns.find_first_not_of("0123456789.") == std::string::npos;
    if (dns.empty() || dns.size() > 253 || all_digits ||
        dns.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
            std::string::npos) {
      return absl::InvalidArgumentError(
          fmt::format("'{}' is neither a DNS name nor an IP address", dns));
    }
  }
  return absl::OkStatus();
}

void AddGeneralName(const GENERAL_NAME& g, CertInfo& info) {
  int type = 0;
  const auto* value = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(&g, &type));
  if (type == GEN_DNS) {
    info.dns_names.push_back(Asn1Text(value));
  }
  if (type == GEN_URI) {
    info.uris.push_back(Asn1Text(value));
  }
  if (type != GEN_IPADD) {
    return;
  }
  const unsigned char* b = ASN1_STRING_get0_data(value);
  if (ASN1_STRING_length(value) == 4) {
    info.ips.push_back(
        IpAddr::V4((uint32_t{b[0]} << 24) | (b[1] << 16) | (b[2] << 8) | b[3]).ToString());
  } else if (ASN1_STRING_length(value) == 16) {
    std::array<uint8_t, 16> bytes{};
    std::copy(b, b + 16, bytes.begin());
    info.ips.push_back(IpAddr::V6(bytes).ToString());
  }
}

struct ParsedUris {
  std::vector<Identity> ids;
  std::vector<Cidr> ranges;
};

absl::Status ParseUri(std::string_view uri, ParsedUris& out) {
  std::string_view rest = uri.substr(kScheme.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) {
    return absl::InvalidArgumentError(fmt::format("URI {}: no path", uri));
  }
  std::string_view host = rest.substr(0, slash);
  std::string_view path = rest.substr(slash + 1);
  if (host == kRangeHost) {
    ASSIGN_OR_RETURN(Cidr range, Cidr::Parse(path));
    out.ranges.push_back(range);
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(Role role, ParseRole(host));
  out.ids.push_back(Identity{role, std::string(path), std::nullopt});
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Role> ParseRole(std::string_view text) {
  for (Role r : kRoles) {
    if (text == RoleName(r)) {
      return r;
    }
  }
  return absl::InvalidArgumentError(
      fmt::format("'{}' is not a role (agent, orchestrator, forecaster, operator, etcd)", text));
}

std::string Identity::Describe() const {
  std::string out = fmt::format("{} {}", RoleName(role), name);
  if (range) {
    out += fmt::format(" (range {})", range->ToString());
  }
  return out;
}

absl::Status ValidateIdentity(const Identity& id) {
  if (!ValidName(id.name)) {
    return absl::InvalidArgumentError(fmt::format(
        "name '{}': use 1-63 of A-Z a-z 0-9 . _ -, starting with a letter or digit", id.name));
  }
  if (id.range && id.role != Role::kAgent) {
    return absl::InvalidArgumentError(
        fmt::format("{} {}: only an agent has an address range", RoleName(id.role), id.name));
  }
  return absl::OkStatus();
}

std::string IdentityUri(const Identity& id) {
  return fmt::format("{}{}/{}", kScheme, RoleName(id.role), id.name);
}
std::string RangeUri(const Cidr& range) {
  return fmt::format("{}{}/{}", kScheme, kRangeHost, range.ToString());
}

KeyUsage DefaultUsage(Role role) {
  bool serves = role == Role::kOrchestrator || role == Role::kEtcd;
  return KeyUsage{.server_auth = serves, .client_auth = true};
}

absl::StatusOr<Credential> MakeCa(std::string_view common_name, int days) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) {
    return OpenSslError("EC P-256 key");
  }
  ASSIGN_OR_RETURN(X509Ptr x, NewCert(*key, days, false));
  RETURN_IF_ERROR(
      SetSubject(*x, {{"O", "prewarm"}, {"CN", fmt::format("prewarm CA {}", common_name)}}));
  if (X509_set_issuer_name(x.get(), X509_get_subject_name(x.get())) != 1) {
    return OpenSslError("issuer");
  }
  RETURN_IF_ERROR(AddExt(*x, *x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  RETURN_IF_ERROR(AddExt(*x, *x, NID_key_usage, "critical,keyCertSign,cRLSign"));
  RETURN_IF_ERROR(AddExt(*x, *x, NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(AddExt(*x, *x, NID_authority_key_identifier, "keyid:always"));
  RETURN_IF_ERROR(Sign(*x, *key));
  return Credential{std::move(key), std::move(x)};
}

absl::StatusOr<Credential> IssueLeaf(const Credential& ca, const LeafSpec& spec) {
  RETURN_IF_ERROR(CheckSpec(spec));
  KeyUsage usage = spec.usage.value_or(DefaultUsage(spec.identity.role));
  if (!usage.server_auth && !usage.client_auth) {
    return absl::InvalidArgumentError("no key usage");
  }
  const char* eku = usage.server_auth && usage.client_auth ? "serverAuth,clientAuth"
                    : usage.server_auth                    ? "serverAuth"
                                                           : "clientAuth";
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) {
    return OpenSslError("EC P-256 key");
  }
  ASSIGN_OR_RETURN(X509Ptr x, NewCert(*key, spec.days, spec.expired));
  const Identity& id = spec.identity;
  RETURN_IF_ERROR(SetSubject(*x, {{"O", "prewarm"}, {"OU", RoleName(id.role)}, {"CN", id.name}}));
  if (X509_set_issuer_name(x.get(), X509_get_subject_name(ca.cert.get())) != 1) {
    return OpenSslError("issuer");
  }
  RETURN_IF_ERROR(AddExt(*x, *ca.cert, NID_basic_constraints, "critical,CA:FALSE"));
  RETURN_IF_ERROR(AddExt(*x, *ca.cert, NID_key_usage, "critical,digitalSignature"));
  RETURN_IF_ERROR(AddExt(*x, *ca.cert, NID_ext_key_usage, eku));
  RETURN_IF_ERROR(AddExt(*x, *ca.cert, NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(AddExt(*x, *ca.cert, NID_authority_key_identifier, "keyid:always"));
  RETURN_IF_ERROR(AddSubjectAltName(*x, spec));
  RETURN_IF_ERROR(Sign(*x, *ca.key));
  return Credential{std::move(key), std::move(x)};
}

CertInfo Inspect(const X509& cert) {
  // OpenSSL 3.0 takes these two non-const: they cache the decoded extensions in the object.
  X509& mutable_cert = const_cast<X509&>(cert);
  CertInfo info;
  info.subject = SubjectOf(cert);
  info.is_ca = X509_check_ca(&mutable_cert) > 0;
  uint32_t eku = X509_get_extended_key_usage(&mutable_cert);
  info.usage = KeyUsage{(eku & XKU_SSL_SERVER) != 0, (eku & XKU_SSL_CLIENT) != 0};
  info.not_before = NotBefore(cert);
  info.not_after = NotAfter(cert);
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(&cert, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    AddGeneralName(*sk_GENERAL_NAME_value(names.get(), i), info);
  }
  return info;
}

absl::StatusOr<Identity> IdentityOf(const X509& cert) {
  ParsedUris parsed;
  for (const std::string& uri : Inspect(cert).uris) {
    if (uri.starts_with(kScheme)) {
      RETURN_IF_ERROR(ParseUri(uri, parsed));
    }
  }
  std::string subject = SubjectOf(cert);
  if (parsed.ids.size() != 1 || parsed.ranges.size() > 1) {
    return absl::InvalidArgumentError(
        fmt::format("certificate {}: needs exactly one prewarm://<role>/<name> URI and at most one "
                    "prewarm://range/<cidr>, has {} and {}",
                    subject, parsed.ids.size(), parsed.ranges.size()));
  }
  Identity id = parsed.ids.front();
  if (!parsed.ranges.empty()) {
    id.range = parsed.ranges.front();
  }
  if (SubjectField(cert, NID_organizationalUnitName) != RoleName(id.role) ||
      SubjectField(cert, NID_commonName) != id.name) {
    return absl::InvalidArgumentError(
        fmt::format("certificate {}: subject disagrees with {}", subject, IdentityUri(id)));
  }
  RETURN_IF_ERROR(ValidateIdentity(id));
  return id;
}

std::string FileStem(const Identity& id) {
  std::string role = RoleName(id.role);
  if (id.name == role || id.name.starts_with(role + "-")) {
    return id.name;
  }
  return fmt::format("{}-{}", role, id.name);
}

absl::Status WriteCredential(const Credential& c, const std::string& cert_path,
                             const std::string& key_path) {
  ASSIGN_OR_RETURN(std::string key_pem, KeyToPem(*c.key));
  ASSIGN_OR_RETURN(std::string cert_pem, CertToPem(*c.cert));
  RETURN_IF_ERROR(WriteFileAtomic(key_path, key_pem, 0600));
  return WriteFileAtomic(cert_path, cert_pem, 0644);
}

absl::StatusOr<Credential> LoadCredential(const std::string& cert_path,
                                          const std::string& key_path) {
  ASSIGN_OR_RETURN(std::string cert_pem, ReadFile(cert_path));
  ASSIGN_OR_RETURN(std::string key_pem, ReadFile(key_path));
  ASSIGN_OR_RETURN(X509Ptr cert, CertFromPem(cert_pem, cert_path));
  ASSIGN_OR_RETURN(PkeyPtr key, KeyFromPem(key_pem, key_path));
  if (EVP_PKEY_eq(X509_get0_pubkey(cert.get()), key.get()) != 1) {
    DrainOpenSslErrors();
    return absl::InvalidArgumentError(
        fmt::format("{}: this key does not belong to the certificate {} ({})", key_path, cert_path,
                    SubjectOf(*cert)));
  }
  return Credential{std::move(key), std::move(cert)};
}

}  // namespace prewarm::security
