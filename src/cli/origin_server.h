// The local origin of `prewarm up`: an HTTP server over a directory of content, and the
// sample content it starts with. Agents preload from it; DNS answers name it (on the
// services' port) when no instance can serve.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/net.h"
#include "common/status.h"

namespace httplib {
class Server;
}

namespace prewarm::cli {

class OriginServer {
 public:
  // Serves `root` on every address of `listen`.
  OriginServer(std::vector<HostPort> listen, std::string root);
  ~OriginServer();
  absl::Status Start();
  void Stop();
  const std::string& root() const { return root_; }

 private:
  std::vector<HostPort> listen_;
  std::string root_;
  std::vector<std::unique_ptr<httplib::Server>> servers_;
  std::vector<std::thread> threads_;
};

// Writes index.html, hello.txt and a small HLS-like video/ tree into `dir`.
absl::Status WriteSampleContent(const std::string& dir);

}  // namespace prewarm::cli
