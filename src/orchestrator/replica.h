// Replica: one orchestrator replica's control plane over a cluster store, without its
// sockets (the Orchestrator daemon adds DNS, gRPC and HTTP around it; tests drive it
// directly). Any number of replicas may share one etcd; the memory store makes a single
// replica behave the same way in one process.
//
//   KvStore ──watch──► ClusterCache ──► InstanceTracker (transitions, start times)
//                                  ├──► SnapshotPublisher ──► RoutingSnapshot (DNS threads)
//                                  ├──► NodeSessions (relay commands to agents held here)
//                                  └──► ControlLoop (wake: leader's reconcile pass)
//   ColdPath, NodeSessions, ControlLoop, PrefetchBook, Presence ──write──► ClusterWriter
//
// Threads: the store's watch thread (listeners), "orch-control" (ControlLoop),
// "orch-lease" (Presence: keep-alives, health, heat).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "autoscale/service_time.h"
#include "autoscale/snapshot.h"
#include "common/clock.h"
#include "orchestrator/autoscaler.h"
#include "orchestrator/cluster_cache.h"
#include "orchestrator/cluster_writer.h"
#include "orchestrator/cold_path.h"
#include "orchestrator/config.h"
#include "orchestrator/control_loop.h"
#include "orchestrator/history.h"
#include "orchestrator/keys.h"
#include "orchestrator/node_sessions.h"
#include "orchestrator/prefetch_book.h"
#include "orchestrator/presence.h"
#include "orchestrator/publisher.h"
#include "store/kv.h"

namespace prewarm::orchestrator {

// Called for every instance transition this replica sees (e.g. `prewarm up`'s log).
using InstanceObserver = std::function<void(const v1::InstanceInfo&)>;

struct ReplicaOptions {
  bool threads = true;  // false: tests call control().RunOnce() and presence().RunOnce()
  std::string dns_address, grpc_address, http_address;  // for the replica record
};

class Replica {
 public:
  Replica(const OrchestratorConfig& config, const Clock& clock, store::KvStore& kv,
          SnapshotHolder& snapshots, ServiceTimeMeter* service_times, ReplicaOptions options = {});
  ~Replica();

  absl::Status Start();
  // Resigns, revokes its leases (its records vanish at once) and stops its threads.
  void Stop();
  // As if the process died: stops its threads but leaves its leases to expire (tests).
  void Abandon();
  // Waits until the cache shows every change made to the store so far (tests).
  absl::Status Sync(int64_t timeout_ms = 5000);
  void SetObserver(InstanceObserver observer);
  // Where the autoscaler and the prefetch book find the templates a SIGHUP reload added
  // (unset: the config of the start only). Before Start.
  void SetLiveConfig(const LiveConfig& live) {
    autoscaler_.SetLiveConfig(live);
    prefetch_.SetLiveConfig(live);
  }

  // Operator API.
  absl::StatusOr<uint32_t> Drain(const std::string& node);
  absl::StatusOr<bool> Undrain(const std::string& node);
  std::vector<v1::NodeInfo> ListNodes() const;
  std::vector<v1::InstanceInfo> ListInstances(const std::string& node,
                                              const std::string& tmpl) const;
  std::map<v1::InstanceState, int> InstancesByState() const;
  // (template, state) -> instances, as the agents last reported them.
  std::map<std::pair<std::string, v1::InstanceState>, int> InstancesByTemplate() const;
  // Instances by (node, its region, template, state).
  using NodeKey = std::tuple<std::string, std::string, std::string, v1::InstanceState>;
  std::map<NodeKey, int> InstancesByNode() const;
  int ConnectedNodes() const;
  // "ok ..." or "degraded: why".
  std::string Health() const;
  bool leading() const { return presence_.leading(); }
  const std::string& id() const { return config_.cluster.replica_id; }
  const OrchestratorConfig& config() const { return config_; }
  const Clock& clock() const { return clock_; }

  ClusterCache& cache() { return cache_; }
  ClusterWriter& writer() { return writer_; }
  NodeSessions& sessions() { return sessions_; }
  ColdPath& cold() { return cold_; }
  SnapshotPublisher& publisher() { return publisher_; }
  ControlLoop& control() { return control_; }
  Presence& presence() { return presence_; }
  PrefetchBook& prefetch() { return prefetch_; }
  HeatBoard& heat() { return heat_; }
  InstanceTracker& tracker() { return tracker_; }
  // nullptr unless cluster.history_log is set.
  HistoryRecorder* history() { return history_.get(); }
  LiveAutoscaler& autoscaler() { return autoscaler_; }

 private:
  void OnChange(const ClusterData& before, const ClusterData& after, const ClusterChange& change);

  const OrchestratorConfig& config_;
  const Clock& clock_;
  const ReplicaOptions options_;
  store::KvStore& kv_;
  Keys keys_;
  ClusterCache cache_;
  ClusterWriter writer_;
  HeatBoard heat_;
  SnapshotPublisher publisher_;
  Presence presence_;
  InstanceTracker tracker_;
  LiveAutoscaler autoscaler_;
  NodeSessions sessions_;
  ColdPath cold_;
  PrefetchBook prefetch_;
  ControlLoop control_;

  std::unique_ptr<HistoryRecorder> history_;
  std::mutex observer_mu_;
  InstanceObserver observer_;  // guarded by observer_mu_
  std::atomic<bool> stopping_{false};
  std::thread lease_thread_;
  bool started_ = false;
};

}  // namespace prewarm::orchestrator
