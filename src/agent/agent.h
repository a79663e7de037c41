// The per-node agent: starts, preloads, probes, supervises and stops instances on
// orders from the orchestrator, and reports their state.
//
// Threads: "agent-loop" owns every instance record and is the only one to change them;
// it is fed by a command/event queue. Each instance start runs on its own short-lived
// worker (Create -> preload -> Start -> readiness probe), which posts its result back.
// "agent-health" probes ready instances and posts failures. The gRPC session
// (session.h) posts commands and carries the status the loop publishes.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "agent/config.h"
#include "agent/origin.h"
#include "agent/runtime.h"
#include "common/clock.h"
#include "prewarm/v1/agent.pb.h"

namespace prewarm::agent {

using StatusSink = std::function<void(const v1::NodeStatus&)>;

// A template as this node runs it: the runtime's spec plus content every instance gets.
struct AgentTemplate {
  TemplateSpec spec;
  std::vector<std::string> preload;
};

struct ProbeTarget {
  std::string id;
  IpAddr address;
  std::string path;
};

class Agent {
 public:
  Agent(AgentConfig config, std::map<std::string, AgentTemplate> templates, Runtime& runtime,
        Origin& origin, Prober& prober, const Clock& clock);
  ~Agent();

  // Cleans up leftovers of a previous run, binds standby sockets, starts the threads.
  absl::Status Start();
  // Destroys every instance (nothing outlives the agent) and joins the threads.
  void Stop();

  // Thread-safe: queue a command from the orchestrator.
  void Post(const v1::OrchestratorCommand& cmd);
  // Receives every status the loop publishes (on change and every heartbeat).
  void SetStatusSink(StatusSink sink);
  v1::Register MakeRegister() const;
  // The latest published status (thread-safe copy).
  v1::NodeStatus LastStatus() const;
  const AgentConfig& config() const { return config_; }

 private:
  struct Instance {
    std::string id;
    std::string tmpl;
    IpAddr address;
    v1::InstanceState state = v1::INSTANCE_STATE_RESERVED;
    std::string detail;
    ScopedFd listen_fd;
    std::unique_ptr<RuntimeInstance> runtime;
    int64_t created_ms = 0;
    int64_t start_ms = 0;  // create -> ready
    bool destroy_requested = false;
    bool probe_ok = false;
    int probe_failures = 0;
    uint64_t memory_bytes = 0;
  };
  struct StartResult {
    std::string id;
    absl::Status status;
    std::unique_ptr<RuntimeInstance> runtime;
  };
  struct ProbeResult {
    std::string id;
    bool ok;
  };
  using Event = std::variant<v1::OrchestratorCommand, StartResult, ProbeResult>;

  void Loop();
  void HealthLoop();
  void Handle(v1::OrchestratorCommand cmd);
  void Handle(StartResult r);
  void Handle(ProbeResult r);
  void OnCreate(const v1::CreateInstance& c);
  void OnDestroy(const std::string& id, const std::string& reason);
  void OnPreload(const v1::PreloadContent& p);
  void RunStart(const std::string& id, InstanceSpec spec, int fd, std::vector<std::string> content);
  absl::Status Preload(RuntimeInstance& rt, const std::vector<std::string>& content);
  void CheckExits();
  void Finish(Instance& inst, v1::InstanceState final_state, const std::string& detail);
  void RefillStandby();
  absl::StatusOr<ScopedFd> TakeSocket(const IpAddr& addr);
  void Publish();
  void PostEvent(Event e);

  const AgentConfig config_;
  const std::map<std::string, AgentTemplate> templates_;
  Runtime& runtime_;
  Origin& origin_;
  Prober& prober_;
  const Clock& clock_;

  // Queue shared with producers.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> queue_;
  bool stopping_ = false;
  StatusSink sink_;
  v1::NodeStatus last_status_;
  std::vector<ProbeTarget> ready_for_probe_;  // for the health thread

  // Owned by the loop thread only.
  std::map<std::string, Instance> instances_;
  std::map<IpAddr, ScopedFd> standby_;
  std::map<IpAddr, int64_t> quarantine_until_;
  std::vector<v1::InstanceStatus> finished_;  // reported once, then forgotten
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Worker> workers_;
  int64_t last_publish_ms_ = 0;

  std::thread loop_;
  std::thread health_;
};

// Counts ESTABLISHED TCP connections per local address on `port` (from /proc/net/tcp).
std::map<IpAddr, uint32_t> CountEstablished(uint16_t port);

}  // namespace prewarm::agent
