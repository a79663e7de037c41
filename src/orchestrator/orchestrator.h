// The Edge Orchestrator daemon as a library: one replica (replica.h) over its cluster
// store, with its DNS server, gRPC services and HTTP metrics, started and stopped as one.
// `prewarm orchestrator` and `prewarm up` are thin wrappers around it.
//
// Threads: DNS (one per UDP socket + one TCP, owned by dns::DnsServer), gRPC's pool (one
// handler per connected agent plus a writer thread per agent stream, one per forecaster
// event stream), the replica's (store watch, "orch-control", "orch-lease"), "orch-events"
// (cuts request-event batches each second), "orch-geoip" (with dns.geoip and
// reload_check_s > 0: stats the database file and reloads it when it changed), "orch-dash"
// (samples the cluster for the dashboard each second), and the HTTP server's pool (/metrics,
// /healthz, the dashboard at /ui: dashboard_http.h).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "autoscale/service_time.h"
#include "common/clock.h"
#include "orchestrator/config.h"
#include "orchestrator/config_reload.h"
#include "orchestrator/dashboard.h"
#include "orchestrator/event_feed.h"
#include "orchestrator/replica.h"
#include "store/kv.h"

namespace grpc {
class Server;
}
namespace httplib {
class Server;
}

namespace prewarm {
class MetricsText;
}
namespace prewarm::geo {
class MmdbLocator;
}
namespace prewarm::dns {
class Authority;
class DnsServer;
}  // namespace prewarm::dns

namespace prewarm::orchestrator {

class OrchestratorResolver;
class AgentServiceImpl;
class OrchestratorServiceImpl;
class ForecastFeedImpl;
class DashboardServer;

class Orchestrator {
 public:
  // `store`: a store shared with other replicas in this process (tests); nullptr opens the
  // one the config names (cluster.store).
  Orchestrator(OrchestratorConfig config, const Clock& clock, store::KvStore* store = nullptr);
  ~Orchestrator();

  absl::Status Start();
  void Stop();

  // Instance transitions this replica sees; set before Start.
  void SetObserver(InstanceObserver observer);
  Replica& replica() { return *replica_; }
  EventFeed& events() { return *events_; }
  // Prometheus text exposition of every counter and gauge.
  std::string RenderMetrics() const;
  const OrchestratorConfig& config() const { return config_; }
  // What the dashboard (/ui) samples once a second.
  DashboardObservation ObserveDashboard() const;
  // Re-reads dns.geoip.database (SIGHUP); on error the running database stays. OK and a
  // no-op without dns.geoip.
  absl::Status ReloadGeoDatabase();
  // SIGHUP with a valid new config, in two steps so that several replicas (prewarm up)
  // change all or none: PlanReload decides what this replica takes of `next`
  // (config_reload.h; an error when it refuses `next`), Reload applies a plan to its
  // answers from the next query on (the resolver's view is swapped; the DNS threads take
  // no lock) and fills its `notes`. Called from one thread (the signal wait). The other
  // replicas are not told: each reloads its own file on its own SIGHUP.
  absl::StatusOr<ReloadPlan> PlanReload(const OrchestratorConfig& next) const;
  void Reload(ReloadPlan& plan);

 private:
  absl::Status CheckOrigin() const;
  absl::Status OpenStore();
  absl::Status StartDns();
  absl::Status StartGrpc();
  absl::Status StartHttp();
  absl::Status OpenGeoDatabase();
  void WatchGeoDatabase();
  // RenderMetrics' families, by part.
  void RenderDns(MetricsText& m) const;
  void RenderAnswers(MetricsText& m) const;
  void RenderInstances(MetricsText& m) const;
  void RenderReconciler(MetricsText& m) const;
  void RenderCluster(MetricsText& m) const;
  void RenderPrefetch(MetricsText& m) const;
  void RenderGeo(MetricsText& m) const;

  OrchestratorConfig config_;  // as started; what a reload changes is in resolver_->view()
  const Clock& clock_;
  SnapshotHolder snapshots_;
  ServiceTimeMeter service_times_;  // before the feed and the replica that point at it
  std::unique_ptr<store::KvStore> owned_store_;
  store::KvStore* store_ = nullptr;
  std::unique_ptr<Replica> replica_;
  std::unique_ptr<EventFeed> events_;
  std::unique_ptr<geo::MmdbLocator> geoip_;  // dns.geoip; before the resolver that reads it
  std::unique_ptr<OrchestratorResolver> resolver_;
  std::unique_ptr<dns::Authority> authority_;
  std::unique_ptr<dns::DnsServer> dns_;
  std::unique_ptr<AgentServiceImpl> agent_service_;
  std::unique_ptr<OrchestratorServiceImpl> api_service_;
  std::unique_ptr<ForecastFeedImpl> feed_service_;
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<Dashboard> dashboard_;  // before the feed's tap that fills it
  std::unique_ptr<DashboardServer> dashboard_server_;
  std::unique_ptr<httplib::Server> http_;
  std::thread http_thread_;
  std::thread geoip_thread_;
  std::mutex geoip_mu_;  // only for geoip_cv_: wakes the watcher at Stop
  std::condition_variable geoip_cv_;
  InstanceObserver observer_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;
};

}  // namespace prewarm::orchestrator
