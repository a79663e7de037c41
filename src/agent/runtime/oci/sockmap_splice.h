// Relaying a pair of connected TCP sockets inside the kernel, with a BPF sockmap: each
// segment that arrives on one socket is handed by a small stream-verdict program straight
// to the other socket's send path, without waking the relaying thread or copying through
// user space. The relay (relay.h) uses it where the kernel allows and splices through a
// pipe where it does not.
//
// The program (35 instructions, assembled in the .cc, no toolchain needed), per segment:
//   if (skb->len == 0) return SK_DROP;             // a bare FIN: TCP has taken it in
//   cookie = bpf_get_socket_cookie(skb);
//   if ((n = bpf_map_lookup_elem(&counts, &cookie))) {
//     if ((*n >> 20) != ((*n + skb->len) >> 20))   // another MiB handed on
//       bpf_ringbuf_output(&events, &cookie, 8, 0);
//     *n += skb->len;
//   }
//   return bpf_sk_redirect_hash(skb, &peers, &cookie, 0);
// over socket hashes keyed by socket cookie: `peers` maps each socket to the other of its
// pair and has no program; `verdict` holds the sockets whose incoming bytes the program
// moves. A pair goes into `peers` first, so the program always finds its target.
//
// The kernel hands a segment on even when the other socket cannot send it yet: it waits in
// a queue of that socket's, and TCP opens the window to the sender again at once. Nothing
// there pushes back, so the caller watches: `events` (a ring buffer, readable) names a
// socket each time another MiB of its bytes has been handed on, and Stop() takes a socket
// out of `verdict` when too much of it waits. Its bytes then stay in its own receive queue,
// where TCP's window holds the sender back.
//
// Bytes that arrived before a socket joined `verdict` are not lost: they wait in its receive
// queue until SO_RCVLOWAT is set again, which makes TCP run the data-ready hook (now the
// program's) over that queue in order.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/net.h"
#include "common/status.h"

namespace prewarm::agent::oci {

class SockmapSplice {
 public:
  // Loads the program and makes its maps for `max_pairs` pairs at once. Fails with
  // PermissionDenied where the caller may not load BPF (CAP_BPF, CAP_NET_ADMIN), with
  // Unimplemented where the kernel has no sockmap.
  static absl::StatusOr<std::unique_ptr<SockmapSplice>> Create(int max_pairs);
  ~SockmapSplice();
  SockmapSplice(const SockmapSplice&) = delete;
  SockmapSplice& operator=(const SockmapSplice&) = delete;

  // A pair, and which of its ways the kernel relays. A way that it does not (its socket
  // could not join: it is half-closed already, or the maps are full) stays the caller's to
  // move; no byte of that way has been taken.
  struct Pair {
    uint64_t cookie_a = 0, cookie_b = 0;
    bool a_to_b = false;
    bool b_to_a = false;
  };
  // `a` and `b`: connected TCP sockets that nothing has read from. Their bytes start moving
  // at once, including those already queued. A socket leaves the socket maps when it is
  // closed; Leave() forgets the pair's counts (call it before closing them).
  Pair Join(int a, int b);
  void Leave(const Pair& p);

  // Readable when Events() has something to say.
  int events_fd() const { return events_.get(); }
  // The cookies of sockets that handed on another MiB since the last call.
  void Events(std::vector<uint64_t>& cookies);
  // Bytes the program has handed on from the socket with `cookie`.
  uint64_t Moved(uint64_t cookie) const;
  // Takes the socket out of `verdict`: its later bytes stay in its receive queue (and may
  // be read, in order, with read()). False if it was not there.
  bool Stop(uint64_t cookie);

  // Bytes `fd` has taken to send: sent once (sent less resent), and queued unsent.
  static uint64_t Taken(int fd);

  // How far one way of a kernel-relayed pair is: EOF from `from` is passed on (shutdown of
  // `to` for writing) only once `to` has taken every byte `from` received; before that
  // some may still be on their way through the kernel's queue between the two.
  enum class Flow : uint8_t { kOpen, kDraining, kDrained };
  static Flow Progress(int from, int to);

 private:
  SockmapSplice() = default;
  ScopedFd peers_, verdict_, counts_, events_, prog_;
  // The ring buffer, mapped: its consumer position (ours to write), and its producer
  // position followed by the data area twice over (so a record never wraps).
  void* consumer_ = nullptr;
  void* producer_ = nullptr;
  size_t ring_size_ = 0;
};

}  // namespace prewarm::agent::oci
