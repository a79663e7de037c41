#include "common/content_id.h"

#include "fmt/format.h"

namespace prewarm {
namespace {

absl::Status Bad(std::string_view id, std::string_view why) {
  // The id may hold anything: quote at most a prefix, with control bytes escaped.
  std::string shown;
  for (char c : id.substr(0, 80)) {
    auto u = static_cast<unsigned char>(c);
    shown += u < 0x20 || u == 0x7f ? fmt::format("\\x{:02x}", u) : std::string(1, c);
  }
  return absl::InvalidArgumentError(
      fmt::format("bad content id '{}{}': {}", shown, id.size() > 80 ? "..." : "", why));
}

}  // namespace

absl::Status ValidateContentId(std::string_view id) {
  if (id.empty()) return Bad(id, "empty");
  if (id.size() > kMaxContentIdBytes) {
    return Bad(id, fmt::format("{} bytes, more than {}", id.size(), kMaxContentIdBytes));
  }
  if (id[0] == '/') return Bad(id, "absolute");
  for (char c : id) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return Bad(id, "control character");
    if (c == '\\' || c == '?' || c == '#' || c == '%') {
      return Bad(id, fmt::format("'{}' is not allowed", c));
    }
  }
  size_t start = 0;
  while (start <= id.size()) {
    size_t end = std::min(id.find('/', start), id.size());
    std::string_view seg = id.substr(start, end - start);
    if (seg.empty()) return Bad(id, "empty path segment");
    if (seg == "." || seg == "..") return Bad(id, "'.' or '..' segment");
    start = end + 1;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ContentIdFromPath(std::string_view target) {
  target = target.substr(0, target.find_first_of("?#"));
  if (!target.starts_with('/')) return Bad(target, "a request path starts with '/'");
  target.remove_prefix(1);
  // A directory is served as its index.html (workload/static_server.cc).
  std::string id = target.empty() || target.ends_with('/') ? std::string(target) + "index.html"
                                                           : std::string(target);
  if (absl::Status st = ValidateContentId(id); !st.ok()) return st;
  return id;
}

}  // namespace prewarm
