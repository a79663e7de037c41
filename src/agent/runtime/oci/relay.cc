#include "agent/runtime/oci/relay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/logging.h"
#include "fmt/format.h"

namespace prewarm::agent::oci {
namespace {

using Clock = std::chrono::steady_clock;

bool Stopping(int stop_fd) {
  struct pollfd p = {stop_fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

// Sleeps `ms` unless stopping first; false when stopping.
bool Pause(int stop_fd, int ms) {
  struct pollfd p = {stop_fd, POLLIN, 0};
  return ::poll(&p, 1, ms) == 0;
}

// One direction of a relayed connection: src -> pipe -> dst.
struct Direction {
  Direction(int s, int d) : src(s), dst(d) {}
  int src, dst;
  ScopedFd pipe_r, pipe_w;
  size_t buffered = 0;
  bool eof = false;   // src said EOF
  bool done = false;  // EOF passed on (dst shut for writing)
};

absl::Status MakePipe(Direction& d) {
  int p[2];
  if (::pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe2");
  d.pipe_r.reset(p[0]);
  d.pipe_w.reset(p[1]);
  return absl::OkStatus();
}

// Moves what it can without blocking. false: the connection is broken.
bool Step(Direction& d) {
  constexpr size_t kChunk = 1 << 16;
  if (!d.eof && d.buffered < kChunk) {
    ssize_t n = ::splice(d.src, nullptr, d.pipe_w.get(), nullptr, kChunk,
                         SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
    if (n > 0) {
      d.buffered += static_cast<size_t>(n);
    } else if (n == 0) {
      d.eof = true;
    } else if (errno != EAGAIN && errno != EINTR) {
      return false;
    }
  }
  if (d.buffered > 0) {
    ssize_t n = ::splice(d.pipe_r.get(), nullptr, d.dst, nullptr, d.buffered,
                         SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
    if (n > 0) {
      d.buffered -= static_cast<size_t>(n);
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return false;
    }
  }
  if (d.eof && d.buffered == 0 && !d.done) {
    ::shutdown(d.dst, SHUT_WR);
    d.done = true;
  }
  return true;
}

// Both ways until both are done, either side breaks, or the relay stops.
void Pump(int a, int b, int stop_fd) {
  Direction up(a, b), down(b, a);
  if (!MakePipe(up).ok() || !MakePipe(down).ok()) return;
  for (;;) {
    if (!Step(up) || !Step(down)) return;
    if (up.done && down.done) return;
    struct pollfd p[3] = {{a, 0, 0}, {b, 0, 0}, {stop_fd, POLLIN, 0}};
    if (!up.eof && up.buffered == 0) p[0].events |= POLLIN;
    if (!down.eof && down.buffered == 0) p[1].events |= POLLIN;
    if (up.buffered > 0) p[1].events |= POLLOUT;
    if (down.buffered > 0) p[0].events |= POLLOUT;
    if (::poll(p, 3, -1) < 0 && errno != EINTR) return;
    if (p[2].revents & POLLIN) return;
    if ((p[0].revents | p[1].revents) & (POLLERR | POLLNVAL)) return;
  }
}

}  // namespace

absl::Status CreateNetns(const std::string& path) {
  {
    ScopedFd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
    if (!f.valid()) return ErrnoStatus(errno, "create " + path);
  }
  absl::Status result;
  // unshare() moves only the calling thread: a thread of its own, gone afterwards.
  std::thread t([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      result = ErrnoStatus(errno, "unshare(CLONE_NEWNET)");
      return;
    }
    ScopedFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    struct ifreq ifr = {};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (!s.valid() || ::ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) {
      result = ErrnoStatus(errno, "lo flags");
      return;
    }
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0) {
      result = ErrnoStatus(errno, "lo up");
      return;
    }
    if (::mount("/proc/thread-self/ns/net", path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      result = ErrnoStatus(errno, "bind-mount the network namespace on " + path);
    }
  });
  t.join();
  if (!result.ok()) ::unlink(path.c_str());
  return result;
}

OwnPortRelay::OwnPortRelay(ScopedFd listen, ScopedFd netns, ScopedFd stop, uint16_t port,
                           RelayOptions options)
    : listen_(std::move(listen)),
      netns_(std::move(netns)),
      stop_(std::move(stop)),
      port_(port),
      options_(options) {}

absl::StatusOr<std::unique_ptr<OwnPortRelay>> OwnPortRelay::Start(int listen_fd,
                                                                  const std::string& netns_path,
                                                                  uint16_t port,
                                                                  RelayOptions options) {
  if (port == 0) return absl::InvalidArgumentError("relay: no app port");
  ScopedFd listen(::fcntl(listen_fd, F_DUPFD_CLOEXEC, 3));
  if (!listen.valid()) return ErrnoStatus(errno, "dup listening socket");
  ScopedFd netns(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!netns.valid()) return ErrnoStatus(errno, "open " + netns_path);
  ScopedFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop.valid()) return ErrnoStatus(errno, "eventfd");
  std::unique_ptr<OwnPortRelay> r(
      new OwnPortRelay(std::move(listen), std::move(netns), std::move(stop), port, options));
  // The acceptor joins the instance's network namespace before it accepts anything; the
  // threads it starts inherit it, so their sockets to the app are made in there.
  std::atomic<int> joined{-1};
  r->acceptor_ = std::thread([raw = r.get(), &joined] {
    if (::setns(raw->netns_.get(), CLONE_NEWNET) != 0) {
      joined = errno;
      joined.notify_one();
      return;
    }
    joined = 0;
    joined.notify_one();
    raw->AcceptLoop();
  });
  joined.wait(-1);
  if (joined != 0) {
    int err = joined;
    r->acceptor_.join();
    return ErrnoStatus(err, "setns into " + netns_path);
  }
  return r;
}

OwnPortRelay::~OwnPortRelay() {
  uint64_t one = 1;
  if (::write(stop_.get(), &one, sizeof one) != sizeof one)
    spdlog::warn("relay: cannot signal stop");
  if (acceptor_.joinable()) acceptor_.join();
}

void OwnPortRelay::ReapWorkers(bool all) {
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (all || it->done.load()) {
      it->thread.join();
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
}

void OwnPortRelay::AcceptLoop() {
  while (!Stopping(stop_.get())) {
    ReapWorkers(false);
    if (active_.load() >= options_.max_connections) {
      Pause(stop_.get(), 5);  // the rest wait in the accept queue
      continue;
    }
    struct pollfd p[2] = {{listen_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (::poll(p, 2, 1000) <= 0 || (p[1].revents & POLLIN)) continue;
    ScopedFd client(::accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!client.valid()) continue;  // EAGAIN (another accept won), ECONNABORTED, ...
    ++accepted_;
    ++active_;
    Worker& w = workers_.emplace_back();
    w.thread = std::thread([this, &w, c = client.release()]() mutable {
      Serve(ScopedFd(c));
      --active_;
      w.done = true;
    });
  }
  ReapWorkers(true);
}

void OwnPortRelay::Serve(ScopedFd client) {
  struct sockaddr_in app = {};
  app.sin_family = AF_INET;
  app.sin_port = htons(port_);
  app.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  auto deadline = Clock::now() + options_.connect_timeout;
  for (;;) {
    ScopedFd up(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));  // in the instance's netns
    if (!up.valid()) return;
    if (::connect(up.get(), reinterpret_cast<sockaddr*>(&app), sizeof app) == 0) {
      int flags = ::fcntl(up.get(), F_GETFL);
      ::fcntl(up.get(), F_SETFL, flags | O_NONBLOCK);
      // What the relay forwards goes out at once: Nagle would hold a small second write
      // (a response's body after its header) for the peer's delayed ACK.
      int one = 1;
      ::setsockopt(up.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ::setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ++relayed_;
      Pump(client.get(), up.get(), stop_.get());
      return;
    }
    // Not listening yet (the app is starting): try again, as long as the client is there
    // (a client that only half-closed still waits for its answer).
    if ((errno != ECONNREFUSED && errno != EINTR) || Clock::now() >= deadline) break;
    struct pollfd p[2] = {{client.get(), 0, 0}, {stop_.get(), POLLIN, 0}};
    if (::poll(p, 2, 10) > 0 && ((p[0].revents & (POLLHUP | POLLERR)) || (p[1].revents & POLLIN)))
      break;
  }
  ++refused_;
}

}  // namespace prewarm::agent::oci
