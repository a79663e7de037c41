// The routing snapshot: everything a DNS thread needs to answer, immutable once published.
// The control plane (SnapshotPublisher) builds a new one on every change and swaps it in
// atomically; DNS threads load it without taking any lock shared with the control plane.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "common/net.h"
#include "geo/geo.h"

namespace prewarm::orchestrator {

// Per-instance counters written by DNS threads (relaxed atomics, no lock) and read by
// the control plane for keep-alive and load decisions.
struct InstanceHeat {
  std::atomic<int64_t> last_answer_ms{0};
  std::atomic<uint64_t> answers{0};
  std::atomic<uint32_t> load{0};  // last reported active connections + answers since
};

struct RoutedNode {
  std::string id;
  std::string region;
  geo::GeoPoint point;
  bool can_reserve = false;  // connected, not draining, has a free slot and standby address
  // Templates a new instance may be placed for now (supported, not backing off).
  absl::flat_hash_set<std::string> templates;
  // The family of the node's instance address range (AF_INET or AF_INET6): a new
  // instance there can answer only A, or only AAAA, queries.
  int family = AF_INET;
};

struct RoutedInstance {
  std::string id;
  IpAddr address;
  uint32_t node = 0;   // index into RoutingSnapshot::nodes
  bool ready = false;  // false: reserved or starting (socket already bound)
  std::shared_ptr<InstanceHeat> heat;
};

struct RoutingSnapshot {
  uint64_t version = 0;
  std::vector<RoutedNode> nodes;
  // template -> instances that may be answered (ready or starting; never draining).
  absl::flat_hash_map<std::string, std::vector<RoutedInstance>> instances;
};

class SnapshotHolder {
 public:
  SnapshotHolder() : current_(std::make_shared<const RoutingSnapshot>()) {}
  std::shared_ptr<const RoutingSnapshot> Load() const {
    return current_.load(std::memory_order_acquire);
  }
  void Store(std::shared_ptr<const RoutingSnapshot> s) {
    current_.store(std::move(s), std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_release);
  }
  // Counts Stores, each counted after its snapshot is in place: a DNS thread that keeps
  // what it derived from a snapshot checks this one word instead of loading the snapshot
  // (whose shared_ptr copy writes to a cache line every thread shares).
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::shared_ptr<const RoutingSnapshot>> current_;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace prewarm::orchestrator
