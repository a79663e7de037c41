// Logging goes through spdlog; this header fixes the format once for all daemons.
#pragma once

#include <array>
#include <string_view>

#include "spdlog/spdlog.h"

namespace prewarm {

// The values a config's `log_level` may take: spdlog's level names and its short forms.
inline constexpr std::array<std::string_view, 9> kLogLevels = {
    "trace", "debug", "info", "warn", "warning", "error", "err", "critical", "off"};

// Sets the default logger's level (one of kLogLevels) and pattern. Safe to call again, e.g.
// on a reload. An unknown level logs at "info" and says so: it never turns logging off.
void InitLogging(std::string_view level);

}  // namespace prewarm
