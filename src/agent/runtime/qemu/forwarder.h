// TcpForwarder: relays connections accepted on the instance's listening socket (bound by
// the agent before the instance exists, so a client sent there by DNS while a VM boots
// waits in the backlog instead of being refused) to the VM's host forward. A connection
// that arrives before the forward accepts is retried until `connect_timeout`.
// Until `ready()` first returns true (asked every `ready_interval`) nothing is accepted:
// slirp's forward accepts as soon as QEMU runs and resets what the guest does not take
// yet, so a client must stay in the backlog until the guest listens behind it.
// One thread, poll(2) over every socket; Stop() (or the destructor) closes all relays.
// With `netns` (a network namespace's descriptor, e.g. a jailed QEMU's), that thread
// joins the namespace first: its connects and ready() run there, while the listening
// socket stays in the namespace it was created in.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "common/net.h"

namespace prewarm::agent::qemu {

class TcpForwarder {
 public:
  TcpForwarder(int listen_fd, HostPort backend, std::function<bool()> ready,
               ScopedFd netns = ScopedFd(),
               std::chrono::milliseconds connect_timeout = std::chrono::seconds(10),
               std::chrono::milliseconds ready_interval = std::chrono::milliseconds(20));
  ~TcpForwarder();
  TcpForwarder(const TcpForwarder&) = delete;
  TcpForwarder& operator=(const TcpForwarder&) = delete;
  absl::Status Start();
  void Stop();
  bool open() const { return open_.load(); }  // ready() passed: accepting

 private:
  void Loop();
  int listen_fd_;  // not owned
  HostPort backend_;
  std::function<bool()> ready_;
  std::atomic<bool> open_{false};
  ScopedFd netns_;
  std::chrono::milliseconds connect_timeout_;
  std::chrono::milliseconds ready_interval_;
  ScopedFd wake_[2];
  std::thread thread_;
};

}  // namespace prewarm::agent::qemu
