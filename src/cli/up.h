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
// `prewarm orchestrator|agent|forecaster --check --config F`: loads and validates the
// file as the daemon would at start, prints "F: ok" or the error, and exits 0 or 1
// without starting anything (as `nginx -t` does; for packaging and config management).
int CheckConfig(const std::string& daemon, const std::string& config_path);

}  // namespace prewarm::cli
