#include "orchestrator/resolver.h"

#include <random>

#include "common/logging.h"

namespace prewarm::orchestrator {
namespace {

constexpr uint16_t kTypeA = 1;
constexpr uint16_t kTypeAaaa = 28;
constexpr uint16_t kTypeAny = 255;

// The address family an answer to `qtype` needs: 0 for ANY (either), -1 for types that
// no instance answers (NODATA).
int FamilyFor(uint16_t qtype) {
  switch (qtype) {
    case kTypeA:
      return AF_INET;
    case kTypeAaaa:
      return AF_INET6;
    case kTypeAny:
      return 0;
    default:
      return -1;
  }
}

uint64_t ThreadRandom() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

}  // namespace

geo::MmdbMapping MakeGeoMapping(const OrchestratorConfig& config) {
  geo::MmdbMapping mapping;
  for (const RegionConfig& r : config.regions) mapping.regions.push_back({r.name, r.point});
  for (const auto& [country, region] : config.dns_geoip.countries) {
    if (const RegionConfig* r = config.FindRegion(region)) {
      mapping.countries[country] = geo::Location{r->name, r->point};
    }
  }
  return mapping;
}

OrchestratorResolver::OrchestratorResolver(const OrchestratorConfig& config,
                                           const SnapshotHolder& snapshots, ColdPath& cold,
                                           const Clock& clock, EventFeed* feed)
    : config_(config), snapshots_(snapshots), cold_(cold), clock_(clock), feed_(feed) {
  for (const auto& n : config.networks) {
    absl::Status st = locator_.Add(n.cidr, geo::Location{n.region, n.point});
    if (!st.ok()) spdlog::warn("networks: {}", st.message());
  }
  if (const RegionConfig* r = config.FindRegion(config.default_region)) {
    default_location_ = geo::Location{r->name, r->point};
  }
}

OrchestratorResolver::Placed OrchestratorResolver::Locate(const dns::ClientInfo& client) const {
  IpAddr addr = client.source;
  int source_prefix = -1;
  if (client.ecs && client.ecs->source_prefix > 0) {
    addr = client.ecs->address;
    source_prefix = client.ecs->source_prefix;
  }
  std::optional<geo::Located> hit = locator_.Lookup(addr);
  if (!hit && mmdb_ != nullptr) hit = mmdb_->Lookup(addr);
  if (!hit) return Placed{default_location_, static_cast<uint8_t>(std::max(source_prefix, 0))};
  int scope = source_prefix < 0 ? 0 : std::min(hit->matched_prefix, source_prefix);
  return Placed{hit->location, static_cast<uint8_t>(scope)};
}

void OrchestratorResolver::Record(const Placed& placed, const std::string& tmpl, bool cold,
                                  const dns::ClientInfo& client) {
  if (feed_ == nullptr) return;
  feed_->Record(feed_->RegionIndex(placed.location.region), feed_->TemplateIndex(tmpl), cold,
                client.source);
}

std::vector<IpAddr> OrchestratorResolver::OriginAddresses(int family) const {
  std::vector<IpAddr> out;
  for (const IpAddr& a : config_.origin_addresses) {
    if (family == 0 || a.family() == family) out.push_back(a);
  }
  return out;
}

dns::ServiceAnswer OrchestratorResolver::Origin(std::vector<IpAddr> addresses, uint8_t scope) {
  counters_.origin.fetch_add(1, std::memory_order_relaxed);
  return dns::ServiceAnswer{std::move(addresses), config_.short_ttl_s, scope};
}

std::optional<dns::ServiceAnswer> OrchestratorResolver::Resolve(std::string_view service,
                                                                uint16_t qtype,
                                                                const dns::ClientInfo& client) {
  auto svc = config_.services.find(std::string(service));
  if (svc == config_.services.end()) return std::nullopt;
  const std::string& tmpl = svc->second;
  Placed placed = Locate(client);
  const int family = FamilyFor(qtype);
  if (family < 0) return dns::ServiceAnswer{{}, config_.short_ttl_s, placed.scope};
  // An AAAA query is answered by instances on nodes with IPv6 ranges only (and starts one
  // only there); an A query by IPv4 ones. Nothing of that family: the origin's addresses,
  // which the Authority filters by type, so NODATA when it has none of them either.
  ClientPlace where{placed.location.region, placed.location.point, family};
  std::shared_ptr<const RoutingSnapshot> snap = snapshots_.Load();
  Pick pick = ChooseInstance(*snap, tmpl, where, ThreadRandom());
  if (pick.instance != nullptr) {
    const RoutedInstance& inst = *pick.instance;
    if (inst.heat) {
      inst.heat->last_answer_ms.store(clock_.NowMs(), std::memory_order_relaxed);
      inst.heat->answers.fetch_add(1, std::memory_order_relaxed);
    }
    bool local = pick.kind == PickKind::kLocalReady || pick.kind == PickKind::kLocalStarting;
    (local ? (inst.ready ? counters_.ready : counters_.starting) : counters_.remote)
        .fetch_add(1, std::memory_order_relaxed);
    uint32_t ttl = pick.kind == PickKind::kLocalReady ? config_.stable_ttl_s : config_.short_ttl_s;
    Record(placed, tmpl, false, client);
    if (history_ != nullptr) history_->Answer(inst.id, inst.address);
    return dns::ServiceAnswer{{inst.address}, ttl, placed.scope};
  }
  if (pick.kind == PickKind::kNeedCold) {
    std::optional<ColdAnswer> cold = cold_.Reserve(tmpl, where);
    if (cold) {
      counters_.cold.fetch_add(1, std::memory_order_relaxed);
      Record(placed, tmpl, true, client);
      if (history_ != nullptr) history_->Answer(cold->instance, cold->address);
      return dns::ServiceAnswer{{cold->address}, config_.short_ttl_s, placed.scope};
    }
    // No reservation (the store is out of reach, or every address was taken): anything
    // that already runs elsewhere beats the origin.
    Pick existing = ChooseExisting(*snap, tmpl, where, ThreadRandom());
    if (existing.instance != nullptr) {
      counters_.remote.fetch_add(1, std::memory_order_relaxed);
      Record(placed, tmpl, true, client);
      if (history_ != nullptr) history_->Answer(existing.instance->id, existing.instance->address);
      return dns::ServiceAnswer{{existing.instance->address}, config_.short_ttl_s, placed.scope};
    }
  }
  std::vector<IpAddr> origin = OriginAddresses(family);
  // Nothing of the asked family anywhere, not even the origin (an AAAA query while every
  // node and the origin are IPv4): NODATA, and not demand, since the client's query for
  // the other family is the one it will connect with.
  if (origin.empty()) return dns::ServiceAnswer{{}, config_.short_ttl_s, placed.scope};
  Record(placed, tmpl, true, client);
  return Origin(std::move(origin), placed.scope);
}

}  // namespace prewarm::orchestrator
