// Status helpers shared by every module. Modules return absl::Status / absl::StatusOr
// across their boundaries and never throw; this abseil (20220623) predates the macros.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fmt/format.h"

// Debian's abseil has its own string_view (Status::message() returns it): let fmt and
// spdlog print it like std::string_view.
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<std::string_view> {
  template <typename Ctx>
  auto format(absl::string_view s, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(std::string_view(s.data(), s.size()), ctx);
  }
};

#define PREWARM_CONCAT_INNER(a, b) a##b
#define PREWARM_CONCAT(a, b) PREWARM_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                  \
  do {                                         \
    ::absl::Status prewarm_status_ = (expr);   \
    if (!prewarm_status_.ok()) {               \
      return prewarm_status_;                  \
    }                                          \
  } while (0)

// ASSIGN_OR_RETURN(auto x, Foo()); — declares/assigns from a StatusOr or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(PREWARM_CONCAT(prewarm_statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) {                            \
    return tmp.status();                      \
  }                                           \
  lhs = std::move(tmp).value()

namespace prewarm {

// errno -> absl::Status with the failing operation named.
absl::Status ErrnoStatus(int err, std::string_view what);

}  // namespace prewarm
