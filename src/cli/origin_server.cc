#include "cli/origin_server.h"

#include <httplib.h>

#include <filesystem>
#include <fstream>

#include "common/logging.h"
#include "fmt/format.h"

namespace prewarm::cli {

OriginServer::OriginServer(std::vector<HostPort> listen, std::string root)
    : listen_(std::move(listen)), root_(std::move(root)) {}

OriginServer::~OriginServer() { Stop(); }

absl::Status OriginServer::Start() {
  for (const HostPort& hp : listen_) {
    auto server = std::make_unique<httplib::Server>();
    if (!server->set_mount_point("/", root_)) {
      return absl::NotFoundError(fmt::format("origin root '{}' is not a directory", root_));
    }
    if (!server->bind_to_port(hp.addr.ToString().c_str(), hp.port)) {
      return absl::UnavailableError(fmt::format("origin: cannot listen on {}", hp.ToString()));
    }
    httplib::Server* raw = server.get();
    servers_.push_back(std::move(server));
    threads_.emplace_back([raw] { raw->listen_after_bind(); });
  }
  return absl::OkStatus();
}

void OriginServer::Stop() {
  for (size_t i = 0; i < threads_.size(); ++i) {
    servers_[i]->stop();
    threads_[i].join();
  }
  threads_.clear();
  servers_.clear();
}

absl::Status WriteSampleContent(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(fs::path(dir) / "video", ec);
  if (ec) return absl::InternalError(fmt::format("{}: {}", dir, ec.message()));
  std::ofstream(fs::path(dir) / "index.html")
      << "<!doctype html><title>prewarm</title><h1>Hello from a prewarmed edge instance</h1>\n";
  std::ofstream(fs::path(dir) / "hello.txt") << "hello from the origin, preloaded at the edge\n";
  std::ofstream playlist(fs::path(dir) / "video/index.m3u8");
  playlist << "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n";
  for (int i = 0; i < 3; ++i) {
    playlist << "#EXTINF:4.0,\nseg" << i << ".ts\n";
    std::ofstream seg(fs::path(dir) / fmt::format("video/seg{}.ts", i), std::ios::binary);
    std::string block(188, static_cast<char>(0x47));  // MPEG-TS sync bytes
    for (int k = 0; k < 1024; ++k) seg << block;
  }
  playlist << "#EXT-X-ENDLIST\n";
  return absl::OkStatus();
}

}  // namespace prewarm::cli
