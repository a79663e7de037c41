// The config of `prewarm up` (examples/up.yaml, examples/up-cluster.yaml): an origin, the
// orchestrator settings, the forecaster, the agents, and for --cluster the etcd members
// and the orchestrator replicas. Internal to src/cli.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/config.h"
#include "common/net.h"
#include "common/yaml_reader.h"
#include "forecast/service/config.h"
#include "orchestrator/config.h"

namespace prewarm::cli {

struct UpReplica {
  std::string id;
  HostPort dns;
  HostPort grpc;
  HostPort http;
};

// `cluster:` of up-cluster.yaml.
struct UpCluster {
  std::string certs_dir;  // empty: a temporary one
  std::vector<std::string> etcd_members;
  uint16_t etcd_client_port = 2379;
  uint16_t etcd_peer_port = 2380;
  int64_t heartbeat_ms = 50;
  int64_t election_ms = 500;
  std::vector<UpReplica> replicas;
};

struct UpConfig {
  std::string log_level;
  HostPort origin_listen;
  std::optional<HostPort> origin_fallback;
  std::string origin_root;
  orchestrator::OrchestratorConfig orchestrator;
  std::vector<agent::AgentConfig> agents;
  std::optional<forecast::ForecasterConfig> forecaster;
  std::optional<UpCluster> cluster;
};

// `path` empty: the embedded config (examples/up.yaml, or up-cluster.yaml for `cluster`).
absl::StatusOr<UpConfig> LoadUpConfig(const std::string& path, bool cluster);
absl::StatusOr<UpConfig> ParseUpConfig(const YamlReader& r);

// The embedded default of `prewarm up --cluster` (examples/up-cluster.yaml).
extern const char* const kEmbeddedUpClusterConfig;

}  // namespace prewarm::cli
