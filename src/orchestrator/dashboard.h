// Dashboard: the bounded history behind the orchestrator's `/ui` page and its JSON
// (`/ui/state`). Once a second the orchestrator hands it an Observation (what the cluster
// looks like now: nodes, instances per key, active prefetch windows, the reconciler's recent
// decisions, answer counters); the event feed's tap adds the requests of each cut second.
// It keeps, per (region, template), the last kHistory samples of requests and instances by
// state, the prefetch windows seen (with the forecast's median and band), and per-second totals of
// answers, cold-path answers and cold starts. Nothing here reads a clock or a socket: tests feed it
// observations.
//
// Thread-safe: Record and OnBatch come from the orchestrator's sampler and event threads,
// StateJson from HTTP workers.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "nlohmann/json_fwd.hpp"
#include "orchestrator/config.h"
#include "orchestrator/control_loop.h"
#include "orchestrator/ring.h"
#include "prewarm/v1/common.pb.h"
#include "prewarm/v1/forecast.pb.h"
#include "prewarm/v1/orchestrator.pb.h"

namespace prewarm::orchestrator {

// Instances counted by their state.
struct StateCounts {
  uint32_t reserved = 0, starting = 0, ready = 0, draining = 0, failed = 0;
  void Add(v1::InstanceState s, uint32_t n);
  StateCounts& operator+=(const StateCounts& o);
};

struct DashboardObservation {
  int64_t now_ms = 0;
  std::string replica;
  bool leading = false;
  std::string health;
  std::vector<v1::NodeInfo> nodes;
  // Instances by (node, template) and by the (region, template) key they serve.
  std::map<std::pair<std::string, std::string>, StateCounts> node_instances;
  std::map<std::pair<std::string, std::string>, StateCounts> key_instances;
  std::vector<v1::PrefetchEntry> windows;  // not ended
  std::vector<DecisionRecord> decisions;   // the latest, oldest first
  // Totals since start.
  uint64_t answers = 0;       // service answers of every kind
  uint64_t cold_answers = 0;  // answers that went down the cold path
  uint64_t cold_starts = 0;   // instances the cold path reserved
  uint64_t start_failures = 0;
};

class Dashboard {
 public:
  static constexpr size_t kHistory = 600;    // samples (seconds) per series
  static constexpr size_t kWindows = 1024;   // prefetch windows remembered, all keys
  static constexpr size_t kDecisions = 100;  // reconciler decisions shown

  explicit Dashboard(const OrchestratorConfig& config);

  // The requests of one cut second (the event feed's tap).
  void OnBatch(const v1::RequestEventBatch& batch);
  // Charts (region, template) for every region from now on: a template a reload added.
  void AddTemplate(const std::string& tmpl);
  // One sample: the requests counted since the last one, the instances, the windows.
  void Record(const DashboardObservation& obs);
  // Everything the page draws, as JSON: series samples newer than `since_ms` (0: all kept),
  // the current nodes, windows and decisions in full.
  std::string StateJson(int64_t since_ms) const;
  // Samples recorded so far (the SSE streams wait for it to move).
  uint64_t samples() const;

 private:
  struct KeySample {
    int64_t t = 0;
    uint32_t requests = 0, cold = 0;
    StateCounts instances;
  };
  struct TotalSample {
    int64_t t = 0;
    uint64_t answers = 0, cold_answers = 0, cold_starts = 0, start_failures = 0;  // per second
  };
  struct Window {
    std::string region, tmpl, model;
    int64_t start_ms = 0, end_ms = 0, received_ms = 0;
    uint32_t target = 0;
    double quantile = 0, rate_per_s = 0;
    // The forecast's band (PrefetchRequest.band_*); lower_quantile 0: none (made by hand).
    double median_per_s = 0, lower_quantile = 0, lower_per_s = 0, upper_quantile = 0,
           upper_per_s = 0;
  };
  using Key = std::pair<std::string, std::string>;  // (region, template)
  struct Series {
    Ring<KeySample> samples{kHistory};
    uint32_t pending_requests = 0, pending_cold = 0;  // since the last sample
  };
  void RecordWindows(const DashboardObservation& obs);
  // StateJson's parts; mu_ held.
  nlohmann::json NodesJson() const;
  nlohmann::json KeysJson(int64_t since_ms) const;
  nlohmann::json WindowsJson() const;
  nlohmann::json TotalsJson(int64_t since_ms) const;
  nlohmann::json DecisionsJson() const;

  const OrchestratorConfig& config_;
  mutable std::mutex mu_;
  std::map<Key, Series> series_;        // guarded by mu_; every configured key
  Ring<TotalSample> totals_{kHistory};  // guarded by mu_
  Ring<Window> windows_{kWindows};      // guarded by mu_
  // Windows already in windows_, by (region, template, received, start) -> their end;
  // forgotten once they end before the history starts. Guarded by mu_.
  std::map<std::tuple<std::string, std::string, int64_t, int64_t>, int64_t> seen_windows_;
  DashboardObservation last_;  // guarded by mu_
  bool have_last_ = false;     // guarded by mu_
  uint64_t samples_ = 0;       // guarded by mu_
};

}  // namespace prewarm::orchestrator
