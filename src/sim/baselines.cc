#include "sim/baselines.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_join.h"
#include "autoscale/settings.h"
#include "common/status.h"
#include "fmt/format.h"
#include "sim/policies.h"

namespace prewarm::sim {

using orchestrator::ScaleReason;
using orchestrator::ViewInstance;
using orchestrator::ViewState;

namespace {

absl::Status CheckKnob(const std::string& policy, const std::string& knob,
                       const std::vector<std::string>& knobs) {
  if (std::find(knobs.begin(), knobs.end(), knob) != knobs.end()) return absl::OkStatus();
  return absl::InvalidArgumentError(fmt::format("policy {} has no knob '{}' (knobs: {})", policy,
                                                knob, absl::StrJoin(knobs, ", ")));
}

bool Busy(const ViewInstance& vi) { return vi.in_flight > 0; }
bool Loaded(const ViewInstance& vi) { return vi.state != ViewState::kDraining; }

}  // namespace

// ---- knobs -------------------------------------------------------------------------------

absl::StatusOr<HybridHistogramOptions> ParseHybridHistogram(
    const std::map<std::string, std::string>& params) {
  ASSIGN_OR_RETURN(orchestrator::AutoscalerSettings s,
                   orchestrator::PolicySettings("hybrid-histogram"));
  std::vector<std::string> knobs;
  for (const orchestrator::Setting& t : orchestrator::SettingsTable()) {
    if (t.name.starts_with("hybrid_")) knobs.push_back(t.name);
  }
  for (const auto& [k, v] : params) RETURN_IF_ERROR(CheckKnob("hybrid-histogram", k, knobs));
  if (auto st = orchestrator::ApplySettings(s, params); !st.ok()) {
    return absl::InvalidArgumentError(fmt::format("--param {}", std::string(st.message())));
  }
  return s.learned.hybrid;
}

absl::StatusOr<OracleOptions> ParseOracle(const std::map<std::string, std::string>& params) {
  OracleOptions o;
  o.raw = params;
  for (const auto& [k, v] : params) {
    RETURN_IF_ERROR(CheckKnob("oracle", k, {"slack"}));
    ASSIGN_OR_RETURN(o.slack_ms, ParseDurationMs(v));
  }
  return o;
}

absl::StatusOr<std::unique_ptr<Policy>> MakeHybridHistogram(
    const std::map<std::string, std::string>& params) {
  ASSIGN_OR_RETURN(HybridHistogramOptions o, ParseHybridHistogram(params));
  return std::unique_ptr<Policy>(std::make_unique<HybridHistogramPolicy>(std::move(o), params));
}

absl::StatusOr<std::unique_ptr<Policy>> MakeOracle(
    const std::map<std::string, std::string>& params) {
  ASSIGN_OR_RETURN(OracleOptions o, ParseOracle(params));
  return std::unique_ptr<Policy>(std::make_unique<OraclePolicy>(std::move(o)));
}

// ---- HybridHistogramPolicy ---------------------------------------------------------------

HybridHistogramPolicy::HybridHistogramPolicy(HybridHistogramOptions options,
                                             std::map<std::string, std::string> raw)
    : options_(std::move(options)), raw_(std::move(raw)) {}
HybridHistogramPolicy::~HybridHistogramPolicy() = default;

void HybridHistogramPolicy::Begin(PolicyContext& ctx) {
  keys_.assign(ctx.workload().keys.size(), KeyState(options_));
}

HybridWindows HybridHistogramPolicy::Windows(uint32_t key) { return keys_[key].hybrid.Windows(); }

void HybridHistogramPolicy::OnArrival(PolicyContext& ctx, uint32_t key, bool cold) {
  KeyState& ks = keys_[key];
  if (ks.idle_since >= 0) {
    // The first arrival after every instance of the key went idle: one idle time, from the
    // end of the last invocation to this start. An arrival while another invocation of the
    // key runs ends no idle period and records nothing.
    ks.hybrid.AddIdle((ctx.now() - ks.idle_since) / 1000);
    ks.idle_since = -1;
  }
  if (cold && !ks.reloads.empty()) {
    // The instance this arrival started stands in for the drained one whose reload was still
    // pending: when it goes idle it gets a schedule of its own.
    ks.reloads.erase(std::min_element(ks.reloads.begin(), ks.reloads.end()));
  }
}

void HybridHistogramPolicy::OnIdle(PolicyContext& ctx, uint32_t key, const ViewInstance& inst) {
  KeyState& ks = keys_[key];
  const SimTimeUs now = ctx.now();
  const auto& insts = ctx.view().keys[key].instances;
  if (std::any_of(insts.begin(), insts.end(), Busy)) {
    // The application still runs: its idle period, and with it its window, has not begun.
    SetDeadline(ks, inst.id, kNever);
    return;
  }
  ks.idle_since = now;
  // The application's window begins now and applies to each of its loaded instances,
  // including those idle since earlier in the busy period.
  HybridWindows w = Windows(key);
  ++counters_[std::string("hybrid:") + orchestrator::ModeName(w.mode)];
  const SimTimeUs prewarm = w.prewarm_ms * 1000, keepalive = w.keepalive_ms * 1000;
  std::vector<std::string> idle;
  for (const ViewInstance& vi : insts) {
    if (Loaded(vi)) idle.push_back(vi.id);
  }
  for (const std::string& id : idle) {
    if (prewarm <= 0) {
      SetDeadline(ks, id, now + keepalive);
      continue;
    }
    // Unloaded at once, loaded again when the pre-warm window has passed.
    SetDeadline(ks, id, kNever);
    ctx.Drain(id, ScaleReason::kIdle);
    ks.reloads.push_back({now + prewarm, keepalive});
  }
  Arm(ctx, key, now + (prewarm <= 0 ? keepalive : prewarm));
}

void HybridHistogramPolicy::OnWakeup(PolicyContext& ctx, uint32_t key) {
  KeyState& ks = keys_[key];
  const SimTimeUs now = ctx.now();
  if (ks.armed <= now) ks.armed = kNever;
  for (size_t i = 0; i < ks.reloads.size();) {
    if (ks.reloads[i].first > now) {
      ++i;
      continue;
    }
    SimTimeUs keep = ks.reloads[i].second;
    ks.reloads[i] = ks.reloads.back();
    ks.reloads.pop_back();
    if (ctx.Prewarm(key, ScaleReason::kPrefetch)) {
      // The simulator appends the new instance to the key's list.
      SetDeadline(ks, ctx.view().keys[key].instances.back().id, now + keep);
      ++counters_["hybrid:prewarms"];
    }
  }
  SimTimeUs next = kNever;
  for (const auto& [at, keep] : ks.reloads) next = std::min(next, at);
  // A window belongs to an idle period: while the application runs again, nothing is
  // unloaded, and its next idle period sets every instance's deadline afresh (OnIdle).
  const auto& insts = ctx.view().keys[key].instances;
  if (std::none_of(insts.begin(), insts.end(), Busy)) {
    DrainIdle(ctx, key);
    for (const auto& [id, at] : ks.unload_at) next = std::min(next, at);
  }
  if (next != kNever) Arm(ctx, key, next);
}

void HybridHistogramPolicy::SetDeadline(KeyState& ks, const std::string& id, SimTimeUs at) {
  for (auto& [i, t] : ks.unload_at) {
    if (i == id) {
      t = at;
      return;
    }
  }
  ks.unload_at.emplace_back(id, at);
}

void HybridHistogramPolicy::Arm(PolicyContext& ctx, uint32_t key, SimTimeUs at) {
  KeyState& ks = keys_[key];
  if (ks.armed > ctx.now() && ks.armed <= at) return;  // an earlier wake-up re-arms
  ks.armed = at;
  ctx.WakeAt(key, at);
}

// Drains the key's idle instances past their deadline. Deadlines of instances that are
// gone, draining or busy again are dropped (a busy one gets a new deadline when it next
// goes idle).
void HybridHistogramPolicy::DrainIdle(PolicyContext& ctx, uint32_t key) {
  KeyState& ks = keys_[key];
  const auto& insts = ctx.view().keys[key].instances;
  std::vector<std::string> drain;
  std::vector<std::pair<std::string, SimTimeUs>> keep;
  for (const auto& [id, at] : ks.unload_at) {
    auto it = std::find_if(insts.begin(), insts.end(),
                           [&](const ViewInstance& vi) { return vi.id == id; });
    if (it == insts.end() || !Loaded(*it) || Busy(*it)) continue;
    if (at <= ctx.now()) {
      drain.push_back(id);
    } else {
      keep.emplace_back(id, at);
    }
  }
  ks.unload_at = std::move(keep);
  for (const std::string& id : drain) ctx.Drain(id, ScaleReason::kIdle);
}

void HybridHistogramPolicy::Finish(PolicyContext&, SimResult& result) {
  for (const auto& [k, v] : counters_) result.decisions[k] = v;
  uint64_t fits = 0;
  for (const KeyState& ks : keys_) fits += ks.hybrid.forecast_fits();
  if (fits > 0) result.decisions["hybrid:forecast-fits"] = fits;
}

// ---- OraclePolicy ------------------------------------------------------------------------

OraclePolicy::OraclePolicy(OracleOptions options) : options_(std::move(options)) {}
OraclePolicy::~OraclePolicy() = default;

void OraclePolicy::Begin(PolicyContext& ctx) {
  const Workload& w = ctx.workload();
  const SimConfig& c = ctx.config();
  double p99 = std::max(c.start.p99_s, c.start.median_s);
  lead_ = static_cast<SimTimeUs>(std::ceil(p99 * 1e6)) + options_.slack_ms * 1000;
  reload_ = lead_ + c.dns_ttl_ms * 1000;
  horizon_ = reload_ + 1;
  keys_.assign(w.keys.size(), KeyPlan{});
  concurrency_.clear();
  for (const KeySpec& k : w.keys) concurrency_.push_back(std::max<uint32_t>(1, k.concurrency));
  // The simulator's own arrival stream: same workload, same seed, same arrivals.
  stream_ = std::make_unique<ArrivalStream>(w, c.seed);
  have_next_ = stream_->Next(next_);
  Advance(ctx, w.step_ms * 1000 + horizon_);
}

void OraclePolicy::OnStep(PolicyContext& ctx, size_t) {
  // Every action lands at least one step ahead of the planner's previous reach, so planning
  // up to one step + horizon ahead at each step boundary emits each action in time.
  Advance(ctx, ctx.now() + ctx.workload().step_ms * 1000 + horizon_);
}

// Replays arrivals and their completions up to `until`, in the simulator's order at equal
// times (completions first); finalises rank ends whose reload horizon has passed.
void OraclePolicy::Advance(PolicyContext& ctx, SimTimeUs until) {
  constexpr SimTimeUs kInf = INT64_MAX;
  for (;;) {
    SimTimeUs tc = completions_.empty() ? kInf : completions_.top().first;
    SimTimeUs tf = finalize_.empty() ? kInf : finalize_.top().due;
    SimTimeUs ta = have_next_ ? next_.t : kInf;
    SimTimeUs t = std::min({tc, tf, ta});
    if (t > until || t == kInf) return;
    if (tc == t) {
      uint32_t key = completions_.top().second;
      completions_.pop();
      PlanCompletion(key, t);
    } else if (tf == t) {
      Finalize f = finalize_.top();
      finalize_.pop();
      KeyPlan& kp = keys_[f.key];
      if (kp.ended[f.rank] == f.ended) {  // not needed again within the reload horizon
        kp.ended[f.rank] = kNone;
        Emit(ctx, f.key, f.ended, -1);
        ++planned_drops_;
      }
    } else {
      PlanArrival(ctx, next_);
      have_next_ = stream_->Next(next_);
    }
  }
}

void OraclePolicy::PlanArrival(PolicyContext& ctx, const Arrival& a) {
  KeyPlan& kp = keys_[a.key];
  ++kp.inflight;
  completions_.push({a.t + a.service_us, a.key});
  kp.requests.push({a.t, +1});
  kp.requests.push({a.t + a.service_us, -1});
  const uint32_t c = concurrency_[a.key];
  while (kp.need < (kp.inflight + c - 1) / c) {
    uint32_t r = kp.need++;
    if (r >= kp.ended.size()) kp.ended.push_back(kNone);
    if (kp.ended[r] != kNone) {  // ended less than a reload ago: it stayed loaded
      kp.ended[r] = kNone;
      ++bridged_;
    } else {
      Emit(ctx, a.key, a.t - lead_, +1);
      ++planned_starts_;
    }
  }
}

void OraclePolicy::PlanCompletion(uint32_t key, SimTimeUs at) {
  KeyPlan& kp = keys_[key];
  --kp.inflight;
  const uint32_t c = concurrency_[key];
  while (kp.need > (kp.inflight + c - 1) / c) {
    uint32_t r = --kp.need;
    kp.ended[r] = at;
    finalize_.push({at + reload_, key, r, at});
  }
}

void OraclePolicy::Emit(PolicyContext& ctx, uint32_t key, SimTimeUs at, int delta) {
  keys_[key].actions.push({at, delta});
  ctx.WakeAt(key, at);
}

void OraclePolicy::OnWakeup(PolicyContext& ctx, uint32_t key) {
  KeyPlan& kp = keys_[key];
  while (!kp.actions.empty() && kp.actions.top().at <= ctx.now()) {
    kp.target += kp.actions.top().delta;
    kp.actions.pop();
  }
  Reconcile(ctx, key);
}

void OraclePolicy::OnIdle(PolicyContext& ctx, uint32_t key, const ViewInstance&) {
  Reconcile(ctx, key);
}

// Brings the key's loaded instances to the plan's count: starts the missing ones; drains
// surplus idle ones (ready before starting ones, newest first: routing packs onto the
// oldest), but keeps as many idle as the plan has idle now (loaded minus busy), so that
// requests running late on other instances do not cost the plan its spare ones. Surplus
// busy ones are drained when they go idle (OnIdle comes back here).
void OraclePolicy::Reconcile(PolicyContext& ctx, uint32_t key) {
  KeyPlan& kp = keys_[key];
  while (!kp.requests.empty() && kp.requests.top().at <= ctx.now()) {
    kp.planned_inflight += kp.requests.top().delta;
    kp.requests.pop();
  }
  const auto& insts = ctx.view().keys[key].instances;
  int64_t loaded = std::count_if(insts.begin(), insts.end(), Loaded);
  for (; loaded < kp.target; ++loaded) {
    if (!ctx.Prewarm(key, ScaleReason::kPrefetch)) break;
  }
  if (loaded <= kp.target) return;
  std::vector<std::string> idle;
  for (ViewState want : {ViewState::kReady, ViewState::kStarting}) {
    for (auto it = insts.rbegin(); it != insts.rend(); ++it) {
      if (it->state == want && !Busy(*it)) idle.push_back(it->id);
    }
  }
  const int64_t c = concurrency_[key];
  int64_t planned_busy = (std::max<int64_t>(0, kp.planned_inflight) + c - 1) / c;
  int64_t planned_idle = std::max<int64_t>(0, kp.target - planned_busy);
  int64_t surplus = std::min(loaded - kp.target, static_cast<int64_t>(idle.size()) - planned_idle);
  if (surplus <= 0) return;
  idle.resize(static_cast<size_t>(surplus));
  for (const std::string& id : idle) ctx.Drain(id, ScaleReason::kIdle);
}

void OraclePolicy::Finish(PolicyContext&, SimResult& result) {
  result.decisions["oracle:planned-starts"] = planned_starts_;
  result.decisions["oracle:planned-drops"] = planned_drops_;
  result.decisions["oracle:bridged-gaps"] = bridged_;
}

}  // namespace prewarm::sim
