// ClusterCache: this replica's copy of the cluster store, kept current by one watch on the
// key prefix. Every reader (the routing-snapshot publisher, the agent sessions that relay
// commands, the control loop, the operator API) reads an immutable ClusterData that the
// watch thread swaps in after each batch, so no reader ever waits on the store. Values
// that do not parse, and keys outside the layout, are logged with their key and skipped.
//
// Thread: "orch-watch" is the store's watch thread; listeners run on it, after the new
// data is visible, one batch at a time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/status.h"
#include "orchestrator/keys.h"
#include "prewarm/v1/cluster.pb.h"
#include "prewarm/v1/orchestrator.pb.h"
#include "store/kv.h"

namespace prewarm::orchestrator {

// A record as stored, with the revisions a transaction compares against.
template <typename T>
struct Stored {
  T rec;
  int64_t mod_revision = 0;
  int64_t create_revision = 0;
  int64_t lease = 0;
};

template <typename T>
using StoredPtr = std::shared_ptr<const Stored<T>>;

using NodeAddr = std::pair<std::string, std::string>;  // (node id, address)
using NodeTemplate = std::pair<std::string, std::string>;

struct ClusterData {
  int64_t revision = 0;  // every change up to this revision is reflected
  std::map<std::string, StoredPtr<v1::NodeRecord>> nodes;
  std::map<std::string, StoredPtr<v1::InstanceRecord>> instances;
  std::map<std::string, v1::DrainRecord> drains;
  std::map<NodeTemplate, v1::BackoffRecord> backoffs;
  std::map<NodeAddr, std::string> claims;                        // -> instance id
  std::map<std::string, StoredPtr<v1::PrefetchEntry>> prefetch;  // by store key
  std::map<std::string, v1::ReplicaRecord> replicas;
  std::optional<Stored<v1::LeaderRecord>> leader;
  std::map<std::string, StoredPtr<v1::HeatRecord>> heat;  // by replica
  // Instances (with a record) that an agent has reported starting or later. A reservation
  // runs once: when its agent stops reporting it (the agent restarted, the workload died
  // with it), it ended, and its record is never ordered created again under the same id.
  std::set<std::string> reported;

  // An instance's latest status from its node's agent; nullptr when not (yet) reported.
  const v1::InstanceStatus* Observed(const v1::InstanceRecord& inst) const;
  // Its state as the cluster sees it: DRAINING once drained; else what its agent reports;
  // unreported, GONE once an agent had reported it (it lost it), else RESERVED while younger
  // than kReservationGraceMs, then GONE (its agent never started it).
  v1::InstanceState StateOf(const v1::InstanceRecord& inst, int64_t now_ms) const;
  // The node's standby addresses (as its agent last reported) that no instance claims.
  std::vector<std::string> FreeStandby(const std::string& node) const;
  uint32_t SlotsUsed(const std::string& node) const;
  bool BackingOff(const std::string& node, const std::string& tmpl, int64_t now_ms) const;
  // The latest DNS answer naming the instance, over every replica's heat record.
  int64_t RemoteLastAnswerMs(const std::string& instance) const;
};

// A reservation the agent has not reported yet is given this long before it is dropped.
inline constexpr int64_t kReservationGraceMs = 5'000;

// What one batch changed.
struct ClusterChange {
  std::set<std::string> nodes;      // node records put or deleted
  std::set<std::string> instances;  // instance records put or deleted
  bool leader = false;
  bool prefetch = false;
  bool other = false;  // drains, backoffs, claims, replicas, heat
  bool resync = false;
};

class ClusterCache {
 public:
  using Listener = std::function<void(const ClusterData& before, const ClusterData& after,
                                      const ClusterChange&)>;

  ClusterCache(store::KvStore& kv, const Keys& keys) : kv_(kv), keys_(keys) {}
  ~ClusterCache();

  // Listeners are added before Start.
  void AddListener(Listener l) { listeners_.push_back(std::move(l)); }
  // Lists the prefix (retrying for up to `timeout_ms`), then watches from there.
  absl::Status Start(int64_t timeout_ms);
  void Stop();

  std::shared_ptr<const ClusterData> Data() const { return data_.load(std::memory_order_acquire); }
  int64_t revision() const { return Data()->revision; }
  // Blocks until Data() reflects `revision` and the listeners have run for it (false after
  // `timeout_ms`).
  bool WaitForRevision(int64_t revision, int64_t timeout_ms) const;
  uint64_t skipped_values() const { return skipped_.load(); }

  // Applies a batch to a copy of `base` (exposed for tests of the decoding rules).
  ClusterData Apply(const ClusterData& base, const store::WatchBatch& batch, ClusterChange& change);

 private:
  void OnBatch(const store::WatchBatch& batch);
  void ApplyEvent(ClusterData& d, const store::WatchEvent& e, ClusterChange& change);
  void Skip(const std::string& key, const std::string& why);

  store::KvStore& kv_;
  const Keys& keys_;
  std::vector<Listener> listeners_;
  std::atomic<std::shared_ptr<const ClusterData>> data_{std::make_shared<const ClusterData>()};
  std::unique_ptr<store::WatchHandle> watch_;
  mutable std::mutex rev_mu_;
  mutable std::condition_variable rev_cv_;
  int64_t listened_revision_ = 0;  // guarded by rev_mu_
  std::atomic<uint64_t> skipped_{0};
};

}  // namespace prewarm::orchestrator
