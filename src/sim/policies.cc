#include "sim/policies.h"

#include <cmath>

#include "absl/strings/str_join.h"
#include "common/net.h"
#include "fmt/format.h"
#include "forecast/registry.h"
#include "forecast/service/capacity.h"
#include "forecast/service/config.h"
#include "forecast/transform.h"

namespace prewarm::sim {

using orchestrator::Decision;
using orchestrator::ScaleReason;

namespace {

absl::StatusOr<double> ParseDouble(const std::string& key, const std::string& v) {
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(d)) {
    return absl::InvalidArgumentError(fmt::format("--param {}={}: not a number", key, v));
  }
  return d;
}

absl::StatusOr<bool> OnOff(const std::string& key, const std::string& v) {
  if (v != "on" && v != "off")
    return absl::InvalidArgumentError(fmt::format("--param {}=on|off", key));
  return v == "on";
}

// The simulator's own knobs, beside the settings table's.
const std::vector<std::string>& SimKnobs(const std::string& policy) {
  static const std::vector<std::string> kAll = {"tick"};
  static const std::vector<std::string> kPredictive = {"tick",
                                                       "q",
                                                       "model",
                                                       "transform",
                                                       "refit_every_s",
                                                       "reselect_every_s",
                                                       "min_history_steps",
                                                       "horizon_s",
                                                       "forecast",
                                                       "min_arrivals_per_min",
                                                       "plan_threads"};
  return policy == "predictive" ? kPredictive : kAll;
}

absl::Status SetSimKnob(ReconcilerPolicyOptions& o, const std::string& k, const std::string& v) {
  if (k == "tick") {
    ASSIGN_OR_RETURN(o.tick_ms, ParseDurationMs(v));
    if (o.tick_ms <= 0) return absl::InvalidArgumentError("--param tick must be > 0");
  } else if (k == "q") {
    ASSIGN_OR_RETURN(o.quantile, ParseDouble(k, v));
    if (o.quantile <= 0 || o.quantile >= 1)
      return absl::InvalidArgumentError("--param q must be in (0, 1)");
  } else if (k == "model") {
    auto m = forecast::MakeModel(v);
    if (!m.ok()) return m.status();
    o.model = v;
  } else if (k == "transform") {
    auto t = forecast::Transform::Parse(v);
    if (!t.ok()) return t.status();
    o.transform = v;
  } else if (k == "refit_every_s") {
    ASSIGN_OR_RETURN(o.refit_every_ms, ParseDurationMs(v));
  } else if (k == "reselect_every_s") {
    ASSIGN_OR_RETURN(o.reselect_every_ms, ParseDurationMs(v));
  } else if (k == "min_history_steps") {
    ASSIGN_OR_RETURN(double d, ParseDouble(k, v));
    if (d < 1 || d > 1e6)
      return absl::InvalidArgumentError("--param min_history_steps must be in [1, 1e6]");
    o.min_history_steps = static_cast<int>(d);
  } else if (k == "horizon_s") {
    ASSIGN_OR_RETURN(o.horizon_ms, ParseDurationMs(v));
  } else if (k == "forecast") {
    ASSIGN_OR_RETURN(o.forecast, OnOff(k, v));
  } else if (k == "plan_threads") {
    ASSIGN_OR_RETURN(double d, ParseDouble(k, v));
    if (d < 1 || d > 64 || d != std::floor(d))
      return absl::InvalidArgumentError("--param plan_threads must be an integer in [1, 64]");
    o.plan_threads = static_cast<int>(d);
  } else if (k == "min_arrivals_per_min") {
    ASSIGN_OR_RETURN(o.min_arrivals_per_min, ParseDouble(k, v));
    if (o.min_arrivals_per_min < 0)
      return absl::InvalidArgumentError("--param min_arrivals_per_min must be >= 0");
  }
  return absl::OkStatus();
}

}  // namespace

const forecast::ForecasterConfig& DaemonForecaster() {
  static const forecast::ForecasterConfig kDaemon;
  return kDaemon;
}

double DaemonQuantile() {
  const forecast::ForecasterConfig& d = DaemonForecaster();
  return forecast::NewsvendorQuantile(d.default_cold_cost, d.idle_cost_per_instance_s);
}

absl::StatusOr<ReconcilerPolicyOptions> ParseReconcilerPolicy(const std::string& name,
                                                              const Params& params) {
  ReconcilerPolicyOptions o;
  o.name = name;
  o.raw = params;
  ASSIGN_OR_RETURN(o.settings, orchestrator::PolicySettings(name));
  const std::vector<std::string>& sim = SimKnobs(name);
  Params settings;
  for (const auto& [k, v] : params) {
    if (std::find(sim.begin(), sim.end(), k) != sim.end()) {
      RETURN_IF_ERROR(SetSimKnob(o, k, v));
    } else if (orchestrator::FindSetting(k) != nullptr) {
      settings[k] = v;
    } else {
      std::vector<std::string> knobs = sim;
      for (const auto& t : orchestrator::SettingsTable()) knobs.push_back(t.name);
      return absl::InvalidArgumentError(fmt::format("policy {} has no knob '{}' (knobs: {})", name,
                                                    k, absl::StrJoin(knobs, ", ")));
    }
  }
  if (auto st = orchestrator::ApplySettings(o.settings, settings); !st.ok()) {
    return absl::InvalidArgumentError(fmt::format("--param {}", std::string(st.message())));
  }
  return o;
}

absl::StatusOr<std::string> ForecasterDivergence(const Params& params, int64_t step_ms) {
  ASSIGN_OR_RETURN(ReconcilerPolicyOptions o, ParseReconcilerPolicy("predictive", params));
  const forecast::ForecasterConfig& daemon = DaemonForecaster();
  if (!o.forecast) return std::string("forecaster off (forecast=off; the daemon forecasts)");
  std::vector<std::string> diff;
  auto text = [&](const char* name, const std::string& sim, const std::string& live) {
    if (sim != live) diff.push_back(fmt::format("{} {} (daemon: {})", name, sim, live));
  };
  auto seconds = [&](const char* name, int64_t sim_ms, int64_t live_ms) {
    if (sim_ms != live_ms) {
      diff.push_back(fmt::format("{} {:g} (daemon: {:g})", name, static_cast<double>(sim_ms) / 1000,
                                 static_cast<double>(live_ms) / 1000));
    }
  };
  auto number = [&](const char* name, double sim, double live) {
    if (std::abs(sim - live) > 1e-9 * std::max(1.0, std::abs(live))) {
      diff.push_back(fmt::format("{} {:.4g} (daemon: {:.4g})", name, sim, live));
    }
  };
  text("model", o.model, daemon.model);
  text("transform", o.transform, daemon.transform);
  seconds("refit_every_s", o.refit_every_ms, daemon.refit_every_ms);
  seconds("reselect_every_s", o.reselect_every_ms, daemon.reselect_every_ms);
  seconds("horizon_s", o.horizon_ms > 0 ? o.horizon_ms : step_ms, daemon.horizon_ms);
  number("min_history_steps", o.min_history_steps, daemon.min_history_steps);
  number("min_arrivals_per_min", o.min_arrivals_per_min, daemon.min_arrivals_per_min);
  number("q", o.quantile, DaemonQuantile());
  if (diff.empty()) return std::string();
  return fmt::format(
      "the simulated forecaster differs from the forecaster daemon's defaults: {}; "
      "--param predictive.<knob>=<the daemon's> runs them (bench/sim/README.md has their effect)",
      absl::StrJoin(diff, ", "));
}

ReconcilerPolicy::ReconcilerPolicy(ReconcilerPolicyOptions options)
    : options_(std::move(options)), clock_(0) {}

ReconcilerPolicy::~ReconcilerPolicy() = default;

void ReconcilerPolicy::Begin(PolicyContext& ctx) {
  const Workload& w = ctx.workload();
  const orchestrator::AutoscalerSettings& st = options_.settings;
  orchestrator::ReconcilerConfig rc = orchestrator::MakeReconcilerConfig(st);
  int64_t lead_ms = static_cast<int64_t>(std::ceil(ctx.config().start.median_s * 1000));
  for (const KeySpec& k : w.keys) {
    orchestrator::TemplatePolicy tp = rc.default_template;
    tp.concurrency = k.concurrency;
    tp.lead_ms = lead_ms;
    rc.templates[k.tmpl] = tp;
  }
  if (st.proactive || st.learned_keepalive) {
    // Windows must be met, not merely begun: act a worst-case start plus a tick early.
    for (auto& [tmpl, tp] : rc.templates) {
      tp.lead_ms =
          static_cast<int64_t>(std::ceil(ctx.config().start.p99_s * 1000)) + options_.tick_ms;
    }
  }
  reconciler_ = std::make_unique<orchestrator::Reconciler>(std::move(rc));
  if (st.learned_keepalive) {
    // Timer windows are priced at the learned keep-alive's cost of a cold start.
    const orchestrator::AutoscalerSettings on_clock = orchestrator::OnPolicyClock(st);
    learn_ = on_clock.learned;
    learn_.learner.default_keepalive_ms = on_clock.keepalive_ms;
    keys_.assign(w.keys.size(), orchestrator::KeyAutoscaler(learn_, 0));
    double sum = 0;
    for (const KeySpec& k : w.keys) sum += k.memory_mb;
    mean_memory_mb_ = w.keys.empty() ? 128 : sum / static_cast<double>(w.keys.size());
  }
  if (!st.proactive || !options_.forecast || options_.name != "predictive") return;

  // The forecaster's own planner and per-key models, on the simulation's clock.
  fc_config_.step_ms = w.step_ms;
  fc_config_.refit_every_ms = options_.refit_every_ms;
  fc_config_.horizon_ms = options_.horizon_ms > 0 ? options_.horizon_ms : w.step_ms;
  fc_config_.min_history_steps = options_.min_history_steps;
  fc_config_.min_arrivals_per_min = options_.min_arrivals_per_min;
  fc_config_.model = options_.model;
  fc_config_.transform = options_.transform;
  fc_config_.plan_threads = options_.plan_threads;
  // q = c_cold / (c_cold + c_idle) with c_idle = 1.
  fc_config_.idle_cost_per_instance_s = 1.0;
  fc_config_.default_cold_cost = options_.quantile / (1 - options_.quantile);
  for (const KeySpec& k : w.keys) {
    forecast::TemplatePlan plan;
    plan.per_instance_concurrency = k.concurrency;
    plan.start_time_s = ctx.config().start.median_s;
    plan.service_time_s = k.service.mean_s;
    fc_config_.templates[k.tmpl] = plan;
  }
  store_ = std::make_unique<forecast::SeriesStore>(w.step_ms, 28 * 86'400'000LL / w.step_ms);
  auto transform = forecast::Transform::Parse(options_.transform);
  forecast::ModelForecasterOptions mo;
  mo.model_name = options_.model;
  mo.transform = transform.ok() ? *transform : forecast::Transform::Log1p();
  mo.refit_every_ms = options_.refit_every_ms;
  mo.reselect_every_ms = options_.reselect_every_ms;
  std::string model = options_.model;
  forecaster_ = std::make_unique<forecast::ModelDemandForecaster>(
      [model]() { return forecast::MakeModel(model); }, mo, clock_);
  planner_ = std::make_unique<forecast::Planner>(fc_config_, *forecaster_);
  for (uint32_t i = 0; i < w.keys.size(); ++i) key_index_[{w.keys[i].region, w.keys[i].tmpl}] = i;
}

void ReconcilerPolicy::OnTick(PolicyContext& ctx) {
  orchestrator::ClusterView& view = ctx.view();
  const int64_t now_ms = ctx.now() / 1000;
  // The reconciler looks only at keys that changed, have demand, or are due (WakeMs): the
  // others would be decided nothing. A step changes every key (Apply, new windows).
  visit_.clear();
  for (uint32_t k = 0; k < view.keys.size(); ++k) {
    const double demand = ctx.TakeDemand(k);
    const bool changed = ctx.TakeChanged(k);
    if (changed || all_changed_ || demand != 0 || reconciler_->WakeMs(k) <= now_ms) {
      view.keys[k].demand = demand;
      visit_.push_back(k);
    }
  }
  all_changed_ = false;
  for (const Decision& d : reconciler_->Reconcile(view, now_ms, visit_)) {
    switch (d.kind) {
      case Decision::kCreate:
        // The reconciler already took the slot from its view; give it back for Prewarm.
        ++view.nodes[d.node].free_slots;
        ctx.Prewarm(d.key, d.reason, d.node);
        break;
      case Decision::kDrain:
        ctx.Drain(d.instance, d.reason);
        break;
      case Decision::kDestroy:
        break;  // the simulator destroys drained instances on the same rule (answers expired)
    }
  }
}

void ReconcilerPolicy::OnStep(PolicyContext& ctx, size_t step) {
  const int64_t now_ms = ctx.now() / 1000;
  all_changed_ = true;
  for (uint32_t k = 0; k < keys_.size(); ++k)
    keys_[k].Apply(ctx.view().keys[k], now_ms, Inputs(ctx, k));
  if (!planner_) return;
  const Workload& w = ctx.workload();
  int64_t step_start = w.start_unix_ms + static_cast<int64_t>(step) * w.step_ms;
  int64_t now_unix = step_start + w.step_ms;
  clock_.Set(now_unix);
  for (uint32_t k = 0; k < w.keys.size(); ++k) {
    store_->Add({w.keys[k].region, w.keys[k].tmpl}, step_start,
                static_cast<double>(ctx.StepArrivals(k)));
  }
  store_->MarkObserved(step_start, now_unix);
  ++plans_;
  int64_t sim_offset_ms = w.start_unix_ms;
  for (const v1::PrefetchRequest& r : planner_->Plan(*store_, now_unix)) {
    auto it = key_index_.find({r.region(), r.template_name()});
    if (it == key_index_.end()) continue;
    orchestrator::PrefetchWindow win;
    // The view runs on simulation time (ms since the workload's start).
    win.start_ms = r.window_start_unix_ms() - sim_offset_ms;
    win.end_ms = r.window_end_unix_ms() - sim_offset_ms;
    win.target = r.target_concurrency();
    win.content.assign(r.content_ids().begin(), r.content_ids().end());
    win.received_ms = now_unix - sim_offset_ms;
    orchestrator::AddForecastWindow(ctx.view().keys[it->second], std::move(win),
                                    now_unix - sim_offset_ms);
    ++windows_;
  }
}

namespace {

uint32_t BusyInstances(const orchestrator::ViewKey& k) {
  return static_cast<uint32_t>(
      std::count_if(k.instances.begin(), k.instances.end(),
                    [](const orchestrator::ViewInstance& i) { return i.in_flight > 0; }));
}

}  // namespace

orchestrator::KeyInputs ReconcilerPolicy::Inputs(const PolicyContext& ctx, uint32_t key) const {
  return {orchestrator::MemoryRatio(ctx.workload().keys[key].memory_mb, mean_memory_mb_),
          ctx.config().start.median_s, orchestrator::UnloadHoldOf(ctx.config().answers)};
}

void ReconcilerPolicy::OnArrival(PolicyContext& ctx, uint32_t key, bool cold) {
  if (keys_.empty()) return;
  orchestrator::ViewKey& vk = ctx.view().keys[key];
  const int64_t now_ms = ctx.now() / 1000;
  const orchestrator::KeyInputs in = Inputs(ctx, key);
  orchestrator::KeyAutoscaler& k = keys_[key];
  k.Arrival(now_ms, cold, in);
  k.Serving(now_ms, BusyInstances(vk), in);
  k.Apply(vk, now_ms, in);  // the invocation supersedes a pending reload
}

void ReconcilerPolicy::OnIdle(PolicyContext& ctx, uint32_t key, const orchestrator::ViewInstance&) {
  if (keys_.empty()) return;
  orchestrator::ViewKey& vk = ctx.view().keys[key];
  const int64_t now_ms = ctx.now() / 1000;
  const orchestrator::KeyInputs in = Inputs(ctx, key);
  keys_[key].Serving(now_ms, BusyInstances(vk), in);
  keys_[key].Apply(vk, now_ms, in);
}

void ReconcilerPolicy::Finish(PolicyContext&, SimResult& result) {
  const auto& c = reconciler_->counters();
  result.decisions["reconciler:ticks"] = c.ticks;
  result.decisions["reconciler:panics"] = c.panics;
  result.decisions["reconciler:unplaceable"] = c.unplaceable;
  if (!keys_.empty()) {
    uint64_t plans = 0, reloads = 0;
    for (const auto& k : keys_) {
      plans += k.keepalive().plans();
      reloads += k.reloads();
    }
    result.decisions["learned:plans"] = plans;
    result.decisions["learned:reload-windows"] = reloads;
  }
  if (planner_) {
    result.decisions["forecast:plans"] = plans_;
    result.decisions["forecast:windows"] = windows_;
    result.decisions["forecast:refits"] = forecaster_->refits();
    result.decisions["forecast:selections"] = forecaster_->selections();
  }
}

}  // namespace prewarm::sim
