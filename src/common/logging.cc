#include "common/logging.h"

#include <algorithm>
#include <string>

#include "spdlog/sinks/stdout_color_sinks.h"

namespace prewarm {

void InitLogging(std::string_view level) {
  static bool initialised = false;
  if (!initialised) {
    auto logger = spdlog::stderr_color_mt("prewarm");
    spdlog::set_default_logger(logger);
    initialised = true;
  }
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ [%n] %v");
  // spdlog reads a name it does not know as "off"; configs are validated against kLogLevels,
  // so this is a second guard, not the check.
  if (std::find(kLogLevels.begin(), kLogLevels.end(), level) == kLogLevels.end()) {
    spdlog::set_level(spdlog::level::info);
    spdlog::warn(
        "log level '{}' is not one of trace, debug, info, warn, error, critical, off; "
        "logging at info",
        level);
    return;
  }
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

}  // namespace prewarm
