// The Edge Orchestrator daemon as a library: DNS server, gRPC services, HTTP metrics and
// the control loop, started and stopped as one. `prewarm orchestrator` and `prewarm up`
// are thin wrappers around it.
//
// Threads: DNS (one per UDP socket + one TCP, owned by dns::DnsServer), gRPC's pool (one
// handler per connected agent plus a writer thread per agent stream, one per forecaster
// event stream), "orch-tick" (1 Hz Tick: expiry, keep-alive, destroys), "orch-events"
// (cuts request-event batches each second), and the HTTP metrics server's pool.
#pragma once

#include <atomic>
#include <memory>
#include <thread>

#include "common/clock.h"
#include "orchestrator/config.h"
#include "orchestrator/event_feed.h"
#include "orchestrator/prefetch_book.h"
#include "orchestrator/service_time.h"
#include "orchestrator/state.h"

namespace grpc {
class Server;
}
namespace httplib {
class Server;
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

class Orchestrator {
 public:
  Orchestrator(OrchestratorConfig config, const Clock& clock);
  ~Orchestrator();

  absl::Status Start();
  void Stop();

  ClusterState& state() { return *state_; }
  EventFeed& events() { return *events_; }
  PrefetchBook& prefetch() { return *prefetch_; }
  // Prometheus text exposition of every counter and gauge.
  std::string RenderMetrics() const;
  const OrchestratorConfig& config() const { return config_; }

 private:
  absl::Status StartDns();
  absl::Status StartGrpc();
  absl::Status StartHttp();
  template <typename Add>
  void RenderPrefetch(std::string& out, Add&& add) const;

  OrchestratorConfig config_;
  const Clock& clock_;
  SnapshotHolder snapshots_;
  ServiceTimeMeter service_times_;  // before the feed and the state that point at it
  std::unique_ptr<ClusterState> state_;
  std::unique_ptr<EventFeed> events_;
  std::unique_ptr<PrefetchBook> prefetch_;
  std::unique_ptr<OrchestratorResolver> resolver_;
  std::unique_ptr<dns::Authority> authority_;
  std::unique_ptr<dns::DnsServer> dns_;
  std::unique_ptr<AgentServiceImpl> agent_service_;
  std::unique_ptr<OrchestratorServiceImpl> api_service_;
  std::unique_ptr<ForecastFeedImpl> feed_service_;
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<httplib::Server> http_;
  std::thread http_thread_;
  std::thread tick_thread_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;
};

}  // namespace prewarm::orchestrator
