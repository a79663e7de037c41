// The agent's side of the AgentService stream. Thread: "agent-session".
//
// Any orchestrator replica can hold a node's stream. The session connects to one endpoint
// of AgentConfig::orchestrators, registers, sends the agent's full status (every instance
// it runs, and final states the previous replica may not have heard), then carries status
// up and commands down. When the stream fails or cannot be opened it moves to the next
// endpoint, round the list, after a jittered exponential backoff (100 ms .. 5 s; back to
// 100 ms after a stream that lived 10 s). Moving never touches an instance. It logs the
// endpoint it is on and why it left the previous one. TLS: AgentConfig::tls.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent.h"

namespace grpc {
class ChannelCredentials;
class ClientContext;
}  // namespace grpc

namespace prewarm::agent {

class OrchestratorSession {
 public:
  // The endpoints of agent.config().orchestrators, in order.
  explicit OrchestratorSession(Agent& agent);
  // Starts at `target`, then the rest of agent.config().orchestrators.
  OrchestratorSession(const std::string& target, Agent& agent);
  ~OrchestratorSession();
  void Start();
  void Stop();
  bool connected() const { return connected_.load(); }
  // The endpoint of the live stream, "" when not connected.
  std::string endpoint() const;

 private:
  struct Stream;
  void Run();
  // One stream to `target`, until it ends; returns why it ended.
  std::string RunOnce(const std::string& target);
  bool Register(Stream& s, const std::string& target);
  void Serve(const std::shared_ptr<Stream>& s, const std::string& target);
  void SleepMs(int ms) const;
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> Credentials(const std::string& target);

  const std::vector<std::string> endpoints_;
  Agent& agent_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  mutable std::mutex ctx_mu_;
  grpc::ClientContext* ctx_ = nullptr;  // the live stream's context, for Stop()
  std::string endpoint_;                // guarded by ctx_mu_
  std::map<std::string, std::shared_ptr<grpc::ChannelCredentials>> credentials_;  // session thread
  // The last stream's end: a replica that refused the registration because another stream
  // still holds the node is alive, and is retried soon, not after a growing backoff.
  bool last_refused_held_ = false;  // session thread
  std::thread thread_;
};

}  // namespace prewarm::agent
