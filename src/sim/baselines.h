// The two baselines `prewarm sim` measures prewarm against, implemented from their
// definitions rather than as configurations of the reconciler:
//
// - hybrid-histogram: Shahrad et al., "Serverless in the Wild", USENIX ATC 2020, §4.2.
//   Per key, a range-limited histogram of idle times (1-minute bins over 4 hours). After
//   each invocation ends the key gets a pre-warm window (5th percentile minus a 10% margin)
//   and a keep-alive window (99th percentile plus 10%, minus the pre-warm window): the
//   instance is unloaded at once and loaded again when the pre-warm window has passed,
//   then kept for the keep-alive window. A histogram that is not yet representative (too
//   few samples, or a coefficient of variation of its bin counts below 2) gives the
//   standard keep-alive (the histogram's range) and no pre-warming; a key whose idle times
//   are mostly beyond the range gets a time-series forecast of its next idle time instead
//   (the paper's ARIMA; see HybridHistogramOptions::oob_model). The decisions are
//   autoscale/hybrid_histogram.h's, which the orchestrator runs too; this applies them to
//   each instance with timers, from the start of the application's idle period.
// - oracle: knows the future arrivals (it replays the simulator's own seeded arrival
//   stream) and loads exactly the instances they need, one worst-case start time early,
//   keeping an instance across a gap only when unloading and reloading would waste more.
//   The lower bound on cold starts at (near) minimal idle memory.
//
// Both are driven by PolicyContext::WakeAt timers and the simulator's callbacks, never by
// scans of all keys, so they scale to 10,000 keys.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "autoscale/hybrid_histogram.h"
#include "sim/sim.h"

namespace prewarm::sim {

// Knobs parsed from `--param k=v`; unknown knobs are InvalidArgument listing valid ones.
// The hybrid histogram takes the settings table's hybrid_* rows.
absl::StatusOr<std::unique_ptr<Policy>> MakeHybridHistogram(
    const std::map<std::string, std::string>& params);
absl::StatusOr<std::unique_ptr<Policy>> MakeOracle(
    const std::map<std::string, std::string>& params);

// ---- hybrid-histogram -------------------------------------------------------------------

// The decision code is the orchestrator's (autoscale/hybrid_histogram.h); its settings are
// the hybrid_* rows of the autoscaler's settings table (autoscale/settings.h), by the same
// names and defaults as in the orchestrator's config.
using orchestrator::HybridHistogramOptions;
using orchestrator::HybridWindows;
using orchestrator::IdleHistogram;

// `params`: hybrid_* settings only; anything else is an error listing them.
absl::StatusOr<HybridHistogramOptions> ParseHybridHistogram(
    const std::map<std::string, std::string>& params);

// Each concurrency rank of a key is an application of its own: rank j is busy while at
// least j instances of the key serve, and idle otherwise. Its idle times (from the moment
// fewer than j serve to the moment j serve again) fill its own histogram, and each of its
// idle periods gets that histogram's windows. With one instance per key, rank 1 is the
// key and the idle times are the application's: from the end of the invocation after which
// nothing of the key runs to the start of the next one; an arrival while another runs
// records nothing. The key keeps as many idle instances loaded as it has idle ranks inside
// their keep-alive windows (a rank in its pre-warm window has none), draining the newest
// idle ones first and pre-warming when short; a rank that becomes busy ends its window, so
// an arrival during a pre-warm window is cold and its instance takes the rank's place.
// Ranks, not one window for all of a key's instances, are what reproduces the independent
// reference simulator's concurrency figures (bench/sim/README.md, "Reference mode").
class HybridHistogramPolicy final : public Policy {
 public:
  HybridHistogramPolicy(HybridHistogramOptions options, std::map<std::string, std::string> raw);
  ~HybridHistogramPolicy() override;
  std::string name() const override { return "hybrid-histogram"; }
  std::map<std::string, std::string> params() const override { return raw_; }
  void Begin(PolicyContext& ctx) override;
  void OnArrival(PolicyContext& ctx, uint32_t key, bool cold) override;
  void OnIdle(PolicyContext& ctx, uint32_t key, const orchestrator::ViewInstance& inst) override;
  void OnWakeup(PolicyContext& ctx, uint32_t key) override;
  void Finish(PolicyContext& ctx, SimResult& result) override;

  // The windows rank `rank` (1: the key's first instance) of `key` would get if it went
  // idle now (for tests and reports).
  HybridWindows Windows(uint32_t key, uint32_t rank = 1);
  // Rank `rank`'s idle times; an empty histogram for a rank never reached.
  const IdleHistogram& histogram(uint32_t key, uint32_t rank = 1) const;
  // The highest rank `key` has reached.
  size_t ranks(uint32_t key) const { return keys_[key].ranks.size(); }

 private:
  static constexpr SimTimeUs kNever = INT64_MAX;
  struct Rank {
    explicit Rank(const HybridHistogramOptions& o) : hybrid(o) {}
    orchestrator::HybridHistogram hybrid;
    SimTimeUs idle_since = -1;  // when it last went idle; -1 busy or never reached
    // Its current idle period's loaded stretch [load_from, load_to) (read while idle).
    SimTimeUs load_from = 0, load_to = 0;
  };
  struct KeyState {
    std::vector<Rank> ranks;   // ranks[j - 1] is rank j
    uint32_t busy = 0;         // instances serving, as last seen
    SimTimeUs armed = kNever;  // earliest pending wake-up
  };
  // Moves the key's ranks to `busy` serving instances, then loads or drains idle instances
  // to match the ranks' windows and arms the next window edge.
  void Update(PolicyContext& ctx, uint32_t key);
  void Arm(PolicyContext& ctx, uint32_t key, SimTimeUs at);

  HybridHistogramOptions options_;
  std::map<std::string, std::string> raw_;
  std::vector<KeyState> keys_;
  std::map<std::string, uint64_t> counters_;
  // A rank never reached: no idle times, the standard windows.
  orchestrator::HybridHistogram unreached_;
};

// ---- oracle -------------------------------------------------------------------------------

struct OracleOptions {
  int64_t slack_ms = 0;  // extra lead beyond the start time's p99
  std::map<std::string, std::string> raw;
};

absl::StatusOr<OracleOptions> ParseOracle(const std::map<std::string, std::string>& params);

// The oracle replays the simulator's arrivals (same workload, same seed) in a planner that
// runs `horizon` ahead of the simulation. Per key it keeps the number of in-flight requests
// the arrivals imply (each served from its arrival, as it is when nothing is cold) and so
// the instances they need, ceil(in-flight / concurrency), as "ranks": rank j is needed
// while at least j instances are. When rank j becomes needed at arrival a, an instance is
// started at a - lead, lead = start p99 + slack (the exact start time is drawn by the
// simulator, so the oracle covers its 99th percentile; slack covers more of the tail).
// When rank j stops being needed at e, the instance is kept if rank j is needed again
// before e + lead + the answers' TTL and slack (the memory a reload costs: the drained instance
// stays loaded until its last DNS answer expires, up to the answers' TTL and slack, and the new one
// idles `lead` before its arrival), else drained at e. The simulator side keeps the key's loaded
// instances at the planned count: starting when short, draining surplus idle ones (newest first),
// which also reclaims instances the cold path created when the start-time tail made a plan late. An
// idle instance the plan counts on is never drained because a late (cold) request keeps some other
// instance busy longer than planned: that would cascade into more cold starts.
class OraclePolicy final : public Policy {
 public:
  explicit OraclePolicy(OracleOptions options);
  ~OraclePolicy() override;
  std::string name() const override { return "oracle"; }
  std::map<std::string, std::string> params() const override { return options_.raw; }
  void Begin(PolicyContext& ctx) override;
  void OnIdle(PolicyContext& ctx, uint32_t key, const orchestrator::ViewInstance& inst) override;
  void OnWakeup(PolicyContext& ctx, uint32_t key) override;
  void OnStep(PolicyContext& ctx, size_t step) override;
  void Finish(PolicyContext& ctx, SimResult& result) override;

 private:
  static constexpr SimTimeUs kNone = -1;
  struct Action {
    SimTimeUs at;
    int delta;
    // At equal times -1 first: the simulator ends requests before it routes new ones.
    bool operator>(const Action& o) const { return at != o.at ? at > o.at : delta > o.delta; }
  };
  struct KeyPlan {
    uint32_t inflight = 0;         // planner: requests in flight at the planner's time
    uint32_t need = 0;             // planner: ceil(inflight / concurrency)
    std::vector<SimTimeUs> ended;  // planner: rank -> end of its need (kNone: needed/dropped)
    std::priority_queue<Action, std::vector<Action>, std::greater<>> actions;
    int64_t target = 0;  // simulation: instances the plan wants loaded now
    // Simulation: the planned requests' starts (+1) and ends (-1) not yet reached, and the
    // requests the plan has in flight now.
    std::priority_queue<Action, std::vector<Action>, std::greater<>> requests;
    int64_t planned_inflight = 0;
  };
  struct Finalize {
    SimTimeUs due;
    uint32_t key, rank;
    SimTimeUs ended;
    bool operator>(const Finalize& o) const { return due > o.due; }
  };
  void Advance(PolicyContext& ctx, SimTimeUs until);
  void PlanArrival(PolicyContext& ctx, const Arrival& a);
  void PlanCompletion(uint32_t key, SimTimeUs at);
  void Emit(PolicyContext& ctx, uint32_t key, SimTimeUs at, int delta);
  void Reconcile(PolicyContext& ctx, uint32_t key);

  OracleOptions options_;
  SimTimeUs lead_ = 0;     // start this long before the arrival
  SimTimeUs reload_ = 0;   // memory-time a reload costs: keep across shorter gaps
  SimTimeUs horizon_ = 0;  // the planner runs this far ahead
  std::vector<uint32_t> concurrency_;
  std::vector<KeyPlan> keys_;
  std::unique_ptr<ArrivalStream> stream_;
  Arrival next_;
  bool have_next_ = false;
  using Completion = std::pair<SimTimeUs, uint32_t>;
  std::priority_queue<Completion, std::vector<Completion>, std::greater<>> completions_;
  std::priority_queue<Finalize, std::vector<Finalize>, std::greater<>> finalize_;
  uint64_t planned_starts_ = 0, planned_drops_ = 0, bridged_ = 0;
};

}  // namespace prewarm::sim
