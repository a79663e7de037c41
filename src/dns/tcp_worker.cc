// The TCP thread: one epoll loop over the listener, the stop eventfd and every connection.
// Each connection has one deadline at a time (DeadlineMs): its queued answers must be read,
// else its message in progress must be complete, else it may stay idle. None is extended
// by a byte arriving, so 1 byte a second holds a slot for message_timeout_ms, not forever.
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "dns/wire.h"
#include "dns/workers.h"
#include "spdlog/spdlog.h"

namespace prewarm::dns {
namespace {

// Stop reading from a client while this much of its output is still unsent.
constexpr size_t kMaxPendingOut = 256 * 1024;
constexpr size_t kReadChunk = 16 * 1024;
// Stop reading while this much unprocessed input is buffered (one maximal frame fits).
constexpr size_t kMaxPendingIn = kTcpLengthSize + 65535 + kReadChunk;
// Connections accepted per wake-up: the open connections' own events (a query that came
// right behind its connect) are served between bursts of connects.
constexpr int kAcceptBatch = 64;

int64_t SteadyMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

TcpWorker::TcpWorker(ScopedFd listener, int stop_fd, Answerer& answerer, TcpLimits limits)
    : listener_(std::move(listener)),
      stop_fd_(stop_fd),
      answerer_(answerer),
      limits_(limits),
      scratch_(kTcpLengthSize + 65535) {}

TcpWorker::~TcpWorker() { Join(); }

void TcpWorker::Start() {
  thread_ = std::thread([this] { Run(); });
}

void TcpWorker::Join() {
  if (thread_.joinable()) {
    thread_.join();
  }
}

void TcpWorker::Run() {
  NameThisThread("dns-tcp");
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listener_.get();
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listener_.get(), &ev);
  ev.data.fd = stop_fd_;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, stop_fd_, &ev);
  std::array<epoll_event, 64> events;
  while (true) {
    int n = ::epoll_wait(epoll_.get(), events.data(), events.size(), NextTimeoutMs());
    if (n < 0 && errno != EINTR) {
      spdlog::error("dns-tcp: epoll_wait: {}", std::strerror(errno));
      break;
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == stop_fd_) {
        conns_.clear();  // closes every connection
        per_network_.clear();
        return;
      }
      if (fd == listener_.get()) {
        Accept();
        continue;
      }
      auto it = conns_.find(fd);
      if (it != conns_.end()) {
        OnEvent(*it->second, events[i].events);
      }
    }
    ExpireIdle();
  }
  conns_.clear();
}

void TcpWorker::Accept() {
  for (int i = 0; i < kAcceptBatch; ++i) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int fd = ::accept4(listener_.get(), reinterpret_cast<sockaddr*>(&ss), &len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      return;  // EAGAIN, or an aborted connection: nothing more to accept now
    }
    ScopedFd owned(fd);
    const IpAddr peer = PeerAddress(ss);
    const IpAddr network = ClientNetwork(peer);
    if (!Admit(network)) {
      continue;  // over a cap: the connection is closed at once
    }
    auto c = std::make_unique<Conn>();
    c->fd = std::move(owned);
    c->peer = peer;
    c->network = network;
    c->last_active_ms = SteadyMs();
    c->events = EPOLLIN;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      continue;
    }
    conns_.emplace(fd, std::move(c));
    ++per_network_[network];
  }
}

// Room under the cap of the client's network, and under the global cap, where the
// connection idle the longest makes room if there is one (RFC 7766 section 6.2.3: idle
// connections are the first to go), so that idle connections from many networks cannot
// keep a client with a query out.
bool TcpWorker::Admit(const IpAddr& network) {
  auto it = per_network_.find(network);
  if (it != per_network_.end() && it->second >= limits_.max_per_network) {
    return false;
  }
  return conns_.size() < static_cast<size_t>(limits_.max_connections) || EvictIdlest();
}

// Closes the connection with nothing in progress (no partial message, no unsent answer)
// that was active the longest ago; false when every connection is busy. One whose query
// waits unread in the kernel is busy too: it is marked active and the next one is tried.
bool TcpWorker::EvictIdlest() {
  for (int tries = 0; tries < 8; ++tries) {
    Conn* idlest = nullptr;
    for (const auto& [fd, c] : conns_) {
      const bool idle = c->read_deadline_ms == 0 && c->write_deadline_ms == 0 && c->in.empty() &&
                        c->out.empty() && !c->peer_closed;
      if (idle && (idlest == nullptr || c->last_active_ms < idlest->last_active_ms)) {
        idlest = c.get();
      }
    }
    if (idlest == nullptr) {
      return false;
    }
    uint8_t b = 0;
    if (::recv(idlest->fd.get(), &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0) {
      idlest->last_active_ms = SteadyMs();
      continue;
    }
    Close(idlest->fd.get());
    return true;
  }
  return false;
}

void TcpWorker::OnEvent(Conn& c, uint32_t events) {
  const int fd = c.fd.get();
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0 && !ReadSome(c)) {
    Close(fd);
    return;
  }
  ProcessFrames(c);
  if (!Flush(c)) {
    Close(fd);
    return;
  }
  // Output drained: frames held back while it was full can go now.
  ProcessFrames(c);
  if (!Flush(c) || (c.peer_closed && c.out.empty())) {
    Close(fd);
    return;
  }
  UpdateInterest(c);
}

// Reads what is available (bounded); false on a hard error.
bool TcpWorker::ReadSome(Conn& c) {
  while (!c.peer_closed && c.out.size() < kMaxPendingOut && c.in.size() < kMaxPendingIn) {
    size_t old = c.in.size();
    c.in.resize(old + kReadChunk);
    ssize_t n = ::read(c.fd.get(), c.in.data() + old, kReadChunk);
    c.in.resize(old + static_cast<size_t>(std::max<ssize_t>(n, 0)));
    if (n > 0) {
      c.last_active_ms = SteadyMs();
      if (static_cast<size_t>(n) < kReadChunk) {
        return true;
      }
      continue;
    }
    if (n == 0) {
      c.peer_closed = true;
      return true;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  }
  return true;
}

// Answers every complete frame in `in` while the output backlog allows.
void TcpWorker::ProcessFrames(Conn& c) {
  size_t consumed = 0;
  std::span<const uint8_t> in(c.in);
  while (c.out.size() < kMaxPendingOut) {
    std::optional<std::span<const uint8_t>> frame = NextTcpFrame(in.subspan(consumed));
    if (!frame) {
      break;
    }
    if (frame->size() < kHeaderSize) {
      // Not DNS (and cheap to send to keep a connection busy): answer what came before,
      // read nothing more, close once those answers are sent.
      c.in.clear();
      c.read_deadline_ms = 0;
      c.peer_closed = true;
      return;
    }
    consumed += kTcpLengthSize + frame->size();
    ClientInfo client{c.peer, std::nullopt, true};
    std::span<uint8_t> out(scratch_);
    size_t len = answerer_.Answer(*frame, client, out.subspan(kTcpLengthSize));
    if (len == 0) {
      continue;
    }
    WriteTcpLength(scratch_.data(), len);
    if (c.out.empty()) {
      c.write_deadline_ms = SteadyMs() + limits_.message_timeout_ms;
    }
    c.out.insert(c.out.end(), scratch_.begin(), scratch_.begin() + kTcpLengthSize + len);
  }
  c.in.erase(c.in.begin(), c.in.begin() + consumed);
  // The next message's clock starts with its first byte (it came with the last read).
  if (c.in.empty()) {
    c.read_deadline_ms = 0;
  } else if (consumed > 0 || c.read_deadline_ms == 0) {
    c.read_deadline_ms = SteadyMs() + limits_.message_timeout_ms;
  }
}

// Writes as much pending output as the socket takes; false on a hard error.
bool TcpWorker::Flush(Conn& c) {
  while (c.out_sent < c.out.size()) {
    ssize_t n =
        ::send(c.fd.get(), c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
    if (n < 0) {
      return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    }
    c.out_sent += static_cast<size_t>(n);
    c.last_active_ms = SteadyMs();
  }
  if (c.write_deadline_ms != 0 && !c.in.empty()) {
    // Reading may have paused while answers were queued: the message in progress gets a
    // full period from now (at most once per answered message).
    c.read_deadline_ms = std::max(c.read_deadline_ms, SteadyMs() + limits_.message_timeout_ms);
  }
  c.out.clear();
  c.out_sent = 0;
  c.write_deadline_ms = 0;
  return true;
}

void TcpWorker::UpdateInterest(Conn& c) {
  uint32_t want = 0;
  if (!c.out.empty()) {
    want |= EPOLLOUT;
  }
  if (!c.peer_closed && c.out.size() < kMaxPendingOut && c.in.size() < kMaxPendingIn) {
    want |= EPOLLIN;
  }
  if (want == c.events) {
    return;
  }
  c.events = want;
  epoll_event ev{};
  ev.events = want;
  ev.data.fd = c.fd.get();
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
}

void TcpWorker::Close(int fd) {
  auto it = conns_.find(fd);
  if (it != conns_.end()) {
    Forget(*it->second);
    Unwatch(fd);
    conns_.erase(it);  // ScopedFd closes
  }
}

void TcpWorker::Unwatch(int fd) { ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr); }

void TcpWorker::Forget(const Conn& c) {
  auto it = per_network_.find(c.network);
  if (it != per_network_.end() && --it->second <= 0) {
    per_network_.erase(it);
  }
}

// Idle connections are the first to go when slots run short (RFC 7766 section 6.2.3).
int64_t TcpWorker::IdleTimeoutMs() const {
  const bool pressed = conns_.size() * 2 >= static_cast<size_t>(limits_.max_connections);
  return pressed ? std::min(limits_.idle_timeout_ms, limits_.message_timeout_ms)
                 : limits_.idle_timeout_ms;
}

int64_t TcpWorker::DeadlineMs(const Conn& c) const {
  if (c.write_deadline_ms != 0) {
    return c.write_deadline_ms;
  }
  if (c.read_deadline_ms != 0) {
    return c.read_deadline_ms;
  }
  return c.last_active_ms + IdleTimeoutMs();
}

void TcpWorker::ExpireIdle() {
  const int64_t now = SteadyMs();
  for (auto it = conns_.begin(); it != conns_.end();) {
    if (now >= DeadlineMs(*it->second)) {
      Forget(*it->second);
      Unwatch(it->first);
      it = conns_.erase(it);
    } else {
      ++it;
    }
  }
}

int TcpWorker::NextTimeoutMs() const {
  if (conns_.empty()) {
    return -1;
  }
  const int64_t now = SteadyMs();
  int64_t soonest = limits_.idle_timeout_ms;
  for (const auto& [fd, c] : conns_) {
    soonest = std::min(soonest, DeadlineMs(*c) - now);
  }
  return static_cast<int>(std::max<int64_t>(soonest, 0));
}

}  // namespace prewarm::dns
