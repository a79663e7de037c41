#include "cli/forecaster_cmd.h"

#include <iostream>

#include "cli/daemons.h"
#include "common/logging.h"
#include "forecast/registry.h"
#include "forecast/service/forecaster.h"
#include "forecast/service/model_forecaster.h"

namespace prewarm::cli {

absl::StatusOr<std::unique_ptr<forecast::ForecasterDaemon>> MakeForecaster(
    forecast::ForecasterConfig config) {
  ASSIGN_OR_RETURN(forecast::Transform transform, forecast::Transform::Parse(config.transform));
  std::string model = config.model;
  RETURN_IF_ERROR(forecast::MakeModel(model).status());
  forecast::ModelForecasterOptions opts{model, transform, config.refit_every_ms, 20'000,
                                        config.reselect_every_ms};
  auto demand = std::make_unique<forecast::ModelDemandForecaster>(
      [model] { return forecast::MakeModel(model); }, opts, RealClock::Get());
  return std::make_unique<forecast::ForecasterDaemon>(std::move(config), std::move(demand),
                                                      RealClock::Get());
}

int RunForecaster(const std::string& config_path, const std::vector<std::string>& history) {
  BlockTerminationSignals();
  auto cfg = forecast::LoadForecasterConfig(config_path);
  if (!cfg.ok()) {
    std::cerr << "prewarm: " << cfg.status().message() << "\n";
    return 1;
  }
  cfg->history.insert(cfg->history.end(), history.begin(), history.end());
  InitLogging(cfg->log_level);
  auto daemon = MakeForecaster(*cfg);
  std::unique_ptr<MetricsServer> metrics;
  absl::Status st = daemon.status();
  if (st.ok()) {
    forecast::ForecasterDaemon* d = daemon->get();
    auto served = ServeMetrics(cfg->http_listen, "forecaster", [d] { return d->RenderMetrics(); });
    st = served.ok() ? (*daemon)->Start() : served.status();
    if (served.ok()) metrics = std::move(*served);
  }
  if (!st.ok()) {
    std::cerr << "prewarm: " << st.message() << "\n";
    return 1;
  }
  ConfigReload reload(config_path, [](const std::string& p) -> absl::StatusOr<std::string> {
    ASSIGN_OR_RETURN(forecast::ForecasterConfig c, forecast::LoadForecasterConfig(p));
    return c.log_level;
  });
  WaitForTerminationSignal([&reload] { reload(); });
  (*daemon)->Stop();
  metrics->Stop();
  return 0;
}

}  // namespace prewarm::cli
