// Builds and runs the daemons from their configs. Shared by `prewarm orchestrator`,
// `prewarm agent` and `prewarm up`, so every entry point wires the same parts.
#pragma once

#include <memory>
#include <string>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/session.h"
#include "common/process.h"

namespace prewarm::cli {

// An agent with its runtime, origin client, prober and orchestrator session.
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
  bool started_ = false;
};

// Blocks SIGINT/SIGTERM in every thread created afterwards; call first thing in main.
void BlockTerminationSignals();
// Waits for SIGINT or SIGTERM; returns its number.
int WaitForTerminationSignal();

}  // namespace prewarm::cli
