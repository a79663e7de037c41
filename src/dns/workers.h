// Internal to the DNS server: the thread bodies. See server.h for the thread model.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/net.h"
#include "dns/answerer.h"
#include "dns/server.h"

namespace prewarm::dns {

// Names the calling thread (truncated to 15 characters by the kernel).
void NameThisThread(const std::string& name);
// The sender's address, with IPv4-mapped IPv6 addresses turned back into IPv4.
IpAddr PeerAddress(const sockaddr_storage& ss);

class UdpWorker {
 public:
  UdpWorker(ScopedFd socket, int stop_fd, Answerer& answerer, int batch, int index);
  ~UdpWorker();
  void Start();
  void Join();

 private:
  void Run();
  size_t Serve();

  static constexpr size_t kBufferSize = 4096;
  static constexpr int kBatchesPerPoll = 16;
  ScopedFd socket_;
  int stop_fd_;
  Answerer& answerer_;
  int index_;
  std::vector<std::array<uint8_t, kBufferSize>> in_;
  std::vector<std::array<uint8_t, kBufferSize>> out_;
  std::vector<sockaddr_storage> peers_;
  std::vector<iovec> iovs_;
  std::vector<mmsghdr> msgs_;
  std::vector<mmsghdr> replies_;
  std::thread thread_;
};

class TcpWorker {
 public:
  TcpWorker(ScopedFd listener, int stop_fd, Answerer& answerer, TcpLimits limits);
  ~TcpWorker();
  void Start();
  void Join();

 private:
  struct Conn {
    ScopedFd fd;
    IpAddr peer;
    IpAddr network;  // ClientNetwork(peer), the key of per_network_
    std::vector<uint8_t> in;
    std::vector<uint8_t> out;
    size_t out_sent = 0;
    int64_t last_active_ms = 0;
    int64_t read_deadline_ms = 0;   // a message is partly in `in`; 0: none
    int64_t write_deadline_ms = 0;  // answers are queued in `out`; 0: none
    uint32_t events = 0;            // current epoll interest
    bool peer_closed = false;
  };

  void Run();
  void Accept();
  bool Admit(const IpAddr& network);
  bool EvictIdlest();
  void OnEvent(Conn& c, uint32_t events);
  bool ReadSome(Conn& c);
  void ProcessFrames(Conn& c);
  bool Flush(Conn& c);
  void UpdateInterest(Conn& c);
  void Close(int fd);
  // Takes `fd` out of the epoll set; the caller then closes it. A close alone leaves the
  // set only once no other descriptor holds the socket's file, and a process forked
  // meanwhile (the agent's runc, in `prewarm up`) holds a copy until its exec: the stale
  // entry would report its events under a reused descriptor number.
  void Unwatch(int fd);
  void Forget(const Conn& c);
  int64_t IdleTimeoutMs() const;
  int64_t DeadlineMs(const Conn& c) const;
  void ExpireIdle();
  int NextTimeoutMs() const;

  ScopedFd listener_;
  int stop_fd_;
  Answerer& answerer_;
  TcpLimits limits_;
  ScopedFd epoll_;
  std::unordered_map<int, std::unique_ptr<Conn>> conns_;
  std::map<IpAddr, int> per_network_;  // open connections per client network
  std::vector<uint8_t> scratch_;       // one response, 2-byte length + up to 65535
  std::thread thread_;
};

}  // namespace prewarm::dns
