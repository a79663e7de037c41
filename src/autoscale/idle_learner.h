// IdleLearner: a learned keep-alive for one (region, template) key, from the distribution
// of its idle times (end of its last running request to the next arrival).
//
// After an idle period begins the key is kept warm in one of two shapes:
//   keep    keep the instance for `keep_until` (a keep-alive; prewarm = 0);
//   reload  keep it for `keep_first` (0: unload at once, the shape of Shahrad et al.'s
//           hybrid histogram), load an instance again at `prewarm` (minus the start time)
//           and keep it until `keep_until`.
// Both shapes are scored on the observed idle times, with a cold start costing
// `cold_cost` and a loaded idle second costing `idle_cost` (memory x seconds, and a
// reload pays its start time as idle). The cheapest (prewarm, keep_until) among the
// histogram's bin edges wins, then widened by `margin` on each side against the
// histogram's granularity; the idle times are smoothed by a weak log-uniform prior
// (IdleLearnerOptions::prior_weight). Unlike a fixed percentile, the choice moves with the cost
// ratio: a key whose idle times are long and spread gets no keep-alive at all when a cold
// start is cheap, and a long one when it is dear.
//
// Memory: one sparse map of non-empty bins per key. Plan() is O(m^2) in the number m of
// non-empty bins, so callers cache it (see IdleLearner::stale).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "autoscale/hybrid_histogram.h"
#include "autoscale/timer_detector.h"

namespace prewarm::orchestrator {

struct IdleLearnerOptions {
  int64_t bin_ms = 60'000;            // histogram resolution
  int64_t range_ms = 24 * 3'600'000;  // idle times beyond this count as "never warm"
  uint64_t min_samples = 3;           // fewer: Plan() gives the default keep-alive
  double margin = 0.10;               // prewarm earlier and keep longer by this share
  // A prior worth this many idle periods, spread log-uniformly over [0, range): a few
  // samples alone would schedule a narrow reload around the one gap seen so far; with
  // the prior the plan keeps warm until the data are concentrated enough to pay for it.
  double prior_weight = 1.0;
  int64_t default_keepalive_ms = 600'000;
  // A reload plan may keep the instance for a first stretch (IdlePlan::keep_first_ms) only
  // with at least this many idle periods observed: with fewer, a stretch of the histogram
  // without samples is noise, not a time no invocation comes (on the Azure sample 10 loses
  // 4 functions under the p75 target, 20 loses one, 30 none).
  uint64_t keep_first_min_samples = 30;
  // When at least this share of the idle times were beyond the range, also consider a
  // reload around a forecast of the next long idle time (the mean of the last ones), +-
  // `beyond_margin` (the hybrid histogram's out-of-range rule). 0: never.
  double beyond_share = 0.5;
  double beyond_margin = 0.15;
};

// When an instance unloaded during an idle period stops costing memory. The live
// orchestrator destroys a drained instance only once every DNS answer naming it has expired
// and its drain has settled (AnswerHold, reconciler.h; the simulator applies the same rule),
// so an unload frees nothing before then: a reload whose reloaded instance starts before
// the unloaded one is gone holds two. The default: gone at the unload.
struct UnloadHold {
  double answer_s = 0;  // from the idle period's start: its last answer's TTL and slack
  double settle_s = 0;  // from the unload: the drain's settling
  // When an instance unloaded `unload_s` into an idle period is gone.
  double GoneS(double unload_s) const { return std::max(unload_s + settle_s, answer_s); }
};

struct IdlePlan {
  bool learned = false;       // false: not enough samples, the default keep-alive
  int64_t prewarm_ms = 0;     // 0: keep warm from the start of the idle period
  int64_t keep_first_ms = 0;  // prewarm_ms > 0: warm this long first, then unloaded
  int64_t keep_until_ms = 0;  // unloaded after this much idle time
  double cold_share = 0;      // expected share of idle periods that end cold
  double idle_s = 0;          // expected loaded idle seconds per idle period

  bool reload() const { return prewarm_ms > 0; }
  // How long an instance stays loaded after its last use: all of a keep, a reload's first
  // stretch.
  int64_t keepalive_ms() const { return reload() ? keep_first_ms : keep_until_ms; }
};

class IdleLearner {
 public:
  IdleLearner() = default;
  explicit IdleLearner(IdleLearnerOptions options) : options_(options) {}

  void Add(int64_t idle_ms);
  uint64_t samples() const { return samples_; }
  // The cheapest plan for a cold start worth `cold_cost` loaded-instance-seconds of idle,
  // with `start_s` the time an instance takes to start (a reload is loaded, idle, for it).
  // `hold`: when an unloaded instance is gone (paid for until then); `keep_only`: consider
  // only the keep shape (no reload).
  IdlePlan Plan(double cold_cost, double start_s, const UnloadHold& hold = {},
                bool keep_only = false) const;

 private:
  IdleLearnerOptions options_;
  struct Bin {
    uint32_t count = 0;  // idle periods that ended in this bin
    double sum_s = 0;    // their total length (a bin is wide; its midpoint is no estimate)
  };
  std::map<uint32_t, Bin> bins_;
  uint64_t beyond_ = 0;                  // idle periods longer than range_ms
  std::vector<double> recent_beyond_s_;  // the last few of them (oldest first), seconds
  uint64_t samples_ = 0;
};

// How a cold start is priced against idle memory when planning keep-alives.
struct LearnedKeepAliveConfig {
  // Who plans an idle period: kCost, the IdleLearner's cheapest plan at the prices below;
  // kHybridHistogram, Shahrad et al.'s hybrid histogram (hybrid_histogram.h) with
  // `hybrid`: no prices; each concurrency level (surplus_levels of them above the first)
  // an application of its own, as the reference simulator's concurrency mode has it
  // (callers set bursts and timers off for the published policy; levels past the last
  // have no window and go when idle).
  enum class Planner : uint8_t { kCost, kHybridHistogram };
  Planner planner = Planner::kCost;
  HybridHistogramOptions hybrid;
  // A cold start costs this many seconds of an idle instance of average memory.
  double cold_s = 1'800;
  // "start": every cold start the same; "key": divided by the key's idle periods per day
  // (every key's cold-start rate weighs the same, the per-key metric of ATC'20); "mix":
  // cold_s x (1 + mix_per_day / idle periods per day): per start for busy keys, per key
  // for rare ones.
  std::string weight = "mix";
  // "mix": keys with fewer idle periods a day than this weigh more.
  double mix_per_day = 200;
  IdleLearnerOptions learner{.range_ms = 6 * 3'600'000, .min_samples = 0};
  // Surplus instances: level l >= 2 is in use while at least l instances of the key serve,
  // and idle otherwise. Levels 2..surplus_levels+1 learn keep-alives of their own from
  // their own idle times (priced as level 1's); the instance that was l-th most recently
  // busy keeps level l's. 0: every instance keeps level 1's.
  uint32_t surplus_levels = 8;
  // A surplus level's cold start costs this many seconds of an idle instance of average
  // memory: one start, as cold_s (no "mix" weighting; the key's first instance is level
  // 1's business). Priced at a sixth of that, the Azure sample's concurrency cold starts
  // kept its overall cold-start rate at 1.3 % at the hybrid histogram's memory; at cold_s,
  // 1.1 %, with the same 75th percentile.
  double surplus_cold_s = 1'800;
  // A surplus cold start adds 1/n to a key's cold-start rate over n invocations: priced
  // per start, the busiest keys kept the most surplus instances (Azure's function 72:
  // 39,396 invocations, 0.15 % cold, 26 k MB·h idle, the most of any). Above this many
  // idle periods a day, a surplus cold start is priced per key (surplus_cold_s x this /
  // idle periods a day), as long as the key's own cold-start rate so far is under
  // `cold_start_objective`; at or above it, per start again. 0 (the default): always per
  // start. At 100 on Azure's sample, the p75 at the hybrid histogram's memory falls from
  // 9.13 % to 8.60 % but the overall cold-start rate doubles (0.87 % -> 1.74 %): busy
  // keys' scale-out cold starts are most of the invocations that see one.
  double surplus_per_day = 0;
  double cold_start_objective = 0.05;
  // Reload windows ahead of the next firing of keys that look like cron timers
  // (TimerDetector with `timer`: cron's candidate periods).
  bool timers = true;
  TimerDetectorOptions timer;
  // A day on the policy's clock: the time base of the rates per day above (OnPolicyClock
  // shortens it for a replay).
  int64_t day_ms = 86'400'000;
  // A cold start's price in idle seconds is divided by (instance memory / average)^this.
  // 1: priced in MB (an instance twice the average size gets half the idle time for a cold
  // start); 0: per instance. The per-key metrics weigh every key alike whatever its size,
  // and at 1 a tight budget drops the biggest instances first: on WorldCup98 at 0.63x
  // memory, the four 256 MB video keys went cold 67 % of the time (p75) where fixed
  // keep-alive's were at 53 %. At 0.5 the cheapest predictive point is 0.75x at 8 %.
  // (The live orchestrator takes each template's memory from its agents' reports.)
  double memory_weight = 0.5;
  // Burst scale-out. An activation is an arrival that ends the key's idle period; the
  // most instances serving at once within `burst_window_ms` after it is its peak. Once an
  // activation has b serving, each further level l is started at once when
  //   P(peak >= l | peak >= b) x a surplus cold start's price
  //     > start time + P(peak < l) x burst_window   (an unused instance leaves with it)
  // and P(peak >= l | peak >= b) >= `burst_min_share`, from at least `burst_min_samples`
  // activations that reached b. The reactive floor (Knative's panic mode) only follows
  // demand already seen: Azure's function 70, whose bursts reach 15 instances of 11-s
  // invocations, had 133 cold starts in 1054 invocations (12.6 %); with this, 76. The
  // share keeps busy keys from starting a level on every activation for the few percent
  // of them where two invocations happened to overlap (at 0, 130 functions under the p75
  // target cost 1.42x memory; at 0.1, 1.39x).
  bool bursts = true;
  int64_t burst_window_ms = 60'000;
  uint32_t burst_min_samples = 3;
  double burst_min_share = 0.1;
};

struct PrefetchWindow;
struct ViewKey;

// PrefetchWindow::source of the reloads a LearnedKeepAlive plans (forecasters use 0).
inline constexpr uint32_t kLearnedWindowSource = 1;
// ... and of its surplus level l's reloads: kSurplusWindowSource + l.
inline constexpr uint32_t kSurplusWindowSource = 16;
// ... and of its burst scale-out (LearnedKeepAliveConfig::bursts).
inline constexpr uint32_t kBurstWindowSource = 3;

// One key's learned keep-alive over time: feeds idle periods to its IdleLearner, replans
// when the histogram has grown by a tenth, and turns the plan into what the reconciler
// reads (ViewKey::keepalive_ms, and a window of `source` for a reload). Shared by the live
// orchestrator (LiveAutoscaler) and the simulator's predictive policy.
class LearnedKeepAlive {
 public:
  LearnedKeepAlive() = default;
  // `watching_since_ms`: when arrivals of this key started to be observed (the time base
  // of its rate: n idle periods over the time watched, not since its first arrival).
  LearnedKeepAlive(const LearnedKeepAliveConfig& config, int64_t watching_since_ms);

  // An arrival at `at_ms`: it ends the key's idle period (or came while it was busy: idle 0).
  // `cold`: it found no ready instance (the key's cold-start rate, for
  // LearnedKeepAliveConfig::cold_start_objective).
  void Arrival(int64_t at_ms, bool cold = false);
  // The key's last running invocation ended at `at_ms`: plans the idle period that starts.
  // `memory_ratio`: this key's instance memory over the average; `start_s`: its start time;
  // `hold`: when an instance it unloads is gone.
  const IdlePlan& IdleBegins(int64_t at_ms, const LearnedKeepAliveConfig& config,
                             double memory_ratio, double start_s, const UnloadHold& hold = {});
  // The number of the key's instances serving changed to `busy` at `at_ms` (call on every
  // change, after Arrival/IdleBegins): surplus levels above it become idle, those up to it
  // end their idle period.
  void Busy(int64_t at_ms, uint32_t busy, const LearnedKeepAliveConfig& config, double memory_ratio,
            double start_s, const UnloadHold& hold = {});
  // What a cold start of this key costs now, in seconds of its idle instance (the price
  // its plans are made at).
  double ColdCost(const LearnedKeepAliveConfig& config, double memory_ratio, int64_t at_ms) const {
    return ColdCost(config, memory_ratio, learner_.samples(), at_ms);
  }
  // ... and of a surplus instance (LearnedKeepAliveConfig::surplus_per_day).
  double SurplusColdCost(const LearnedKeepAliveConfig& config, double memory_ratio,
                         int64_t at_ms) const;
  bool idle() const { return idle_since_ms_ >= 0; }
  int64_t idle_since_ms() const { return idle_since_ms_; }
  const IdlePlan& plan() const { return plan_; }
  uint64_t plans() const { return plans_; }
  // Writes the current plan into `key`: keep-alive, and while idle with a reload planned,
  // one window of `source` (replacing that source's earlier one); a busy key gets neither.
  // Surplus levels: keep-alives, and for an idle level with a reload planned a window of
  // `level` instances (source kSurplusWindowSource + level). A burst scale-out: a
  // window of that many instances to the end of the activation's burst window (kBurstWindowSource).
  // With the hybrid histogram every level (the first included) plans from a histogram of
  // its own idle times, and the key gets no keep-alive, only windows of `source`: while n
  // instances serve and m idle levels are inside their windows, n + m instances.
  void Apply(ViewKey& key, uint32_t source) const;
  // The activation under way wants this many instances (0: no scale-out).
  uint32_t burst_target() const { return burst_target_; }

 private:
  double ColdCost(const LearnedKeepAliveConfig& config, double memory_ratio, uint64_t samples,
                  int64_t at_ms) const;
  // The key's idle periods per day (at least 1), over the time watched (at least an hour).
  // Idle periods a day of the policy's clock (`day_ms`), over at least an hour of it.
  double PerDay(uint64_t samples, int64_t at_ms, int64_t day_ms) const;
  // Apply for the hybrid histogram: windows only, counting the idle levels inside theirs.
  void ApplyHybrid(ViewKey& key, uint32_t source) const;
  void BurstScaleOut(int64_t at_ms, uint32_t busy, const LearnedKeepAliveConfig& config,
                     double memory_ratio, double start_s);
  static constexpr uint32_t kMaxBurstLevels = 64;

  IdleLearner learner_;
  std::optional<HybridHistogram> hybrid_;  // LearnedKeepAliveConfig::planner's
  IdlePlan plan_;
  struct Level {
    IdleLearner learner;
    int64_t idle_since_ms = -1;  // -1: in use, or never reached
    IdlePlan plan;               // its own plan (a reload: a window of `level` instances)
    uint64_t planned_at = UINT64_MAX;
    std::optional<HybridHistogram> hybrid;  // the planner's, when it is the hybrid's
  };
  std::vector<Level> levels_;  // [0] is level 2
  uint32_t busy_ = 0;
  uint64_t planned_at_ = UINT64_MAX;  // learner samples when plan_ was computed
  int64_t idle_since_ms_ = -1;        // -1: an invocation runs (or none ran yet)
  int64_t since_ms_ = 0;              // the rate's time base
  bool ran_ = false;
  uint64_t arrivals_ = 0, colds_ = 0;  // since watching, for the objective
  uint64_t plans_ = 0;
  // Burst scale-out: reached_[l - 1] activations had a peak of at least l instances (the
  // last entry: at least that many).
  std::vector<uint64_t> reached_;
  int64_t activation_ms_ = -1;  // -1: none yet
  uint32_t activation_peak_ = 0;
  uint32_t burst_target_ = 0;
  int64_t burst_end_ms_ = 0;
};

}  // namespace prewarm::orchestrator
