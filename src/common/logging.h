// Logging goes through spdlog; this header fixes the format once for all daemons.
#pragma once

#include <string_view>

#include "spdlog/spdlog.h"

namespace prewarm {

// Sets the default logger's level ("trace".."off") and pattern. Safe to call twice.
void InitLogging(std::string_view level);

}  // namespace prewarm
