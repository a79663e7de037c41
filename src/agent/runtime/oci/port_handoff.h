// An app that listens on a port of its own, under runc: its bind() of that port is answered
// with the instance's own listening socket, so the app accepts its clients straight from
// the socket the agent keeps, as a socket-activated workload does, and nothing relays.
//
// How: the instance's seccomp filter (HandoffSeccompProfile) leaves bind() to a listener,
// which prewarm-seccomp-exec --notify-fd sends to the agent before it execs the workload.
// For each bind() the agent reads the address the process passed (process_vm_readv);
// when it is an IPv4 or IPv6 address with the app's port, on a TCP socket (looked at
// through pidfd_getfd), the agent puts a duplicate of the instance's socket in place of
// the process's socket, under the same descriptor number and with the same close-on-exec
// and non-blocking flags (SECCOMP_IOCTL_NOTIF_ADDFD), and bind() returns 0. Any other
// bind() goes on as if there were no listener (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
//
// Nothing here is a security decision: a bind the agent lets through is one the profile
// would allow, and the socket it hands over is the one a socket-activated workload is
// given at start (the same address, already listening). The address is read from the
// process's memory, which another of its threads could change meanwhile; that only
// decides which of the two answers it gets.
//
// Answering costs the agent's CPU, not the instance's: past 1,000 binds in a second the
// workload's next bind() waits for the second to end.
//
// What the app sees: getsockname() gives the instance's address, not the port it asked
// for; its later listen() sets the backlog of the shared socket. Connections that arrive
// while it starts wait in the accept queue. Where this cannot run (gVisor, whose kernel
// applies seccomp itself; seccomp not precompiled; QEMU), the relay (relay.h) does.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "agent/runtime.h"
#include "common/net.h"
#include "common/status.h"

namespace prewarm::agent::oci {

class PortHandoff {
 public:
  // `channel`: the agent's end of a unix socket pair whose other end the workload's
  // prewarm-seccomp-exec holds as --notify-fd. `listen_fd` is duplicated (the caller keeps
  // its own). `name` labels log lines.
  static absl::StatusOr<std::unique_ptr<PortHandoff>> Start(ScopedFd channel, int listen_fd,
                                                            uint16_t port, std::string name);
  // Stops answering (a bind() still waiting then fails with ENOSYS) and joins the thread.
  ~PortHandoff();
  PortHandoff(const PortHandoff&) = delete;
  PortHandoff& operator=(const PortHandoff&) = delete;

  bool listening() const { return listening_.load(); }  // the filter's listener arrived
  uint64_t handed() const { return handed_.load(); }    // binds given the instance's socket
  uint64_t passed() const { return passed_.load(); }    // binds let through unchanged

 private:
  PortHandoff(ScopedFd channel, ScopedFd listen, ScopedFd stop, uint16_t port, std::string name);
  void Loop();
  // Waits for the listener on channel_; invalid when stopped or the other end closed.
  ScopedFd ReceiveListener();
  // Answers one notification from `listener`; false once the listener is done for.
  bool Answer(int listener);

  ScopedFd channel_, listen_, stop_;  // stop_: an eventfd, readable once stopping
  uint16_t port_;
  std::string name_;
  std::atomic<bool> listening_{false};
  std::atomic<uint64_t> handed_{0}, passed_{0};
  std::thread thread_;
};

}  // namespace prewarm::agent::oci
