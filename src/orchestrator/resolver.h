// The DNS hot path's view of the orchestrator: service name -> template, client ->
// location, routing snapshot -> instance address. Reads only the immutable snapshot, except
// on the cold path (nothing nearby), where it asks ColdPath to reserve an instance.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>

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

class OrchestratorResolver final : public dns::ServiceResolver {
 public:
  // `feed` (optional) receives one count per service answer for the forecaster.
  OrchestratorResolver(const OrchestratorConfig& config, const SnapshotHolder& snapshots,
                       ColdPath& cold, const Clock& clock, EventFeed* feed = nullptr);

  std::optional<dns::ServiceAnswer> Resolve(std::string_view service, uint16_t qtype,
                                            const dns::ClientInfo& client) override;

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
  // The origin's addresses of `family` (0: all).
  std::vector<IpAddr> OriginAddresses(int family) const;
  dns::ServiceAnswer Origin(std::vector<IpAddr> addresses, uint8_t scope);
  // Counts the answer as demand; the sender's network bounds its weight (EventFeed).
  void Record(const Placed& placed, const std::string& tmpl, bool cold,
              const dns::ClientInfo& client);

  const OrchestratorConfig& config_;
  const SnapshotHolder& snapshots_;
  ColdPath& cold_;
  const Clock& clock_;
  EventFeed* feed_;
  geo::CidrLocator locator_;                // networks: (overrides)
  const geo::MmdbLocator* mmdb_ = nullptr;  // dns.geoip
  geo::Location default_location_;
  ResolverCounters counters_;
  HistoryRecorder* history_ = nullptr;
};

}  // namespace prewarm::orchestrator
