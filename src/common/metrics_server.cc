#include "common/metrics_server.h"

#include <httplib.h>
#include <pthread.h>
#include <sys/socket.h>

#include <chrono>

#include "fmt/format.h"

namespace prewarm {

MetricsServer::MetricsServer(HostPort listen, std::string name, Render render)
    : listen_(std::move(listen)), name_(std::move(name)), render_(std::move(render)) {}

MetricsServer::~MetricsServer() { Stop(); }

absl::Status MetricsServer::Start() {
  http_ = std::make_unique<httplib::Server>();
  // SO_REUSEADDR only: cpp-httplib's default adds SO_REUSEPORT, with which a second daemon
  // configured on the same port would start too and take half the scrapes.
  http_->set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  http_->set_read_timeout(5, 0);
  http_->set_write_timeout(5, 0);
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(render_(), "text/plain; version=0.0.4");
  });
  http_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  const std::string host = listen_.addr.ToString();
  int port = listen_.port;
  if (port == 0) {
    port = http_->bind_to_any_port(host.c_str());
  } else if (!http_->bind_to_port(host.c_str(), port)) {
    port = -1;
  }
  if (port <= 0) {
    http_.reset();
    return absl::UnavailableError(fmt::format("{}: cannot listen for HTTP (/metrics) on {}: {}",
                                              name_, listen_.ToString(),
                                              "the address is in use or not on this host"));
  }
  port_ = static_cast<uint16_t>(port);
  thread_ = std::thread([this] {
    // The kernel keeps 15 characters of a thread's name.
    pthread_setname_np(pthread_self(), (name_.substr(0, 9) + "-http").c_str());
    http_->listen_after_bind();
  });
  // Serving before Start returns: a Stop() that came before the listen loop would be lost.
  while (!http_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return absl::OkStatus();
}

void MetricsServer::Stop() {
  if (http_) http_->stop();
  if (thread_.joinable()) thread_.join();
  http_.reset();
}

absl::StatusOr<HostPort> ReadHttpListen(const YamlReader& r, std::string_view fallback) {
  ASSIGN_OR_RETURN(auto http, r.Map("http"));
  if (!http) return HostPort::Parse(fallback);
  RETURN_IF_ERROR(http->CheckKnown({"listen"}));
  ASSIGN_OR_RETURN(std::string text, http->String("listen", std::string(fallback)));
  absl::StatusOr<HostPort> hp = HostPort::Parse(text);
  if (!hp.ok()) return http->Error("listen", std::string(hp.status().message()));
  return *hp;
}

}  // namespace prewarm
