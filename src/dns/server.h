// DnsServer: the DNS transport. Threads (named, see `top -H`):
//   dns-udp-N  one per UDP socket; each owns an SO_REUSEPORT socket on the same port
//              and answers in recvmmsg/sendmmsg batches. Nothing shared but the Answerer.
//   dns-tcp    one epoll loop: accepts, reads length-framed queries (several per
//              connection, partial reads/writes), closes idle connections, caps their number.
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

struct ServerOptions {
  HostPort listen;  // port 0 picks a free port; see DnsServer::port()
  int udp_threads = 2;
  int udp_batch = 32;  // datagrams per recvmmsg/sendmmsg
  bool tcp = true;
  int tcp_idle_timeout_ms = 10'000;
  int max_tcp_connections = 512;
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
