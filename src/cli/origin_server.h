// The local origin of `prewarm up`: an HTTP server over a directory of content, and the
// sample content it starts with. Agents preload from it.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "common/net.h"
#include "common/status.h"

namespace httplib {
class Server;
}

namespace prewarm::cli {

class OriginServer {
 public:
  OriginServer(HostPort listen, std::string root);
  ~OriginServer();
  absl::Status Start();
  void Stop();
  const std::string& root() const { return root_; }

 private:
  HostPort listen_;
  std::string root_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

// Writes index.html, hello.txt and a small HLS-like video/ tree into `dir`.
absl::Status WriteSampleContent(const std::string& dir);

}  // namespace prewarm::cli
