#include "cli/up_config.h"

#include "cli/up.h"
#include "common/logging.h"
#include "fmt/format.h"

namespace prewarm::cli {
namespace {

absl::StatusOr<HostPort> ReadHostPort(const YamlReader& r, std::string_view key) {
  ASSIGN_OR_RETURN(std::string text, r.String(key));
  auto hp = HostPort::Parse(text);
  if (!hp.ok()) return r.Error(key, std::string(hp.status().message()));
  return *hp;
}

absl::Status ParseOrigin(const YamlReader& r, UpConfig& c) {
  c.origin_listen = *HostPort::Parse("127.0.0.1:8400");
  ASSIGN_OR_RETURN(auto origin, r.Map("origin_server"));
  if (!origin) return absl::OkStatus();
  RETURN_IF_ERROR(origin->CheckKnown({"listen", "fallback", "root"}));
  if (origin->Has("listen")) {
    ASSIGN_OR_RETURN(c.origin_listen, ReadHostPort(*origin, "listen"));
  }
  if (origin->Has("fallback")) {
    ASSIGN_OR_RETURN(c.origin_fallback, ReadHostPort(*origin, "fallback"));
  }
  ASSIGN_OR_RETURN(c.origin_root, origin->String("root", ""));
  return absl::OkStatus();
}

absl::StatusOr<UpCluster> ParseCluster(const YamlReader& k) {
  RETURN_IF_ERROR(k.CheckKnown({"certs", "etcd", "replicas"}));
  UpCluster c;
  ASSIGN_OR_RETURN(c.certs_dir, k.String("certs", ""));
  ASSIGN_OR_RETURN(auto etcd, k.Map("etcd"));
  if (!etcd) return k.Error("etcd", "is required: the members to start");
  RETURN_IF_ERROR(
      etcd->CheckKnown({"members", "client_port", "peer_port", "heartbeat_ms", "election_ms"}));
  ASSIGN_OR_RETURN(c.etcd_members, etcd->StringList("members", std::nullopt));
  for (const auto& m : c.etcd_members) {
    auto ip = IpAddr::Parse(m);
    if (!ip.ok() || !ip->is_loopback())
      return etcd->Error("members", fmt::format("'{}' is not a loopback address", m));
  }
  if (c.etcd_members.size() % 2 == 0)
    return etcd->Error("members", "an odd number of members, for a quorum");
  ASSIGN_OR_RETURN(int64_t client, etcd->Int("client_port", 2379, 1, 65535));
  ASSIGN_OR_RETURN(int64_t peer, etcd->Int("peer_port", 2380, 1, 65535));
  c.etcd_client_port = static_cast<uint16_t>(client);
  c.etcd_peer_port = static_cast<uint16_t>(peer);
  ASSIGN_OR_RETURN(c.heartbeat_ms, etcd->Int("heartbeat_ms", 50, 10, 10'000));
  ASSIGN_OR_RETURN(c.election_ms, etcd->Int("election_ms", 500, 50, 60'000));
  ASSIGN_OR_RETURN(auto replicas, k.MapList("replicas"));
  if (replicas.empty()) return k.Error("replicas", "at least one replica is required");
  for (const YamlReader& r : replicas) {
    RETURN_IF_ERROR(r.CheckKnown({"id", "dns", "grpc", "http"}));
    UpReplica rep;
    ASSIGN_OR_RETURN(rep.id, r.String("id"));
    ASSIGN_OR_RETURN(rep.dns, ReadHostPort(r, "dns"));
    ASSIGN_OR_RETURN(rep.grpc, ReadHostPort(r, "grpc"));
    ASSIGN_OR_RETURN(rep.http, ReadHostPort(r, "http"));
    c.replicas.push_back(std::move(rep));
  }
  return c;
}

// Every daemon `up` runs serves HTTP on its own address.
absl::Status CheckHttpPorts(const YamlReader& r, const UpConfig& c) {
  std::vector<std::pair<std::string, HostPort>> all;
  if (c.cluster) {
    for (const UpReplica& rep : c.cluster->replicas) all.push_back({"replica " + rep.id, rep.http});
  } else {
    all.push_back({"orchestrator", c.orchestrator.http_listen});
  }
  if (c.forecaster) all.push_back({"forecaster", c.forecaster->http_listen});
  for (const auto& a : c.agents) all.push_back({"agent " + a.node_id, a.http_listen});
  for (size_t i = 0; i < all.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (all[i].second.ToString() == all[j].second.ToString()) {
        return r.Error("agents", fmt::format("{} and {} both serve HTTP on {}: give each its own "
                                             "http.listen",
                                             all[j].first, all[i].first, all[i].second.ToString()));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<UpConfig> ParseUpConfig(const YamlReader& r) {
  RETURN_IF_ERROR(r.CheckKnown({"log_level", "origin_server", "cluster", "templates",
                                "orchestrator", "forecaster", "agent_defaults", "agents"}));
  UpConfig c;
  ASSIGN_OR_RETURN(c.log_level, r.Choice("log_level", "info", kLogLevels));
  RETURN_IF_ERROR(ParseOrigin(r, c));
  ASSIGN_OR_RETURN(auto cluster, r.Map("cluster"));
  if (cluster) {
    ASSIGN_OR_RETURN(c.cluster, ParseCluster(*cluster));
  }
  // Each template defined once (common/template_file.h), for every daemon below.
  ASSIGN_OR_RETURN(std::vector<YamlReader> templates, r.MapList("templates"));
  ASSIGN_OR_RETURN(auto orch, r.Map("orchestrator"));
  if (!orch) return r.Error("orchestrator", "is required");
  ASSIGN_OR_RETURN(c.orchestrator, orchestrator::ParseOrchestratorConfig(*orch, templates));
  ASSIGN_OR_RETURN(auto fc, r.Map("forecaster"));
  if (fc) {
    ASSIGN_OR_RETURN(c.forecaster, forecast::ParseForecasterConfig(*fc, templates));
  }
  ASSIGN_OR_RETURN(auto defaults, r.Map("agent_defaults"));
  ASSIGN_OR_RETURN(auto agents, r.MapList("agents"));
  if (agents.empty()) return r.Error("agents", "at least one agent is required");
  for (const YamlReader& a : agents) {
    YamlReader merged = defaults ? a.WithDefaults(*defaults) : a;
    ASSIGN_OR_RETURN(agent::AgentConfig ac, agent::ParseAgentConfig(merged, templates));
    // Agents on one machine: each its own /metrics port unless the config names one.
    if (!merged.Has("http")) {
      ac.http_listen.port = static_cast<uint16_t>(ac.http_listen.port + c.agents.size());
    }
    c.agents.push_back(std::move(ac));
  }
  RETURN_IF_ERROR(CheckHttpPorts(r, c));
  return c;
}

absl::StatusOr<UpConfig> LoadUpConfig(const std::string& path, bool cluster) {
  if (path.empty()) {
    const char* text = cluster ? kEmbeddedUpClusterConfig : kEmbeddedUpConfig;
    ASSIGN_OR_RETURN(YamlReader r,
                     YamlReader::FromString(
                         text, cluster ? "<embedded up-cluster.yaml>" : "<embedded up.yaml>"));
    return ParseUpConfig(r);
  }
  ASSIGN_OR_RETURN(YamlReader r, YamlReader::FromFile(path));
  return ParseUpConfig(r);
}

}  // namespace prewarm::cli
