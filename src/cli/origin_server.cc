#include "cli/origin_server.h"

#include <httplib.h>

#include <filesystem>
#include <fstream>

#include "common/logging.h"
#include "fmt/format.h"

namespace prewarm::cli {

OriginServer::OriginServer(HostPort listen, std::string root)
    : listen_(listen), root_(std::move(root)), server_(std::make_unique<httplib::Server>()) {}

OriginServer::~OriginServer() { Stop(); }

absl::Status OriginServer::Start() {
  if (!server_->set_mount_point("/", root_)) {
    return absl::NotFoundError(fmt::format("origin root '{}' is not a directory", root_));
  }
  if (!server_->bind_to_port(listen_.addr.ToString().c_str(), listen_.port)) {
    return absl::UnavailableError(fmt::format("origin: cannot listen on {}", listen_.ToString()));
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return absl::OkStatus();
}

void OriginServer::Stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
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
