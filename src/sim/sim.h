// The simulator core: virtual time, a simulated cluster of nodes in regions, request
// routing with cold starts, and the metrics policies are judged on.
//
// The cluster is an orchestrator::ClusterView kept in place: the same structure the live
// orchestrator builds for its reconciler, so that the reconciler and its placement run here
// unchanged. Policies (policies.h, baselines.h) decide which instances to pre-warm and when
// to drain them; the core owns everything else:
// - routing: an arrival goes to the oldest ready instance of its key with a free slot
//   (packing, so that surplus instances go idle and can be reclaimed), else shares a
//   starting instance with a free slot (a cold start: it waits for the rest of the start),
//   else starts a new instance where the reconciler's placement puts it (a cold start);
//   when no node anywhere has a slot the origin serves it (counted apart);
// - instance life: start times drawn from the runtime's distribution; a drained instance
//   leaves routing at once and is destroyed once the last DNS answer naming it has expired
//   and the drain has settled (AnswerHold over the last routed request and the drain, the
//   rule the live orchestrator applies) and it serves nothing;
// - metrics: cold starts per key, wasted memory (MB-seconds of loaded instances serving
//   nothing), loaded memory, starts, request latency (wait for a start + service).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "autoscale/reconciler.h"
#include "sim/workload.h"

namespace prewarm::sim {

// Instance start time: lognormal through a median and a 99th percentile; both 0: instant.
struct StartTime {
  double median_s = 2.7;
  double p99_s = 3.5;
  SimTimeUs Sample(std::mt19937_64& rng) const;
  // Measured on these machines with bench/instance_start (create -> first HTTP 200; the
  // figures are in bench/instance_start/README.md): "oci" (runc with the agent's default
  // hardening), "qemu" (microvm cold boot under TCG), "qemu-restore", "qemu-clone";
  // "measured:MEDIAN_S,P99_S" for start times measured elsewhere (a live run's, under its
  // load).
  static absl::StatusOr<StartTime> Named(const std::string& runtime);
};

// Starts share the CPU. A start's sampled time (StartTime) is its length alone; `cores`
// starts run at full speed at once, and k > cores in progress each run at cores / k
// (processor sharing), among the starts of one node or, with `host`, of every node (a
// replay whose agents all run on one machine). bench/instance_start --burst measures how a
// machine's start times grow with concurrent starts. cores 0: each start runs alone.
struct StartContention {
  uint32_t cores = 0;
  bool host = false;
  // "none", "node:C" or "host:C".
  static absl::StatusOr<StartContention> Parse(const std::string& spec);
  std::string ToString() const;
};

// How an arrival picks an instance of its key.
//   kPack  the oldest ready instance with a free concurrency slot, then a starting one with
//          one, else a cold start (instances fill up one after the other, and surplus ones
//          go idle and are drained).
//   kLive  what the orchestrator's DNS path does (autoscale/placement.h ChooseInstance):
//          the less loaded of two random ready instances whatever their load, else of two
//          starting ones, else a cold start. A key never cold-starts for concurrency: only
//          the autoscaler adds instances to a key that has one.
enum class Routing : uint8_t { kPack, kLive };

struct SimConfig {
  int nodes = 0;                  // 0: 3 per region
  uint32_t slots_per_node = 256;  // instances one node can hold
  StartTime start;
  StartContention contention;
  orchestrator::AnswerHold
      answers;  // when a drained instance goes: the live rule, its TTL the default's
  double origin_latency_s = 0.15;  // extra latency when the origin has to serve
  int64_t measure_from_ms = 0;     // metrics count from here (earlier: warm-up)
  uint64_t seed = 1;
  Routing routing = Routing::kPack;
};

// A log-bucketed latency histogram (1% resolution, 1 µs .. ~1e4 s).
class LatencyHistogram {
 public:
  void Add(SimTimeUs us);
  double Quantile(double q) const;  // seconds
  uint64_t count() const { return count_; }

 private:
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
};

struct KeyStats {
  uint64_t arrivals = 0;   // invocations (Arrival::invocations)
  uint64_t cold = 0;       // arrivals that waited for a start (one per arrival)
  double wasted_mb_s = 0;  // this key's share of SimResult::wasted_mb_s
};

struct SimResult {
  std::string workload;
  std::string policy;
  std::map<std::string, std::string> params;
  uint64_t arrivals = 0;
  uint64_t cold = 0;    // arrivals that waited for an instance to start
  uint64_t origin = 0;  // arrivals no node could take
  uint64_t starts = 0;  // instances started
  double cold_rate = 0;
  double cold_rate_p75 = 0;  // 75th percentile across keys with arrivals (ATC'20 metric)
  double wasted_mb_s = 0;    // loaded, serving nothing
  double loaded_mb_s = 0;
  double latency_p50_s = 0, latency_p90_s = 0, latency_p99_s = 0, latency_p999_s = 0;
  double sim_seconds = 0;  // virtual time simulated
  double wall_seconds = 0;
  uint64_t events = 0;
  std::map<std::string, uint64_t> decisions;  // reason -> count (reconciler policies)
  std::vector<KeyStats> keys;
};

class Simulator;

// What a policy may look at and do.
class PolicyContext {
 public:
  explicit PolicyContext(Simulator& sim) : sim_(sim) {}
  SimTimeUs now() const;
  int64_t now_unix_ms() const;  // the workload's wall clock
  const Workload& workload() const;
  const SimConfig& config() const;
  orchestrator::ClusterView& view();
  // Starts an instance of `key` where placement puts it; false when no node has a slot.
  bool Prewarm(uint32_t key, orchestrator::ScaleReason reason,
               std::optional<uint32_t> node = std::nullopt);
  // Removes an instance from routing; it is destroyed when its DNS answers expire.
  void Drain(const std::string& instance_id, orchestrator::ScaleReason reason);
  // Calls Policy::OnWakeup(key) at `at` (µs), once per call.
  void WakeAt(uint32_t key, SimTimeUs at);
  // Time-weighted average concurrency (served + waiting) of `key` since the last call.
  double TakeDemand(uint32_t key);
  // Arrivals of `key` in the last completed workload step (valid in OnStep).
  uint64_t StepArrivals(uint32_t key) const;
  // Whether the simulator changed `key`'s ViewKey (its instances) since the last call; the
  // first call for each key says yes. Clears the mark.
  bool TakeChanged(uint32_t key);

 private:
  Simulator& sim_;
};

class Policy {
 public:
  virtual ~Policy() = default;
  virtual std::string name() const = 0;
  virtual std::map<std::string, std::string> params() const { return {}; }
  virtual void Begin(PolicyContext&) {}
  virtual int64_t tick_ms() const { return 0; }  // 0: no periodic OnTick
  virtual void OnTick(PolicyContext&) {}
  // Every arrival, after routing (`cold`: it waited for a start).
  virtual void OnArrival(PolicyContext&, uint32_t /*key*/, bool /*cold*/) {}
  // An instance of `key` finished its last in-flight request.
  virtual void OnIdle(PolicyContext&, uint32_t /*key*/, const orchestrator::ViewInstance&) {}
  virtual void OnWakeup(PolicyContext&, uint32_t /*key*/) {}
  // A workload step ended (its arrivals are known through StepArrivals).
  virtual void OnStep(PolicyContext&, size_t /*step*/) {}
  virtual void Finish(PolicyContext&, SimResult&) {}
};

class Simulator {
 public:
  Simulator(const Workload& w, SimConfig config);
  SimResult Run(Policy& policy);

 private:
  friend class PolicyContext;
  enum class Ev : uint8_t { kReady, kComplete, kDestroyDue, kWakeup, kTick, kStep, kStartsDone };
  struct Event {
    SimTimeUs t;
    uint64_t seq;
    Ev type;
    uint32_t a;    // slot or key
    uint32_t gen;  // slot generation (stale events are ignored)
    bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
  };
  struct Slot {  // one instance's simulator-side state; the ViewInstance holds the rest
    uint32_t key = 0;
    uint32_t pos = 0;  // index in view_.keys[key].instances
    uint32_t gen = 0;
    bool alive = false;
    double mem_mb = 0;
    SimTimeUs loaded_at = 0;
    SimTimeUs idle_since = 0;                              // valid while in_flight == 0
    std::vector<std::pair<SimTimeUs, SimTimeUs>> waiting;  // (arrival, service) until ready
  };
  // The starts sharing one node's (or the host's) cores: each is done when the group's
  // work clock reaches its `done` (µs of work a start alone would have done by then).
  struct StartGroup {
    struct Active {
      double done;
      uint32_t slot, gen;
    };
    double work = 0;  // µs of work each active start has received since the epoch
    SimTimeUs last = 0;
    uint32_t version = 0;  // of the one pending kStartsDone event
    std::vector<Active> active;
  };
  struct KeyLoad {
    double area = 0;  // concurrency x µs since the last TakeDemand
    SimTimeUs last = 0;
    SimTimeUs taken = 0;
    uint32_t conc = 0;
    uint64_t step_arrivals = 0, cur_step_arrivals = 0;
    bool changed = true;  // its ViewKey changed since PolicyContext::TakeChanged
  };

  void BuildTopology();
  void Push(SimTimeUs t, Ev type, uint32_t a, uint32_t gen = 0);
  void HandleArrival(const Arrival& a, Policy& policy);
  // Routing::kLive: the slot of the less loaded of two random instances of `key` in `state`.
  std::optional<uint32_t> RouteLive(const orchestrator::ViewKey& key,
                                    orchestrator::ViewState state);
  uint32_t StartInstance(uint32_t key, uint32_t node, orchestrator::ScaleReason reason);
  void BeginServe(uint32_t slot, SimTimeUs arrival, SimTimeUs service);
  void OnReady(uint32_t slot);
  // StartContention: a start joins its group (ready when its work is done), the group's
  // next completion is re-planned whenever a start joins or leaves.
  uint32_t GroupOf(uint32_t node) const;  // index in start_groups_
  double ShareRate(const StartGroup& g) const;
  void AdvanceGroup(StartGroup& g);
  void PlanGroup(uint32_t group);
  void OnStartsDone(uint32_t group, uint32_t version);
  void LeaveGroup(uint32_t slot);
  void OnComplete(uint32_t slot, Policy& policy);
  void DrainSlot(uint32_t slot);
  void MaybeDestroy(uint32_t slot);
  void Destroy(uint32_t slot);
  void ChangeLoad(uint32_t key, int delta);
  void Touch(uint32_t key) { load_[key].changed = true; }
  void AddWaste(const Slot& s, SimTimeUs from, SimTimeUs to);
  void AddLoaded(const Slot& s, SimTimeUs from, SimTimeUs to);
  orchestrator::ViewInstance& Inst(uint32_t slot);
  std::optional<uint32_t> SlotOf(const std::string& id) const;
  bool Measured(SimTimeUs t) const { return t >= measure_from_us_; }

  const Workload& w_;
  SimConfig config_;
  std::mt19937_64 rng_;
  std::mt19937_64 route_rng_;  // Routing::kLive's choices (start times keep rng_'s sequence)
  std::vector<const orchestrator::ViewInstance*> route_candidates_;
  orchestrator::ClusterView view_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  std::vector<KeyLoad> load_;
  std::vector<StartGroup> start_groups_;  // StartContention: one per node, or one (host)
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  uint64_t seq_ = 0;
  SimTimeUs now_ = 0;
  SimTimeUs end_ = 0;
  SimTimeUs measure_from_us_ = 0;
  SimResult result_;
  LatencyHistogram latency_;
  std::unique_ptr<PolicyContext> ctx_;
};

// The region's coordinates: known names (us-west, us-east, eu-west, ap-east, ...), else a
// point derived from the name so that distances are stable.
geo::GeoPoint RegionPoint(const std::string& name);

}  // namespace prewarm::sim
