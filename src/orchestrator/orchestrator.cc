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
#include "prewarm/v1/state_name.h"
#include "security/tls.h"
#include "store/etcd_kv.h"
#include "store/memory_kv.h"

namespace prewarm::orchestrator {
namespace {

// A label value as the Prometheus text format requires: \, " and newline escaped.
std::string LabelValue(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    out += c == '\n' ? std::string("\\n") : std::string(1, c);
  }
  return out;
}

const char* RcodeName(size_t rcode) {
  static const char* kNames[] = {"NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
                                 "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE"};
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

Orchestrator::Orchestrator(OrchestratorConfig config, const Clock& clock, store::KvStore* store)
    : config_(std::move(config)), clock_(clock), store_(store) {
  events_ = std::make_unique<EventFeed>(config_, clock_);
  events_->SetServiceTimes(&service_times_);
}

Orchestrator::~Orchestrator() { Stop(); }

void Orchestrator::SetObserver(InstanceObserver observer) { observer_ = std::move(observer); }

absl::Status Orchestrator::OpenStore() {
  if (store_ != nullptr) return absl::OkStatus();
  const ClusterConfig& c = config_.cluster;
  if (c.store == "memory") {
    owned_store_ = std::make_unique<store::MemoryKv>(clock_);
  } else {
    store::EtcdKvOptions opts;
    opts.endpoints = c.etcd_endpoints;
    opts.request_timeout_ms = c.request_timeout_ms;
    if (c.etcd_tls.enabled()) {
      RETURN_IF_ERROR(security::CheckTlsFiles(c.etcd_tls));
      ASSIGN_OR_RETURN(opts.credentials,
                       security::ChannelCredentials(c.etcd_tls, c.etcd_endpoints.front()));
    } else {
      for (const auto& e : c.etcd_endpoints) {
        auto hp = HostPort::Parse(e);
        if (!hp.ok() || !hp->addr.is_loopback()) {
          return absl::InvalidArgumentError(fmt::format(
              "cluster.store: etcd endpoint {} is not loopback: configure cluster.store.tls", e));
        }
      }
      spdlog::warn(
          "cluster store: plaintext to etcd on loopback ({}); configure "
          "cluster.store.tls for anything else",
          fmt::join(c.etcd_endpoints, ","));
    }
    ASSIGN_OR_RETURN(owned_store_, store::EtcdKv::Create(std::move(opts)));
  }
  store_ = owned_store_.get();
  return absl::OkStatus();
}

absl::Status Orchestrator::StartDns() {
  ASSIGN_OR_RETURN(authority_, dns::Authority::Create(MakeZone(config_), *resolver_));
  dns::ServerOptions opts;
  opts.listen = config_.dns_listen;
  opts.udp_threads = config_.dns_udp_threads;
  opts.tcp = config_.dns_tcp;
  opts.tcp_limits = config_.dns_tcp_limits;
  dns_ = std::make_unique<dns::DnsServer>(opts, *authority_);
  return dns_->Start();
}

absl::Status Orchestrator::StartGrpc() {
  agent_service_ = std::make_unique<AgentServiceImpl>(replica_->sessions());
  api_service_ = std::make_unique<OrchestratorServiceImpl>(*replica_);
  feed_service_ = std::make_unique<ForecastFeedImpl>(*events_);
  if (config_.tls.enabled()) RETURN_IF_ERROR(security::CheckTlsFiles(config_.tls));
  ASSIGN_OR_RETURN(auto creds, security::ServerCredentials(config_.tls, config_.grpc_listen));
  grpc::ServerBuilder builder;
  // Agents ping every 2 s to find a hung replica; allow it. The server pings too, so a
  // stream whose agent vanished without a FIN ends (its lease has expired by then anyway).
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 3000);
  int bound_port = 0;
  builder.AddListeningPort(config_.grpc_listen.ToString(), creds, &bound_port);
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
    res.set_content(replica_->Health(), "text/plain");
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

absl::Status Orchestrator::CheckOrigin() const {
  if (config_.origin_addresses.empty()) {
    return absl::InvalidArgumentError("origin.addresses: at least one address is required");
  }
  if (!config_.origin_check) {
    spdlog::warn("origin: not checked (origin.check: false); answers fall back to {} port {}",
                 config_.origin_addresses.front().ToString(), config_.origin_port);
    return absl::OkStatus();
  }
  std::vector<std::string> refused;
  for (const IpAddr& a : config_.origin_addresses) {
    absl::Status st = ProbeTcp(HostPort{a, config_.origin_port}, 1000);
    if (st.ok()) return absl::OkStatus();
    refused.push_back(fmt::format("{}:{} ({})", a.ToString(), config_.origin_port, st.message()));
  }
  return absl::FailedPreconditionError(fmt::format(
      "origin: no fallback address serves: {}. Answers that fall back to the origin would "
      "point at nothing; fix origin.addresses / origin.port (or set origin.check: false)",
      fmt::join(refused, ", ")));
}

absl::Status Orchestrator::Start() {
  RETURN_IF_ERROR(CheckOrigin());
  RETURN_IF_ERROR(OpenStore());
  ReplicaOptions ro;
  ro.dns_address = config_.dns_listen.ToString();
  replica_ = std::make_unique<Replica>(config_, clock_, *store_, snapshots_, &service_times_, ro);
  if (observer_) replica_->SetObserver(observer_);
  resolver_ = std::make_unique<OrchestratorResolver>(config_, snapshots_, replica_->cold(), clock_,
                                                     events_.get());
  RETURN_IF_ERROR(replica_->Start());
  resolver_->SetHistory(replica_->history());
  RETURN_IF_ERROR(StartGrpc());
  RETURN_IF_ERROR(StartDns());
  RETURN_IF_ERROR(StartHttp());
  events_->StartThread();
  started_ = true;
  spdlog::info(
      "orchestrator {}: DNS {} (udp x{}{}), gRPC {} ({}), HTTP {} (/metrics, /healthz), "
      "zone {}, store {}",
      config_.cluster.replica_id, config_.dns_listen.ToString(), config_.dns_udp_threads,
      config_.dns_tcp ? " + tcp" : "", config_.grpc_listen.ToString(),
      config_.tls.enabled() ? "mutual TLS" : "plaintext, loopback only",
      config_.http_listen.ToString(), config_.zone, store_->Describe());
  return absl::OkStatus();
}

void Orchestrator::Stop() {
  if (stopping_.exchange(true)) return;
  if (events_) events_->Stop();
  if (dns_) dns_->Stop();
  if (http_) http_->stop();
  if (http_thread_.joinable()) http_thread_.join();
  if (grpc_) grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (replica_) replica_->Stop();
}

template <typename Add>
void Orchestrator::RenderPrefetch(std::string& out, Add&& add) const {
  auto entries = replica_->prefetch().List();
  add("prewarm_prefetch_target", "gauge", "Latest forecaster target per region and template.");
  for (const auto& e : entries) {
    const auto& r = e.request();
    out +=
        fmt::format("prewarm_prefetch_target{{region=\"{}\",template=\"{}\"}} {}\n",
                    LabelValue(r.region()), LabelValue(r.template_name()), r.target_concurrency());
  }
  add("prewarm_prefetch_quantile", "gauge", "Forecast quantile the target was taken at.");
  for (const auto& e : entries) {
    const auto& r = e.request();
    out += fmt::format("prewarm_prefetch_quantile{{region=\"{}\",template=\"{}\"}} {}\n",
                       LabelValue(r.region()), LabelValue(r.template_name()), r.quantile());
  }
  add("prewarm_prefetch_window_start_seconds", "gauge", "Start of the latest prefetch window.");
  for (const auto& e : entries) {
    const auto& r = e.request();
    out += fmt::format(
        "prewarm_prefetch_window_start_seconds{{region=\"{}\",template=\"{}\"}} {}\n",
        LabelValue(r.region()), LabelValue(r.template_name()), r.window_start_unix_ms() / 1000);
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
  add("prewarm_instances", "gauge", "Instances in the cluster, by state.");
  auto by_state = replica_->InstancesByState();
  for (auto s : {v1::INSTANCE_STATE_RESERVED, v1::INSTANCE_STATE_STARTING, v1::INSTANCE_STATE_READY,
                 v1::INSTANCE_STATE_DRAINING}) {
    out += fmt::format("prewarm_instances{{state=\"{}\"}} {}\n", v1::StateName(s), by_state[s]);
  }
  add("prewarm_template_instances", "gauge",
      "Instances per template and state, as the agents report them.");
  for (const auto& [key, n] : replica_->InstancesByTemplate()) {
    out += fmt::format("prewarm_template_instances{{template=\"{}\",state=\"{}\"}} {}\n",
                       LabelValue(key.first), v1::StateName(key.second), n);
  }
  add("prewarm_nodes", "gauge", "Agents connected to any replica.");
  out += fmt::format("prewarm_nodes {}\n", replica_->ConnectedNodes());
  add("prewarm_nodes_held", "gauge", "Agent streams this replica holds.");
  out += fmt::format("prewarm_nodes_held {}\n", replica_->sessions().connected());
  SessionCounters sc = replica_->sessions().counters();
  ControlCounters cc = replica_->control().counters();
  const ReconcilerCounters& rc = replica_->autoscaler().counters();
  add("prewarm_reconciler_decisions_total", "counter",
      "Reconciler decisions by kind and reason (cold-path reservations are kind=reserve).");
  out += fmt::format("prewarm_reconciler_decisions_total{{kind=\"reserve\",reason=\"cold\"}} {}\n",
                     replica_->cold().reservations());
  for (int r = 0; r < static_cast<int>(ScaleReason::kCount); ++r) {
    if (r == static_cast<int>(ScaleReason::kIdle)) continue;
    out += fmt::format("prewarm_reconciler_decisions_total{{kind=\"create\",reason=\"{}\"}} {}\n",
                       ScaleReasonName(static_cast<ScaleReason>(r)), rc.creates[r]);
  }
  out += fmt::format("prewarm_reconciler_decisions_total{{kind=\"drain\",reason=\"idle\"}} {}\n",
                     cc.drains);
  out += fmt::format("prewarm_reconciler_decisions_total{{kind=\"destroy\",reason=\"idle\"}} {}\n",
                     cc.destroys);
  add("prewarm_reconciler_panics_total", "counter", "Times a key entered panic mode.");
  out += fmt::format("prewarm_reconciler_panics_total {}\n", rc.panics);
  add("prewarm_reconciler_unplaceable_total", "counter",
      "Instances wanted that no node could take.");
  out += fmt::format("prewarm_reconciler_unplaceable_total {}\n", rc.unplaceable);
  add("prewarm_template_start_seconds", "gauge", "Measured start time (reserve to ready), EWMA.");
  for (const auto& [t, ms] : replica_->tracker().StartTimesMs()) {
    out +=
        fmt::format("prewarm_template_start_seconds{{template=\"{}\"}} {:.3f}\n", t, ms / 1000.0);
  }
  add("prewarm_template_service_seconds", "gauge",
      "Mean service time per template sent to forecasters: open connection-seconds per answer, "
      "measured (EWMA over 60 s windows), else configured.");
  {
    auto measured = service_times_.All();
    for (const auto& [t, info] : config_.templates) {
      auto m = measured.find(t);
      out +=
          fmt::format("prewarm_template_service_seconds{{template=\"{}\",source=\"{}\"}} {:.4f}\n",
                      t, m == measured.end() ? "configured" : "measured",
                      m == measured.end() ? info.service_time_s : m->second);
    }
  }
  add("prewarm_instance_start_failures_total", "counter",
      "Instances that failed before they became ready (reported on this replica's streams).");
  out += fmt::format("prewarm_instance_start_failures_total {}\n", sc.start_failures);
  add("prewarm_instance_crashes_total", "counter",
      "Instances that failed after serving: exited or unhealthy (this replica's streams).");
  out += fmt::format("prewarm_instance_crashes_total {}\n", sc.crashes);
  add("prewarm_nodes_expired_total", "counter",
      "Node records that vanished: their stream ended or their lease expired.");
  out += fmt::format("prewarm_nodes_expired_total {}\n", replica_->tracker().nodes_departed());
  add("prewarm_cluster_leader", "gauge", "1 while this replica leads (runs the reconciler).");
  out += fmt::format("prewarm_cluster_leader {}\n", replica_->leading() ? 1 : 0);
  add("prewarm_cluster_store_up", "gauge", "0 while the cluster store is unreachable from here.");
  out += fmt::format("prewarm_cluster_store_up {}\n", replica_->presence().degraded() ? 0 : 1);
  add("prewarm_cluster_revision", "gauge", "The store revision this replica's cache reflects.");
  out += fmt::format("prewarm_cluster_revision {}\n", replica_->cache().revision());
  add("prewarm_cluster_elections_won_total", "counter", "Times this replica became the leader.");
  out +=
      fmt::format("prewarm_cluster_elections_won_total {}\n", replica_->presence().elections_won());
  add("prewarm_cluster_skipped_values_total", "counter",
      "Values under the key prefix that did not parse (logged with their key, skipped).");
  out +=
      fmt::format("prewarm_cluster_skipped_values_total {}\n", replica_->cache().skipped_values());
  add("prewarm_cold_path_claim_conflicts_total", "counter",
      "Cold-path claims that lost a race for an address (another claim took it first).");
  out += fmt::format("prewarm_cold_path_claim_conflicts_total {}\n",
                     replica_->cold().claim_conflicts());
  add("prewarm_reconciler_write_conflicts_total", "counter",
      "Leader writes whose compare failed (the record changed first, or the lead was lost).");
  out += fmt::format("prewarm_reconciler_write_conflicts_total {}\n", cc.write_conflicts);
  add("prewarm_request_events_total", "counter", "Service answers counted for the forecaster.");
  out += fmt::format("prewarm_request_events_total {}\n", events_->events_total());
  add("prewarm_request_events_capped_total", "counter",
      "Service answers not counted: their sender's network had its share of the second.");
  out += fmt::format("prewarm_request_events_capped_total {}\n", events_->capped_total());
  add("prewarm_forecasters", "gauge", "Forecasters subscribed to the request events.");
  out += fmt::format("prewarm_forecasters {}\n", events_->subscribers());
  RenderPrefetch(out, add);
  return out;
}

}  // namespace prewarm::orchestrator
