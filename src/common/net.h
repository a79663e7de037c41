// Addresses, prefixes and file descriptors: the small vocabulary every network module uses.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"

namespace prewarm {

// An IPv4 or IPv6 address, stored in network byte order.
class IpAddr {
 public:
  IpAddr() = default;
  static IpAddr V4(uint32_t host_order);
  static IpAddr V6(const std::array<uint8_t, 16>& bytes);
  static absl::StatusOr<IpAddr> Parse(std::string_view text);
  static absl::StatusOr<IpAddr> FromSockaddr(const sockaddr_storage& ss);

  bool is_v4() const { return family_ == AF_INET; }
  bool is_v6() const { return family_ == AF_INET6; }
  bool valid() const { return family_ != 0; }
  int family() const { return family_; }
  // 4 bytes for IPv4, 16 for IPv6.
  const uint8_t* bytes() const { return bytes_.data(); }
  size_t size() const { return is_v4() ? 4 : 16; }
  uint32_t v4_host_order() const;
  // 127.0.0.0/8 or ::1.
  bool is_loopback() const;
  std::string ToString() const;
  // Keeps the first `prefix` bits, zeroes the rest.
  IpAddr Masked(int prefix) const;
  sockaddr_storage ToSockaddr(uint16_t port, socklen_t* len) const;

  friend bool operator==(const IpAddr&, const IpAddr&) = default;
  friend auto operator<=>(const IpAddr&, const IpAddr&) = default;

 private:
  int family_ = 0;
  std::array<uint8_t, 16> bytes_{};
};

// A prefix such as 192.0.2.0/24 or 2001:db8::/32.
struct Cidr {
  IpAddr base;  // already masked
  int prefix = 0;

  static absl::StatusOr<Cidr> Parse(std::string_view text);
  bool Contains(const IpAddr& a) const;
  // Host addresses, in order: IPv4 without the network and broadcast addresses, IPv6
  // without the first (the subnet-router anycast address). The count stops at 2^32.
  uint64_t HostCount() const;
  IpAddr Host(uint64_t i) const;  // i < HostCount()
  // The i for which Host(i) == a; nullopt when `a` is not one of the host addresses.
  std::optional<uint64_t> HostIndex(const IpAddr& a) const;
  std::string ToString() const;
  friend bool operator==(const Cidr&, const Cidr&) = default;
};

// host:port or [v6]:port.
struct HostPort {
  IpAddr addr;
  uint16_t port = 0;
  static absl::StatusOr<HostPort> Parse(std::string_view text);
  std::string ToString() const;
};

// Owns a file descriptor; closes it on destruction.
class ScopedFd {
 public:
  ScopedFd() = default;
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(ScopedFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  ScopedFd& operator=(ScopedFd&& o) noexcept;
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Parses a whole decimal integer; nullopt on junk or overflow.
std::optional<int64_t> ParseInt(std::string_view s);

// A TCP socket bound to addr:port and listening, close-on-exec, SO_REUSEADDR.
absl::StatusOr<ScopedFd> ListenTcp(const IpAddr& addr, uint16_t port, int backlog = 1024);

// A unix datagram socket bound at `path` (which must not exist), non-blocking and
// close-on-exec, its file owned by uid:gid with mode 0600: only that (host) user may send
// to it; the binder reads from the returned fd.
absl::StatusOr<ScopedFd> BindUnixDatagram(const std::string& path, uint32_t uid, uint32_t gid);

// Connects to `to` and closes again: OK when something accepts within `timeout_ms`.
absl::Status ProbeTcp(const HostPort& to, int timeout_ms);

}  // namespace prewarm
