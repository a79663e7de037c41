#include "cli/forecaster_cmd.h"

#include <iostream>

#include "cli/daemons.h"
#include "common/logging.h"
#include "forecast/registry.h"
#include "forecast/service/forecaster.h"
#include "forecast/service/model_forecaster.h"

namespace prewarm::cli {

int RunForecaster(const std::string& config_path, const std::vector<std::string>& history) {
  BlockTerminationSignals();
  auto cfg = forecast::LoadForecasterConfig(config_path);
  if (!cfg.ok()) {
    std::cerr << "prewarm: " << cfg.status().message() << "\n";
    return 1;
  }
  cfg->history.insert(cfg->history.end(), history.begin(), history.end());
  InitLogging(cfg->log_level);
  auto transform = forecast::Transform::Parse(cfg->transform);
  std::string model = cfg->model;
  if (auto probe = forecast::MakeModel(model); !probe.ok() || !transform.ok()) {
    std::cerr << "prewarm: " << (probe.ok() ? transform.status() : probe.status()).message() << "\n";
    return 1;
  }
  forecast::ModelForecasterOptions opts{model, *transform, cfg->refit_every_ms, 20'000};
  auto demand = std::make_unique<forecast::ModelDemandForecaster>(
      [model] { return forecast::MakeModel(model); }, opts, RealClock::Get());
  forecast::ForecasterDaemon daemon(*cfg, std::move(demand), RealClock::Get());
  if (auto st = daemon.Start(); !st.ok()) {
    std::cerr << "prewarm: " << st.message() << "\n";
    return 1;
  }
  WaitForTerminationSignal();
  daemon.Stop();
  return 0;
}

}  // namespace prewarm::cli
