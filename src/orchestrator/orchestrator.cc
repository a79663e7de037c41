#include "orchestrator/orchestrator.h"

#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <pthread.h>

#include <chrono>

#include "common/logging.h"
#include "dns/server.h"
#include "dns/zone.h"
#include "fmt/format.h"
#include "orchestrator/grpc_services.h"
#include "orchestrator/resolver.h"

namespace prewarm::orchestrator {
namespace {

const char* RcodeName(size_t rcode) {
  static const char* kNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                 "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                 "NXRRSET", "NOTAUTH", "NOTZONE"};
  if (rcode < std::size(kNames)) return kNames[rcode];
  if (rcode == 16) return "BADVERS";
  return "OTHER";
}

dns::ZoneConfig MakeZone(const OrchestratorConfig& c) {
  dns::ZoneConfig z;
  z.origin = c.zone;
  z.soa.mname = c.nameservers.front().name;
  z.soa.rname = "hostmaster." + c.zone;
  z.soa.minimum = c.short_ttl_s;
  z.soa.serial = static_cast<uint32_t>(std::time(nullptr));
  for (const auto& ns : c.nameservers) z.ns.push_back(dns::NsRecord{ns.name, ns.glue});
  return z;
}

}  // namespace

Orchestrator::Orchestrator(OrchestratorConfig config, const Clock& clock)
    : config_(std::move(config)), clock_(clock) {
  state_ = std::make_unique<ClusterState>(config_, clock_, snapshots_);
  events_ = std::make_unique<EventFeed>(config_, clock_);
  events_->SetServiceTimes(&service_times_);
  state_->SetServiceTimes(&service_times_);
  prefetch_ = std::make_unique<PrefetchBook>(config_, clock_);
  resolver_ =
      std::make_unique<OrchestratorResolver>(config_, snapshots_, *state_, clock_, events_.get());
}

Orchestrator::~Orchestrator() { Stop(); }

absl::Status Orchestrator::StartDns() {
  ASSIGN_OR_RETURN(authority_, dns::Authority::Create(MakeZone(config_), *resolver_));
  dns::ServerOptions opts;
  opts.listen = config_.dns_listen;
  opts.udp_threads = config_.dns_udp_threads;
  opts.tcp = config_.dns_tcp;
  dns_ = std::make_unique<dns::DnsServer>(opts, *authority_);
  return dns_->Start();
}

absl::Status Orchestrator::StartGrpc() {
  agent_service_ = std::make_unique<AgentServiceImpl>(*state_);
  api_service_ = std::make_unique<OrchestratorServiceImpl>(*state_, *prefetch_);
  feed_service_ = std::make_unique<ForecastFeedImpl>(*events_);
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(config_.grpc_listen.ToString(), grpc::InsecureServerCredentials(),
                           &bound_port);
  builder.RegisterService(agent_service_.get());
  builder.RegisterService(api_service_.get());
  builder.RegisterService(feed_service_.get());
  grpc_ = builder.BuildAndStart();
  if (!grpc_ || bound_port == 0) {
    return absl::UnavailableError(
        fmt::format("cannot listen for gRPC on {}", config_.grpc_listen.ToString()));
  }
  return absl::OkStatus();
}

absl::Status Orchestrator::StartHttp() {
  http_ = std::make_unique<httplib::Server>();
  http_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(fmt::format("ok nodes={}\n", state_->ConnectedNodes()), "text/plain");
  });
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(RenderMetrics(), "text/plain; version=0.0.4");
  });
  const HostPort& hp = config_.http_listen;
  if (!http_->bind_to_port(hp.addr.ToString().c_str(), hp.port)) {
    return absl::UnavailableError(fmt::format("cannot listen for HTTP on {}", hp.ToString()));
  }
  http_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "orch-http");
    http_->listen_after_bind();
  });
  return absl::OkStatus();
}

absl::Status Orchestrator::Start() {
  RETURN_IF_ERROR(StartGrpc());
  RETURN_IF_ERROR(StartDns());
  RETURN_IF_ERROR(StartHttp());
  events_->StartThread();
  tick_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "orch-tick");
    while (!stopping_.load()) {
      state_->Tick(prefetch_->Active());
      for (int i = 0; i < 10 && !stopping_.load(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  });
  started_ = true;
  spdlog::info("orchestrator: DNS {} (udp x{}{}), gRPC {}, HTTP {} (/metrics, /healthz), zone {}",
               config_.dns_listen.ToString(), config_.dns_udp_threads,
               config_.dns_tcp ? " + tcp" : "", config_.grpc_listen.ToString(),
               config_.http_listen.ToString(), config_.zone);
  return absl::OkStatus();
}

void Orchestrator::Stop() {
  if (stopping_.exchange(true)) return;
  if (tick_thread_.joinable()) tick_thread_.join();
  if (events_) events_->Stop();
  if (dns_) dns_->Stop();
  if (http_) http_->stop();
  if (http_thread_.joinable()) http_thread_.join();
  if (grpc_) grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

template <typename Add>
void Orchestrator::RenderPrefetch(std::string& out, Add&& add) const {
  auto entries = prefetch_->List();
  add("prewarm_prefetch_target", "gauge", "Latest forecaster target per region and template.");
  for (const auto& e : entries) {
    const auto& r = e.request();
    out += fmt::format("prewarm_prefetch_target{{region=\"{}\",template=\"{}\"}} {}\n", r.region(),
                       r.template_name(), r.target_concurrency());
  }
  add("prewarm_prefetch_quantile", "gauge", "Forecast quantile the target was taken at.");
  for (const auto& e : entries) {
    const auto& r = e.request();
    out += fmt::format("prewarm_prefetch_quantile{{region=\"{}\",template=\"{}\"}} {}\n",
                       r.region(), r.template_name(), r.quantile());
  }
  add("prewarm_prefetch_window_start_seconds", "gauge", "Start of the latest prefetch window.");
  for (const auto& e : entries) {
    const auto& r = e.request();
    out += fmt::format("prewarm_prefetch_window_start_seconds{{region=\"{}\",template=\"{}\"}} {}\n",
                       r.region(), r.template_name(), r.window_start_unix_ms() / 1000);
  }
}

std::string Orchestrator::RenderMetrics() const {
  std::string out;
  auto add = [&out](std::string_view help_name, std::string_view type, std::string_view help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", help_name, help, help_name, type);
  };
  if (authority_) {
    dns::StatsSnapshot s = authority_->stats().Snapshot();
    add("prewarm_dns_responses_total", "counter", "DNS responses sent, by rcode.");
    for (size_t r = 0; r < s.responses_by_rcode.size(); ++r) {
      if (s.responses_by_rcode[r] == 0 && r > 5 && r != 16) continue;
      out += fmt::format("prewarm_dns_responses_total{{rcode=\"{}\"}} {}\n", RcodeName(r),
                         s.responses_by_rcode[r]);
    }
    add("prewarm_dns_queries_total", "counter", "DNS queries received, by transport.");
    out += fmt::format("prewarm_dns_queries_total{{transport=\"udp\"}} {}\n", s.queries_udp);
    out += fmt::format("prewarm_dns_queries_total{{transport=\"tcp\"}} {}\n", s.queries_tcp);
    add("prewarm_dns_truncated_total", "counter", "UDP responses sent with TC=1.");
    out += fmt::format("prewarm_dns_truncated_total {}\n", s.truncated);
    add("prewarm_dns_dropped_total", "counter", "Inputs answered with nothing.");
    out += fmt::format("prewarm_dns_dropped_total {}\n", s.dropped);
    add("prewarm_dns_ecs_queries_total", "counter", "Queries with EDNS Client Subnet.");
    out += fmt::format("prewarm_dns_ecs_queries_total {}\n", s.ecs_seen);
  }
  const ResolverCounters& c = resolver_->counters();
  add("prewarm_service_answers_total", "counter", "Service answers by what they pointed at.");
  out += fmt::format("prewarm_service_answers_total{{kind=\"ready\"}} {}\n", c.ready.load());
  out += fmt::format("prewarm_service_answers_total{{kind=\"starting\"}} {}\n", c.starting.load());
  out += fmt::format("prewarm_service_answers_total{{kind=\"cold\"}} {}\n", c.cold.load());
  out += fmt::format("prewarm_service_answers_total{{kind=\"remote\"}} {}\n", c.remote.load());
  out += fmt::format("prewarm_service_answers_total{{kind=\"origin\"}} {}\n", c.origin.load());
  add("prewarm_cold_path_answers_total", "counter", "Answers that reserved a new instance.");
  out += fmt::format("prewarm_cold_path_answers_total {}\n", c.cold.load());
  add("prewarm_instances", "gauge", "Instances known to the orchestrator, by state.");
  auto by_state = state_->InstancesByState();
  for (auto s : {v1::INSTANCE_STATE_RESERVED, v1::INSTANCE_STATE_STARTING,
                 v1::INSTANCE_STATE_READY, v1::INSTANCE_STATE_DRAINING}) {
    out += fmt::format("prewarm_instances{{state=\"{}\"}} {}\n", StateName(s), by_state[s]);
  }
  add("prewarm_nodes", "gauge", "Agents connected.");
  out += fmt::format("prewarm_nodes {}\n", state_->ConnectedNodes());
  StateCounters sc = state_->counters();
  ReconcilerCounters rc = state_->reconciler_counters();
  add("prewarm_reconciler_decisions_total", "counter",
      "Reconciler decisions by kind and reason (cold-path reservations are kind=reserve).");
  out += fmt::format("prewarm_reconciler_decisions_total{{kind=\"reserve\",reason=\"cold\"}} {}\n",
                     sc.reservations);
  for (int r = 0; r < static_cast<int>(ScaleReason::kCount); ++r) {
    if (r == static_cast<int>(ScaleReason::kIdle)) continue;
    out += fmt::format("prewarm_reconciler_decisions_total{{kind=\"create\",reason=\"{}\"}} {}\n",
                       ScaleReasonName(static_cast<ScaleReason>(r)), rc.creates[r]);
  }
  out += fmt::format("prewarm_reconciler_decisions_total{{kind=\"drain\",reason=\"idle\"}} {}\n", sc.drains);
  out += fmt::format("prewarm_reconciler_decisions_total{{kind=\"destroy\",reason=\"idle\"}} {}\n",
                     sc.destroys);
  add("prewarm_reconciler_panics_total", "counter", "Times a key entered panic mode.");
  out += fmt::format("prewarm_reconciler_panics_total {}\n", rc.panics);
  add("prewarm_reconciler_unplaceable_total", "counter", "Instances wanted that no node could take.");
  out += fmt::format("prewarm_reconciler_unplaceable_total {}\n", rc.unplaceable);
  add("prewarm_template_start_seconds", "gauge", "Measured start time (reserve to ready), EWMA.");
  for (const auto& [t, ms] : state_->StartTimesMs()) {
    out += fmt::format("prewarm_template_start_seconds{{template=\"{}\"}} {:.3f}\n", t, ms / 1000.0);
  }
  add("prewarm_template_service_seconds", "gauge",
      "Mean service time per template sent to forecasters: open connection-seconds per answer, "
      "measured (EWMA over 60 s windows), else configured.");
  {
    auto measured = service_times_.All();
    for (const auto& [t, info] : config_.templates) {
      auto m = measured.find(t);
      out += fmt::format("prewarm_template_service_seconds{{template=\"{}\",source=\"{}\"}} {:.4f}\n", t,
                         m == measured.end() ? "configured" : "measured",
                         m == measured.end() ? info.service_time_s : m->second);
    }
  }
  add("prewarm_instance_start_failures_total", "counter", "Instances an agent failed to start.");
  out += fmt::format("prewarm_instance_start_failures_total {}\n", sc.start_failures);
  add("prewarm_nodes_expired_total", "counter", "Nodes removed after their lease expired.");
  out += fmt::format("prewarm_nodes_expired_total {}\n", sc.nodes_expired);
  add("prewarm_request_events_total", "counter", "Service answers counted for the forecaster.");
  out += fmt::format("prewarm_request_events_total {}\n", events_->events_total());
  add("prewarm_forecasters", "gauge", "Forecasters subscribed to the request events.");
  out += fmt::format("prewarm_forecasters {}\n", events_->subscribers());
  RenderPrefetch(out, add);
  return out;
}

}  // namespace prewarm::orchestrator
