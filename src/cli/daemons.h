// Builds and runs the daemons from their configs. Shared by `prewarm orchestrator`,
// `prewarm agent` and `prewarm up`, so every entry point wires the same parts.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/runtime/qemu/qemu_runtime.h"
#include "agent/session.h"
#include "common/metrics_server.h"
#include "common/process.h"
#include "common/yaml_reader.h"
#include "orchestrator/orchestrator.h"

namespace prewarm::cli {

// A started /metrics server (MetricsServer) on `listen`.
absl::StatusOr<std::unique_ptr<MetricsServer>> ServeMetrics(const HostPort& listen,
                                                            std::string name,
                                                            MetricsServer::Render render);

// The QEMU runtime's options from an agent config (runtime.kind: qemu).
agent::qemu::QemuOptions QemuOptionsFor(const agent::AgentConfig& config);

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
// validates all of it as the daemon does at start; if it is valid it applies `log_level`
// and whatever else the daemon reloads (the orchestrator: services, networks,
// default_region, ttl), and it logs every other top-level field that differs from the file
// the daemon started with: those are read only at start, so a restart applies them. An
// invalid file, or one the daemon refuses to reload, changes nothing (log_level included)
// and is logged with its error.
class ConfigReload {
 public:
  // What a daemon's reload did, besides applying log_level.
  struct Reloaded {
    std::string log_level;
    std::vector<std::string> changes;      // applied, one phrase each ("services: +api")
    std::vector<std::string> not_applied;  // parts of the reloaded keys left for a restart
    std::vector<std::string> notes;        // what follows from the changes
  };
  // Parses and validates the whole file as the daemon does at start, then applies what
  // the daemon reloads besides log_level, all or nothing: an error changes nothing.
  using Reload = std::function<absl::StatusOr<Reloaded>(const std::string& path)>;
  // A daemon that reloads only log_level: parses the whole file, returns its log_level.
  using Validate = std::function<absl::StatusOr<std::string>(const std::string& path)>;

  // `path` empty: the daemon runs on an embedded config, and there is nothing to re-read.
  ConfigReload(std::string path, Validate validate);
  // `reloaded`: the keys `reload` applies, under the mapping `section` ("": the top
  // level); their changes are not named as needing a restart (log_level never is).
  ConfigReload(std::string path, std::string section, std::vector<std::string> reloaded,
               Reload reload);
  void operator()();

 private:
  // The changed keys that wait for a restart: "key", or "section.key" below `section_`.
  std::vector<std::string> NotReloaded(const YamlReader& now) const;

  std::string path_;
  std::string section_;
  std::vector<std::string> reloaded_;
  Reload reload_;
  std::optional<YamlReader> started_with_;
};

// The orchestrator's part of a SIGHUP (`prewarm orchestrator`, `prewarm up`): every
// replica plans `next` (orchestrator::PlanReload), and only when all of them accept it do
// all apply it; the result speaks for the first replica (they run the same reloaded keys).
absl::StatusOr<ConfigReload::Reloaded> ReloadOrchestrators(
    const std::vector<orchestrator::Orchestrator*>& replicas,
    const orchestrator::OrchestratorConfig& next, std::string log_level);

}  // namespace prewarm::cli
