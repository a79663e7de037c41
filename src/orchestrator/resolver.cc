#include "orchestrator/resolver.h"

#include <algorithm>
#include <array>
#include <cstring>
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

std::atomic<uint64_t> next_resolver_id{1};

// Each DNS thread's RouteTable, kept while the snapshot generation stays the same, so the
// hot path reads one shared word per query instead of copying a shared_ptr.
struct CachedTable {
  uint64_t resolver = 0;
  uint64_t generation = 0;
  uint64_t view = 0;  // ResolverView::generation
  std::shared_ptr<const RouteTable> table;
};
thread_local CachedTable cached_table;

// Each thread's ResolverView for the general path, kept while the view generation stays.
struct CachedView {
  uint64_t resolver = 0;
  uint64_t generation = 0;
  std::shared_ptr<const ResolverView> view;
};
thread_local CachedView cached_view;

// Each DNS thread's last placements, for ResolveWire: the address looked up (the ECS
// subnet or the source) -> its bucket and the prefix of the entry that matched. A lookup
// is a function of the address, the overrides and the database, so an entry stays right
// until the view changes (Reload) or the database is reloaded (MmdbCounters::reloads,
// counted after the swap). Direct-mapped.
struct CachedPlace {
  uint64_t resolver = 0;  // 0: empty
  uint64_t view = 0;      // ResolverView::generation
  uint64_t reloads = 0;
  IpAddr address;
  int bucket = -1;
  int matched_prefix = -1;  // -1: nothing matched (the default location)
};
constexpr size_t kPlaceCacheSize = 1024;
thread_local std::array<CachedPlace, kPlaceCacheSize> place_cache;

size_t PlaceSlot(const IpAddr& a) {
  uint64_t hi = 0;
  uint64_t lo = 0;
  std::memcpy(&hi, a.bytes(), a.is_v4() ? 4 : 8);
  if (a.is_v6()) std::memcpy(&lo, a.bytes() + 8, 8);
  const uint64_t h = (hi ^ (lo * 0xC2B2AE3D27D4EB4Full)) * 0x9E3779B97F4A7C15ull;
  return static_cast<size_t>(h >> 54) % kPlaceCacheSize;
}

bool SameLocation(const geo::Location& a, const geo::Location& b) {
  return a.point.lat == b.point.lat && a.point.lon == b.point.lon && a.region == b.region;
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
    : snapshots_(snapshots),
      id_(next_resolver_id.fetch_add(1)),
      random_(ThreadRandom),
      cold_(cold),
      clock_(clock),
      feed_(feed) {
  view_.store(MakeView(config, 1));
  view_generation_.store(1);
}

std::shared_ptr<const ResolverView> OrchestratorResolver::MakeView(const OrchestratorConfig& config,
                                                                   uint64_t generation) const {
  auto v = std::make_shared<ResolverView>();
  v->generation = generation;
  v->config = config;
  for (const auto& n : config.networks) {
    absl::Status st = v->locator.Add(n.cidr, geo::Location{n.region, n.point});
    if (!st.ok()) spdlog::warn("networks: {}", st.message());
  }
  if (const RegionConfig* r = config.FindRegion(config.default_region)) {
    v->default_location = geo::Location{r->name, r->point};
  }
  // The RouteTable's axes.
  for (const auto& [service, tmpl] : config.services) {
    auto it = std::find(v->templates.begin(), v->templates.end(), tmpl);
    if (it == v->templates.end()) it = v->templates.insert(v->templates.end(), tmpl);
    v->service_template[service] = static_cast<uint32_t>(it - v->templates.begin());
  }
  auto add_bucket = [&](const geo::Location& l) {
    for (const geo::Location& b : v->buckets) {
      if (SameLocation(b, l)) return;
    }
    v->buckets.push_back(l);
  };
  add_bucket(v->default_location);
  for (const auto& n : config.networks) add_bucket(geo::Location{n.region, n.point});
  for (const RegionConfig& r : config.regions) add_bucket(geo::Location{r.name, r.point});
  for (const auto& [country, location] : MakeGeoMapping(config).countries) add_bucket(location);
  for (const geo::Location& b : v->buckets) {
    v->bucket_region_index.push_back(feed_ ? feed_->RegionIndex(b.region) : -1);
  }
  for (const std::string& t : v->templates) {
    v->template_feed_index.push_back(feed_ ? feed_->TemplateIndex(t) : -1);
  }
  return v;
}

void OrchestratorResolver::Reload(const OrchestratorConfig& config) {
  std::shared_ptr<const ResolverView> next = MakeView(config, view_generation_.load() + 1);
  view_.store(next, std::memory_order_release);
  view_generation_.store(next->generation, std::memory_order_release);
  Precompute();  // the new answers, before the DNS threads ask for them
}

const ResolverView& OrchestratorResolver::View() const {
  const uint64_t generation = view_generation_.load(std::memory_order_acquire);
  CachedView& c = cached_view;
  if (c.resolver != id_ || c.generation != generation) {
    std::shared_ptr<const ResolverView> v = view_.load(std::memory_order_acquire);
    c = CachedView{id_, v->generation, std::move(v)};
  }
  return *c.view;
}

OrchestratorResolver::BucketPlace OrchestratorResolver::LocateBucket(
    const ResolverView& v, const dns::ClientInfo& client) const {
  IpAddr addr = client.source;
  int source_prefix = -1;
  if (client.ecs && client.ecs->source_prefix > 0) {
    addr = client.ecs->address;
    source_prefix = client.ecs->source_prefix;
  }
  const uint64_t reloads =
      mmdb_ != nullptr ? mmdb_->counters().reloads.load(std::memory_order_acquire) : 0;
  CachedPlace& c = place_cache[PlaceSlot(addr)];
  if (c.resolver != id_ || c.view != v.generation || c.reloads != reloads || c.address != addr) {
    // Locate's lookups, in its order.
    std::optional<geo::Located> hit = v.locator.Lookup(addr);
    bool keep = true;
    if (!hit && mmdb_ != nullptr) {
      // A corrupt record is counted on every lookup: such an answer is not kept.
      const uint64_t errors = mmdb_->counters().lookup_errors.load(std::memory_order_relaxed);
      hit = mmdb_->Lookup(addr);
      keep = errors == mmdb_->counters().lookup_errors.load(std::memory_order_relaxed);
    }
    CachedPlace fresh{id_,
                      v.generation,
                      reloads,
                      addr,
                      BucketOf(v, hit ? hit->location : v.default_location),
                      hit ? hit->matched_prefix : -1};
    if (!keep) {
      fresh.resolver = 0;
      return Scope(fresh.bucket, fresh.matched_prefix, source_prefix);
    }
    c = fresh;
  }
  return Scope(c.bucket, c.matched_prefix, source_prefix);
}

// Locate's scope rule: the matched prefix, at most the query's source prefix; the source
// prefix when nothing matched; 0 without ECS.
OrchestratorResolver::BucketPlace OrchestratorResolver::Scope(int bucket, int matched_prefix,
                                                              int source_prefix) {
  if (matched_prefix < 0) {
    return BucketPlace{bucket, static_cast<uint8_t>(std::max(source_prefix, 0))};
  }
  int scope = source_prefix < 0 ? 0 : std::min(matched_prefix, source_prefix);
  return BucketPlace{bucket, static_cast<uint8_t>(scope)};
}

int OrchestratorResolver::BucketOf(const ResolverView& v, const geo::Location& where) {
  for (size_t i = 0; i < v.buckets.size(); ++i) {
    if (SameLocation(v.buckets[i], where)) return static_cast<int>(i);
  }
  return -1;
}

std::shared_ptr<const RouteTable> OrchestratorResolver::Build() const {
  auto table = std::make_shared<RouteTable>();
  // The generation first: if a Store comes between, the table is older than its snapshot
  // and is simply built again. The view carries its own generation.
  table->generation = snapshots_.generation();
  table->view = view_.load(std::memory_order_acquire);
  table->snapshot = snapshots_.Load();
  const RoutingSnapshot& snap = *table->snapshot;
  const ResolverView& v = *table->view;
  const size_t buckets = v.buckets.size();
  table->entries.resize(v.templates.size() * buckets * 2);
  for (size_t t = 0; t < v.templates.size(); ++t) {
    for (size_t b = 0; b < buckets; ++b) {
      for (int aaaa = 0; aaaa < 2; ++aaaa) {
        RouteTable::Entry& e = table->entries[(t * buckets + b) * 2 + aaaa];
        ClientPlace where{v.buckets[b].region, v.buckets[b].point, aaaa ? AF_INET6 : AF_INET};
        Candidates c = ChooseCandidates(snap, v.templates[t], where);
        e.kind = c.kind;
        if (c.instances.empty()) continue;  // the cold path or the origin: Resolve
        const uint32_t ttl =
            c.kind == PickKind::kLocalReady ? v.config.stable_ttl_s : v.config.short_ttl_s;
        for (const RoutedInstance* inst : c.instances) {
          dns::EncodeAddressRecords(aaaa ? kTypeAaaa : kTypeA, ttl, {&inst->address, 1}, e.records);
        }
        e.record_size = e.records.size() / c.instances.size();
        e.candidates = std::move(c.instances);
      }
    }
  }
  return table;
}

bool OrchestratorResolver::Current(const RouteTable* t) const {
  return t != nullptr && t->generation == snapshots_.generation() &&
         t->view->generation == view_generation_.load(std::memory_order_acquire);
}

void OrchestratorResolver::Precompute() {
  std::lock_guard<std::mutex> l(build_mu_);
  std::shared_ptr<const RouteTable> t = table_.load(std::memory_order_acquire);
  if (!Current(t.get())) table_.store(Build());
}

bool OrchestratorResolver::Precomputed() const {
  return Current(table_.load(std::memory_order_acquire).get());
}

const RouteTable* OrchestratorResolver::Table() {
  const uint64_t generation = snapshots_.generation();
  const uint64_t view = view_generation_.load(std::memory_order_acquire);
  CachedTable& c = cached_table;
  if (c.resolver == id_ && c.generation == generation && c.view == view) return c.table.get();
  std::shared_ptr<const RouteTable> t = table_.load(std::memory_order_acquire);
  if (!Current(t.get())) {
    std::unique_lock<std::mutex> l(build_mu_, std::try_to_lock);
    if (!l.owns_lock()) return nullptr;  // another thread is building it
    t = table_.load(std::memory_order_acquire);
    if (!Current(t.get())) {
      t = Build();
      table_.store(t, std::memory_order_release);
    }
  }
  c = CachedTable{id_, t->generation, t->view->generation, std::move(t)};
  return c.table.get();
}

bool OrchestratorResolver::ResolveWire(std::string_view service, uint16_t qtype,
                                       const dns::ClientInfo& client, dns::WireAnswer& out) {
  if (qtype != kTypeA && qtype != kTypeAaaa) return false;
  const RouteTable* table = Table();
  if (table == nullptr) return false;
  const ResolverView& v = *table->view;
  auto svc = v.service_template.find(absl::string_view(service.data(), service.size()));
  if (svc == v.service_template.end()) return false;
  const BucketPlace placed = LocateBucket(v, client);
  const int bucket = placed.bucket;
  if (bucket < 0) return false;
  const uint32_t tmpl = svc->second;
  const RouteTable::Entry& e =
      table->entries[(tmpl * v.buckets.size() + static_cast<size_t>(bucket)) * 2 +
                     (qtype == kTypeAaaa ? 1 : 0)];
  if (e.candidates.empty()) return false;
  // Resolve's choice (ChooseInstance = ChooseCandidates + PickCandidate), on live loads.
  const size_t i = PowerOfTwoIndex(e.candidates.size(), random_(), [&](size_t k) -> uint32_t {
    const auto& heat = e.candidates[k]->heat;
    return heat ? heat->load.load(std::memory_order_relaxed) : 0;
  });
  const RoutedInstance& inst = *e.candidates[i];
  if (inst.heat) {
    inst.heat->last_answer_ms.store(clock_.NowMs(), std::memory_order_relaxed);
    inst.heat->answers.fetch_add(1, std::memory_order_relaxed);
  }
  const bool local = e.kind == PickKind::kLocalReady || e.kind == PickKind::kLocalStarting;
  (local ? (inst.ready ? counters_.ready : counters_.starting) : counters_.remote)
      .fetch_add(1, std::memory_order_relaxed);
  if (feed_ != nullptr) {
    feed_->Record(v.bucket_region_index[static_cast<size_t>(bucket)], v.template_feed_index[tmpl],
                  false, client.source);
  }
  if (history_ != nullptr) history_->Answer(inst.id, inst.address);
  out = dns::WireAnswer{{e.records.data() + i * e.record_size, e.record_size}, 1, placed.scope};
  return true;
}

OrchestratorResolver::Placed OrchestratorResolver::Locate(const dns::ClientInfo& client) const {
  return Locate(View(), client);
}

OrchestratorResolver::Placed OrchestratorResolver::Locate(const ResolverView& v,
                                                          const dns::ClientInfo& client) const {
  IpAddr addr = client.source;
  int source_prefix = -1;
  if (client.ecs && client.ecs->source_prefix > 0) {
    addr = client.ecs->address;
    source_prefix = client.ecs->source_prefix;
  }
  std::optional<geo::Located> hit = v.locator.Lookup(addr);
  if (!hit && mmdb_ != nullptr) hit = mmdb_->Lookup(addr);
  if (!hit) return Placed{v.default_location, static_cast<uint8_t>(std::max(source_prefix, 0))};
  int scope = source_prefix < 0 ? 0 : std::min(hit->matched_prefix, source_prefix);
  return Placed{hit->location, static_cast<uint8_t>(scope)};
}

void OrchestratorResolver::Record(const Placed& placed, const std::string& tmpl, bool cold,
                                  const dns::ClientInfo& client) {
  if (feed_ == nullptr) return;
  feed_->Record(feed_->RegionIndex(placed.location.region), feed_->TemplateIndex(tmpl), cold,
                client.source);
}

std::vector<IpAddr> OrchestratorResolver::OriginAddresses(const ResolverView& v, int family) {
  std::vector<IpAddr> out;
  for (const IpAddr& a : v.config.origin_addresses) {
    if (family == 0 || a.family() == family) out.push_back(a);
  }
  return out;
}

dns::ServiceAnswer OrchestratorResolver::Origin(const ResolverView& v,
                                                std::vector<IpAddr> addresses, uint8_t scope) {
  counters_.origin.fetch_add(1, std::memory_order_relaxed);
  return dns::ServiceAnswer{std::move(addresses), v.config.short_ttl_s, scope};
}

std::optional<dns::ServiceAnswer> OrchestratorResolver::Resolve(std::string_view service,
                                                                uint16_t qtype,
                                                                const dns::ClientInfo& client) {
  const ResolverView& v = View();
  auto svc = v.config.services.find(std::string(service));
  if (svc == v.config.services.end()) return std::nullopt;
  const std::string& tmpl = svc->second;
  Placed placed = Locate(v, client);
  const int family = FamilyFor(qtype);
  if (family < 0) return dns::ServiceAnswer{{}, v.config.short_ttl_s, placed.scope};
  // An AAAA query is answered by instances on nodes with IPv6 ranges only (and starts one
  // only there); an A query by IPv4 ones. Nothing of that family: the origin's addresses,
  // which the Authority filters by type, so NODATA when it has none of them either.
  ClientPlace where{placed.location.region, placed.location.point, family};
  std::shared_ptr<const RoutingSnapshot> snap = snapshots_.Load();
  Pick pick = ChooseInstance(*snap, tmpl, where, random_());
  if (pick.instance != nullptr) {
    const RoutedInstance& inst = *pick.instance;
    if (inst.heat) {
      inst.heat->last_answer_ms.store(clock_.NowMs(), std::memory_order_relaxed);
      inst.heat->answers.fetch_add(1, std::memory_order_relaxed);
    }
    bool local = pick.kind == PickKind::kLocalReady || pick.kind == PickKind::kLocalStarting;
    (local ? (inst.ready ? counters_.ready : counters_.starting) : counters_.remote)
        .fetch_add(1, std::memory_order_relaxed);
    uint32_t ttl =
        pick.kind == PickKind::kLocalReady ? v.config.stable_ttl_s : v.config.short_ttl_s;
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
      return dns::ServiceAnswer{{cold->address}, v.config.short_ttl_s, placed.scope};
    }
    // No reservation (the store is out of reach, or every address was taken): anything
    // that already runs elsewhere beats the origin.
    Pick existing = ChooseExisting(*snap, tmpl, where, random_());
    if (existing.instance != nullptr) {
      counters_.remote.fetch_add(1, std::memory_order_relaxed);
      Record(placed, tmpl, true, client);
      if (history_ != nullptr) history_->Answer(existing.instance->id, existing.instance->address);
      return dns::ServiceAnswer{{existing.instance->address}, v.config.short_ttl_s, placed.scope};
    }
  }
  std::vector<IpAddr> origin = OriginAddresses(v, family);
  // Nothing of the asked family anywhere, not even the origin (an AAAA query while every
  // node and the origin are IPv4): NODATA, and not demand, since the client's query for
  // the other family is the one it will connect with.
  if (origin.empty()) return dns::ServiceAnswer{{}, v.config.short_ttl_s, placed.scope};
  Record(placed, tmpl, true, client);
  return Origin(v, std::move(origin), placed.scope);
}

}  // namespace prewarm::orchestrator
