#include "agent/runtime/oci/relay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/logging.h"
#include "fmt/format.h"

namespace prewarm::agent::oci {
namespace {

using Clock = std::chrono::steady_clock;

// One direction of a relayed connection: src -> pipe -> dst; or in the kernel; or, once
// taken back from the kernel, read() and written through `copy`.
struct Direction {
  Direction(int s, int d) : src(s), dst(d) {}
  int src, dst;
  bool kernel = false;  // the kernel moves the bytes (SockmapSplice); no pipe
  // Taken back from the kernel (SockmapSplice::Stop): src is read with read(), which also
  // returns what the kernel may have left in the socket's own queue, in order.
  std::unique_ptr<char[]> copy;
  bool settling = false;  // copy: bytes the kernel handed on are not all in dst yet
  uint64_t cookie = 0;    // src's socket cookie, while it is or was in the kernel
  size_t copy_off = 0;
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

// kWaiting: src said EOF, but bytes before it are still on their way through the kernel.
enum class Moved : uint8_t { kNothing, kSome, kWaiting, kBroken };

// A kernel-relayed direction: passes src's EOF on once the bytes before it are through.
Moved StepKernel(Direction& d) {
  if (d.done) return Moved::kNothing;
  switch (SockmapSplice::Progress(d.src, d.dst)) {
    case SockmapSplice::Flow::kOpen:
      return Moved::kNothing;
    case SockmapSplice::Flow::kDraining:
      return Moved::kWaiting;
    case SockmapSplice::Flow::kDrained:
      break;
  }
  ::shutdown(d.dst, SHUT_WR);
  d.eof = d.done = true;
  return Moved::kSome;
}

constexpr size_t kChunk = 1 << 16;

// Reads from src into the direction's buffer, the pipe or (taken back from the kernel)
// `copy`: bytes read, 0 at EOF, -1 with errno.
ssize_t Fill(Direction& d) {
  if (d.copy == nullptr) {
    return ::splice(d.src, nullptr, d.pipe_w.get(), nullptr, kChunk - d.buffered,
                    SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
  }
  ssize_t n = ::read(d.src, d.copy.get(), kChunk);  // only when `copy` is empty
  if (n > 0) d.copy_off = 0;
  return n;
}

// Writes the buffer's bytes to dst: bytes written, -1 with errno.
ssize_t Drain(Direction& d) {
  if (d.copy == nullptr) {
    return ::splice(d.pipe_r.get(), nullptr, d.dst, nullptr, d.buffered,
                    SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
  }
  ssize_t n = ::send(d.dst, d.copy.get() + d.copy_off, d.buffered, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n > 0) d.copy_off += static_cast<size_t>(n);
  return n;
}

// Moves what it can without blocking. A direction taken back from the kernel first waits
// until dst has every byte the kernel handed on, then reads and writes.
Moved Step(Direction& d, const SockmapSplice* splice) {
  if (d.kernel) return StepKernel(d);
  if (d.settling) {
    if (SockmapSplice::Taken(d.dst) < splice->Moved(d.cookie)) return Moved::kWaiting;
    d.settling = false;
  }
  bool moved = false;
  const bool room = d.copy == nullptr ? d.buffered < kChunk : d.buffered == 0;
  if (!d.eof && room) {
    ssize_t n = Fill(d);
    if (n > 0) {
      d.buffered += static_cast<size_t>(n);
      moved = true;
    } else if (n == 0) {
      d.eof = moved = true;
    } else if (errno != EAGAIN && errno != EINTR) {
      return Moved::kBroken;
    }
  }
  if (d.buffered > 0) {
    ssize_t n = Drain(d);
    if (n > 0) {
      d.buffered -= static_cast<size_t>(n);
      moved = true;
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return Moved::kBroken;
    }
  }
  if (d.eof && d.buffered == 0 && !d.done) {
    ::shutdown(d.dst, SHUT_WR);
    d.done = moved = true;
  }
  return moved ? Moved::kSome : Moved::kNothing;
}

// epoll_event.data.ptr of the listening socket, the stop eventfd, a shard's inbox and its
// SockmapSplice's events; a connection's sockets carry their Conn::Side.
char listen_mark, stop_mark, inbox_mark, splice_mark;

// Bytes of a way that may wait in the kernel, handed on but not yet taken by the receiving
// socket, before the relay takes that way back (SockmapSplice's events come each MiB).
constexpr uint64_t kKernelBacklog = 4 << 20;

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

// A relayed connection: the client's socket, and the one to the app once connected.
struct OwnPortRelay::Conn {
  explicit Conn(ScopedFd c) : client(std::move(c)) {}
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  struct Side {  // what an event names: a connection, and which of its sockets
    Conn* conn;
    bool app;
  };
  Side client_side{this, false}, app_side{this, true};
  ScopedFd client, app;
  Direction up{-1, -1}, down{-1, -1};  // client -> app, app -> client
  SockmapSplice::Pair pair;            // joined the kernel (either way)
  bool connected = false;
  bool queued = false;         // in `again` (OwnPortRelay::Loop)
  Clock::time_point deadline;  // the connect gives up then
  // !connected && !app.valid(): the next connect attempt; connected: the next look at a
  // kernel-relayed EOF that waits for its bytes (`draining` in OwnPortRelay::Loop)
  Clock::time_point retry_at;
};

OwnPortRelay::OwnPortRelay(ScopedFd listen, ScopedFd netns, ScopedFd stop, HostPort backend,
                           RelayOptions options)
    : listen_(std::move(listen)),
      netns_(std::move(netns)),
      stop_(std::move(stop)),
      backend_(std::move(backend)),
      options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<OwnPortRelay>> OwnPortRelay::Start(int listen_fd,
                                                                  const std::string& netns_path,
                                                                  uint16_t port,
                                                                  RelayOptions options) {
  if (port == 0) return absl::InvalidArgumentError("relay: no app port");
  ScopedFd netns(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!netns.valid()) return ErrnoStatus(errno, "open " + netns_path);
  return Start(listen_fd, HostPort{IpAddr::V4(INADDR_LOOPBACK), port}, std::move(netns),
               std::move(options));
}

absl::StatusOr<std::unique_ptr<OwnPortRelay>> OwnPortRelay::Start(int listen_fd, HostPort backend,
                                                                  ScopedFd netns,
                                                                  RelayOptions options) {
  if (backend.port == 0) return absl::InvalidArgumentError("relay: no backend port");
  ScopedFd listen(::fcntl(listen_fd, F_DUPFD_CLOEXEC, 3));
  if (!listen.valid()) return ErrnoStatus(errno, "dup listening socket");
  ScopedFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop.valid()) return ErrnoStatus(errno, "eventfd");
  std::unique_ptr<OwnPortRelay> r(new OwnPortRelay(std::move(listen), std::move(netns),
                                                   std::move(stop), std::move(backend), options));
  const int threads = std::max(1, options.threads);
  bool kernel = options.kernel_splice;
  for (int i = 0; i < threads; ++i) {
    auto shard = std::make_unique<Shard>();
    shard->inbox.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!shard->inbox.valid()) return ErrnoStatus(errno, "eventfd");
    if (kernel) {  // each thread its own maps, program and events
      auto splice = SockmapSplice::Create(std::max(1, options.max_connections));
      if (splice.ok()) {
        shard->splice = std::move(*splice);
      } else {
        spdlog::info("relay: connections go through the relay's threads, not the kernel: {}",
                     splice.status().message());
        for (auto& earlier : r->shards_) earlier->splice.reset();
        kernel = false;
      }
    }
    r->shards_.push_back(std::move(shard));
  }
  // Each thread joins the backend's network namespace before it relays anything, so the
  // sockets it makes to the backend are made in there.
  int err = 0;
  for (size_t i = 0; i < r->shards_.size() && err == 0; ++i) {
    std::atomic<int> joined{-1};
    r->shards_[i]->thread = std::thread([raw = r.get(), i, &joined] {
      if (raw->netns_.valid() && ::setns(raw->netns_.get(), CLONE_NEWNET) != 0) {
        joined = errno;
        joined.notify_one();
        return;
      }
      joined = 0;
      joined.notify_one();
      raw->Loop(i);
    });
    joined.wait(-1);
    err = joined;
  }
  if (err != 0) return ErrnoStatus(err, "relay: setns");  // ~OwnPortRelay joins
  return r;
}

OwnPortRelay::~OwnPortRelay() {
  uint64_t one = 1;
  if (::write(stop_.get(), &one, sizeof one) != sizeof one)
    spdlog::warn("relay: cannot signal stop");
  for (auto& shard : shards_) {
    if (shard->thread.joinable()) shard->thread.join();
  }
  for (auto& shard : shards_) {
    for (int fd : shard->handed) ::close(fd);  // handed over after its thread stopped
  }
}

bool OwnPortRelay::WaitReady() {
  while (options_.ready && !options_.ready()) {
    struct pollfd p = {stop_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(options_.ready_interval.count())) > 0) return false;
  }
  open_ = true;
  return true;
}

bool OwnPortRelay::Connect(Conn& c) {
  socklen_t len = 0;
  const sockaddr_storage app = backend_.addr.ToSockaddr(backend_.port, &len);
  c.app.reset(::socket(backend_.addr.is_v4() ? AF_INET : AF_INET6,
                       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!c.app.valid()) return false;
  // What the relay forwards goes out at once: Nagle would hold a small second write (a
  // response's body after its header) for the peer's delayed ACK.
  int one = 1;
  ::setsockopt(c.app.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(c.app.get(), reinterpret_cast<const sockaddr*>(&app), len) == 0 ||
      errno == EINPROGRESS) {
    return true;  // writable once connected (or refused: SO_ERROR tells)
  }
  c.app.reset();
  return errno == ECONNREFUSED || errno == EINTR || errno == EAGAIN;
}

void OwnPortRelay::Loop(size_t self) {
  ScopedFd ep(::epoll_create1(EPOLL_CLOEXEC));
  if (!ep.valid()) {
    spdlog::error("relay: epoll_create1: {}", std::strerror(errno));
    return;
  }
  auto ctl = [&](int op, int fd, uint32_t events, void* tag) {
    struct epoll_event e = {};
    e.events = events;
    e.data.ptr = tag;
    return ::epoll_ctl(ep.get(), op, fd, &e) == 0;
  };
  auto add = [&](int fd, uint32_t events, void* tag) {
    return ctl(EPOLL_CTL_ADD, fd, events, tag);
  };
  // Takes `fd` out of the epoll set, then closes it. A close alone leaves the set only
  // once no other descriptor holds the socket's file, and a process this agent forks
  // meanwhile (runc, QEMU) holds a copy until its exec: the set would then name a freed
  // Conn in a later event.
  auto drop = [&](ScopedFd& fd) {
    if (!fd.valid()) return;
    ::epoll_ctl(ep.get(), EPOLL_CTL_DEL, fd.get(), nullptr);
    fd.reset();
  };
  Shard& me = *shards_[self];
  SockmapSplice* const splice = me.splice.get();
  const bool acceptor = self == 0;
  if (acceptor && !WaitReady()) return;  // stopped before the gate opened
  if (!add(stop_.get(), EPOLLIN, &stop_mark) || !add(me.inbox.get(), EPOLLIN, &inbox_mark) ||
      (acceptor && !add(listen_.get(), EPOLLIN, &listen_mark)) ||
      (splice != nullptr && !add(splice->events_fd(), EPOLLIN, &splice_mark))) {
    spdlog::error("relay: epoll_ctl: {}", std::strerror(errno));
    return;
  }
  constexpr uint32_t kSocketEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  // A kernel-relayed connection wakes the thread only for a side's EOF, an error or a hang-up.
  constexpr uint32_t kKernelEvents = EPOLLRDHUP | EPOLLET;
  constexpr auto kRetry = std::chrono::milliseconds(10);
  constexpr auto kDrainCheck = std::chrono::milliseconds(1);
  std::unordered_map<Conn*, std::unique_ptr<Conn>> conns;
  // Finished in this batch of events: kept (sockets closed) until the batch is done, so a
  // connection accepted meanwhile cannot get a finished one's address and its late events.
  std::vector<std::unique_ptr<Conn>> finished;
  std::unordered_set<Conn*> retrying;  // refused while the app starts: connect again later
  std::unordered_set<Conn*> draining;  // a kernel-relayed EOF waits for its bytes: look again
  std::unordered_map<uint64_t, Conn*> by_cookie;  // sockets joined to the kernel
  bool listening = acceptor;                      // the listening socket is watched (below the cap)
  size_t deal = 0;                                // the shard the next accepted connection goes to

  // Closes `c` (its sockets leave the epoll set as they close).
  auto finish = [&](Conn* c) {
    retrying.erase(c);
    draining.erase(c);
    if (c->pair.a_to_b || c->pair.b_to_a) {
      splice->Leave(c->pair);
      by_cookie.erase(c->pair.cookie_a);
      by_cookie.erase(c->pair.cookie_b);
    }
    auto it = conns.find(c);
    drop(it->second->client);
    drop(it->second->app);
    finished.push_back(std::move(it->second));
    conns.erase(it);
    --active_;
  };
  auto refuse = [&](Conn* c) {
    ++refused_;
    finish(c);
  };
  // Connections that still had bytes to move when pump() let go of them: pumped again
  // after this batch of events, without waiting (their edges are spent).
  std::vector<Conn*> again;
  // Both ways until neither moves, or kRounds: a bulk transfer must not hold the thread
  // while its other connections wait.
  auto pump = [&](Conn* c) {
    constexpr int kRounds = 8;  // up to 8 x 64 KiB each way
    for (int round = 0; round < kRounds; ++round) {
      Moved a = Step(c->up, splice), b = Step(c->down, splice);
      if (a == Moved::kBroken || b == Moved::kBroken || (c->up.done && c->down.done)) {
        return finish(c);
      }
      if (a == Moved::kSome || b == Moved::kSome) continue;
      if (a == Moved::kWaiting || b == Moved::kWaiting) {
        c->retry_at = Clock::now() + kDrainCheck;
        draining.insert(c);
      }
      return;
    }
    if (!c->queued) {
      c->queued = true;
      again.push_back(c);
    }
  };
  // Not listening yet (the app is starting): again in kRetry, until the deadline.
  auto retry = [&](Conn* c) {
    if (Clock::now() >= c->deadline) return refuse(c);
    c->retry_at = Clock::now() + kRetry;
    retrying.insert(c);
  };
  auto connect = [&](Conn* c) {
    if (!Connect(*c)) return refuse(c);
    if (!c->app.valid()) return retry(c);  // refused at once
    if (!add(c->app.get(), kSocketEvents, &c->app_side)) finish(c);
  };
  // An event on `c`'s app socket before it is connected: the connect's outcome.
  auto connect_done = [&](Conn* c, uint32_t ev) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(c->app.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err == 0 && (ev & EPOLLOUT) == 0) return;  // not yet
    if (err != 0) {
      drop(c->app);
      if (err == ECONNREFUSED) return retry(c);
      return refuse(c);
    }
    c->connected = true;
    ++relayed_;
    c->up = Direction(c->client.get(), c->app.get());
    c->down = Direction(c->app.get(), c->client.get());
    if (splice != nullptr) {
      // Nothing has been read from either socket: the kernel takes each way that it can
      // from the first byte, including what the client sent while it waited.
      c->pair = splice->Join(c->client.get(), c->app.get());
      c->up.kernel = c->pair.a_to_b;
      c->down.kernel = c->pair.b_to_a;
      c->up.cookie = c->pair.cookie_a;
      c->down.cookie = c->pair.cookie_b;
      if (c->pair.a_to_b || c->pair.b_to_a) {
        by_cookie[c->pair.cookie_a] = c;
        by_cookie[c->pair.cookie_b] = c;
      }
    }
    if ((!c->up.kernel && !MakePipe(c->up).ok()) || (!c->down.kernel && !MakePipe(c->down).ok())) {
      return finish(c);
    }
    if (c->up.kernel && c->down.kernel) {
      ++in_kernel_;
      if (!ctl(EPOLL_CTL_MOD, c->client.get(), kKernelEvents, &c->client_side) ||
          !ctl(EPOLL_CTL_MOD, c->app.get(), kKernelEvents, &c->app_side)) {
        return finish(c);
      }
    }
    pump(c);  // what the client sent while it waited, through the pipe
  };
  // A connection accepted by shard 0, relayed here.
  auto adopt = [&](ScopedFd fd) {
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto owned = std::make_unique<Conn>(std::move(fd));
    Conn* c = owned.get();
    c->deadline = Clock::now() + options_.connect_timeout;
    conns.emplace(c, std::move(owned));
    if (!add(c->client.get(), kSocketEvents, &c->client_side)) return finish(c);
    connect(c);
  };
  auto accept = [&] {
    while (active_.load() < options_.max_connections) {
      // The listening socket is the caller's, blocking: accept only what is queued.
      struct pollfd p = {listen_.get(), POLLIN, 0};
      if (::poll(&p, 1, 0) != 1) return;
      ScopedFd fd(::accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!fd.valid()) return;  // ECONNABORTED, ...
      ++accepted_;
      ++active_;
      Shard& to = *shards_[deal];
      deal = (deal + 1) % shards_.size();
      if (&to == &me) {
        adopt(std::move(fd));
        continue;
      }
      {
        std::lock_guard<std::mutex> l(to.mu);
        to.handed.push_back(fd.release());
      }
      uint64_t one = 1;
      if (::write(to.inbox.get(), &one, sizeof one) != sizeof one) {
        spdlog::warn("relay: cannot wake a relaying thread");
      }
    }
  };
  auto take_handed = [&] {
    uint64_t n;
    if (::read(me.inbox.get(), &n, sizeof n) < 0 && errno != EAGAIN) return;
    std::vector<int> fds;
    {
      std::lock_guard<std::mutex> l(me.mu);
      fds.swap(me.handed);
    }
    for (int fd : fds) adopt(ScopedFd(fd));
  };

  // The kernel has handed on another MiB from a socket: if too much of it still waits for
  // the receiving socket, that way comes back to this thread.
  std::vector<uint64_t> cookies;
  auto splice_events = [&] {
    cookies.clear();
    splice->Events(cookies);
    for (uint64_t cookie : cookies) {
      auto it = by_cookie.find(cookie);
      if (it == by_cookie.end()) continue;  // finished since
      Conn* c = it->second;
      Direction& d = cookie == c->pair.cookie_a ? c->up : c->down;
      if (!d.kernel || d.done) continue;
      const uint64_t moved = splice->Moved(cookie);
      const uint64_t taken = SockmapSplice::Taken(d.dst);
      if (moved < taken + kKernelBacklog) continue;
      splice->Stop(cookie);
      ++held_back_;
      d.kernel = false;
      d.copy = std::make_unique<char[]>(kChunk);
      d.settling = true;
      if (!ctl(EPOLL_CTL_MOD, c->client.get(), kSocketEvents, &c->client_side) ||
          !ctl(EPOLL_CTL_MOD, c->app.get(), kSocketEvents, &c->app_side)) {
        finish(c);
        continue;
      }
      pump(c);
    }
  };

  std::vector<struct epoll_event> events(64);
  std::vector<Conn*> due;
  for (;;) {
    int timeout_ms = -1;
    if (!retrying.empty() || !draining.empty()) {
      const auto now = Clock::now();
      due.clear();
      auto next = Clock::time_point::max();
      for (Conn* c : retrying) {
        if (c->retry_at <= now) {
          due.push_back(c);
        } else {
          next = std::min(next, c->retry_at);
        }
      }
      for (Conn* c : draining) {
        if (c->retry_at <= now) {
          due.push_back(c);
        } else {
          next = std::min(next, c->retry_at);
        }
      }
      for (Conn* c : due) {
        if (retrying.erase(c) == 1) {
          connect(c);
        } else if (draining.erase(c) == 1) {
          pump(c);
        }
      }
      if (!due.empty()) continue;  // they may be due again at once
      timeout_ms =
          static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(next - now).count());
    }
    // Below the cap the listening socket is watched; at it, the rest wait in its queue,
    // and the cap is checked again every 5 ms (other shards close connections too).
    const bool want = acceptor && active_.load() < options_.max_connections;
    if (acceptor && !want) timeout_ms = timeout_ms < 0 ? 5 : std::min(timeout_ms, 5);
    if (want != listening) {
      struct epoll_event e = {};
      e.events = want ? uint32_t{EPOLLIN} : 0U;
      e.data.ptr = &listen_mark;
      ::epoll_ctl(ep.get(), EPOLL_CTL_MOD, listen_.get(), &e);
      listening = want;
    }
    if (!again.empty()) {
      std::vector<Conn*> now;
      now.swap(again);
      for (Conn* c : now) {
        if (!conns.contains(c)) continue;  // finished since (freed only below)
        c->queued = false;
        pump(c);
      }
      if (!again.empty()) timeout_ms = 0;  // look at the others' events, then again
    }
    finished.clear();  // neither an event nor `again` names them any more
    int n = ::epoll_wait(ep.get(), events.data(), static_cast<int>(events.size()), timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("relay: epoll_wait: {}", std::strerror(errno));
      return;
    }
    for (int i = 0; i < n; ++i) {
      void* t = events[static_cast<size_t>(i)].data.ptr;
      const uint32_t ev = events[static_cast<size_t>(i)].events;
      if (t == &stop_mark) return;  // every relayed connection closes with its Conn
      if (t == &listen_mark) {
        accept();
        continue;
      }
      if (t == &inbox_mark) {
        take_handed();
        continue;
      }
      if (t == &splice_mark) {
        splice_events();
        continue;
      }
      const auto* side = static_cast<const Conn::Side*>(t);
      Conn* c = side->conn;
      const bool app_side = side->app;
      if (!conns.contains(c)) continue;  // finished earlier in this batch
      if (c->connected) {
        if (ev & EPOLLERR) {
          finish(c);
        } else {
          pump(c);
        }
      } else if (app_side) {
        if (c->app.valid()) connect_done(c, ev);
      } else if (ev & (EPOLLHUP | EPOLLERR)) {
        refuse(c);  // the client went away while the app was starting (a half-close waits)
      }
    }
  }
}

}  // namespace prewarm::agent::oci
