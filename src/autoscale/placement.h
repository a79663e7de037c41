// Placement: which instance answers a client, and which node takes a new instance.
// Pure functions over a RoutingSnapshot, shared by the DNS path, the reconciler and the
// simulator.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "autoscale/snapshot.h"

namespace prewarm::orchestrator {

struct ClientPlace {
  std::string_view region;
  geo::GeoPoint point;
  // The address family the answer needs (AF_INET for A, AF_INET6 for AAAA); 0: either.
  // Instances of another family are not candidates, nor nodes whose range is another.
  int family = 0;
};

enum class PickKind {
  kLocalReady,     // ready instance in the client's region (or on the nearest node)
  kLocalStarting,  // an instance already starting nearby: share its cold start
  kNeedCold,       // nothing nearby: reserve on `cold_node`
  kRemoteReady,    // no local capacity: nearest ready instance elsewhere
  kRemoteStarting,
  kNone,  // nothing anywhere and no capacity: answer the origin
};

struct Pick {
  PickKind kind = PickKind::kNone;
  const RoutedInstance* instance = nullptr;
  std::optional<uint32_t> cold_node;  // node index for kNeedCold
};

// Power of two choices: of `n` candidates, the index of the less loaded of two that
// `random` picks (the first when they tie); 0 when n == 1. `load(i)` is candidate i's load.
// The DNS path (ChooseInstance) and the simulator's live routing (sim::Routing::kLive) both
// choose with it.
template <typename Load>
size_t PowerOfTwoIndex(size_t n, uint64_t random, Load load) {
  if (n <= 1) return 0;
  size_t a = random % n;
  size_t b = (random / n) % (n - 1);
  if (b >= a) ++b;
  return load(b) < load(a) ? b : a;
}

// What ChooseInstance decides before its random choice: the kind, the candidates it picks
// one of, and the node for a new instance (kNeedCold). A pure function of the snapshot, so
// the orchestrator precomputes it per (template, client location, family) when a snapshot
// is published (orchestrator/route_table.h).
struct Candidates {
  PickKind kind = PickKind::kNone;
  std::vector<const RoutedInstance*> instances;  // empty unless kind names an instance
  std::optional<uint32_t> cold_node;
};
Candidates ChooseCandidates(const RoutingSnapshot& snap, std::string_view tmpl,
                            const ClientPlace& client);
// The one of `c` that `random` picks: the less loaded of two (power of two choices);
// nullptr when `c` is empty.
const RoutedInstance* PickCandidate(const std::vector<const RoutedInstance*>& c, uint64_t random);

// Nodes "local" to a client: those in its region; when its region has no node, the
// nearest node(s) (within `metro_km` of the nearest).
// Among local ready instances picks the less loaded of two random candidates
// (power of two choices); `random` seeds that choice.
Pick ChooseInstance(const RoutingSnapshot& snap, std::string_view tmpl, const ClientPlace& client,
                    uint64_t random);

// The nearest instance of `tmpl` anywhere: ready (kRemoteReady), else starting
// (kRemoteStarting), else kNone. What the cold path falls back to when it cannot reserve.
Pick ChooseExisting(const RoutingSnapshot& snap, std::string_view tmpl, const ClientPlace& client,
                    uint64_t random);

// The node a new instance for `client` should go to: the nearest reservable node,
// preferring the client's region. nullopt when no node can take one.
std::optional<uint32_t> ChooseNodeForNew(const RoutingSnapshot& snap, std::string_view tmpl,
                                         const ClientPlace& client);

}  // namespace prewarm::orchestrator
