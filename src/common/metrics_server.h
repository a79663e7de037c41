// The HTTP endpoint of a daemon that serves only its metrics (the agent, the forecaster):
// GET /metrics answers the text its `render` returns (built with MetricsText), GET
// /healthz answers "ok". The orchestrator serves more on its port (orchestrator.h).
//
// Threads: one named after the daemon ("<name>-http") runs the listener; requests are
// answered on cpp-httplib's pool. A client that sends nothing for 5 s is dropped.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/net.h"
#include "common/status.h"
#include "common/yaml_reader.h"

namespace httplib {
class Server;
}

namespace prewarm {

class MetricsServer {
 public:
  using Render = std::function<std::string()>;
  // `name` names the thread and the errors ("agent fra-1"); `render` is called on the
  // server's pool, once per scrape: it must be thread-safe.
  MetricsServer(HostPort listen, std::string name, Render render);
  ~MetricsServer();

  // Binds `listen` (port 0: any free port, see port()) and starts serving.
  absl::Status Start();
  void Stop();
  // The bound port (after Start).
  uint16_t port() const { return port_; }

 private:
  HostPort listen_;
  std::string name_;
  Render render_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  uint16_t port_ = 0;
};

// The `http: {listen: host:port}` mapping of a daemon's config, as the orchestrator's;
// `fallback` when it is absent. An error names the file and line.
absl::StatusOr<HostPort> ReadHttpListen(const YamlReader& r, std::string_view fallback);

}  // namespace prewarm
