#include "dns/server.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "dns/workers.h"
#include "fmt/format.h"

namespace prewarm::dns {
namespace {

absl::StatusOr<ScopedFd> BindUdp(const IpAddr& addr, uint16_t port) {
  ScopedFd fd(::socket(addr.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    return ErrnoStatus(errno, "dns: udp socket");
  }
  int one = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return ErrnoStatus(errno, "dns: SO_REUSEPORT");
  }
  socklen_t len = 0;
  sockaddr_storage ss = addr.ToSockaddr(port, &len);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    return ErrnoStatus(errno, fmt::format("dns: bind udp {}", HostPort{addr, port}.ToString()));
  }
  return fd;
}

absl::StatusOr<uint16_t> BoundPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return ErrnoStatus(errno, "dns: getsockname");
  }
  if (ss.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

}  // namespace

DnsServer::DnsServer(ServerOptions options, Answerer& answerer)
    : options_(std::move(options)), answerer_(answerer) {}

DnsServer::~DnsServer() { Stop(); }

// Binds the UDP sockets (the first one fixes the port when 0 was asked) and the TCP
// listener. The TCP listener has no SO_REUSEPORT, so a second server on the same port
// fails here even though its UDP sockets could share the port.
absl::Status DnsServer::BindAll(std::vector<ScopedFd>& udp, ScopedFd& tcp) {
  const IpAddr& addr = options_.listen.addr;
  if (!addr.valid()) {
    return absl::InvalidArgumentError("dns: listen address is not set");
  }
  if (options_.udp_threads < 1 || options_.udp_batch < 1) {
    return absl::InvalidArgumentError("dns: udp_threads and udp_batch must be >= 1");
  }
  const TcpLimits& l = options_.tcp_limits;
  if (l.idle_timeout_ms < 1 || l.message_timeout_ms < 1 || l.max_connections < 1 ||
      l.max_per_network < 1) {
    return absl::InvalidArgumentError("dns: tcp timeouts and connection caps must be >= 1");
  }
  uint16_t port = options_.listen.port;
  for (int i = 0; i < options_.udp_threads; ++i) {
    ASSIGN_OR_RETURN(ScopedFd fd, BindUdp(addr, port));
    if (port == 0) {
      ASSIGN_OR_RETURN(port, BoundPort(fd.get()));
    }
    udp.push_back(std::move(fd));
  }
  if (options_.tcp) {
    absl::StatusOr<ScopedFd> fd = ListenTcp(addr, port);
    if (!fd.ok()) {
      return absl::Status(fd.status().code(),
                          fmt::format("dns: tcp {}", std::string(fd.status().message())));
    }
    tcp = std::move(*fd);
    int flags = ::fcntl(tcp.get(), F_GETFL);
    if (flags < 0 || ::fcntl(tcp.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
      return ErrnoStatus(errno, "dns: tcp O_NONBLOCK");
    }
  }
  port_ = port;
  return absl::OkStatus();
}

absl::Status DnsServer::Start() {
  if (stop_fd_.valid()) {
    return absl::FailedPreconditionError("dns: server already started");
  }
  std::vector<ScopedFd> udp;
  ScopedFd tcp;
  absl::Status bound = BindAll(udp, tcp);
  // Port 0: the kernel picks the UDP port, and that number may be taken for TCP (by any
  // socket's ephemeral port). Pick again, a bounded number of times.
  for (int retry = 0; retry < 16 && options_.listen.port == 0 && absl::IsAlreadyExists(bound);
       ++retry) {
    udp.clear();
    tcp = ScopedFd();
    bound = BindAll(udp, tcp);
  }
  RETURN_IF_ERROR(bound);
  ScopedFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop.valid()) {
    return ErrnoStatus(errno, "dns: eventfd");
  }
  stop_fd_ = std::move(stop);
  for (size_t i = 0; i < udp.size(); ++i) {
    udp_.push_back(std::make_unique<UdpWorker>(std::move(udp[i]), stop_fd_.get(), answerer_,
                                               options_.udp_batch, static_cast<int>(i)));
    udp_.back()->Start();
  }
  if (tcp.valid()) {
    tcp_ =
        std::make_unique<TcpWorker>(std::move(tcp), stop_fd_.get(), answerer_, options_.tcp_limits);
    tcp_->Start();
  }
  return absl::OkStatus();
}

void DnsServer::Stop() {
  if (!stop_fd_.valid()) {
    return;
  }
  uint64_t one = 1;
  // The eventfd stays readable, so every thread's poll/epoll sees it.
  [[maybe_unused]] ssize_t n = ::write(stop_fd_.get(), &one, sizeof one);
  for (auto& w : udp_) {
    w->Join();
  }
  if (tcp_) {
    tcp_->Join();
  }
  udp_.clear();
  tcp_.reset();
  stop_fd_.reset();
}

}  // namespace prewarm::dns
