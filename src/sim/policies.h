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
#include "common/clock.h"
#include "forecast/service/model_forecaster.h"
#include "forecast/service/planner.h"
#include "forecast/service/series_store.h"
#include "sim/sim.h"

namespace prewarm::sim {

// Policy knobs from `--param k=v` (durations accept s/m/h suffixes).
using Params = std::map<std::string, std::string>;

struct ReconcilerPolicyOptions {
  std::string name;  // fixed-keepalive | reactive-kpa | predictive
  orchestrator::ReconcilerConfig reconciler;
  int64_t tick_ms = 2'000;  // Knative ticks every 2 s
  int64_t keepalive_ms = 600'000;
  // predictive only
  double quantile = 0.9;  // newsvendor q (sets the cold/idle cost ratio)
  std::string model = "ets";
  std::string transform = "log1p";
  int64_t refit_every_ms = 3'600'000;
  int min_history_steps = 30;
  int64_t horizon_ms = 0;     // 0: one workload step
  bool forecast = true;       // the model forecaster's windows
  double forecast_min = 1.0;  // ...for keys with >= this many arrivals per step
  // The learned keep-alive (orchestrator::LearnedKeepAlive; cold=0 turns it off).
  // Knobs cold, weight, mix, min_samples, prior, range; surplus (levels) and surplus_cold
  // for the 2nd.. concurrent instance; timers=on|off (orchestrator::TimerDetector);
  // keep_first=N|off: samples before a reload plan may keep the instance first;
  // memory_weight=0..1: the memory ratio's exponent in the price of a cold start;
  // bursts=on|off, burst_window, burst_min (activations), burst_share: the burst
  // scale-out (LearnedKeepAliveConfig::bursts); surplus_mix, objective: the surplus price
  // of busy keys (LearnedKeepAliveConfig::surplus_per_day); surplus_ratio: surplus_cold
  // as a multiple of cold (1). A key
  // is planned from its first idle period (the prior stands in for the samples it lacks);
  // idle times past 6 h are not bridged.
  orchestrator::LearnedKeepAliveConfig learn;
  Params raw;  // as given, for the report
};

// Parses the knobs of policy `name` (unknown knobs are an error naming the valid ones).
absl::StatusOr<ReconcilerPolicyOptions> ParseReconcilerPolicy(const std::string& name,
                                                              const Params& params);

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

// Parses "90s", "10m", "2h", "1500ms" or plain seconds.
absl::StatusOr<int64_t> ParseDurationMs(const std::string& s);

}  // namespace prewarm::sim
