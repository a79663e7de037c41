// The agent's side of the AgentService stream: connects, registers, carries status up
// and commands down, and reconnects with exponential backoff (100 ms .. 5 s, jittered)
// whenever the stream drops. Thread: "agent-session".
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agent/agent.h"

namespace grpc {
class ClientContext;
}

namespace prewarm::agent {

class OrchestratorSession {
 public:
  OrchestratorSession(std::string target, Agent& agent);
  ~OrchestratorSession();
  void Start();
  void Stop();
  bool connected() const { return connected_.load(); }

 private:
  void Run();
  void RunOnce();

  const std::string target_;
  Agent& agent_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  std::mutex ctx_mu_;
  grpc::ClientContext* ctx_ = nullptr;  // the live stream's context, for Stop()
  std::thread thread_;
};

}  // namespace prewarm::agent
