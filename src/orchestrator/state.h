// ClusterState: the orchestrator's control plane. Owns nodes and instances, decides
// reservations, turns agent status into instance states, and publishes a new
// RoutingSnapshot after every change. All members are guarded by one mutex that the DNS
// hot path never takes (it reads snapshots); only the cold path (nothing to answer
// nearby) enters here to reserve.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "orchestrator/config.h"
#include "orchestrator/placement.h"
#include "orchestrator/reconciler.h"
#include "orchestrator/service_time.h"
#include "orchestrator/timer_detector.h"
#include "orchestrator/snapshot.h"
#include "prewarm/v1/agent.pb.h"
#include "prewarm/v1/orchestrator.pb.h"
#include "prewarm/v1/state_name.h"

namespace prewarm::orchestrator {

// The command channel to one connected agent. Send() must not block for long.
class NodeLink {
 public:
  virtual ~NodeLink() = default;
  virtual void Send(const v1::OrchestratorCommand& cmd) = 0;
};

struct StateCounters {
  uint64_t reservations = 0;
  uint64_t start_failures = 0;
  uint64_t drains = 0;
  uint64_t destroys = 0;
  uint64_t nodes_expired = 0;
};

// Called (outside the lock) for every instance state change, e.g. for `prewarm up`'s log.
using InstanceObserver = std::function<void(const v1::InstanceInfo&)>;

class ClusterState {
 public:
  ClusterState(const OrchestratorConfig& config, const Clock& clock, SnapshotHolder& snapshots);

  void SetObserver(InstanceObserver observer);

  // A node (re)connects. Validates the registration; replaces an older link of that node.
  absl::Status RegisterNode(const v1::Register& reg, std::shared_ptr<NodeLink> link);
  absl::Status ApplyStatus(const v1::NodeStatus& status);
  // The stream of `link` ended; ignored if the node has reconnected on another link.
  void NodeDisconnected(const std::string& node_id, const NodeLink* link);

  // Cold path: reserves an instance of `tmpl` for `client` on the node placement picks,
  // unless one appeared nearby meanwhile. Returns the address to answer with.
  std::optional<IpAddr> ReserveCold(const std::string& tmpl, const ClientPlace& client);
  absl::StatusOr<uint32_t> Drain(const std::string& node_id);
  // Periodic work: node expiry, then one reconciler pass (reconciler.h) over the live
  // cluster with `prefetch` (the active forecast windows): creates for windows and load,
  // drains of instances idle past keep-alive, destroys once their DNS answers expired.
  // Also called right after a forecaster submits, so that windows are met at once.
  void Tick(const std::vector<v1::PrefetchEntry>& prefetch = {});
  ReconcilerCounters reconciler_counters() const;
  // Agents' open connections are integrated into `meter` (connection-seconds per template).
  void SetServiceTimes(ServiceTimeMeter* meter) {
    absl::MutexLock l(&mu_);
    service_times_ = meter;
  }
  // Measured start time (reservation to READY) per template, EWMA; the reconciler's lead.
  std::map<std::string, int64_t> StartTimesMs() const;

  std::vector<v1::NodeInfo> ListNodes() const;
  std::vector<v1::InstanceInfo> ListInstances(const std::string& node, const std::string& tmpl) const;
  std::map<v1::InstanceState, int> InstancesByState() const;
  int ConnectedNodes() const;
  StateCounters counters() const;

 private:
  struct Node {
    v1::Register reg;
    std::shared_ptr<NodeLink> link;
    bool connected = false;
    bool draining = false;
    int64_t last_seen_ms = 0;
    std::vector<IpAddr> standby;                       // as last reported
    std::map<std::string, int64_t> backoff_until_ms;   // template -> no new instances until
    v1::NodeStatus last_status;
  };
  struct Instance {
    v1::InstanceInfo info;
    std::shared_ptr<InstanceHeat> heat = std::make_shared<InstanceHeat>();
    int64_t created_ms = 0;
    // The region whose demand it serves: the reconciler counts it there even when it was
    // spilled to a node elsewhere (or that node's region when adopted).
    std::string key_region;
    int64_t drained_at_ms = 0;  // for DRAINING: answers may name it until this + TTL
    int64_t last_active_ms = 0; // last status with active connections
    bool destroy_sent = false;
    bool probe_ok = true;
    // Reported by an agent without our order (the orchestrator restarted): its history is
    // unknown, so it counts as used and keeps a keep-alive from its adoption.
    bool adopted = false;
  };

  bool CanReserve(const Node& n, const std::string& tmpl) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<IpAddr> FreeStandby(const Node& n) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `answered`: a DNS answer names it now (the cold path), which makes it used.
  std::optional<IpAddr> ReserveOn(const std::string& node_id, const std::string& tmpl,
                                  const std::vector<std::string>& content,
                                  const std::string& key_region, bool answered = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetState(Instance& inst, v1::InstanceState s, std::string detail)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyInstance(Node& node, const v1::InstanceStatus& st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ForgetNodeInstances(const std::string& node_id, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartDrain(Instance& inst, const std::string& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Reconcile(const std::vector<v1::PrefetchEntry>& prefetch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Feeds each key's arrivals and idle periods to its learned keep-alive and writes the
  // plans into `view` (keep-alives, reload windows); adds keys that only a reload names.
  void LearnKeepAlives(ClusterView& view,
                       const std::function<uint32_t(uint32_t, const std::string&)>& key_of)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t AnsweredUntilMs(const Instance& inst) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Publish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<RoutingSnapshot> BuildSnapshot() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Notify() ABSL_LOCKS_EXCLUDED(mu_);

  const OrchestratorConfig& config_;
  const Clock& clock_;
  SnapshotHolder& snapshots_;

  mutable absl::Mutex mu_;
  std::map<std::string, Node> nodes_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Instance> instances_ ABSL_GUARDED_BY(mu_);
  uint64_t next_instance_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  StateCounters counters_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::InstanceInfo> pending_events_ ABSL_GUARDED_BY(mu_);
  Reconciler reconciler_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, double> start_ms_ewma_ ABSL_GUARDED_BY(mu_);
  // Learned keep-alive per (region, template) (autoscaler.learned_keepalive).
  struct LearnedKey {
    LearnedKeepAlive keepalive;
    TimerDetector timers;
    int64_t seen_ms = 0;   // the latest DNS answer / active report already accounted for
    bool busy = false;
    uint32_t busy_instances = 0;  // instances with open connections at the last pass
  };
  std::map<std::pair<std::string, std::string>, LearnedKey> learned_ ABSL_GUARDED_BY(mu_);
  int64_t started_ms_ = 0;
  ServiceTimeMeter* service_times_ ABSL_GUARDED_BY(mu_) = nullptr;
  InstanceObserver observer_;
  absl::Mutex observer_mu_;
};

using v1::StateName;

}  // namespace prewarm::orchestrator
