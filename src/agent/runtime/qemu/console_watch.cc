#include "agent/runtime/qemu/console_watch.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fmt/format.h"

namespace prewarm::agent::qemu {

namespace {
constexpr char kMarker[] = "prewarm-guest: ";
}

absl::StatusOr<std::unique_ptr<ConsoleWatch>> ConsoleWatch::Connect(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof(sa.sun_path))
    return absl::InvalidArgumentError("serial socket path too long");
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  ScopedFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus(errno, "socket (serial console)");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
    return absl::UnavailableError(fmt::format("connect {}: {}", path, std::strerror(errno)));
  std::unique_ptr<ConsoleWatch> w(new ConsoleWatch(std::move(fd)));
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return ErrnoStatus(errno, "pipe2");
  w->wake_[0] = ScopedFd(p[0]);
  w->wake_[1] = ScopedFd(p[1]);
  w->thread_ = std::thread([raw = w.get()] { raw->Loop(); });
  return w;
}

ConsoleWatch::~ConsoleWatch() { Stop(); }

void ConsoleWatch::Stop() {
  if (!thread_.joinable()) return;
  char c = 1;
  (void)!::write(wake_[1].get(), &c, 1);
  thread_.join();
  ::shutdown(fd_.get(), SHUT_RDWR);  // QEMU sees the hang-up; the descriptor goes with us
  std::lock_guard<std::mutex> l(mu_);
  closed_ = true;
  cv_.notify_all();
}

absl::Status ConsoleWatch::Send(const std::string& line) {
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::send(fd_.get(), line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoStatus(errno, "write to the serial console");
    off += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

std::optional<ConsoleWatch::Clock::time_point> ConsoleWatch::FindLocked(
    const std::string& marker) const {
  for (const auto& [line, at] : lines_) {
    if (line.find(marker) != std::string::npos) return at;
  }
  return std::nullopt;
}

std::optional<ConsoleWatch::Clock::time_point> ConsoleWatch::WaitFor(
    const std::string& marker, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> l(mu_);
  std::optional<Clock::time_point> at;
  cv_.wait_for(l, timeout, [&] { return (at = FindLocked(marker)).has_value() || closed_; });
  if (!at) at = FindLocked(marker);  // came with the last bytes before the close
  return at;
}

bool ConsoleWatch::closed() const {
  std::lock_guard<std::mutex> l(mu_);
  return closed_;
}

void ConsoleWatch::Loop() {
  pthread_setname_np(pthread_self(), "qemu-console");
  std::string partial;
  char buf[4096];
  for (;;) {
    pollfd p[2] = {{wake_[0].get(), POLLIN, 0}, {fd_.get(), POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[0].revents) return;  // Stop()
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) break;  // QEMU closed it (exited)
    auto now = Clock::now();
    partial.append(buf, static_cast<size_t>(n));
    std::lock_guard<std::mutex> l(mu_);
    bool added = false;
    for (size_t nl; (nl = partial.find('\n')) != std::string::npos;) {
      std::string line = partial.substr(0, nl);
      partial.erase(0, nl + 1);
      if (line.find(kMarker) != std::string::npos && lines_.size() < kMaxLines) {
        lines_.emplace_back(std::move(line), now);
        added = true;
      }
    }
    if (partial.size() > kMaxLineBytes) partial.clear();  // no marker line is this long
    if (added) cv_.notify_all();
  }
  std::lock_guard<std::mutex> l(mu_);
  closed_ = true;
  cv_.notify_all();
}

}  // namespace prewarm::agent::qemu
