// ColdPath: nothing ready or starting near the client, so a DNS thread reserves a new
// instance. It re-decides on the latest snapshot under this replica's cold-path lock (two
// DNS threads of one replica reserve one instance, not two), then claims a standby address
// of the chosen node with one store transaction (claim_timeout bounds it). When the claim
// is in, it waits for its own watch to show it, so the next query finds the reservation in
// the snapshot. The agent's stream holder (any replica) relays the create.
//
// With the store unreachable it reserves nothing: the caller answers the origin.
//
// Each Reserve is timed (the monotonic clock: it measures a store round trip, not the
// control plane's time) into a histogram per (region, template, outcome).
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>

#include "absl/base/thread_annotations.h"
#include "autoscale/placement.h"
#include "autoscale/snapshot.h"
#include "common/clock.h"
#include "common/histogram.h"
#include "common/net.h"
#include "orchestrator/cluster_cache.h"
#include "orchestrator/cluster_writer.h"
#include "orchestrator/config.h"
#include "orchestrator/presence.h"

namespace prewarm::orchestrator {

// What the cold path answers with.
struct ColdAnswer {
  IpAddr address;
  std::string instance;
};

class ColdPath {
 public:
  ColdPath(const OrchestratorConfig& config, const Clock& clock, const SnapshotHolder& snapshots,
           ClusterCache& cache, ClusterWriter& writer, Presence& presence)
      : config_(config),
        clock_(clock),
        snapshots_(snapshots),
        cache_(cache),
        writer_(writer),
        presence_(presence) {}

  // The address to answer `client` with: an instance that appeared meanwhile, or a new
  // reservation. nullopt: none could be made (answer the origin).
  std::optional<ColdAnswer> Reserve(const std::string& tmpl, const ClientPlace& client);

  // Reserve's duration in seconds by (region, template, outcome); outcome is "reserved" (a
  // new instance), "existing" (one appeared meanwhile) or "origin" (none could be made).
  using LatencyKey = std::tuple<std::string, std::string, std::string>;
  std::map<LatencyKey, HistogramData> Latencies() const;

  uint64_t reservations() const { return reservations_.load(); }
  uint64_t claim_conflicts() const { return conflicts_.load(); }
  uint64_t failures() const { return failures_.load(); }

 private:
  struct Outcome {
    std::optional<ColdAnswer> answer;
    bool reserved = false;  // a new instance, not one that appeared meanwhile
  };
  Outcome ReserveUntimed(const std::string& tmpl, const ClientPlace& client);
  std::optional<ColdAnswer> Claim(const std::string& node, const std::string& tmpl,
                                  const ClientPlace& client);

  const OrchestratorConfig& config_;
  const Clock& clock_;
  const SnapshotHolder& snapshots_;
  ClusterCache& cache_;
  ClusterWriter& writer_;
  Presence& presence_;
  std::mutex mu_;
  uint64_t random_ = 0;  // guarded by mu_
  std::atomic<uint64_t> reservations_{0};
  std::atomic<uint64_t> conflicts_{0};
  std::atomic<uint64_t> failures_{0};
  mutable std::mutex latency_mu_;
  std::map<LatencyKey, HistogramData> latencies_ ABSL_GUARDED_BY(latency_mu_);
};

}  // namespace prewarm::orchestrator
