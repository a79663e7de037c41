// DnsServer: the DNS transport. Threads (named, see `top -H`):
//   dns-udp-N  one per UDP socket; each owns an SO_REUSEPORT socket on the same port
//              and answers in recvmmsg/sendmmsg batches. Nothing shared but the Answerer.
//   dns-tcp    one epoll loop: accepts, reads length-framed queries (several per
//              connection, partial reads/writes), enforces TcpLimits: an idle timeout, a
//              deadline per message, a cap per client network and a global cap.
// Stop() signals an eventfd that every thread polls, then joins them.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/net.h"
#include "common/status.h"
#include "dns/answerer.h"

namespace prewarm::dns {

class UdpWorker;
class TcpWorker;

// DNS over TCP's limits (RFC 7766 section 6.2). A client must not hold a connection by
// dribbling bytes: a message's deadline starts at its first byte and is never extended.
// These defaults are the orchestrator's (`dns.tcp_*` in its config; docs/design.md).
struct TcpLimits {
  // No message in progress and no answer unsent for this long: closed. Halved (down to
  // message_timeout_ms) while at least half of max_connections are open.
  int idle_timeout_ms = 10'000;
  // A message (2-byte length + body) must arrive within this of its first byte, and queued
  // answers must be read by the client within this of being queued.
  int message_timeout_ms = 2'000;
  // At the cap, a new connection closes the connection idle the longest (no message in
  // progress, no answer unsent); with none idle, it is closed at once.
  int max_connections = 512;
  // Per client network (/24 for IPv4, /56 for IPv6; see ClientNetwork()); over it, a new
  // connection is closed at once, so one network cannot take every slot.
  int max_per_network = 64;
};

struct ServerOptions {
  HostPort listen;  // port 0 picks a free port; see DnsServer::port()
  int udp_threads = 2;
  int udp_batch = 32;  // datagrams per recvmmsg/sendmmsg
  bool tcp = true;
  TcpLimits tcp_limits;
};

class DnsServer {
 public:
  DnsServer(ServerOptions options, Answerer& answerer);
  ~DnsServer();
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  // Binds every socket, then starts the threads. Fails (nothing left running) if the
  // address is taken or invalid.
  absl::Status Start();
  // Idempotent; returns once every thread has exited and every socket is closed.
  void Stop();
  // The bound port (useful with port 0), valid after a successful Start().
  uint16_t port() const { return port_; }

 private:
  absl::Status BindAll(std::vector<ScopedFd>& udp, ScopedFd& tcp);

  ServerOptions options_;
  Answerer& answerer_;
  uint16_t port_ = 0;
  ScopedFd stop_fd_;
  std::vector<std::unique_ptr<UdpWorker>> udp_;
  std::unique_ptr<TcpWorker> tcp_;
};

}  // namespace prewarm::dns
