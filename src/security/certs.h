// prewarm's certificates: a CA, the leaf certificates it signs, and the identity each
// leaf carries (tls.h reads it back from a verified peer with IdentityOf).
//
// Identity encoding. A leaf names its holder twice, and both must agree:
//   Subject   O=prewarm, OU=<role>, CN=<name>        e.g. O=prewarm, OU=agent, CN=fra-1
//   URI SAN   prewarm://<role>/<name>                e.g. prewarm://agent/fra-1
// and an agent may carry its instance address range as one more URI SAN:
//   URI SAN   prewarm://range/<cidr>                 e.g. prewarm://range/127.77.1.0/24
// The URI SAN is the authoritative one (it is what SAN-aware tools, e.g. SPIFFE-style
// authorizers, look at); the subject is for people and for tools that only show the CN
// (etcd's CN-based auth). IdentityOf rejects a certificate with no identity URI, two of
// them, a subject that disagrees, or a range on anything but an agent.
// role: agent | orchestrator | forecaster | operator | etcd (RoleName).
// name: 1-63 characters of [A-Za-z0-9._-], starting with a letter or digit.
//
// Profile. Keys are EC P-256, signatures ECDSA with SHA-256, serial numbers 159 random
// bits, X.509 v3 with subjectKeyIdentifier and authorityKeyIdentifier.
//   CA:   basicConstraints critical CA:TRUE, pathlen:0; keyUsage critical keyCertSign, cRLSign.
//   leaf: basicConstraints critical CA:FALSE; keyUsage critical digitalSignature;
//         extendedKeyUsage clientAuth for every role, plus serverAuth for the roles that
//         listen (orchestrator, etcd: DefaultUsage); subjectAltName: the identity URI(s),
//         then the DNS names and IP addresses a server is reached at.
// Validity starts one hour in the past (clock skew) and lasts `days`; `expired` issues a
// certificate whose validity ended a day ago, for tests.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/net.h"
#include "security/ossl.h"
#include "security/tls.h"

namespace prewarm::security {

absl::StatusOr<Role> ParseRole(std::string_view text);

struct Identity {
  Role role = Role::kOperator;
  std::string name;
  std::optional<Cidr> range;  // agents only
  // "agent fra-1 (range 127.77.1.0/24)"
  std::string Describe() const;
  friend bool operator==(const Identity&, const Identity&) = default;
};
// Checks the name's characters and that only an agent has a range.
absl::Status ValidateIdentity(const Identity& id);
// "prewarm://agent/fra-1"; "prewarm://range/127.77.1.0/24".
std::string IdentityUri(const Identity& id);
std::string RangeUri(const Cidr& range);

struct KeyUsage {
  bool server_auth = false;
  bool client_auth = false;
  friend bool operator==(const KeyUsage&, const KeyUsage&) = default;
};
// Every role is a client; orchestrator and etcd also serve.
KeyUsage DefaultUsage(Role role);

struct LeafSpec {
  Identity identity;
  std::vector<std::string> dns_names;
  std::vector<IpAddr> ips;
  std::vector<std::string> extra_uris;
  std::optional<KeyUsage> usage;  // default: DefaultUsage(identity.role)
  int days = 365;
  bool expired = false;  // for tests: valid from 2 days ago until 1 day ago
};

// A private key and its certificate.
struct Credential {
  PkeyPtr key;
  X509Ptr cert;
};

// A self-signed CA named "prewarm CA <common_name>".
absl::StatusOr<Credential> MakeCa(std::string_view common_name, int days);
absl::StatusOr<Credential> IssueLeaf(const Credential& ca, const LeafSpec& spec);

// The identity a leaf carries (see the encoding above).
absl::StatusOr<Identity> IdentityOf(const X509& cert);

// What a certificate says, for `prewarm certs` output and tests.
struct CertInfo {
  std::string subject;
  bool is_ca = false;
  KeyUsage usage;
  std::vector<std::string> dns_names;
  std::vector<std::string> ips;
  std::vector<std::string> uris;
  TimePoint not_before;
  TimePoint not_after;
};
CertInfo Inspect(const X509& cert);

// Files: "<stem>.crt" (0644) and "<stem>.key" (0600), each written atomically.
// The stem is "<role>-<name>" ("agent-fra-1", "operator-alice"), or just the name when it
// already starts with the role ("orchestrator-1", "etcd-2", "forecaster").
std::string FileStem(const Identity& id);
absl::Status WriteCredential(const Credential& c, const std::string& cert_path,
                             const std::string& key_path);
absl::StatusOr<Credential> LoadCredential(const std::string& cert_path,
                                          const std::string& key_path);

}  // namespace prewarm::security
