// Builds and runs the daemons from their configs. Shared by `prewarm orchestrator`,
// `prewarm agent` and `prewarm up`, so every entry point wires the same parts.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/session.h"
#include "common/metrics_server.h"
#include "common/process.h"
#include "common/yaml_reader.h"

namespace prewarm::cli {

// A started /metrics server (MetricsServer) on `listen`.
absl::StatusOr<std::unique_ptr<MetricsServer>> ServeMetrics(const HostPort& listen,
                                                            std::string name,
                                                            MetricsServer::Render render);

// An agent with its runtime, origin client, prober, orchestrator session and /metrics
// server (http.listen).
class AgentProcess {
 public:
  static absl::StatusOr<std::unique_ptr<AgentProcess>> Create(agent::AgentConfig config);
  ~AgentProcess();
  absl::Status Start();
  void Stop();
  agent::Agent& agent() { return *agent_; }

 private:
  AgentProcess() = default;
  RealProcessRunner runner_;
  std::unique_ptr<agent::Runtime> runtime_;
  std::unique_ptr<agent::Origin> origin_;
  std::unique_ptr<agent::Prober> prober_;
  std::unique_ptr<agent::Agent> agent_;
  std::unique_ptr<agent::OrchestratorSession> session_;
  std::unique_ptr<MetricsServer> metrics_;
  bool started_ = false;
};

// Blocks SIGINT, SIGTERM and SIGHUP in every thread created afterwards (children start
// with none blocked); call first thing in main.
void BlockTerminationSignals();
// Waits for SIGINT or SIGTERM; returns its number. Each SIGHUP meanwhile runs `on_hangup`
// (when given) and the wait goes on: a hangup never stops a daemon.
int WaitForTerminationSignal(const std::function<void()>& on_hangup = nullptr);

// What SIGHUP does for a daemon run from one config file. It re-reads the file and
// validates all of it as the daemon does at start; if it is valid it applies `log_level`,
// and it logs every other top-level field that differs from the file the daemon started
// with: those are read only at start, so a restart applies them. An invalid file changes
// nothing and is logged with its error.
class ConfigReload {
 public:
  // Parses the whole file as the daemon does and returns its log_level.
  using Validate = std::function<absl::StatusOr<std::string>(const std::string& path)>;
  // `path` empty: the daemon runs on an embedded config, and there is nothing to re-read.
  ConfigReload(std::string path, Validate validate);
  void operator()();

 private:
  std::string path_;
  Validate validate_;
  std::optional<YamlReader> started_with_;
};

}  // namespace prewarm::cli
