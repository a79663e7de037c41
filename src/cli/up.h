#pragma once

#include <string>

namespace prewarm::cli {

// The embedded default config of `prewarm up` (examples/up.yaml, compiled in).
extern const char* const kEmbeddedUpConfig;

// `prewarm up`: origin + orchestrator + agents in one process until SIGINT/SIGTERM.
// `runtime` non-empty overrides every agent's runtime kind (oci | qemu | fake). `cluster`:
// etcd members and several orchestrator replicas, every link mutual TLS
// (examples/up-cluster.yaml unless `config_path` names another).
int RunUp(const std::string& config_path, const std::string& runtime = "", bool cluster = false);
int RunOrchestrator(const std::string& config_path);
int RunAgent(const std::string& config_path);

}  // namespace prewarm::cli
