#pragma once

#include <string>
#include <vector>

#include <memory>

#include "forecast/service/forecaster.h"

namespace prewarm::cli {

// A forecaster daemon built from its config (model from the registry); not started.
absl::StatusOr<std::unique_ptr<forecast::ForecasterDaemon>> MakeForecaster(
    forecast::ForecasterConfig config);

// `prewarm forecaster --config F [--history FILE...]` until SIGINT/SIGTERM.
int RunForecaster(const std::string& config_path, const std::vector<std::string>& history);

}  // namespace prewarm::cli
