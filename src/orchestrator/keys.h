// The cluster store's key layout (docs/design.md, "Cluster store"): every key the
// orchestrator writes, under one prefix (default "/prewarm/v1/"), and the parser that
// tells a key's kind back. Components are escaped so that a name holding '/' or '%'
// cannot forge another key.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace prewarm::orchestrator {

enum class KeyKind {
  kReplica,   // replicas/<replica>
  kLeader,    // leader
  kNode,      // nodes/<node>
  kDrain,     // drain/<node>
  kBackoff,   // backoff/<node>/<template>
  kClaim,     // claims/<node>/<address>
  kInstance,  // instances/<instance>
  kHeat,      // heat/<replica>
  kPrefetch,  // prefetch/<region>/<template>/<entry>
};

struct ParsedKey {
  KeyKind kind;
  std::string a;  // the first component (replica, node, instance, region)
  std::string b;  // the second (template, address), if any
  std::string c;  // the third (prefetch entry), if any
};

class Keys {
 public:
  explicit Keys(std::string prefix = "/prewarm/v1/");

  const std::string& prefix() const { return prefix_; }
  std::string Replica(std::string_view replica) const;
  std::string Leader() const;
  std::string Node(std::string_view node) const;
  std::string Drain(std::string_view node) const;
  std::string Backoff(std::string_view node, std::string_view tmpl) const;
  std::string Claim(std::string_view node, std::string_view address) const;
  std::string ClaimsOf(std::string_view node) const;  // prefix of a node's claims
  std::string Instance(std::string_view id) const;
  std::string Heat(std::string_view replica) const;
  std::string Prefetch(std::string_view region, std::string_view tmpl,
                       std::string_view entry) const;

  // nullopt for a key outside the layout (foreign or from a newer version).
  std::optional<ParsedKey> Parse(std::string_view key) const;

 private:
  std::string prefix_;
};

// '%' and '/' (and control bytes) as %XX; the inverse returns nullopt on a bad escape.
std::string EscapeKeyPart(std::string_view s);
std::optional<std::string> UnescapeKeyPart(std::string_view s);

}  // namespace prewarm::orchestrator
