// The agent's relay from an instance's listening socket to where its workload listens.
// The agent keeps the instance's address and listening socket, so the cold path is
// unchanged; the relay accepts each connection on that socket and relays it, both ways
// and without copies through user space, to a connection it makes to the backend:
// - under runc, for an app that listens on a port of its own inside the instance (an OCI
//   image's exposed port) instead of serving the socket it is handed (socket
//   activation), where its bind() is not handed the instance's socket (port_handoff.h:
//   gVisor, `relay: kernel|threads`, seccomp not precompiled): 127.0.0.1:<app port>,
//   connected from inside the instance's network namespace;
// - under QEMU, to the VM's host forward (slirp's, in the jail's network namespace) or its
//   address on a tap, behind a gate (RelayOptions::ready) that opens once the guest listens.
//
// Once both sockets of a connection are established, the kernel relays it (a BPF sockmap,
// sockmap_splice.h): no thread wakes per request. The relay then only watches for each
// side's EOF, passed on once the bytes before it are through, and for a way whose receiver
// falls behind: once more than 4 MiB of it waits in the kernel, that way comes back to the
// relay's thread (read and written, so its sender is held back by TCP's window again).
// Where the kernel cannot (no sockmap, no CAP_BPF, a side half-closed already), the relay
// splices through a pipe, as below.
//
// One thread per relay (RelayOptions::threads) does all of it (accept, connect, splice)
// over epoll, with every socket non-blocking: under load one wake-up serves many connections,
// where a thread per connection paid a wake-up and a poll() set-up per request each way.
//
// A connection that arrives while the app is still starting is accepted and its connect
// retried until the app's port accepts (or `connect_timeout`): the client waits, as in
// the accept queue. The agent's readiness probe goes the same way, so an instance is
// ready once its app accepts on its port.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/runtime.h"
#include "agent/runtime/oci/sockmap_splice.h"
#include "common/net.h"
#include "common/status.h"

namespace prewarm::agent::oci {

// Makes a network namespace with its loopback up and bind-mounts it on `path` (created
// as an empty file), for runc to join (the config's network namespace `path`). Undo with
// an unmount of `path`. Needs root.
absl::Status CreateNetns(const std::string& path);

struct RelayOptions {
  std::chrono::milliseconds connect_timeout{30000};
  // Connections relayed at once; more wait in the listening socket's accept queue.
  int max_connections = 512;
  // Threads relaying, each over its own epoll set; connections are dealt to them in turn.
  // On 2 cores shared with the app and the load, one relays more requests/s with a lower
  // p99 than two (bench/instance_start/README.md); more may pay where cores are spare.
  int threads = 1;
  // Relay established connections in the kernel (BPF sockmap) where it can; false: always
  // through the relaying threads.
  bool kernel_splice = true;
  // Until ready() first returns true (asked every `ready_interval`), nothing is accepted:
  // clients wait in the listening socket's backlog (a QEMU's slirp forward accepts and
  // resets what its guest does not take yet). It runs on the accepting thread, in the
  // backend's network namespace, and may block for a while. Empty: open at once.
  std::function<bool()> ready;
  std::chrono::milliseconds ready_interval{20};
};

class OwnPortRelay {
 public:
  // Relays connections accepted on `listen_fd` (duplicated: the caller keeps its own) to
  // `backend`, connected from inside the network namespace `netns` (not valid: the
  // caller's).
  static absl::StatusOr<std::unique_ptr<OwnPortRelay>> Start(int listen_fd, HostPort backend,
                                                             ScopedFd netns,
                                                             RelayOptions options = {});
  // An app's own port: 127.0.0.1:`port` inside the network namespace at `netns_path`.
  static absl::StatusOr<std::unique_ptr<OwnPortRelay>> Start(int listen_fd,
                                                             const std::string& netns_path,
                                                             uint16_t port,
                                                             RelayOptions options = {});
  // Stops accepting, closes every relayed connection and joins the relay's threads.
  ~OwnPortRelay();
  OwnPortRelay(const OwnPortRelay&) = delete;
  OwnPortRelay& operator=(const OwnPortRelay&) = delete;

  bool open() const { return open_.load(); }  // ready() passed: accepting
  uint64_t accepted() const { return accepted_.load(); }
  uint64_t relayed() const { return relayed_.load(); }      // connected to the app
  uint64_t refused() const { return refused_.load(); }      // the app's port never accepted
  uint64_t in_kernel() const { return in_kernel_.load(); }  // relayed both ways by the kernel
  uint64_t held_back() const { return held_back_.load(); }  // ways taken back from the kernel
  RelayCounts counts() const {
    return {relayed_.load(), in_kernel_.load(), refused_.load(), held_back_.load()};
  }
  bool kernel_splice() const { return !shards_.empty() && shards_[0]->splice != nullptr; }

 private:
  struct Conn;
  // One relaying thread: its epoll set, and the connections the first thread accepted
  // for it (handed over through `inbox`, an eventfd, and `handed`).
  struct Shard {
    ScopedFd inbox;
    std::mutex mu;
    std::vector<int> handed;                // guarded by mu
    std::unique_ptr<SockmapSplice> splice;  // null: the kernel does not relay
    std::thread thread;
  };
  OwnPortRelay(ScopedFd listen, ScopedFd netns, ScopedFd stop, HostPort backend,
               RelayOptions options);
  // The gate (RelayOptions::ready), on the accepting thread; false: stopped meanwhile.
  bool WaitReady();
  // Shard `i`'s thread, in the instance's network namespace; shard 0 also accepts.
  void Loop(size_t i);
  // Starts (or retries) `c`'s connect to the app; false: `c` is finished (refused).
  bool Connect(Conn& c);

  ScopedFd listen_, netns_, stop_;  // stop_: an eventfd, readable once stopping
  HostPort backend_;
  std::atomic<bool> open_{false};
  RelayOptions options_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<int> active_{0};  // connections held, all shards
  std::atomic<uint64_t> accepted_{0}, relayed_{0}, refused_{0}, in_kernel_{0}, held_back_{0};
};

}  // namespace prewarm::agent::oci
