#include "cli/up_cluster.h"

#include <stdlib.h>

#include <filesystem>

#include "common/logging.h"
#include "fmt/format.h"
#include "security/certs.h"
#include "security/cluster_certs.h"

namespace prewarm::cli {
namespace {

security::Member ReplicaMember(const UpReplica& r) {
  security::Member m;
  m.name = r.id;
  m.dns_names = {"localhost"};
  for (const HostPort* hp : {&r.dns, &r.grpc, &r.http}) {
    if (std::find(m.ips.begin(), m.ips.end(), hp->addr) == m.ips.end()) m.ips.push_back(hp->addr);
  }
  return m;
}

// One certificate for every etcd member: etcd presents it on client and peer links, and a
// peer connection from one loopback address to another comes from 127.0.0.1.
security::Member EtcdMember(const UpCluster& c) {
  security::Member m;
  m.name = "etcd";
  m.dns_names = {"localhost"};
  for (const auto& ip : c.etcd_members) m.ips.push_back(*IpAddr::Parse(ip));
  m.ips.push_back(*IpAddr::Parse("127.0.0.1"));
  return m;
}

}  // namespace

security::TlsConfig UpClusterParts::Tls(const std::string& stem) const {
  return {certs_dir_ + "/ca.crt", certs_dir_ + "/" + stem + ".crt",
          certs_dir_ + "/" + stem + ".key"};
}

absl::Status UpClusterParts::MakeCerts(const UpConfig& cfg) {
  const UpCluster& c = *cfg.cluster;
  certs_dir_ = c.certs_dir;
  if (certs_dir_.empty()) {
    char tmpl[] = "/tmp/prewarm-up-certs.XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return ErrnoStatus(errno, "certificate directory");
    certs_dir_ = tmpl;
    temp_certs_ = true;
  } else if (std::filesystem::exists(certs_dir_ + "/ca.crt")) {
    return absl::OkStatus();  // the operator's own certificates
  }
  security::ClusterPlan plan;
  for (const UpReplica& r : c.replicas) plan.orchestrators.push_back(ReplicaMember(r));
  plan.etcd_members = {EtcdMember(c)};
  for (const auto& a : cfg.agents) {
    plan.agents.push_back({security::Role::kAgent, a.node_id, a.address_range});
  }
  ASSIGN_OR_RETURN(auto written, security::InitCertDir(certs_dir_, plan, /*force=*/false));
  spdlog::info("certificates: {} files in {}", written.size(), certs_dir_);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<orchestrator::OrchestratorConfig>> UpClusterParts::Start(UpConfig& cfg) {
  const UpCluster& c = *cfg.cluster;
  RETURN_IF_ERROR(MakeCerts(cfg));
  store::EtcdClusterOptions eo;
  eo.ips = c.etcd_members;
  eo.client_port = c.etcd_client_port;
  eo.peer_port = c.etcd_peer_port;
  eo.heartbeat_ms = c.heartbeat_ms;
  eo.election_ms = c.election_ms;
  security::TlsConfig etcd_tls = Tls("etcd");
  eo.tls = {etcd_tls.ca_file, etcd_tls.cert_file, etcd_tls.key_file};
  etcd_ = std::make_unique<store::EtcdCluster>(eo);
  RETURN_IF_ERROR(etcd_->Start());
  std::vector<std::string> grpc;
  for (const UpReplica& r : c.replicas) grpc.push_back(r.grpc.ToString());
  std::vector<orchestrator::OrchestratorConfig> out;
  for (const UpReplica& r : c.replicas) {
    orchestrator::OrchestratorConfig oc = cfg.orchestrator;
    oc.cluster.replica_id = r.id;
    oc.dns_listen = r.dns;
    oc.grpc_listen = r.grpc;
    oc.http_listen = r.http;
    oc.tls = Tls(r.id);
    oc.cluster.store = "etcd";
    oc.cluster.etcd_endpoints = etcd_->ClientEndpoints();
    oc.cluster.etcd_tls = Tls(r.id);
    out.push_back(std::move(oc));
  }
  if (cfg.forecaster) {
    cfg.forecaster->orchestrators = grpc;
    cfg.forecaster->tls = Tls("forecaster");
  }
  for (size_t i = 0; i < cfg.agents.size(); ++i) {
    auto& a = cfg.agents[i];
    a.orchestrators.clear();
    for (size_t j = 0; j < grpc.size(); ++j) a.orchestrators.push_back(grpc[(i + j) % grpc.size()]);
    a.orchestrator = a.orchestrators.front();
    a.tls = Tls(security::FileStem({security::Role::kAgent, a.node_id, std::nullopt}));
  }
  return out;
}

void UpClusterParts::Stop() {
  if (etcd_) etcd_->Stop();
  etcd_.reset();
  if (temp_certs_) std::filesystem::remove_all(certs_dir_);
  temp_certs_ = false;
}

std::string UpClusterParts::Banner(const UpConfig& cfg) const {
  const auto& oc = cfg.orchestrator;
  std::string out =
      fmt::format("etcd         {} members: {} (TLS, data in {})\n", etcd_ ? etcd_->size() : 0,
                  etcd_ ? fmt::format("{}", fmt::join(etcd_->ClientEndpoints(), ", ")) : "",
                  etcd_ ? etcd_->dir() : "");
  for (const UpReplica& r : cfg.cluster->replicas) {
    out += fmt::format("replica      {}: dns {} udp+tcp, grpc {} (mutual TLS), http://{}/metrics\n",
                       r.id, r.dns.ToString(), r.grpc.ToString(), r.http.ToString());
  }
  const UpReplica& first = cfg.cluster->replicas.front();
  out += fmt::format(
      "zone         {} — try: kdig @{} -p {} static.{} A; kdig @{} -p {} {} NS\n"
      "certs        {} — try: prewarm ctl --certs {} --orchestrator {} nodes\n",
      oc.zone, first.dns.addr.ToString(), first.dns.port, oc.zone, first.dns.addr.ToString(),
      first.dns.port, oc.zone, certs_dir_, certs_dir_, first.grpc.ToString());
  return out;
}

}  // namespace prewarm::cli
