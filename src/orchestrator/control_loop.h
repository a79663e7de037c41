// ControlLoop: the one loop that changes what the cluster wants. Thread "orch-control"
// runs a pass when woken (a prefetch submission, an agent report, a leader change: any
// watch batch) and at least once a second. A pass:
//   - campaigns when no replica leads (Presence::TryLead);
//   - as leader, with the store reachable: drains the instances of drained nodes, forgets
//     instances of nodes gone for cluster.node_forget_s and prefetch windows that ended,
//     runs the reconciler (autoscaler.h) and writes its decisions, each under the fence,
//     then the content refreshes of warm instances (ContentRefresh);
//   - republishes the routing snapshot (reservations age out of the answers).
// A follower only republishes. When the store is unreachable the reconciler pauses.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "common/clock.h"
#include "orchestrator/autoscaler.h"
#include "orchestrator/cluster_cache.h"
#include "orchestrator/cluster_writer.h"
#include "orchestrator/presence.h"
#include "orchestrator/publisher.h"
#include "orchestrator/ring.h"

namespace prewarm::orchestrator {

struct ControlCounters {
  uint64_t passes = 0;  // passes run as leader
  uint64_t drains = 0;
  uint64_t destroys = 0;
  uint64_t creates = 0;
  uint64_t write_conflicts = 0;  // a decision's compare failed (someone changed it first)
  uint64_t forgotten = 0;        // instances of long-gone nodes
  uint64_t refreshes = 0;        // warm instances given a new content list (ContentRefresh)
};

// One decision the leader carried out or tried, kept for operators (the dashboard).
struct DecisionRecord {
  uint64_t seq = 0;  // increases by one per decision, so a reader can tell the new ones
  int64_t unix_ms = 0;
  std::string kind;    // create | drain | destroy | preload
  std::string reason;  // the reconciler's (ScaleReasonName), or "operator" for a drained node
  std::string region, tmpl, node, instance;
  bool ok = false;     // written to the store
  std::string detail;  // why it was not, or what it means
};

class ControlLoop {
 public:
  ControlLoop(const OrchestratorConfig& config, const Clock& clock, ClusterCache& cache,
              ClusterWriter& writer, Presence& presence, SnapshotPublisher& publisher,
              LiveAutoscaler& autoscaler);
  ~ControlLoop();

  void Start();
  void Stop();
  void Wake();
  // From now on passes decide nothing (no creates, drains, destroys or refreshes) and only
  // republish the routing snapshot. `prewarm up` holds every replica before it stops the
  // agents, so that the instances of the first agents to stop are not started again on the
  // others while they are stopping too.
  void Hold() { holding_.store(true); }
  // One pass, on the caller's thread (tests, and the loop itself). Returns the creates it
  // ordered.
  uint32_t RunOnce();
  // Wakes the loop and waits (up to `timeout_ms`) for the pass that follows; returns the
  // creates it ordered (0 on a replica that does not lead).
  uint32_t WakeAndWait(int64_t timeout_ms);
  // Cache listener: remembers when nodes left, wakes the loop.
  void OnChange(const ClusterData& before, const ClusterData& after, const ClusterChange& change);

  ControlCounters counters() const;
  // The latest kRecentDecisions decisions, oldest first.
  std::vector<DecisionRecord> RecentDecisions() const;
  static constexpr size_t kRecentDecisions = 100;
  int64_t last_pass_ms() const { return last_pass_ms_.load(); }
  bool holding() const { return holding_.load(); }

 private:
  void Loop();
  uint32_t Pass(const ClusterData& d, const Fence& fence, int64_t now);
  void DrainDrainedNodes(const ClusterData& d, const Fence& fence, int64_t now);
  void Collect(const ClusterData& d, const Fence& fence, int64_t now);
  uint32_t Execute(const ClusterData& d, const LiveAutoscaler::Plan& plan, const Fence& fence,
                   int64_t now);
  bool Create(const ClusterData& d, const ViewKey& k, const std::string& region,
              const Decision& dec, const std::string& node, std::set<std::string>& taken,
              const Fence& fence, int64_t now);
  void Refresh(const ClusterData& d, const LiveAutoscaler::Plan& plan, const Fence& fence,
               int64_t now);
  bool Mark(const ClusterData& d, const std::string& id, const Fence& fence,
            const std::function<void(v1::InstanceRecord&)>& change, std::string_view what);
  // Waits for the cache to show our writes before the next pass decides on it.
  void CatchUp();
  void Note(DecisionRecord r);

  std::atomic<bool> holding_{false};
  const OrchestratorConfig& config_;
  const Clock& clock_;
  ClusterCache& cache_;
  ClusterWriter& writer_;
  Presence& presence_;
  SnapshotPublisher& publisher_;
  LiveAutoscaler& autoscaler_;

  std::mutex run_mu_;                // one pass at a time
  int64_t last_write_revision_ = 0;  // guarded by run_mu_

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;                              // guarded by mu_
  bool stopping_ = false;                          // guarded by mu_
  uint64_t passes_done_ = 0;                       // guarded by mu_
  uint32_t last_created_ = 0;                      // guarded by mu_
  ControlCounters counters_;                       // guarded by mu_
  Ring<DecisionRecord> recent_{kRecentDecisions};  // guarded by mu_
  uint64_t decision_seq_ = 0;                      // guarded by mu_
  std::atomic<int64_t> last_pass_ms_{0};
  std::map<std::string, int64_t> node_gone_since_;  // guarded by mu_: when each node left
  bool running_ = false;                            // guarded by mu_: the loop is in a pass
  std::thread thread_;
};

}  // namespace prewarm::orchestrator
