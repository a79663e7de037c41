#pragma once

#include <string>
#include <vector>

namespace prewarm::cli {

// `prewarm forecaster --config F [--history FILE...]` until SIGINT/SIGTERM.
int RunForecaster(const std::string& config_path, const std::vector<std::string>& history);

}  // namespace prewarm::cli
