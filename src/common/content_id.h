// Content ids: what an instance preloads and what a workload reports it served. An id is a
// relative path under the instance's scratch directory ("video/seg1.ts"), the request path
// without its leading '/' and query. One validator for every process that handles ids
// (agent, forecaster, workloads): an id that passes cannot name a file outside the
// directory it is joined to.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace prewarm {

inline constexpr size_t kMaxContentIdBytes = 512;

// InvalidArgument unless `id` is 1..kMaxContentIdBytes bytes, relative, made of non-empty
// segments other than "." and "..", and free of NUL, control characters, '\\' and of
// '?', '#', '%' (a query, fragment or escape belongs to a URL, not to a file name).
absl::Status ValidateContentId(std::string_view id);

// The content id of a request target, validated: "/a/b.css?v=2" -> "a/b.css"; a directory
// is its index, as the static server serves it: "/" -> "index.html", "/a/" -> "a/index.html".
absl::StatusOr<std::string> ContentIdFromPath(std::string_view target);

}  // namespace prewarm
