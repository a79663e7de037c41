// Routing-snapshot publishing: turns this replica's ClusterData into the immutable
// RoutingSnapshot the DNS threads read, and swaps it in. Runs after every watch batch and
// once a second (a reservation its agent never reports ages out of the answers).
//
// HeatBoard: the per-instance counters that DNS threads write (relaxed atomics, no lock)
// outlive snapshots, so an instance keeps its heat across rebuilds; the replica publishes
// its own answers to the store (heat/<replica>) for the leader.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "autoscale/snapshot.h"
#include "common/clock.h"
#include "orchestrator/cluster_cache.h"
#include "orchestrator/config.h"

namespace prewarm::orchestrator {

class HeatBoard {
 public:
  // The instance's counters, made on first use.
  std::shared_ptr<InstanceHeat> For(const std::string& instance);
  // nullptr when this replica never answered with it.
  std::shared_ptr<InstanceHeat> Find(const std::string& instance) const;
  // Forgets instances not in `data` (called with each new snapshot).
  void Retain(const ClusterData& data);
  // Latest answer per instance by this replica (for its heat record).
  std::map<std::string, int64_t> LastAnswers() const;
  // This replica's latest answer naming `instance`, or 0.
  int64_t LocalLastAnswerMs(const std::string& instance) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<InstanceHeat>> heat_;  // guarded by mu_
};

class SnapshotPublisher {
 public:
  SnapshotPublisher(const OrchestratorConfig& config, const Clock& clock, SnapshotHolder& snapshots,
                    HeatBoard& heat)
      : config_(config), clock_(clock), snapshots_(snapshots), heat_(heat) {}

  // `degraded`: the store is unreachable, so answers name ready instances only and no node
  // takes a cold-path reservation (the cold path answers the origin).
  void Publish(const ClusterData& data, bool degraded);
  // Called by Publish once the new snapshot is in place: the DNS resolver precomputes its
  // answers there (OrchestratorResolver::Precompute). Set before the replica starts.
  void SetAfterPublish(std::function<void()> f) { after_publish_ = std::move(f); }
  std::shared_ptr<RoutingSnapshot> Build(const ClusterData& data, bool degraded) const;

 private:
  const OrchestratorConfig& config_;
  const Clock& clock_;
  SnapshotHolder& snapshots_;
  HeatBoard& heat_;
  std::mutex mu_;  // one Publish at a time, so versions only grow
  uint64_t version_ = 0;
  std::function<void()> after_publish_;
};

}  // namespace prewarm::orchestrator
