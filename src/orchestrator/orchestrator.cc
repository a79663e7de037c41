#include "orchestrator/orchestrator.h"

#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <pthread.h>

#include <chrono>

#include "common/logging.h"
#include "common/metrics.h"
#include "dns/server.h"
#include "dns/zone.h"
#include "fmt/format.h"
#include "geo/mmdb.h"
#include "orchestrator/dashboard_http.h"
#include "orchestrator/grpc_services.h"
#include "orchestrator/resolver.h"
#include "prewarm/v1/state_name.h"
#include "security/tls.h"
#include "store/etcd_kv.h"
#include "store/memory_kv.h"

namespace prewarm::orchestrator {
namespace {

const char* RcodeName(size_t rcode) {
  static const char* kNames[] = {"NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
                                 "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE"};
  if (rcode < std::size(kNames)) return kNames[rcode];
  if (rcode == 16) return "BADVERS";
  if (rcode == 23) return "BADCOOKIE";
  return "OTHER";
}

constexpr size_t kHttpWorkers = 16;

// The config the resolver answers from (the start's, with the reloads applied).
LiveConfig LiveConfigOf(const OrchestratorResolver& resolver) {
  return [r = &resolver] {
    std::shared_ptr<const ResolverView> v = r->view();
    return std::shared_ptr<const OrchestratorConfig>(v, &v->config);
  };
}

}  // namespace

Orchestrator::Orchestrator(OrchestratorConfig config, const Clock& clock, store::KvStore* store)
    : config_(std::move(config)), clock_(clock), store_(store) {
  events_ = std::make_unique<EventFeed>(config_, clock_);
  events_->SetServiceTimes(&service_times_);
  dashboard_ = std::make_unique<Dashboard>(config_);
  events_->SetTap([d = dashboard_.get()](const v1::RequestEventBatch& b) { d->OnBatch(b); });
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
  api_service_->SetLiveConfig(LiveConfigOf(*resolver_));
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
  // Dashboard streams hold a worker each (at most DashboardServer::kMaxStreams); the rest
  // answer scrapes. A client that sends or reads nothing for 5 s is dropped.
  http_->new_task_queue = [] { return new httplib::ThreadPool(kHttpWorkers); };
  http_->set_read_timeout(5, 0);
  http_->set_write_timeout(5, 0);
  http_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(replica_->Health(), "text/plain");
  });
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(RenderMetrics(), "text/plain; version=0.0.4");
  });
  dashboard_server_ =
      std::make_unique<DashboardServer>(*dashboard_, [this] { return ObserveDashboard(); });
  dashboard_server_->Mount(*http_);
  dashboard_server_->Start();
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

absl::Status Orchestrator::OpenGeoDatabase() {
  const GeoIpConfig& g = config_.dns_geoip;
  if (!g.enabled()) return absl::OkStatus();
  auto loc = geo::MmdbLocator::Open(g.database, MakeGeoMapping(config_));
  if (!loc.ok()) {
    return absl::Status(loc.status().code(),
                        fmt::format("dns.geoip.database: {}", loc.status().message()));
  }
  geoip_ = std::move(*loc);
  spdlog::info(
      "dns.geoip: {} ({} country mappings, {} regions by distance{})", g.database,
      g.countries.size(), config_.regions.size(),
      g.reload_check_ms > 0
          ? fmt::format(", reloaded when it changes (checked every {} ms)", g.reload_check_ms)
          : "");
  if (g.reload_check_ms > 0) geoip_thread_ = std::thread([this] { WatchGeoDatabase(); });
  return absl::OkStatus();
}

void Orchestrator::WatchGeoDatabase() {
  pthread_setname_np(pthread_self(), "orch-geoip");
  std::unique_lock lock(geoip_mu_);
  const auto period = std::chrono::milliseconds(config_.dns_geoip.reload_check_ms);
  while (!geoip_cv_.wait_for(lock, period, [this] { return stopping_.load(); })) {
    absl::Status st = geoip_->ReloadIfChanged();
    if (!st.ok()) {
      spdlog::error(
          "dns.geoip: the database changed but was not reloaded; still using the "
          "previous one: {}",
          st.message());
    }
  }
}

absl::Status Orchestrator::ReloadGeoDatabase() {
  if (geoip_ == nullptr) return absl::OkStatus();
  absl::Status st = geoip_->Reload();
  if (st.ok()) {
    spdlog::info("dns.geoip: reloaded {}", geoip_->path());
  } else {
    spdlog::error("dns.geoip: not reloaded; still using the previous database: {}", st.message());
  }
  return st;
}

absl::StatusOr<ReloadPlan> Orchestrator::PlanReload(const OrchestratorConfig& next) const {
  if (resolver_ == nullptr) return absl::FailedPreconditionError("the orchestrator is not started");
  return orchestrator::PlanReload(config_, resolver_->view()->config, next);
}

void Orchestrator::Reload(ReloadPlan& plan) {
  // A template the start did not have is counted for the forecaster, and shown on the
  // dashboard, before the first answer for it.
  for (const auto& [tmpl, info] : plan.config.templates) {
    if (config_.templates.contains(tmpl)) continue;
    dashboard_->AddTemplate(tmpl);
    if (absl::StatusOr<int> slot = events_->AddTemplate(tmpl, info); !slot.ok()) {
      plan.notes.push_back(std::string(slot.status().message()));
    }
  }
  if (!plan.applied.empty()) resolver_->Reload(plan.config);
  std::shared_ptr<const RoutingSnapshot> snap = snapshots_.Load();
  ReloadNotes(plan, [&snap](const std::string& tmpl) -> size_t {
    auto it = snap->instances.find(tmpl);
    return it == snap->instances.end() ? 0 : it->second.size();
  });
}

absl::Status Orchestrator::Start() {
  RETURN_IF_ERROR(CheckOrigin());
  RETURN_IF_ERROR(OpenGeoDatabase());
  RETURN_IF_ERROR(OpenStore());
  ReplicaOptions ro;
  ro.dns_address = config_.dns_listen.ToString();
  replica_ = std::make_unique<Replica>(config_, clock_, *store_, snapshots_, &service_times_, ro);
  if (observer_) replica_->SetObserver(observer_);
  resolver_ = std::make_unique<OrchestratorResolver>(config_, snapshots_, replica_->cold(), clock_,
                                                     events_.get());
  // Each snapshot's answers are precomputed as it is published, off the DNS threads.
  replica_->publisher().SetAfterPublish([r = resolver_.get()] { r->Precompute(); });
  replica_->SetLiveConfig(LiveConfigOf(*resolver_));
  replica_->sessions().SetContentFeed(events_.get());  // before any agent can connect
  RETURN_IF_ERROR(replica_->Start());
  resolver_->SetHistory(replica_->history());
  resolver_->SetGeoDatabase(geoip_.get());
  RETURN_IF_ERROR(StartGrpc());
  RETURN_IF_ERROR(StartDns());
  RETURN_IF_ERROR(StartHttp());
  events_->StartThread();
  started_ = true;
  spdlog::info(
      "orchestrator {}: DNS {} (udp x{}{}), gRPC {} ({}), HTTP {} (/metrics, /healthz, /ui), "
      "zone {}, store {}",
      config_.cluster.replica_id, config_.dns_listen.ToString(), config_.dns_udp_threads,
      config_.dns_tcp ? " + tcp" : "", config_.grpc_listen.ToString(),
      config_.tls.enabled() ? "mutual TLS" : "plaintext, loopback only",
      config_.http_listen.ToString(), config_.zone, store_->Describe());
  return absl::OkStatus();
}

void Orchestrator::Stop() {
  if (stopping_.exchange(true)) return;
  {
    std::lock_guard lock(geoip_mu_);  // the watcher sees stopping_ before it waits again
  }
  geoip_cv_.notify_all();
  if (geoip_thread_.joinable()) geoip_thread_.join();
  if (events_) events_->Stop();
  if (dns_) dns_->Stop();
  if (dashboard_server_) dashboard_server_->Stop();  // ends its streams: stop() waits for them
  if (http_) http_->stop();
  if (http_thread_.joinable()) http_thread_.join();
  if (grpc_) grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (replica_) replica_->Stop();
}

DashboardObservation Orchestrator::ObserveDashboard() const {
  DashboardObservation o;
  o.now_ms = clock_.NowMs();
  o.replica = replica_->id();
  o.leading = replica_->leading();
  o.health = replica_->Health();
  o.nodes = replica_->ListNodes();
  std::shared_ptr<const ClusterData> d = replica_->cache().Data();
  for (const auto& [id, inst] : d->instances) {
    const v1::InstanceRecord& rec = inst->rec;
    const v1::InstanceState s = d->StateOf(rec, o.now_ms);
    o.node_instances[{rec.node_id(), rec.template_name()}].Add(s, 1);
    o.key_instances[{rec.key_region(), rec.template_name()}].Add(s, 1);
  }
  o.windows = replica_->prefetch().Active();
  o.decisions = replica_->control().RecentDecisions();
  const ResolverCounters& c = resolver_->counters();
  o.answers =
      c.ready.load() + c.starting.load() + c.cold.load() + c.remote.load() + c.origin.load();
  o.cold_answers = c.cold.load();
  o.cold_starts = replica_->cold().reservations();
  o.start_failures = replica_->sessions().counters().start_failures;
  return o;
}

void Orchestrator::RenderDns(MetricsText& m) const {
  if (!authority_) return;
  dns::StatsSnapshot s = authority_->stats().Snapshot();
  m.Counter("prewarm_dns_responses_total", "DNS responses sent, by rcode.");
  for (size_t r = 0; r < s.responses_by_rcode.size(); ++r) {
    if (s.responses_by_rcode[r] == 0 && r > 5 && r != 16 && r != 23) continue;
    m.Add(s.responses_by_rcode[r], {{"rcode", RcodeName(r)}});
  }
  m.Counter("prewarm_dns_queries_total", "DNS queries received, by transport.");
  m.Add(s.queries_udp, {{"transport", "udp"}});
  m.Add(s.queries_tcp, {{"transport", "tcp"}});
  m.Counter("prewarm_dns_truncated_total",
            "UDP responses sent with TC=1 because they did not fit.");
  m.Add(s.truncated);
  m.Counter("prewarm_dns_dropped_total", "Inputs answered with nothing.");
  m.Add(s.dropped);
  m.Counter("prewarm_dns_ecs_queries_total", "Queries with EDNS Client Subnet.");
  m.Add(s.ecs_seen);
  m.Counter("prewarm_dns_cookie_queries_total",
            "Queries with a DNS COOKIE option, by what it held (RFC 7873).");
  m.Add(s.cookie_client_only, {{"server_cookie", "none"}});
  m.Add(s.cookie_valid, {{"server_cookie", "valid"}});
  m.Add(s.cookie_invalid, {{"server_cookie", "invalid"}});
  m.Counter("prewarm_dns_rrl_dropped_total",
            "UDP responses not sent: their client network was over dns.rrl.responses_per_s.");
  m.Add(s.rrl_dropped);
  m.Counter("prewarm_dns_rrl_slipped_total",
            "UDP responses over the rate limit sent as TC=1 or BADCOOKIE instead (dns.rrl.slip).");
  m.Add(s.rrl_slipped);
  m.Histogram("prewarm_dns_answer_duration_seconds",
              "Time to compute a DNS answer (parse to written response, socket I/O excluded), "
              "sampled: the first query of each DNS thread, then 1 in 64.");
  m.Add(authority_->answer_time().Snapshot());
}

void Orchestrator::RenderAnswers(MetricsText& m) const {
  const ResolverCounters& c = resolver_->counters();
  m.Counter("prewarm_service_answers_total", "Service answers by what they pointed at.");
  m.Add(c.ready.load(), {{"kind", "ready"}});
  m.Add(c.starting.load(), {{"kind", "starting"}});
  m.Add(c.cold.load(), {{"kind", "cold"}});
  m.Add(c.remote.load(), {{"kind", "remote"}});
  m.Add(c.origin.load(), {{"kind", "origin"}});
  m.Counter("prewarm_cold_path_answers_total", "Answers that reserved a new instance.");
  m.Add(c.cold.load());
  m.Histogram("prewarm_cold_path_duration_seconds",
              "Time the cold path took to answer (re-decide, claim an address in the store, "
              "see it in the watch), by client region, template and outcome: reserved, "
              "existing (an instance appeared meanwhile) or origin (none could be made).");
  for (const auto& [key, h] : replica_->cold().Latencies()) {
    const auto& [region, tmpl, outcome] = key;
    m.Add(h, {{"region", region}, {"template", tmpl}, {"outcome", outcome}});
  }
  m.Counter("prewarm_request_events_total", "Service answers counted for the forecaster.");
  m.Add(events_->events_total());
  m.Counter("prewarm_request_events_capped_total",
            "Service answers not counted: their sender's network had its share of the second.");
  m.Add(events_->capped_total());
  m.Gauge("prewarm_forecasters", "Forecasters subscribed to the request events.");
  m.Add(events_->subscribers());
  if (dashboard_server_) {
    m.Gauge("prewarm_dashboard_streams", "Dashboard event streams (/ui/events) open now.");
    m.Add(dashboard_server_->streams());
  }
}

void Orchestrator::RenderInstances(MetricsText& m) const {
  m.Gauge("prewarm_instances", "Instances in the cluster, by state.");
  auto by_state = replica_->InstancesByState();
  for (auto s : {v1::INSTANCE_STATE_RESERVED, v1::INSTANCE_STATE_STARTING, v1::INSTANCE_STATE_READY,
                 v1::INSTANCE_STATE_DRAINING}) {
    m.Add(by_state[s], {{"state", v1::StateName(s)}});
  }
  m.Gauge("prewarm_template_instances",
          "Instances per template and state, as the agents report them.");
  for (const auto& [key, n] : replica_->InstancesByTemplate()) {
    m.Add(n, {{"template", key.first}, {"state", v1::StateName(key.second)}});
  }
  m.Gauge("prewarm_node_instances", "Instances per node, its region, template and state.");
  for (const auto& [key, n] : replica_->InstancesByNode()) {
    const auto& [node, region, tmpl, state] = key;
    m.Add(
        n,
        {{"node", node}, {"region", region}, {"template", tmpl}, {"state", v1::StateName(state)}});
  }
  m.Gauge("prewarm_nodes", "Agents connected to any replica.");
  m.Add(replica_->ConnectedNodes());
  m.Gauge("prewarm_nodes_held", "Agent streams this replica holds.");
  m.Add(replica_->sessions().connected());
  m.Gauge("prewarm_template_start_seconds", "Measured start time (reserve to ready), EWMA.");
  for (const auto& [t, ms] : replica_->tracker().StartTimesMs()) {
    m.Add(ms / 1000.0, {{"template", t}});
  }
  m.Gauge("prewarm_template_service_seconds",
          "Mean service time per template sent to forecasters: open connection-seconds per "
          "answer, measured (EWMA over 60 s windows), else configured.");
  auto measured = service_times_.All();
  const std::shared_ptr<const ResolverView> view = resolver_->view();  // reloads add templates
  for (const auto& [t, info] : view->config.templates) {
    auto it = measured.find(t);
    const bool have = it != measured.end();
    m.Add(have ? it->second : info.service_time_s,
          {{"template", t}, {"source", have ? "measured" : "configured"}});
  }
  SessionCounters sc = replica_->sessions().counters();
  m.Counter("prewarm_instance_start_failures_total",
            "Instances that failed before they became ready (reported on this replica's "
            "streams).");
  m.Add(sc.start_failures);
  m.Counter("prewarm_instance_crashes_total",
            "Instances that failed after serving: exited or unhealthy (this replica's streams).");
  m.Add(sc.crashes);
  m.Counter("prewarm_preload_pushes_total",
            "PreloadContent commands this replica's streams sent to ready instances whose "
            "content list changed (trending content), by template.");
  for (const auto& [t, n] : sc.preloads_sent) m.Add(n, {{"template", t}});
  m.Counter("prewarm_preload_pushed_ids_total",
            "Content ids those commands asked the instances to fetch (only the ones each "
            "instance was not given yet), by template.");
  for (const auto& [t, n] : sc.preload_ids_sent) m.Add(n, {{"template", t}});
  m.Counter("prewarm_nodes_expired_total",
            "Node records that vanished: their stream ended or their lease expired.");
  m.Add(replica_->tracker().nodes_departed());
}

void Orchestrator::RenderReconciler(MetricsText& m) const {
  ControlCounters cc = replica_->control().counters();
  const ReconcilerCounters& rc = replica_->autoscaler().counters();
  m.Counter("prewarm_reconciler_decisions_total",
            "Reconciler decisions by kind and reason (cold-path reservations are kind=reserve; "
            "kind=preload: a ready instance given a forecast window's new content list).");
  m.Add(replica_->cold().reservations(), {{"kind", "reserve"}, {"reason", "cold"}});
  for (int r = 0; r < static_cast<int>(ScaleReason::kCount); ++r) {
    if (r == static_cast<int>(ScaleReason::kIdle)) continue;
    m.Add(rc.creates[r],
          {{"kind", "create"}, {"reason", ScaleReasonName(static_cast<ScaleReason>(r))}});
  }
  m.Add(cc.drains, {{"kind", "drain"}, {"reason", "idle"}});
  m.Add(cc.destroys, {{"kind", "destroy"}, {"reason", "idle"}});
  m.Add(cc.refreshes, {{"kind", "preload"}, {"reason", "prefetch"}});
  m.Counter("prewarm_reconciler_panics_total", "Times a key entered panic mode.");
  m.Add(rc.panics);
  m.Counter("prewarm_reconciler_unplaceable_total", "Instances wanted that no node could take.");
  m.Add(rc.unplaceable);
  m.Counter("prewarm_reconciler_write_conflicts_total",
            "Leader writes whose compare failed (the record changed first, or the lead was "
            "lost).");
  m.Add(cc.write_conflicts);
}

void Orchestrator::RenderCluster(MetricsText& m) const {
  m.Gauge("prewarm_cluster_leader", "1 while this replica leads (runs the reconciler).");
  m.Add(replica_->leading() ? 1 : 0);
  m.Gauge("prewarm_cluster_store_up", "0 while the cluster store is unreachable from here.");
  m.Add(replica_->presence().degraded() ? 0 : 1);
  m.Gauge("prewarm_cluster_revision", "The store revision this replica's cache reflects.");
  m.Add(replica_->cache().revision());
  m.Counter("prewarm_cluster_elections_won_total", "Times this replica became the leader.");
  m.Add(replica_->presence().elections_won());
  m.Counter("prewarm_cluster_skipped_values_total",
            "Values under the key prefix that did not parse (logged with their key, skipped).");
  m.Add(replica_->cache().skipped_values());
  m.Counter("prewarm_cold_path_claim_conflicts_total",
            "Cold-path claims that lost a race for an address (another claim took it first).");
  m.Add(replica_->cold().claim_conflicts());
}

void Orchestrator::RenderPrefetch(MetricsText& m) const {
  auto entries = replica_->prefetch().List();
  auto key = [](const auto& r) -> MetricLabels {
    return {{"region", r.region()}, {"template", r.template_name()}};
  };
  m.Gauge("prewarm_prefetch_target", "Latest forecaster target per region and template.");
  for (const auto& e : entries) m.Add(e.request().target_concurrency(), key(e.request()));
  m.Gauge("prewarm_prefetch_quantile", "Forecast quantile the target was taken at.");
  for (const auto& e : entries) m.Add(e.request().quantile(), key(e.request()));
  m.Gauge("prewarm_prefetch_window_start_seconds", "Start of the latest prefetch window.");
  for (const auto& e : entries) {
    m.Add(static_cast<double>(e.request().window_start_unix_ms() / 1000), key(e.request()));
  }
}

void Orchestrator::RenderGeo(MetricsText& m) const {
  if (geoip_ == nullptr) return;
  const geo::MmdbCounters& c = geoip_->counters();
  m.Counter("prewarm_geoip_reloads_total",
            "Reloads of dns.geoip.database (SIGHUP or a changed file), by result; a failed "
            "one keeps the previous database.");
  m.Add(c.reloads.load(), {{"result", "ok"}});
  m.Add(c.reload_failures.load(), {{"result", "failed"}});
  m.Counter("prewarm_geoip_lookup_errors_total",
            "Lookups that met a damaged record (the client went to the default region).");
  m.Add(c.lookup_errors.load());
}

std::string Orchestrator::RenderMetrics() const {
  MetricsText m;
  m.BuildInfo();
  RenderDns(m);
  RenderAnswers(m);
  RenderInstances(m);
  RenderReconciler(m);
  RenderCluster(m);
  RenderPrefetch(m);
  RenderGeo(m);
  return m.Render();
}

}  // namespace prewarm::orchestrator
