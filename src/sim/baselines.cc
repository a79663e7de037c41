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
  return orchestrator::OnPolicyClock(s).learned.hybrid;
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
    : options_(std::move(options)), raw_(std::move(raw)), unreached_(options_) {}
HybridHistogramPolicy::~HybridHistogramPolicy() = default;

void HybridHistogramPolicy::Begin(PolicyContext& ctx) {
  keys_.assign(ctx.workload().keys.size(), KeyState{});
}

HybridWindows HybridHistogramPolicy::Windows(uint32_t key, uint32_t rank) {
  std::vector<Rank>& ranks = keys_[key].ranks;
  if (rank == 0 || rank > ranks.size()) return unreached_.Windows();
  return ranks[rank - 1].hybrid.Windows();
}

const IdleHistogram& HybridHistogramPolicy::histogram(uint32_t key, uint32_t rank) const {
  const std::vector<Rank>& ranks = keys_[key].ranks;
  if (rank == 0 || rank > ranks.size()) return unreached_.histogram();
  return ranks[rank - 1].hybrid.histogram();
}

void HybridHistogramPolicy::OnArrival(PolicyContext& ctx, uint32_t key, bool) { Update(ctx, key); }

void HybridHistogramPolicy::OnIdle(PolicyContext& ctx, uint32_t key, const ViewInstance&) {
  Update(ctx, key);
}

void HybridHistogramPolicy::OnWakeup(PolicyContext& ctx, uint32_t key) {
  KeyState& ks = keys_[key];
  if (ks.armed <= ctx.now()) ks.armed = kNever;
  Update(ctx, key);
}

void HybridHistogramPolicy::Update(PolicyContext& ctx, uint32_t key) {
  KeyState& ks = keys_[key];
  const SimTimeUs now = ctx.now();
  const auto& insts = ctx.view().keys[key].instances;
  const auto busy = static_cast<uint32_t>(std::count_if(insts.begin(), insts.end(), Busy));
  // Ranks that became busy end their idle periods (and windows) with one idle time each.
  for (uint32_t j = ks.busy + 1; j <= busy; ++j) {
    if (ks.ranks.size() < j) ks.ranks.emplace_back(options_);
    Rank& r = ks.ranks[j - 1];
    if (r.idle_since >= 0) r.hybrid.AddIdle((now - r.idle_since) / 1000);
    r.idle_since = -1;
  }
  // Ranks that went idle begin theirs, with the windows their own histograms give now.
  for (uint32_t j = ks.busy; j > busy; --j) {
    Rank& r = ks.ranks[j - 1];
    const HybridWindows w = r.hybrid.Windows();
    ++counters_[std::string("hybrid:") + orchestrator::ModeName(w.mode)];
    r.idle_since = now;
    r.load_from = now + w.prewarm_ms * 1000;
    r.load_to = r.load_from + w.keepalive_ms * 1000;
  }
  ks.busy = busy;
  // Idle ranks inside their loaded stretch each keep one idle instance.
  size_t want = 0;
  SimTimeUs next = kNever;
  for (size_t j = busy; j < ks.ranks.size(); ++j) {
    const Rank& r = ks.ranks[j];
    if (r.idle_since < 0) continue;
    if (r.load_from <= now && now < r.load_to) ++want;
    if (r.load_from > now) next = std::min(next, r.load_from);
    if (r.load_to > now) next = std::min(next, r.load_to);
  }
  std::vector<std::string> idle;  // oldest first
  for (const ViewInstance& vi : insts) {
    if (Loaded(vi) && !Busy(vi)) idle.push_back(vi.id);
  }
  for (size_t i = idle.size(); i > want; --i) ctx.Drain(idle[i - 1], ScaleReason::kIdle);
  for (size_t i = idle.size(); i < want; ++i) {
    if (!ctx.Prewarm(key, ScaleReason::kPrefetch)) break;
    ++counters_["hybrid:prewarms"];
  }
  if (next != kNever) Arm(ctx, key, next);
}

void HybridHistogramPolicy::Arm(PolicyContext& ctx, uint32_t key, SimTimeUs at) {
  KeyState& ks = keys_[key];
  if (ks.armed > ctx.now() && ks.armed <= at) return;  // an earlier wake-up re-arms
  ks.armed = at;
  ctx.WakeAt(key, at);
}

void HybridHistogramPolicy::Finish(PolicyContext&, SimResult& result) {
  for (const auto& [k, v] : counters_) result.decisions[k] = v;
  uint64_t fits = 0;
  for (const KeyState& ks : keys_) {
    for (const Rank& r : ks.ranks) fits += r.hybrid.forecast_fits();
  }
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
  reload_ = lead_ + c.answers.ExpiredMs(0) * 1000;
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
