// Reconciler: the autoscaler. Turns the latest prefetch windows (proactive) and live
// concurrency (reactive, Knative-style stable and panic windows) into create / drain /
// destroy decisions per (region, template) key, and places new instances.
//
// It is pure decision logic over a ClusterView that its caller owns: the live orchestrator
// builds the view from the cluster store every pass (LiveAutoscaler), the simulator (`prewarm sim`)
// keeps its whole simulated cluster in one and updates it in place. Both run this same code.
//
// Rules:
// - want = max(prefetch target of a window that starts within the template's lead time
//   and has not ended, reactive desired); reactive desired = ceil(avg concurrency over
//   the stable window / per-instance target), or in panic mode (panic-window demand
//   >= panic_threshold x ready capacity) the panic-window figure and never less than now.
// - New instances go to the nearest node of the key's region with a free slot, spread
//   (fewest instances of this template, then most free slots); when the region is full,
//   to the next nearest region (reason kCapacity).
// - Scale-down: only instances idle for the template's keep-alive and beyond `want` are
//   drained (they leave DNS at once); a draining instance is destroyed only once every
//   DNS answer that named it has expired and it serves nothing.
// - Decisions are idempotent: the view counts starting instances, so a second call with
//   the same view and time orders nothing new.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "geo/geo.h"

namespace prewarm::orchestrator {

enum class ScaleReason : uint8_t {
  kPrefetch,  // a forecast window asks for it
  kPanic,     // panic window: demand >= threshold x capacity
  kStable,    // stable window: sustained demand
  kIdle,      // scale-down: idle past keep-alive and not covered by a window
  kCapacity,  // placed outside the key's region because it was full
  kCount,
};
const char* ScaleReasonName(ScaleReason r);

struct TemplatePolicy {
  uint32_t concurrency = 1;         // requests one instance serves at once
  double target_utilisation = 0.7;  // reactive target = concurrency x this (Knative's 70%)
  int64_t keepalive_ms = 600'000;   // idle this long -> may be drained
  // Every instance but the key's most recently busy one: idle this long -> may be drained
  // (-1: keepalive_ms). A learned keep-alive's surplus levels take precedence.
  int64_t surplus_keepalive_ms = -1;
  int64_t lead_ms = 0;          // start time: prefetch windows act this early
  uint32_t max_per_key = 1000;  // never more instances of one key than this
};

struct ReconcilerConfig {
  int64_t stable_window_ms = 60'000;
  int64_t panic_window_ms = 6'000;
  double panic_threshold = 2.0;
  // Honour the forecaster's prefetch windows (source kForecastWindowSource). The reload
  // windows a learned keep-alive plans (other sources) are honoured either way: only
  // policies that learn keep-alives put them in the view.
  bool proactive = true;
  bool reactive = true;  // stable/panic windows (false: scale only on the cold path)
  TemplatePolicy default_template;
  absl::flat_hash_map<std::string, TemplatePolicy> templates;
  const TemplatePolicy& Policy(const std::string& tmpl) const;
};

// --- The view: what the reconciler decides over. -------------------------------------

struct ViewNode {
  std::string id;
  uint32_t region = 0;      // index into ClusterView::regions
  uint32_t free_slots = 0;  // instances it can still take
  bool schedulable = true;  // connected, not draining
  // Templates it can run (empty: all).
  std::vector<std::string> templates;
  bool Supports(const std::string& tmpl) const;
};

enum class ViewState : uint8_t { kStarting, kReady, kDraining };

// When a drained instance may be destroyed: once every DNS answer naming it has expired.
// The live orchestrator and the simulator both apply this rule.
// - An answer is cached for at most `ttl_ms` (the longest TTL answers carry), plus
//   `slack_ms` for clocks and for the heat that carries other DNS servers' answers
//   (published once a second).
// - A drain takes effect when every DNS server has published a snapshot without the
//   instance. Answers given before that are in the heat by `settle_ms` after the drain.
// No other wait follows the drain: an instance drained long after its last answer goes
// once the drain has settled.
struct AnswerHold {
  int64_t ttl_ms = 30'000;
  int64_t slack_ms = 2'000;
  int64_t settle_ms = 5'000;

  // No answer outlives its instance (the reference minute model: unloading is instant).
  static AnswerHold None() { return AnswerHold{0, 0, 0}; }
  // The last answer given at `answer_ms` has expired from every cache.
  int64_t ExpiredMs(int64_t answer_ms) const { return answer_ms + ttl_ms + slack_ms; }
  // The earliest a drained instance may go, its last known answer at `last_answer_ms`
  // (0: never answered).
  int64_t UntilMs(int64_t last_answer_ms, int64_t drained_ms) const {
    return std::max(last_answer_ms > 0 ? ExpiredMs(last_answer_ms) : 0, drained_ms + settle_ms);
  }
};

struct ViewInstance {
  std::string id;
  uint32_t node = 0;
  ViewState state = ViewState::kStarting;
  uint32_t in_flight = 0;    // requests being served now
  int64_t last_busy_ms = 0;  // last time it served or was answered in DNS
  // It has served or been named in a DNS answer. An instance that never was (prefetched
  // for a window that brought nothing) is kept only while a window or the reactive floor
  // wants it: a keep-alive is time kept after use.
  bool used = false;
  int64_t answered_until_ms = 0;  // drained, it may go from then on (AnswerHold)
  int64_t state_since_ms = 0;
  bool destroy_ordered = false;
};

// PrefetchWindow::source of a forecaster's windows (idle_learner.h names the others).
inline constexpr uint32_t kForecastWindowSource = 0;

struct PrefetchWindow {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  uint32_t target = 0;
  std::vector<std::string> content;
  int64_t received_ms = 0;  // when the forecaster sent it; newer forecasts supersede older
  uint32_t source = 0;      // which forecaster: a newer window supersedes only its own
};

struct ViewKey {
  uint32_t region = 0;
  std::string tmpl;
  std::vector<ViewInstance> instances;
  // Average concurrent requests (served + waiting) since the previous pass.
  double demand = 0;
  // Forecast windows for this key that have not ended. The one that counts is the most
  // recently received among those due (start - lead <= now < end): a forecaster sends a
  // fresh window every step, each starting its own lead ahead, so the newest window is
  // usually not due yet and an older one covers the coming seconds.
  std::vector<PrefetchWindow> windows;
  // A keep-alive learned for this key (IdleLearner), or -1: the template's.
  int64_t keepalive_ms = -1;
  // Learned keep-alives of surplus instances: [j] for the instance that was (j + 2)-th
  // most recently busy; instances past the end keep the last one. Empty: all keep
  // keepalive_ms.
  std::vector<int64_t> surplus_keepalive_ms;
};

struct ViewRegion {
  std::string name;
  geo::GeoPoint point;
};

struct ClusterView {
  std::vector<ViewRegion> regions;
  std::vector<ViewNode> nodes;
  std::vector<ViewKey> keys;
  // Filled by Index(): nodes per region, regions by distance from each region.
  std::vector<std::vector<uint32_t>> region_nodes;
  std::vector<std::vector<uint32_t>> region_order;
  void Index();
};

struct Decision {
  enum Kind : uint8_t { kCreate, kDrain, kDestroy } kind = kCreate;
  ScaleReason reason = ScaleReason::kStable;
  uint32_t key = 0;                  // index into ClusterView::keys
  uint32_t node = 0;                 // kCreate: where
  std::string instance;              // kDrain / kDestroy: which
  std::vector<std::string> content;  // kCreate: preload these
};

struct ReconcilerCounters {
  uint64_t ticks = 0;
  uint64_t creates[static_cast<int>(ScaleReason::kCount)] = {};
  uint64_t drains = 0;
  uint64_t destroys = 0;
  uint64_t unplaceable = 0;  // wanted an instance, no node anywhere could take it
  uint64_t panics = 0;       // times a key entered panic mode
};

// The node for a new instance of `key`: in the key's region the schedulable node with a free
// slot that holds the fewest of this key's instances (then the most free slots); when the
// region is full, the same in the next nearest region (`*spilled` = true). nullopt when
// every node is full. Used by the reconciler and by the cold path of the simulator.
std::optional<uint32_t> PlaceNew(const ClusterView& view, const ViewKey& key, bool* spilled);

// The prefetch window of `k` that decides its proactive target at `now_ms`: per source, the
// most recently received window that is due (start - tp.lead_ms <= now < end); across
// sources, the one with the highest target. nullptr when none is due. `forecasts` false:
// the forecaster's windows (kForecastWindowSource) are left out.
const PrefetchWindow* DueWindow(const ViewKey& k, const TemplatePolicy& tp, int64_t now_ms,
                                bool forecasts = true);

class Reconciler {
 public:
  explicit Reconciler(ReconcilerConfig config) : config_(std::move(config)) {}

  // One pass over every key at `now_ms`. Records each key's demand sample, then decides.
  // Creates reduce the view's node free_slots as they are placed; the caller applies the
  // decisions (and adds the new instances to the view as kStarting).
  std::vector<Decision> Reconcile(ClusterView& view, int64_t now_ms);
  // A pass over only the keys in `visit` (ascending), for a caller that keeps its view
  // between passes (the simulator). `visit` must hold every key whose ViewKey changed
  // since the pass before, every key with demand, and every key whose WakeMs() <= now_ms;
  // the first pass must hold every key. It then decides exactly as a full pass: every key
  // left out would have been decided nothing.
  std::vector<Decision> Reconcile(ClusterView& view, int64_t now_ms,
                                  std::span<const uint32_t> visit);
  // After a pass: when key `index` next needs one although nothing of it changes. The next
  // pass (kNextPass) while its window holds demand, it panics, or something was decided
  // for it or could not be placed; else the earliest of a window's lead or end, an idle
  // instance's keep-alive end, a draining instance's last answer expiring; kNever if none.
  int64_t WakeMs(uint32_t index) const;
  static constexpr int64_t kNextPass = std::numeric_limits<int64_t>::min();
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

  // What one key wants now (for tests and /metrics).
  struct Want {
    uint32_t prefetch = 0;
    uint32_t reactive = 0;
    bool panic = false;
    uint32_t total() const { return prefetch > reactive ? prefetch : reactive; }
  };
  Want WantFor(const ClusterView& view, uint32_t key, int64_t now_ms);

  const ReconcilerCounters& counters() const { return counters_; }
  const ReconcilerConfig& config() const { return config_; }
  // For changes made before the next Reconcile() (policies are cached per key between
  // passes; each call here invalidates that cache).
  ReconcilerConfig& mutable_config() {
    ++generation_;
    return config_;
  }
  // Forget the demand history of keys (e.g. after the view's keys were rebuilt).
  void ResetHistory() { history_.clear(); }

 private:
  struct Sample {
    int64_t t_ms;
    double demand;
  };
  // A key's samples, oldest first, in a ring that grows to the window's length and is then
  // reused: a std::deque allocated and freed a chunk every 32 passes for every key.
  class SampleRing {
   public:
    bool empty() const { return n_ == 0; }
    size_t size() const { return n_; }
    const Sample& front() const { return buf_[head_]; }
    // i = 0 is the newest.
    const Sample& newest(size_t i) const { return buf_[(head_ + n_ - 1 - i) & (buf_.size() - 1)]; }
    void push_back(Sample s);
    void pop_front() {
      head_ = (head_ + 1) & (buf_.size() - 1);
      --n_;
    }
    void clear() { head_ = n_ = 0; }

   private:
    std::vector<Sample> buf_;  // a power of two long
    size_t head_ = 0, n_ = 0;
  };
  struct History {
    SampleRing samples;  // within the stable window
    size_t nonzero = 0;  // samples with demand (most keys have none: no scan)
    int64_t panic_until_ms = std::numeric_limits<int64_t>::min();
    uint32_t panic_floor = 0;
    // The pass (Reconciler::passes_) that recorded the newest sample; 0: none yet. Passes
    // that skipped the key as quiet recorded nothing: their samples were 0 and are filled
    // in from pass_times_ when the key is next recorded.
    uint64_t recorded_pass = 0;
  };
  History& HistoryFor(uint32_t index, const ViewKey& k);
  // config_.Policy(k.tmpl), cached per key index until the key or the config changes.
  const TemplatePolicy& PolicyFor(uint32_t index, const ViewKey& k);
  // Appends the key's sample of this pass, after the 0 samples of the passes that skipped
  // it as quiet (see Reconcile).
  void Record(History& h, int64_t now_ms, double demand);
  // Mean demand over the stable and over the panic window.
  struct Averages {
    double stable = 0, panic = 0;
  };
  Averages AveragesOf(const History& h, int64_t now_ms) const;
  Want WantFor(const ClusterView& view, uint32_t key, const TemplatePolicy& tp, int64_t now_ms);
  void BeginPass(ClusterView& view, int64_t now_ms);
  // Decides for one key, appending to `out`, and sets its wake_.
  void ReconcileKey(ClusterView& view, uint32_t ki, int64_t now_ms, std::vector<Decision>& out);

  ReconcilerConfig config_;
  struct CachedPolicy {
    std::string tmpl;
    const TemplatePolicy* policy = nullptr;
    uint64_t generation = 0;
  };
  std::vector<CachedPolicy> policies_;  // by key index
  uint64_t generation_ = 1;             // bumped by mutable_config()
  // Demand history per key: by key index while the view's keys keep their order (the
  // simulator), re-associated by (region, template) when they move (the live view).
  struct Slot {
    uint32_t region = 0;
    std::string tmpl;
    History h;
  };
  std::vector<Slot> history_;
  // Reconcile() passes so far, and the times of the recent ones (within the stable window),
  // oldest first: the times at which skipped keys' zero samples are filled in.
  uint64_t passes_ = 0;
  std::deque<std::pair<uint64_t, int64_t>> pass_times_;
  std::map<std::pair<uint32_t, std::string>, History> moved_;
  std::vector<int64_t> wake_;  // by key index: WakeMs()
  ReconcilerCounters counters_;
};

}  // namespace prewarm::orchestrator
