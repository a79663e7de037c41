#include "common/logging.h"

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
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

}  // namespace prewarm
