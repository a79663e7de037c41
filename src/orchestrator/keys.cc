#include "orchestrator/keys.h"

#include <vector>

#include "fmt/format.h"

namespace prewarm::orchestrator {
namespace {

std::optional<int> HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return std::nullopt;
}

std::vector<std::string_view> Split(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t slash = s.find('/', start);
    out.push_back(s.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

struct Layout {
  std::string_view dir;
  KeyKind kind;
  size_t parts;  // components after the directory
};

constexpr Layout kLayouts[] = {
    {"replicas", KeyKind::kReplica, 1}, {"nodes", KeyKind::kNode, 1},
    {"drain", KeyKind::kDrain, 1},      {"backoff", KeyKind::kBackoff, 2},
    {"claims", KeyKind::kClaim, 2},     {"instances", KeyKind::kInstance, 1},
    {"heat", KeyKind::kHeat, 1},        {"prefetch", KeyKind::kPrefetch, 3},
};

}  // namespace

std::string EscapeKeyPart(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c == '%' || c == '/' || c < 0x20 || c == 0x7f) {
      out += fmt::format("%{:02X}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::optional<std::string> UnescapeKeyPart(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    auto hi = i + 1 < s.size() ? HexDigit(s[i + 1]) : std::nullopt;
    auto lo = i + 2 < s.size() ? HexDigit(s[i + 2]) : std::nullopt;
    if (!hi || !lo) return std::nullopt;
    out += static_cast<char>(*hi * 16 + *lo);
    i += 2;
  }
  return out;
}

Keys::Keys(std::string prefix) : prefix_(std::move(prefix)) {
  if (prefix_.empty() || prefix_.back() != '/') prefix_ += '/';
}

std::string Keys::Replica(std::string_view r) const {
  return prefix_ + "replicas/" + EscapeKeyPart(r);
}
std::string Keys::Leader() const { return prefix_ + "leader"; }
std::string Keys::Node(std::string_view n) const { return prefix_ + "nodes/" + EscapeKeyPart(n); }
std::string Keys::Drain(std::string_view n) const { return prefix_ + "drain/" + EscapeKeyPart(n); }
std::string Keys::Backoff(std::string_view n, std::string_view t) const {
  return prefix_ + "backoff/" + EscapeKeyPart(n) + "/" + EscapeKeyPart(t);
}
std::string Keys::Claim(std::string_view n, std::string_view a) const {
  return ClaimsOf(n) + EscapeKeyPart(a);
}
std::string Keys::ClaimsOf(std::string_view n) const {
  return prefix_ + "claims/" + EscapeKeyPart(n) + "/";
}
std::string Keys::Instance(std::string_view id) const {
  return prefix_ + "instances/" + EscapeKeyPart(id);
}
std::string Keys::Heat(std::string_view r) const { return prefix_ + "heat/" + EscapeKeyPart(r); }
std::string Keys::Prefetch(std::string_view region, std::string_view tmpl,
                           std::string_view entry) const {
  return prefix_ + "prefetch/" + EscapeKeyPart(region) + "/" + EscapeKeyPart(tmpl) + "/" +
         EscapeKeyPart(entry);
}

std::optional<ParsedKey> Keys::Parse(std::string_view key) const {
  if (key.substr(0, prefix_.size()) != prefix_) return std::nullopt;
  std::string_view rest = key.substr(prefix_.size());
  if (rest == "leader") return ParsedKey{KeyKind::kLeader, {}, {}, {}};
  std::vector<std::string_view> parts = Split(rest);
  for (const Layout& l : kLayouts) {
    if (parts[0] != l.dir || parts.size() != l.parts + 1) continue;
    std::string out[3];
    for (size_t i = 0; i < l.parts; ++i) {
      std::optional<std::string> part = UnescapeKeyPart(parts[i + 1]);
      if (!part || part->empty()) return std::nullopt;
      out[i] = std::move(*part);
    }
    return ParsedKey{l.kind, std::move(out[0]), std::move(out[1]), std::move(out[2])};
  }
  return std::nullopt;
}

}  // namespace prewarm::orchestrator
