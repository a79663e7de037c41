// The DNS hot path's view of the orchestrator: service name -> template, client ->
// location, routing snapshot -> instance address. Reads only the immutable snapshot, except
// on the cold path (nothing nearby), where it asks ColdPath to reserve an instance.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "autoscale/placement.h"
#include "dns/zone.h"
#include "geo/geo.h"
#include "geo/mmdb.h"
#include "orchestrator/cold_path.h"
#include "orchestrator/config.h"
#include "orchestrator/event_feed.h"
#include "orchestrator/history.h"

namespace prewarm::orchestrator {

struct ResolverCounters {
  std::atomic<uint64_t> ready{0};     // answered with a ready local instance
  std::atomic<uint64_t> starting{0};  // answered with an instance still starting
  std::atomic<uint64_t> cold{0};      // cold path: a new instance was reserved
  std::atomic<uint64_t> remote{0};    // answered from another region
  std::atomic<uint64_t> origin{0};    // nothing could serve: origin address
};

// dns.geoip's countries and the regions' points, as the MaxMind locator takes them.
geo::MmdbMapping MakeGeoMapping(const OrchestratorConfig& config);

// What the resolver reads of the config, with the RouteTable's axes made from it:
// immutable once built. OrchestratorResolver::Reload publishes a new one (SIGHUP:
// config_reload.h), and a DNS thread picks it up by comparing one word, its generation.
struct ResolverView {
  uint64_t generation = 0;
  OrchestratorConfig config;  // services, ttl, networks, default_region, origin, regions
  // The RouteTable's axes: templates (by service label) and location buckets.
  std::vector<std::string> templates;
  absl::flat_hash_map<std::string, uint32_t> service_template;
  std::vector<geo::Location> buckets;
  std::vector<int> bucket_region_index;  // EventFeed::RegionIndex per bucket
  std::vector<int> template_feed_index;  // EventFeed::TemplateIndex per template
  geo::CidrLocator locator;              // networks: (overrides)
  geo::Location default_location;
};

// The answers of one routing snapshot, precomputed per (template, client location bucket,
// address family): what ChooseCandidates decides there, and each candidate's answer record
// in wire form (dns::EncodeAddressRecords). Built once per published snapshot; only the
// power-of-two choice among the candidates (by their live load) is left to each query.
// Buckets are the locations a client can be placed at that are known in advance: the
// default, each `networks:` override, each region and each dns.geoip country. A client
// placed by a database's own coordinates is in no bucket and is routed per query.
struct RouteTable {
  struct Entry {
    PickKind kind = PickKind::kNone;
    std::vector<const RoutedInstance*> candidates;  // empty: not precomputed (cold, origin)
    std::vector<uint8_t> records;                   // candidate i's record at i * record_size
    size_t record_size = 0;
  };
  std::shared_ptr<const RoutingSnapshot> snapshot;  // the candidates point into it
  uint64_t generation = 0;                          // SnapshotHolder::generation() built from
  std::shared_ptr<const ResolverView> view;         // the axes, services and TTLs built from
  std::vector<Entry> entries;  // [(template * buckets + bucket) * 2 + (AAAA ? 1 : 0)]
};

class OrchestratorResolver final : public dns::ServiceResolver {
 public:
  // `feed` (optional) receives one count per service answer for the forecaster.
  OrchestratorResolver(const OrchestratorConfig& config, const SnapshotHolder& snapshots,
                       ColdPath& cold, const Clock& clock, EventFeed* feed = nullptr);

  std::optional<dns::ServiceAnswer> Resolve(std::string_view service, uint16_t qtype,
                                            const dns::ClientInfo& client) override;
  // The same answers from the RouteTable of the current snapshot, for clients in a bucket
  // whose answer names an instance; false (nothing counted) otherwise.
  bool ResolveWire(std::string_view service, uint16_t qtype, const dns::ClientInfo& client,
                   dns::WireAnswer& out) override;

  // Replaces what the resolver reads of the config with `config` (SIGHUP: Orchestrator::
  // Reload, after PlanReload): queries from then on are answered from its services,
  // networks, default region and TTLs. The new RouteTable is built before it returns.
  // One Reload at a time (the caller serialises them).
  void Reload(const OrchestratorConfig& config);
  // The config the resolver answers from now (the latest Reload's, else the start's).
  std::shared_ptr<const ResolverView> view() const { return view_.load(std::memory_order_acquire); }

  // Builds the current RouteTable (of this snapshot and view) now, unless it is built already. The
  // orchestrator calls it after each publish (SnapshotPublisher::SetAfterPublish); a
  // ResolveWire that finds no table for the current snapshot builds one (tests, or a
  // Store not made by the publisher), while other threads answer by Resolve meanwhile.
  void Precompute();
  // Whether the current snapshot's RouteTable is built.
  bool Precomputed() const;
  // Replaces the random numbers of the power-of-two choice (tests: the same choice on both
  // paths). Not thread-safe; set before answering.
  void SetRandomForTest(uint64_t (*random)()) { random_ = random; }

  // Client location: ECS subnet if present, else the source address, looked up in the
  // `networks:` overrides, then the MaxMind database (dns.geoip); unknown -> the default
  // region. `scope` is the ECS scope prefix the answer is valid for: the prefix length of
  // the override or database network that matched, at most the query's source prefix.
  struct Placed {
    geo::Location location;
    uint8_t scope = 0;
  };
  Placed Locate(const dns::ClientInfo& client) const;

  const ResolverCounters& counters() const { return counters_; }
  // Every answer naming an instance is recorded there (cluster.history_log); nullptr: none.
  void SetHistory(HistoryRecorder* history) { history_ = history; }
  // The MaxMind database consulted after the overrides (nullptr: none). Set before the DNS
  // server starts; it must outlive the resolver.
  void SetGeoDatabase(const geo::MmdbLocator* mmdb) { mmdb_ = mmdb; }

 private:
  std::shared_ptr<const ResolverView> MakeView(const OrchestratorConfig& config,
                                               uint64_t generation) const;
  // This thread's view: the current one, by one word while it has not changed.
  const ResolverView& View() const;
  Placed Locate(const ResolverView& v, const dns::ClientInfo& client) const;
  // The origin's addresses of `family` (0: all).
  static std::vector<IpAddr> OriginAddresses(const ResolverView& v, int family);
  dns::ServiceAnswer Origin(const ResolverView& v, std::vector<IpAddr> addresses, uint8_t scope);
  // Counts the answer as demand; the sender's network bounds its weight (EventFeed).
  void Record(const Placed& placed, const std::string& tmpl, bool cold,
              const dns::ClientInfo& client);

  // The bucket of `where` in `v`, or -1.
  static int BucketOf(const ResolverView& v, const geo::Location& where);
  // Locate for ResolveWire: the client's bucket (-1: none) and scope, through a per-thread
  // cache of lookups (resolver.cc, CachedPlace).
  struct BucketPlace {
    int bucket = -1;
    uint8_t scope = 0;
  };
  BucketPlace LocateBucket(const ResolverView& v, const dns::ClientInfo& client) const;
  static BucketPlace Scope(int bucket, int matched_prefix, int source_prefix);
  // This thread's RouteTable for the current snapshot and view; nullptr while another
  // thread builds it.
  const RouteTable* Table();
  // Whether `t` is the table of the current snapshot and view.
  bool Current(const RouteTable* t) const;
  std::shared_ptr<const RouteTable> Build() const;

  const SnapshotHolder& snapshots_;
  const uint64_t id_;  // unique per resolver: the key of each thread's cached table
  // The view (Reload stores it, then its generation: a thread that reads the new
  // generation finds the new view).
  std::atomic<std::shared_ptr<const ResolverView>> view_;
  std::atomic<uint64_t> view_generation_{0};
  std::mutex build_mu_;  // one Build at a time
  std::atomic<std::shared_ptr<const RouteTable>> table_;
  uint64_t (*random_)();
  ColdPath& cold_;
  const Clock& clock_;
  EventFeed* feed_;
  const geo::MmdbLocator* mmdb_ = nullptr;  // dns.geoip
  ResolverCounters counters_;
  HistoryRecorder* history_ = nullptr;
};

}  // namespace prewarm::orchestrator
