// LiveAutoscaler: the leader's reconcile pass over the cluster as this replica's cache
// sees it. It builds the Reconciler's ClusterView from ClusterData (nodes, instance records
// and their agents' reports, prefetch windows, every replica's DNS heat), feeds the learned
// keep-alives, and returns the decisions; ControlLoop carries them out in the store.
//
// Instance history that no record holds (when it became ready, when it last had open
// connections) is tracked by every replica from the watch, so a new leader starts with it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "autoscale/idle_learner.h"
#include "autoscale/key_autoscaler.h"
#include "autoscale/reconciler.h"
#include "common/clock.h"
#include "orchestrator/cluster_cache.h"
#include "orchestrator/config.h"
#include "orchestrator/publisher.h"

namespace prewarm::orchestrator {

// What every replica remembers about instances from the watch.
class InstanceTracker {
 public:
  explicit InstanceTracker(const Clock& clock) : clock_(clock) {}
  // A watch batch: notes transitions to READY (the template's start time) and open
  // connections; returns the instances whose state changed, as InstanceInfo.
  std::vector<v1::InstanceInfo> Observe(const ClusterData& before, const ClusterData& after,
                                        const ClusterChange& change);
  int64_t LastActiveMs(const std::string& id) const;
  int64_t StateSinceMs(const std::string& id) const;
  std::map<std::string, int64_t> StartTimesMs() const;
  // Each template's instance memory as its agents report it (MB, a moving average).
  std::map<std::string, double> MemoryMb() const;
  uint64_t nodes_departed() const;

 private:
  struct Seen {
    v1::InstanceState state = v1::INSTANCE_STATE_UNSPECIFIED;
    int64_t state_since_ms = 0;
    int64_t last_active_ms = 0;
  };
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, Seen> seen_;              // guarded by mu_
  std::map<std::string, double> start_ms_ewma_;   // guarded by mu_
  std::map<std::string, double> memory_mb_ewma_;  // guarded by mu_
  uint64_t nodes_departed_ = 0;                   // guarded by mu_
};

// An instance as a view of the cluster shows it (ListInstances, observers).
v1::InstanceInfo InfoOf(const ClusterData& d, const v1::InstanceRecord& rec, int64_t now_ms);

// Trending content for warm instances (issue 17): a ready instance whose key's due
// forecast window (DueWindow, the window whose content a create of the key gets) lists ids
// its record does not gets that list as its record's preload_content_ids. The record holds
// what the instance was given (at its create, or by the last refresh); the stream holding
// its node sends the agent only what it lacks (NodeSessions). A window that lists nothing
// new (the same ids, or fewer) changes nothing: one refresh per change per instance.
struct ContentRefresh {
  uint32_t key = 0;  // index into ClusterView::keys
  std::string instance;
  std::vector<std::string> content;  // the window's whole list, the record's new one
  size_t added = 0;                  // ids of it the record did not list
};

// Pure over the view (ready, not draining instances) and the records they name.
std::vector<ContentRefresh> PlanContentRefreshes(const ClusterData& d, const ClusterView& view,
                                                 const ReconcilerConfig& config, int64_t now_ms);

class LiveAutoscaler {
 public:
  LiveAutoscaler(const OrchestratorConfig& config, const Clock& clock,
                 const InstanceTracker& tracker, const HeatBoard& heat);

  struct Plan {
    ClusterView view;
    std::vector<Decision> decisions;
    std::vector<ContentRefresh> refreshes;
  };
  // `term`: the leadership this pass runs under (the leader record's create revision).
  Plan Decide(const ClusterData& d, int64_t now_ms, int64_t term);
  // A template a SIGHUP reload added gets its own concurrency and keep-alive from `live`
  // at the next Decide (the start's templates keep theirs until a restart). Set before the
  // control loop starts.
  void SetLiveConfig(LiveConfig live) { live_ = std::move(live); }
  // When `rec`, drained, may be destroyed: AnswerHold over its latest answer by any replica
  // and its drain, and not before a gap in the heat has passed (NoteHeatGaps).
  int64_t AnsweredUntilMs(const ClusterData& d, const v1::InstanceRecord& rec) const;
  int64_t LastAnswerMs(const ClusterData& d, const v1::InstanceRecord& rec) const;
  const ReconcilerCounters& counters() const { return reconciler_.counters(); }

 private:
  using KeyOf = std::function<uint32_t(uint32_t, const std::string&)>;
  ClusterView BuildView(const ClusterData& d, int64_t now,
                        std::map<std::string, uint32_t>& region_index, const KeyOf& key_of_builder);
  void AddInstances(const ClusterData& d, int64_t now, ClusterView& view,
                    const std::map<std::string, uint32_t>& node_index,
                    const std::map<std::string, uint32_t>& region_index, const KeyOf& key_of);
  void LearnKeepAlives(const ClusterData& d, ClusterView& view, const KeyOf& key_of, int64_t now);
  void SetLeads();
  void AddReloadedTemplates();
  // Answers the heat does not show: a replica's heat record went (the replica stopped, or
  // its lease lapsed, with up to a second of answers unpublished), or this replica began
  // to lead (the leader before it, or this replica's earlier process, answered before
  // this one's heat began). No drained instance goes until every such answer has expired.
  void NoteHeatGaps(const ClusterData& d, int64_t now, int64_t term);

  const OrchestratorConfig& config_;
  LiveConfig live_;
  const Clock& clock_;
  const InstanceTracker& tracker_;
  const HeatBoard& heat_;
  Reconciler reconciler_;
  LearnedKeepAliveConfig learned_config_;  // on the policy's clock (OnPolicyClock)
  struct LearnedKey {
    KeyAutoscaler key;        // the adapter the simulator runs too
    int64_t answered_ms = 0;  // the latest DNS answer already fed as an arrival
    int64_t seen_ms = 0;      // the latest answer or report of open connections
  };
  std::map<std::pair<std::string, std::string>, LearnedKey> learned_;
  int64_t started_ms_ = 0;
  AnswerHold hold_;  // the longest TTL of the config; the simulator applies the same rule
  std::optional<int64_t> term_;            // of the last pass
  std::set<std::string> heat_publishers_;  // replicas with a heat record, at the last pass
  int64_t heat_gap_until_ms_ = 0;
};

}  // namespace prewarm::orchestrator
