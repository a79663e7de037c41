#include "common/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstring>

#include "fmt/format.h"

namespace prewarm {

std::optional<int64_t> ParseInt(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

IpAddr IpAddr::V4(uint32_t host_order) {
  IpAddr a;
  a.family_ = AF_INET;
  uint32_t n = htonl(host_order);
  std::memcpy(a.bytes_.data(), &n, 4);
  return a;
}

IpAddr IpAddr::V6(const std::array<uint8_t, 16>& bytes) {
  IpAddr a;
  a.family_ = AF_INET6;
  a.bytes_ = bytes;
  return a;
}

absl::StatusOr<IpAddr> IpAddr::Parse(std::string_view text) {
  std::string s(text);
  IpAddr a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes_.data()) == 1) {
    a.family_ = AF_INET;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes_.data()) == 1) {
    a.family_ = AF_INET6;
    return a;
  }
  return absl::InvalidArgumentError(fmt::format("not an IP address: '{}'", text));
}

absl::StatusOr<IpAddr> IpAddr::FromSockaddr(const sockaddr_storage& ss) {
  IpAddr a;
  if (ss.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    a.family_ = AF_INET;
    std::memcpy(a.bytes_.data(), &sin->sin_addr, 4);
    return a;
  }
  if (ss.ss_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    a.family_ = AF_INET6;
    std::memcpy(a.bytes_.data(), &sin6->sin6_addr, 16);
    return a;
  }
  return absl::InvalidArgumentError("unsupported address family");
}

uint32_t IpAddr::v4_host_order() const {
  uint32_t n;
  std::memcpy(&n, bytes_.data(), 4);
  return ntohl(n);
}

bool IpAddr::is_loopback() const {
  if (is_v4()) return bytes_[0] == 127;
  if (!is_v6()) return false;
  for (size_t i = 0; i < 15; ++i) {
    if (bytes_[i] != 0) return false;
  }
  return bytes_[15] == 1;
}

std::string IpAddr::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family_ == 0 || inet_ntop(family_, bytes_.data(), buf, sizeof buf) == nullptr) {
    return "<invalid>";
  }
  return buf;
}

IpAddr IpAddr::Masked(int prefix) const {
  IpAddr out = *this;
  for (int i = 0; i < static_cast<int>(size()); ++i) {
    int keep = std::clamp(prefix - i * 8, 0, 8);
    uint8_t mask = keep == 0 ? 0 : static_cast<uint8_t>(0xff << (8 - keep));
    out.bytes_[i] &= mask;
  }
  return out;
}

sockaddr_storage IpAddr::ToSockaddr(uint16_t port, socklen_t* len) const {
  sockaddr_storage ss{};
  if (is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::memcpy(&sin->sin_addr, bytes_.data(), 4);
    *len = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    std::memcpy(&sin6->sin6_addr, bytes_.data(), 16);
    *len = sizeof(sockaddr_in6);
  }
  return ss;
}

absl::StatusOr<Cidr> Cidr::Parse(std::string_view text) {
  size_t slash = text.find('/');
  ASSIGN_OR_RETURN(IpAddr addr, IpAddr::Parse(text.substr(0, slash)));
  int max = addr.is_v4() ? 32 : 128;
  int prefix = max;
  if (slash != std::string_view::npos) {
    auto p = ParseInt(text.substr(slash + 1));
    if (!p || *p < 0 || *p > max) {
      return absl::InvalidArgumentError(fmt::format("bad prefix length in '{}'", text));
    }
    prefix = static_cast<int>(*p);
  }
  return Cidr{addr.Masked(prefix), prefix};
}

bool Cidr::Contains(const IpAddr& a) const {
  return a.family() == base.family() && a.Masked(prefix) == base;
}

uint64_t Cidr::HostCount() const {
  const int bits = (base.is_v4() ? 32 : 128) - prefix;
  if (base.is_v4()) return bits < 2 ? 0 : (uint64_t{1} << bits) - 2;
  return bits >= 32 ? uint64_t{1} << 32 : (uint64_t{1} << bits) - 1;
}

IpAddr Cidr::Host(uint64_t i) const {
  std::array<uint8_t, 16> b{};
  std::memcpy(b.data(), base.bytes(), base.size());
  uint64_t carry = i + 1;  // past the network (or anycast) address
  for (int k = static_cast<int>(base.size()) - 1; k >= 0 && carry != 0; --k) {
    uint64_t sum = b[k] + (carry & 0xff);
    b[k] = static_cast<uint8_t>(sum);
    carry = (carry >> 8) + (sum >> 8);
  }
  if (base.is_v4())
    return IpAddr::V4(uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | b[2] << 8 | b[3]);
  return IpAddr::V6(b);
}

std::optional<uint64_t> Cidr::HostIndex(const IpAddr& a) const {
  if (!Contains(a)) return std::nullopt;
  const size_t n = a.size();
  // Host offsets fit in the last 8 bytes; anything set above them is past HostCount.
  for (size_t k = 0; k + 8 < n; ++k) {
    if (a.bytes()[k] != base.bytes()[k]) return std::nullopt;
  }
  uint64_t offset = 0;
  for (size_t k = n >= 8 ? n - 8 : 0; k < n; ++k) {
    offset = offset << 8 | static_cast<uint8_t>(a.bytes()[k] - base.bytes()[k]);
  }
  // Within the prefix the low bytes of `a` are base's plus the offset without borrows:
  // base's host bits are zero.
  if (offset == 0 || offset > HostCount()) return std::nullopt;
  return offset - 1;
}

std::string Cidr::ToString() const { return fmt::format("{}/{}", base.ToString(), prefix); }

absl::StatusOr<HostPort> HostPort::Parse(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return absl::InvalidArgumentError(fmt::format("expected host:port, got '{}'", text));
  }
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") host = "127.0.0.1";
  auto port = ParseInt(text.substr(colon + 1));
  if (!port || *port < 0 || *port > 65535) {
    return absl::InvalidArgumentError(fmt::format("bad port in '{}'", text));
  }
  ASSIGN_OR_RETURN(IpAddr addr, IpAddr::Parse(host));
  return HostPort{addr, static_cast<uint16_t>(*port)};
}

std::string HostPort::ToString() const {
  if (addr.is_v6()) return fmt::format("[{}]:{}", addr.ToString(), port);
  return fmt::format("{}:{}", addr.ToString(), port);
}

ScopedFd& ScopedFd::operator=(ScopedFd&& o) noexcept {
  if (this != &o) reset(o.release());
  return *this;
}

ScopedFd::~ScopedFd() { reset(); }

void ScopedFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

absl::StatusOr<ScopedFd> ListenTcp(const IpAddr& addr, uint16_t port, int backlog) {
  ScopedFd fd(::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus(errno, "socket");
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  socklen_t len = 0;
  sockaddr_storage ss = addr.ToSockaddr(port, &len);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    return ErrnoStatus(errno, "bind " + HostPort{addr, port}.ToString());
  }
  if (::listen(fd.get(), backlog) != 0) return ErrnoStatus(errno, "listen");
  return fd;
}

absl::StatusOr<ScopedFd> BindUnixDatagram(const std::string& path, uint32_t uid, uint32_t gid) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(sa.sun_path)) {
    return absl::InvalidArgumentError(fmt::format("unix socket path too long: {}", path));
  }
  std::memcpy(sa.sun_path, path.data(), path.size());
  ScopedFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus(errno, "socket");
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), len) != 0) {
    return ErrnoStatus(errno, "bind " + path);
  }
  if (::chown(path.c_str(), uid, gid) != 0) return ErrnoStatus(errno, "chown " + path);
  if (::chmod(path.c_str(), 0600) != 0) return ErrnoStatus(errno, "chmod " + path);
  return fd;
}

absl::Status ProbeTcp(const HostPort& to, int timeout_ms) {
  ScopedFd fd(socket(to.addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus(errno, "socket");
  socklen_t len = 0;
  sockaddr_storage sa = to.addr.ToSockaddr(to.port, &len);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), len) == 0) return absl::OkStatus();
  if (errno != EINPROGRESS) return ErrnoStatus(errno, "connect");
  pollfd p{fd.get(), POLLOUT, 0};
  int n = poll(&p, 1, timeout_ms);
  if (n == 0) return absl::DeadlineExceededError(fmt::format("no answer in {} ms", timeout_ms));
  if (n < 0) return ErrnoStatus(errno, "poll");
  int err = 0;
  socklen_t elen = sizeof(err);
  getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &elen);
  return err == 0 ? absl::OkStatus() : ErrnoStatus(err, "connect");
}

}  // namespace prewarm
