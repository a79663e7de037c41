// Policies that are configurations of the orchestrator's own reconciler (the code the live
// orchestrator runs), driven on virtual time:
// - fixed-keepalive: scale from zero on the cold path only, drain after a fixed idle time
//   (the classic provider default, 10 min);
// - reactive-kpa: Knative's autoscaler: stable (60 s) and panic (6 s) windows over live
//   concurrency, no forecast;
// - predictive: prewarm: the forecaster's planner (per-key quantile forecasts, newsvendor q)
//   emits prefetch windows every step, the reconciler meets them one start time ahead, on
//   top of the reactive floor; and each key's keep-alive is learned from its idle times
//   (orchestrator::IdleLearner): after an invocation the key is kept warm, or unloaded and
//   reloaded ahead of its expected next arrival (a second window source), whichever costs
//   least at the configured price of a cold start; the 2nd, 3rd, ... concurrent instance
//   learn theirs from their own idle times; and keys that fire like cron timers get an
//   instance ahead of their next firing (orchestrator::TimerDetector).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "autoscale/idle_learner.h"
#include "autoscale/key_autoscaler.h"
#include "autoscale/reconciler.h"
#include "autoscale/settings.h"
#include "common/clock.h"
#include "forecast/service/config.h"
#include "forecast/service/model_forecaster.h"
#include "forecast/service/planner.h"
#include "forecast/service/series_store.h"
#include "sim/sim.h"

namespace prewarm::sim {

// Policy knobs from `--param k=v`.
using Params = std::map<std::string, std::string>;

// The forecaster daemon's defaults (forecast/service/config.h), and its newsvendor quantile
// q = c_cold / (c_cold + c_idle) at its default costs.
const forecast::ForecasterConfig& DaemonForecaster();
double DaemonQuantile();

struct ReconcilerPolicyOptions {
  std::string name;  // fixed-keepalive | reactive-kpa | predictive
  // The autoscaler's settings: the policy's preset, then `--param`s by the names, defaults
  // and bounds of the orchestrator's YAML (autoscale/settings.h).
  orchestrator::AutoscalerSettings settings;
  // The simulator's own knobs (the live orchestrator has no counterpart):
  int64_t tick_ms = 2'000;  // tick: the reconciler's period (Knative ticks every 2 s)
  // predictive only: the simulated forecaster. Its knobs have the names of forecaster.yaml
  // and, by default, the forecaster daemon's values (DaemonForecaster(): what `prewarm up`
  // and examples/forecaster.yaml run), so that a figure measures what ships.
  double quantile = DaemonQuantile();  // q: newsvendor quantile (the cold/idle cost ratio)
  std::string model = DaemonForecaster().model;
  std::string transform = DaemonForecaster().transform;
  int64_t refit_every_ms = DaemonForecaster().refit_every_ms;        // refit_every_s
  int64_t reselect_every_ms = DaemonForecaster().reselect_every_ms;  // reselect_every_s
  int min_history_steps = DaemonForecaster().min_history_steps;
  int64_t horizon_ms = 0;  // horizon_s; 0: one workload step (the daemon's 60 s at 60-s steps)
  bool forecast = true;    // forecast: the model forecaster's windows (on|off)
  // min_arrivals_per_min: ...for keys with at least this rate over the last hour
  double min_arrivals_per_min = DaemonForecaster().min_arrivals_per_min;
  // plan_threads: threads fitting the keys' models in a step (the decisions are the same
  // for any count; the live forecaster runs beside the orchestrator on its own core).
  int plan_threads = 2;
  Params raw;  // as given, for the report
};

// Parses the knobs of policy `name` (unknown knobs are an error naming the valid ones).
absl::StatusOr<ReconcilerPolicyOptions> ParseReconcilerPolicy(const std::string& name,
                                                              const Params& params);

// Where the forecaster that a predictive run with `params` simulates differs from the
// forecaster daemon's defaults (forecast/service/config.h: what `prewarm up` and
// examples/forecaster.yaml run), knob by knob with the daemon's value beside; "" when it
// does not. `step_ms`: the workload's step (the simulated forecaster's horizon default).
// A run that lightens the forecaster (e.g. the scale run: model=ets, hourly refits) gets
// this line in its report, so that no figure hides it.
absl::StatusOr<std::string> ForecasterDivergence(const Params& params, int64_t step_ms);

class ReconcilerPolicy final : public Policy {
 public:
  explicit ReconcilerPolicy(ReconcilerPolicyOptions options);
  ~ReconcilerPolicy() override;
  std::string name() const override { return options_.name; }
  Params params() const override { return options_.raw; }
  void Begin(PolicyContext& ctx) override;
  int64_t tick_ms() const override { return options_.tick_ms; }
  void OnTick(PolicyContext& ctx) override;
  void OnStep(PolicyContext& ctx, size_t step) override;
  void OnArrival(PolicyContext& ctx, uint32_t key, bool cold) override;
  void OnIdle(PolicyContext& ctx, uint32_t key, const orchestrator::ViewInstance& inst) override;
  void Finish(PolicyContext& ctx, SimResult& result) override;

 private:
  // What the key's adapter is told besides events: its memory ratio and start time.
  orchestrator::KeyInputs Inputs(const PolicyContext& ctx, uint32_t key) const;
  ReconcilerPolicyOptions options_;
  std::unique_ptr<orchestrator::Reconciler> reconciler_;
  std::vector<uint32_t> visit_;  // the keys of this tick's pass
  bool all_changed_ = true;      // a step changed every key since the last pass
  // predictive
  ManualClock clock_;
  forecast::ForecasterConfig fc_config_;
  std::unique_ptr<forecast::SeriesStore> store_;
  std::unique_ptr<forecast::ModelDemandForecaster> forecaster_;
  std::unique_ptr<forecast::Planner> planner_;
  std::map<forecast::SeriesKey, uint32_t> key_index_;
  uint64_t plans_ = 0, windows_ = 0;
  // learned keep-alive and timers: the adapter the live orchestrator runs, one per key
  std::vector<orchestrator::KeyAutoscaler> keys_;
  orchestrator::LearnedKeepAliveConfig learn_;  // what keys_ read
  double mean_memory_mb_ = 128;
};

using orchestrator::ParseDurationMs;

}  // namespace prewarm::sim
