// The forecaster's configuration (see examples/forecaster.yaml).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/net.h"
#include "common/yaml_reader.h"
#include "security/tls.h"

namespace prewarm::forecast {

struct TemplatePlan {
  double per_instance_concurrency = 1;  // requests one instance serves at once
  double start_time_s = 0.05;           // measured start time: the minimum lead
  double service_time_s = 0;            // 0: use the orchestrator's (sent with events)
  std::vector<std::string> preload;     // content ids to preload into prefetched instances
  uint64_t scratch_bytes = 0;  // instance scratch size: trending content must fit (0: no limit)
};

// An access log (Common/Combined Log Format) replayed as history for one series.
struct AccessLogHistory {
  std::string path;
  std::string region;
  std::string template_name;
};

struct ForecasterConfig {
  std::string id = "forecaster";
  // Every orchestrator replica (gRPC host:port): each one's event feed is subscribed to
  // (a replica sees only the DNS answers it gave) and prefetches go to one of them.
  // YAML: `orchestrators: [a, b]` or, the older form, `orchestrator: a`.
  std::vector<std::string> orchestrators = {"127.0.0.1:7400"};
  // `tls: {ca, cert, key}`: mutual TLS to the orchestrators (none: plaintext, loopback only).
  security::TlsConfig tls;
  int64_t step_ms = 10'000;
  int64_t retention_ms = 28LL * 86'400'000;  // history kept per series
  // Full refit (the selected structure's parameters, re-estimated); Update() rolls the
  // state forward every step in between. What the cadence costs and changes: bench/sim/
  // README.md, "The forecaster refits hourly".
  int64_t refit_every_ms = 3'600'000;
  // A refit re-estimates the structure the model selected; selection reruns when the
  // training window has doubled or after this long (ModelDemandForecaster).
  int64_t reselect_every_ms = 86'400'000;
  // Threads a planning round fits and forecasts series on (keys are independent; the
  // requests are the same for any count). Bounds the daemon's refit CPU with refit_every.
  int plan_threads = 1;
  int64_t lead_ms = 0;          // 0: each template's start time
  int64_t horizon_ms = 60'000;  // window length after the lead
  int min_history_steps = 30;   // fewer: no forecast, no prefetch
  // Keys whose mean rate over the last hour of observed steps is below this many arrivals
  // a minute are not forecast: too sparse for a rate model to say anything, and the
  // orchestrator's learned keep-alive covers them (bench/sim/README.md measured what
  // forecasting them costs). Per minute, so that it means the same at any step_s.
  // 0: forecast every key.
  double min_arrivals_per_min = 1;
  std::string model = "combo";  // registry name (see forecast/registry.h)
  std::string transform = "log1p";
  double idle_cost_per_instance_s = 1.0;    // c_idle
  std::map<std::string, double> cold_cost;  // tier -> c_cold
  double default_cold_cost = 30.0;
  std::map<std::string, TemplatePlan> templates;
  std::vector<std::string> history;           // CSV files: timestamp,region,template,count
  std::vector<AccessLogHistory> access_logs;  // web access logs, aggregated per step
  int trending_top_k = 10;                    // most requested paths preloaded per series
  // The trending ranking's window: content counts are folded and the list re-ranked this
  // often (forecast/trending.h; bench/forecast/README.md measured it at 10 minutes).
  int64_t trending_refresh_ms = 600'000;
  // Where the learned series are kept across restarts (<state_dir>/history.bin, written
  // every state_save_every and at shutdown; see state_file.h). Empty: not kept.
  std::string state_dir;
  int64_t state_save_every_ms = 300'000;
  std::string log_level = "info";
  // `http: {listen: ...}`: GET /metrics (Prometheus text) and /healthz.
  HostPort http_listen = {IpAddr::V4(0x7F000001), kDefaultHttpPort};
  static constexpr uint16_t kDefaultHttpPort = 9440;

  std::string StatePath() const { return state_dir.empty() ? "" : state_dir + "/history.bin"; }
  double ColdCost(const std::string& tier) const;
  TemplatePlan Plan(const std::string& tmpl) const;
};

// `templates`: template definitions given besides the config's template_dir (prewarm up's
// top-level `templates`; common/template_file.h).
absl::StatusOr<ForecasterConfig> ParseForecasterConfig(
    const YamlReader& r, const std::vector<YamlReader>& templates = {});
absl::StatusOr<ForecasterConfig> LoadForecasterConfig(const std::string& path);

}  // namespace prewarm::forecast
