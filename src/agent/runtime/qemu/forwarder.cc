#include "agent/runtime/qemu/forwarder.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <future>
#include <list>
#include <string>
#include <vector>

#include "fmt/format.h"

namespace prewarm::agent::qemu {
namespace {

using Clock = std::chrono::steady_clock;

// One direction of a relay: bytes read from `from`, not yet written to `to`.
struct Pipe {
  std::string buf;
  bool eof = false;   // `from` said EOF (or failed)
  bool shut = false;  // `to` was shut down for writing after buf drained
};

struct Relay {
  ScopedFd client, server;
  bool connected = false;
  Clock::time_point deadline, retry_at;
  Pipe up, down;  // client -> server, server -> client
};

constexpr size_t kBuf = 64 * 1024;

bool Connect(Relay& r, const HostPort& backend) {
  r.server = ScopedFd(::socket(backend.addr.is_v4() ? AF_INET : AF_INET6,
                               SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!r.server.valid()) return false;
  socklen_t len = 0;
  sockaddr_storage ss = backend.addr.ToSockaddr(backend.port, &len);
  int rc = ::connect(r.server.get(), reinterpret_cast<sockaddr*>(&ss), len);
  return rc == 0 || errno == EINPROGRESS;
}

// Moves what `from` has into `p.buf` and `p.buf` into `to`; false when the relay is broken.
bool Pump(int from, int to, Pipe& p, short from_ev, short to_ev) {
  if ((from_ev & (POLLIN | POLLHUP | POLLERR)) && !p.eof && p.buf.size() < kBuf) {
    char tmp[kBuf];
    ssize_t n = ::recv(from, tmp, kBuf - p.buf.size(), 0);
    if (n > 0) {
      p.buf.append(tmp, static_cast<size_t>(n));
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      p.eof = true;
    }
  }
  if (!p.buf.empty() && (to_ev & POLLOUT)) {
    ssize_t n = ::send(to, p.buf.data(), p.buf.size(), MSG_NOSIGNAL);
    if (n > 0) {
      p.buf.erase(0, static_cast<size_t>(n));
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return false;
    }
  }
  if (p.eof && p.buf.empty() && !p.shut) {
    ::shutdown(to, SHUT_WR);
    p.shut = true;
  }
  return true;
}

}  // namespace

TcpForwarder::TcpForwarder(int listen_fd, HostPort backend, std::function<bool()> ready,
                           ScopedFd netns, std::chrono::milliseconds connect_timeout,
                           std::chrono::milliseconds ready_interval)
    : listen_fd_(listen_fd),
      backend_(std::move(backend)),
      ready_(std::move(ready)),
      netns_(std::move(netns)),
      connect_timeout_(connect_timeout),
      ready_interval_(ready_interval) {}

TcpForwarder::~TcpForwarder() { Stop(); }

absl::Status TcpForwarder::Start() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return absl::InternalError("pipe2 failed");
  wake_[0] = ScopedFd(p[0]);
  wake_[1] = ScopedFd(p[1]);
  absl::Status joined = absl::OkStatus();
  std::promise<absl::Status> started;
  auto result = started.get_future();
  thread_ = std::thread([this, &started] {
    if (netns_.valid() && ::setns(netns_.get(), CLONE_NEWNET) != 0) {
      started.set_value(ErrnoStatus(errno, "setns (the forward's network namespace)"));
      return;
    }
    started.set_value(absl::OkStatus());
    Loop();
  });
  joined = result.get();
  if (!joined.ok()) thread_.join();
  return joined;
}

void TcpForwarder::Stop() {
  if (!thread_.joinable()) return;
  char c = 1;
  (void)!::write(wake_[1].get(), &c, 1);
  thread_.join();
}

void TcpForwarder::Loop() {
  pthread_setname_np(pthread_self(), "qemu-forward");
  while (ready_ && !ready_()) {
    pollfd w{wake_[0].get(), POLLIN, 0};
    if (::poll(&w, 1, static_cast<int>(ready_interval_.count())) > 0)
      return;  // Stop() before the workload answered
  }
  open_ = true;
  std::list<Relay> relays;
  std::vector<pollfd> fds;
  std::vector<Relay*> owner;  // per pollfd pair (client, server) from index 2
  for (;;) {
    fds.assign({{wake_[0].get(), POLLIN, 0}, {listen_fd_, POLLIN, 0}});
    owner.clear();
    auto now = Clock::now();
    int timeout_ms = -1;
    for (Relay& r : relays) {
      if (!r.connected && !r.server.valid()) {
        // Waiting to retry a refused connect.
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.retry_at - now).count();
        timeout_ms =
            timeout_ms < 0 ? std::max<int>(0, ms) : std::min<int>(timeout_ms, std::max<int>(0, ms));
      }
      short cev = 0, sev = 0;
      if (r.connected) {
        if (!r.up.eof && r.up.buf.size() < kBuf) cev |= POLLIN;
        if (!r.down.buf.empty()) cev |= POLLOUT;
        if (!r.down.eof && r.down.buf.size() < kBuf) sev |= POLLIN;
        if (!r.up.buf.empty()) sev |= POLLOUT;
      } else if (r.server.valid()) {
        sev = POLLOUT;  // connect in progress
      }
      fds.push_back({r.client.get(), cev, 0});
      fds.push_back({r.server.valid() ? r.server.get() : -1, sev, 0});
      owner.push_back(&r);
    }
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) return;
    if (fds[0].revents) return;  // Stop()
    if (fds[1].revents & POLLIN) {
      int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c >= 0) {
        Relay& r = relays.emplace_back();
        r.client = ScopedFd(c);
        r.deadline = Clock::now() + connect_timeout_;
        if (!Connect(r, backend_)) r.server = ScopedFd();
        r.retry_at = Clock::now();
      }
    }
    now = Clock::now();
    for (size_t i = 0; i < owner.size(); ++i) {
      Relay& r = *owner[i];
      short cre = fds[2 + 2 * i].revents, sre = fds[3 + 2 * i].revents;
      bool broken = false;
      if (!r.connected) {
        if (r.server.valid() && sre) {
          int err = 0;
          socklen_t len = sizeof(err);
          ::getsockopt(r.server.get(), SOL_SOCKET, SO_ERROR, &err, &len);
          if (err == 0) {
            r.connected = true;
          } else {
            r.server = ScopedFd();  // refused: the forward is not up yet
            r.retry_at = now + std::chrono::milliseconds(20);
          }
        } else if (!r.server.valid() && now >= r.retry_at) {
          if (!Connect(r, backend_)) r.retry_at = now + std::chrono::milliseconds(20);
        }
        if (!r.connected && now > r.deadline) broken = true;
        if (cre & (POLLERR | POLLHUP)) broken = true;  // the client gave up
      } else {
        broken = !Pump(r.client.get(), r.server.get(), r.up, cre, sre) ||
                 !Pump(r.server.get(), r.client.get(), r.down, sre, cre);
        if (r.up.shut && r.down.shut) broken = true;  // both directions done
      }
      if (broken) r.client = ScopedFd(), r.server = ScopedFd();
    }
    relays.remove_if([](const Relay& r) { return !r.client.valid(); });
  }
}

}  // namespace prewarm::agent::qemu
