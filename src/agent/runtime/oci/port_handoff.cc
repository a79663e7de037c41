#include "agent/runtime/oci/port_handoff.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>
#include <vector>

#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace prewarm::agent::oci {
namespace {

// The kernel's sizes of the notification structures, which may be larger than the
// headers' (SECCOMP_GET_NOTIF_SIZES).
struct NotifSizes {
  size_t notif = sizeof(seccomp_notif), resp = sizeof(seccomp_notif_resp);
};

absl::StatusOr<NotifSizes> KernelNotifSizes() {
  seccomp_notif_sizes s = {};
  if (::syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &s) != 0) {
    return ErrnoStatus(errno, "seccomp(SECCOMP_GET_NOTIF_SIZES)");
  }
  NotifSizes n;
  n.notif = std::max<size_t>(n.notif, s.seccomp_notif);
  n.resp = std::max<size_t>(n.resp, s.seccomp_notif_resp);
  return n;
}

int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int PidfdGetfd(int pidfd, int fd) {
  return static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, fd, 0));
}

// The port a bind() asks for, from the sockaddr at `addr` (`len` bytes) in `pid`'s memory;
// nullopt when it is not an IPv4 or IPv6 address or cannot be read.
std::optional<uint16_t> BindPort(pid_t pid, uint64_t addr, uint64_t len) {
  sockaddr_storage ss = {};
  size_t want = std::min<uint64_t>(len, sizeof(ss));
  if (want < sizeof(sa_family_t)) return std::nullopt;
  iovec local = {&ss, want};
  // NOLINTNEXTLINE(performance-no-int-to-ptr): an address in the caller's memory
  iovec remote = {reinterpret_cast<void*>(addr), want};
  if (::process_vm_readv(pid, &local, 1, &remote, 1, 0) != static_cast<ssize_t>(want)) {
    return std::nullopt;
  }
  if (ss.ss_family == AF_INET && want >= sizeof(sockaddr_in)) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
  }
  if (ss.ss_family == AF_INET6 && want >= sizeof(sockaddr_in6)) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
  }
  return std::nullopt;
}

// Whether descriptor `fd` of `pid` is close-on-exec (/proc/PID/fdinfo/FD "flags:", octal).
bool CloseOnExec(pid_t pid, int fd) {
  std::ifstream in(fmt::format("/proc/{}/fdinfo/{}", pid, fd));
  std::string key;
  while (in >> key) {
    if (key == "flags:") {
      unsigned long flags = 0;
      in >> std::oct >> flags;
      return (flags & O_CLOEXEC) != 0;
    }
  }
  return false;
}

}  // namespace

PortHandoff::PortHandoff(ScopedFd channel, ScopedFd listen, ScopedFd stop, uint16_t port,
                         std::string name)
    : channel_(std::move(channel)),
      listen_(std::move(listen)),
      stop_(std::move(stop)),
      port_(port),
      name_(std::move(name)) {}

absl::StatusOr<std::unique_ptr<PortHandoff>> PortHandoff::Start(ScopedFd channel, int listen_fd,
                                                                uint16_t port, std::string name) {
  if (!channel.valid()) return absl::InvalidArgumentError("port handoff: no channel");
  if (port == 0) return absl::InvalidArgumentError("port handoff: no app port");
  RETURN_IF_ERROR(KernelNotifSizes().status());  // no user notification: say so at start
  ScopedFd listen(::fcntl(listen_fd, F_DUPFD_CLOEXEC, 3));
  if (!listen.valid()) return ErrnoStatus(errno, "dup of the instance's listening socket");
  ScopedFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop.valid()) return ErrnoStatus(errno, "eventfd");
  std::unique_ptr<PortHandoff> h(new PortHandoff(std::move(channel), std::move(listen),
                                                 std::move(stop), port, std::move(name)));
  h->thread_ = std::thread([p = h.get()] { p->Loop(); });
  return h;
}

PortHandoff::~PortHandoff() {
  uint64_t one = 1;
  if (::write(stop_.get(), &one, sizeof one) != sizeof one) {
    spdlog::error("port handoff {}: cannot signal its thread to stop: {}", name_,
                  std::strerror(errno));
  }
  if (thread_.joinable()) thread_.join();
}

ScopedFd PortHandoff::ReceiveListener() {
  for (;;) {
    pollfd p[2] = {{stop_.get(), POLLIN, 0}, {channel_.get(), POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("port handoff {}: poll: {}", name_, std::strerror(errno));
      return {};
    }
    if (p[0].revents != 0) return {};
    if (p[1].revents == 0) continue;
    char byte;
    iovec iov = {&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = ::recvmsg(channel_.get(), &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    cmsghdr* c = n > 0 ? CMSG_FIRSTHDR(&msg) : nullptr;
    if (c == nullptr || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
        c->cmsg_len != CMSG_LEN(sizeof(int)) || (msg.msg_flags & MSG_CTRUNC) != 0) {
      // The wrapper failed before sending (it says why in the instance's output) or the
      // instance is gone: its app never binds, and the readiness probe says so.
      if (n < 0) spdlog::warn("port handoff {}: recvmsg: {}", name_, std::strerror(errno));
      return {};
    }
    int fd;
    std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return ScopedFd(fd);
  }
}

void PortHandoff::Loop() {
  ScopedFd listener = ReceiveListener();
  channel_.reset();
  if (!listener.valid()) return;
  listening_.store(true);
  // The workload's binds cost the agent's CPU, not the instance's: past kMaxAnswersPerSecond
  // in a second, the next waits for the second to end (so do the workload's binds).
  constexpr int kMaxAnswersPerSecond = 1000;
  auto window = std::chrono::steady_clock::now();
  int answered = 0;
  for (;;) {
    if (answered >= kMaxAnswersPerSecond) {
      auto next = window + std::chrono::seconds(1);
      auto now = std::chrono::steady_clock::now();
      if (now < next) {
        int wait_ms = static_cast<int>(
            std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1);
        pollfd s = {stop_.get(), POLLIN, 0};
        if (::poll(&s, 1, wait_ms) > 0) return;
      }
      window = std::chrono::steady_clock::now();
      answered = 0;
    } else if (std::chrono::steady_clock::now() - window >= std::chrono::seconds(1)) {
      window = std::chrono::steady_clock::now();
      answered = 0;
    }
    pollfd p[2] = {{stop_.get(), POLLIN, 0}, {listener.get(), POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("port handoff {}: poll: {}", name_, std::strerror(errno));
      return;
    }
    if (p[0].revents != 0) return;
    if ((p[1].revents & POLLIN) != 0) {
      ++answered;
      if (!Answer(listener.get())) return;
    } else if (p[1].revents != 0) {
      return;  // POLLHUP: every process under the filter is gone
    }
  }
}

bool PortHandoff::Answer(int listener) {
  static const absl::StatusOr<NotifSizes> sizes = KernelNotifSizes();
  if (!sizes.ok()) return false;
  std::vector<uint64_t> req_buf((sizes->notif + 7) / 8, 0);  // zeroed, as RECV requires
  std::vector<uint64_t> resp_buf((sizes->resp + 7) / 8, 0);
  auto* req = reinterpret_cast<seccomp_notif*>(req_buf.data());
  auto* resp = reinterpret_cast<seccomp_notif_resp*>(resp_buf.data());
  if (::ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req) != 0) {
    // ENOENT: the caller was interrupted or died before we read it; EINTR: ask poll again.
    if (errno == ENOENT || errno == EINTR) return true;
    spdlog::error("port handoff {}: SECCOMP_IOCTL_NOTIF_RECV: {}", name_, std::strerror(errno));
    return false;
  }
  resp->id = req->id;
  resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;  // unless it is handed over below
  const pid_t pid = static_cast<pid_t>(req->pid);
  const int fd = static_cast<int>(req->data.args[0]);
  std::optional<uint16_t> port;
  if (req->data.nr == SYS_bind) port = BindPort(pid, req->data.args[1], req->data.args[2]);
  // The pid read from still names the caller only while the notification is pending.
  bool valid = ::ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) == 0;
  if (valid && port == port_) {
    ScopedFd pidfd(PidfdOpen(pid));
    ScopedFd theirs(pidfd.valid() ? PidfdGetfd(pidfd.get(), fd) : -1);
    int type = 0, protocol = 0;
    socklen_t len = sizeof(int);
    bool tcp = theirs.valid() &&
               ::getsockopt(theirs.get(), SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
               type == SOCK_STREAM &&
               ::getsockopt(theirs.get(), SOL_SOCKET, SO_PROTOCOL, &protocol, &len) == 0 &&
               protocol == IPPROTO_TCP;
    if (tcp) {
      // The status flags belong to the open file, which the app then shares: it gets the
      // blocking mode it chose for its own socket.
      int their_flags = ::fcntl(theirs.get(), F_GETFL);
      int ours = ::fcntl(listen_.get(), F_GETFL);
      if (their_flags >= 0 && ours >= 0) {
        ::fcntl(listen_.get(), F_SETFL, (ours & ~O_NONBLOCK) | (their_flags & O_NONBLOCK));
      }
      seccomp_notif_addfd add = {};
      add.id = req->id;
      add.flags = SECCOMP_ADDFD_FLAG_SETFD;
      add.srcfd = static_cast<uint32_t>(listen_.get());
      add.newfd = static_cast<uint32_t>(fd);
      add.newfd_flags = CloseOnExec(pid, fd) ? O_CLOEXEC : 0;
      if (::ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add) >= 0) {
        resp->flags = 0;  // bind() returns 0: the socket it now has is bound and listening
        resp->val = 0;
        resp->error = 0;
        if (handed_.fetch_add(1) == 0) {
          spdlog::info("port handoff {}: pid {} bound port {}: it got the instance's socket", name_,
                       pid, port_);
        }
      } else if (errno == ENOENT) {
        return true;  // the caller is gone
      } else {
        spdlog::warn(
            "port handoff {}: SECCOMP_IOCTL_NOTIF_ADDFD: {} (the bind goes on, "
            "inside the instance only)",
            name_, std::strerror(errno));
      }
    }
  }
  if (resp->flags != 0) passed_.fetch_add(1);
  if (::ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp) != 0 && errno != ENOENT) {
    spdlog::error("port handoff {}: SECCOMP_IOCTL_NOTIF_SEND: {}", name_, std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace prewarm::agent::oci
