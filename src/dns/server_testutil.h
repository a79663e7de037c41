// Test-only: a running DnsServer over a small zone, and blocking loopback clients.
#pragma once

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "dns/server.h"
#include "dns/static_resolver.h"
#include "dns/wire.h"
#include "dns/zone.h"

namespace prewarm::dns::testing {

inline std::vector<IpAddr> ManyAddresses(int n) {
  std::vector<IpAddr> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(IpAddr::V4(0xC0000200u + static_cast<uint32_t>(i)));
  }
  return out;
}

// Scope 20 so ECS echo is visible to clients.
inline std::map<std::string, ServiceAnswer, std::less<>> TestServices() {
  return {{"static",
           ServiceAnswer{{*IpAddr::Parse("192.0.2.1"), *IpAddr::Parse("2001:db8::1")}, 20, 20}},
          {"big", ServiceAnswer{ManyAddresses(100), 20, 0}}};
}

inline ZoneConfig TestZoneConfig() {
  ZoneConfig z;
  z.ns = {NsRecord{"ns1.edge.example.", {*IpAddr::Parse("198.51.100.53")}}};
  return z;
}

struct RunningServer {
  explicit RunningServer(ServerOptions opts = {}, ZoneConfig zone = TestZoneConfig())
      : resolver(TestServices()), authority(*Authority::Create(std::move(zone), resolver)) {
    if (!opts.listen.addr.valid()) {
      opts.listen = HostPort{*IpAddr::Parse("127.0.0.1"), 0};
    }
    server = std::make_unique<DnsServer>(opts, *authority);
    status = server->Start();
  }
  StaticResolver resolver;
  std::unique_ptr<Authority> authority;
  std::unique_ptr<DnsServer> server;
  absl::Status status;
};

inline sockaddr_in Loopback(uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}

inline void SetRecvTimeout(int fd, int seconds) {
  timeval tv{seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

// Sends one datagram and waits (up to 5 s) for the reply; empty on timeout.
inline std::vector<uint8_t> UdpExchange(uint16_t port, std::span<const uint8_t> query) {
  ScopedFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  SetRecvTimeout(fd.get(), 5);
  sockaddr_in sa = Loopback(port);
  ::sendto(fd.get(), query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  std::vector<uint8_t> buf(65535);
  ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
  buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return buf;
}

inline ScopedFd TcpConnect(uint16_t port) {
  ScopedFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa = Loopback(port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    return ScopedFd();
  }
  SetRecvTimeout(fd.get(), 5);
  return fd;
}

// A UDP socket bound to `source` (any 127.x.y.z works on loopback without configuration).
inline ScopedFd UdpSocketFrom(const IpAddr& source) {
  ScopedFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  socklen_t len = 0;
  sockaddr_storage local = source.ToSockaddr(0, &len);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&local), len) != 0) {
    return ScopedFd();
  }
  return fd;
}

// Connects from `source` (any 127.x.y.z works on loopback without configuration).
inline ScopedFd TcpConnectFrom(uint16_t port, const IpAddr& source) {
  ScopedFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  socklen_t len = 0;
  sockaddr_storage local = source.ToSockaddr(0, &len);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&local), len) != 0) {
    return ScopedFd();
  }
  sockaddr_in sa = Loopback(port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    return ScopedFd();
  }
  SetRecvTimeout(fd.get(), 5);
  return fd;
}

// Without waiting: true if the server has closed the connection (EOF or reset).
inline bool ClosedNow(int fd) {
  uint8_t b;
  ssize_t n = ::recv(fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

// Reads and discards until the server closes (true) or 5 s pass without data (false).
inline bool ReadUntilClosed(int fd) {
  SetRecvTimeout(fd, 5);
  std::vector<uint8_t> buf(65536);
  for (int i = 0; i < 100'000; ++i) {
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      return true;
    }
    if (n < 0 && errno != EINTR) {
      return false;
    }
  }
  return false;
}

inline std::vector<uint8_t> Framed(std::span<const uint8_t> msg) {
  if (msg.size() > 65535) {
    return {};
  }
  std::vector<uint8_t> out(kTcpLengthSize + msg.size());
  WriteTcpLength(out.data(), msg.size());
  if (!msg.empty()) {
    std::memcpy(out.data() + kTcpLengthSize, msg.data(), msg.size());
  }
  return out;
}

inline bool SendAll(int fd, std::span<const uint8_t> data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      return false;
    }
    data = data.subspan(static_cast<size_t>(n));
  }
  return true;
}

inline bool RecvExactly(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t got = ::recv(fd, p, n, 0);
    if (got <= 0) {
      return false;
    }
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

// Reads one length-framed message; nullopt on EOF, error or timeout.
inline std::optional<std::vector<uint8_t>> RecvFrame(int fd) {
  uint8_t len[2];
  if (!RecvExactly(fd, len, 2)) {
    return std::nullopt;
  }
  std::vector<uint8_t> msg(Load16(len));
  if (!RecvExactly(fd, msg.data(), msg.size())) {
    return std::nullopt;
  }
  return msg;
}

// True once the server has closed the connection (recv returns 0 within 10 s).
inline bool ClosedByPeer(int fd) {
  SetRecvTimeout(fd, 10);
  uint8_t b;
  return ::recv(fd, &b, 1, 0) == 0;
}

}  // namespace prewarm::dns::testing
