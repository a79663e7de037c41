#include "autoscale/placement.h"

#include <limits>
#include <vector>

namespace prewarm::orchestrator {
namespace {

constexpr double kMetroKm = 50.0;

// Marks which nodes count as local to the client.
std::vector<bool> LocalNodes(const RoutingSnapshot& snap, const ClientPlace& client) {
  std::vector<bool> local(snap.nodes.size(), false);
  bool any_in_region = false;
  double nearest = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < snap.nodes.size(); ++i) {
    if (snap.nodes[i].region == client.region) {
      local[i] = true;
      any_in_region = true;
    }
    nearest = std::min(nearest, geo::GreatCircleKm(snap.nodes[i].point, client.point));
  }
  if (any_in_region) return local;
  for (size_t i = 0; i < snap.nodes.size(); ++i) {
    local[i] = geo::GreatCircleKm(snap.nodes[i].point, client.point) <= nearest + kMetroKm;
  }
  return local;
}

// Candidates on the nearest node (and nodes within kMetroKm of it) that pass `keep`.
template <typename Keep>
std::vector<const RoutedInstance*> Nearest(const RoutingSnapshot& snap,
                                           const std::vector<RoutedInstance>& all,
                                           const ClientPlace& client, Keep keep) {
  double best = std::numeric_limits<double>::infinity();
  for (const auto& inst : all) {
    if (keep(inst))
      best = std::min(best, geo::GreatCircleKm(snap.nodes[inst.node].point, client.point));
  }
  std::vector<const RoutedInstance*> out;
  for (const auto& inst : all) {
    if (keep(inst) &&
        geo::GreatCircleKm(snap.nodes[inst.node].point, client.point) <= best + kMetroKm) {
      out.push_back(&inst);
    }
  }
  return out;
}

bool FamilyFits(int family, int wanted) { return wanted == 0 || family == wanted; }

}  // namespace

const RoutedInstance* PickCandidate(const std::vector<const RoutedInstance*>& c, uint64_t random) {
  if (c.empty()) return nullptr;
  return c[PowerOfTwoIndex(c.size(), random, [&](size_t i) -> uint32_t {
    return c[i]->heat ? c[i]->heat->load.load(std::memory_order_relaxed) : 0;
  })];
}

namespace {

// ChooseExisting's candidates.
Candidates ExistingCandidates(const RoutingSnapshot& snap, std::string_view tmpl,
                              const ClientPlace& client) {
  auto it = snap.instances.find(absl::string_view(tmpl.data(), tmpl.size()));
  if (it == snap.instances.end()) return {};
  const std::vector<RoutedInstance>& all = it->second;
  const int fam = client.family;
  auto ready = Nearest(snap, all, client, [&](const RoutedInstance& i) {
    return i.ready && FamilyFits(i.address.family(), fam);
  });
  if (!ready.empty()) return {PickKind::kRemoteReady, std::move(ready), {}};
  auto starting = Nearest(snap, all, client, [&](const RoutedInstance& i) {
    return !i.ready && FamilyFits(i.address.family(), fam);
  });
  if (!starting.empty()) return {PickKind::kRemoteStarting, std::move(starting), {}};
  return {};
}

}  // namespace

Candidates ChooseCandidates(const RoutingSnapshot& snap, std::string_view tmpl,
                            const ClientPlace& client) {
  static const std::vector<RoutedInstance> kEmpty;
  auto it = snap.instances.find(absl::string_view(tmpl.data(), tmpl.size()));
  const std::vector<RoutedInstance>& all = it == snap.instances.end() ? kEmpty : it->second;
  std::vector<bool> local = LocalNodes(snap, client);

  const int fam = client.family;
  auto local_ready = Nearest(snap, all, client, [&](const RoutedInstance& i) {
    return i.ready && local[i.node] && FamilyFits(i.address.family(), fam);
  });
  if (!local_ready.empty()) return {PickKind::kLocalReady, std::move(local_ready), {}};
  auto local_starting = Nearest(snap, all, client, [&](const RoutedInstance& i) {
    return !i.ready && local[i.node] && FamilyFits(i.address.family(), fam);
  });
  if (!local_starting.empty()) return {PickKind::kLocalStarting, std::move(local_starting), {}};
  // Start one nearby if a local node has room; otherwise prefer what already runs
  // elsewhere over spilling a new instance to a remote node.
  std::optional<uint32_t> node = ChooseNodeForNew(snap, tmpl, client);
  if (node && local[*node]) return {PickKind::kNeedCold, {}, node};
  Candidates existing = ExistingCandidates(snap, tmpl, client);
  if (!existing.instances.empty()) return existing;
  if (node) return {PickKind::kNeedCold, {}, node};
  return {};
}

Pick ChooseInstance(const RoutingSnapshot& snap, std::string_view tmpl, const ClientPlace& client,
                    uint64_t random) {
  Candidates c = ChooseCandidates(snap, tmpl, client);
  return {c.kind, PickCandidate(c.instances, random), c.cold_node};
}

Pick ChooseExisting(const RoutingSnapshot& snap, std::string_view tmpl, const ClientPlace& client,
                    uint64_t random) {
  Candidates c = ExistingCandidates(snap, tmpl, client);
  return {c.kind, PickCandidate(c.instances, random), {}};
}

std::optional<uint32_t> ChooseNodeForNew(const RoutingSnapshot& snap, std::string_view tmpl,
                                         const ClientPlace& client) {
  absl::string_view key(tmpl.data(), tmpl.size());
  std::optional<uint32_t> best;
  double best_km = std::numeric_limits<double>::infinity();
  bool best_in_region = false;
  for (uint32_t i = 0; i < snap.nodes.size(); ++i) {
    const RoutedNode& n = snap.nodes[i];
    if (!n.can_reserve || !n.templates.contains(key) || !FamilyFits(n.family, client.family)) {
      continue;
    }
    bool in_region = n.region == client.region;
    double km = geo::GreatCircleKm(n.point, client.point);
    if ((in_region && !best_in_region) || (in_region == best_in_region && km < best_km)) {
      best = i;
      best_km = km;
      best_in_region = in_region;
    }
  }
  return best;
}

}  // namespace prewarm::orchestrator
