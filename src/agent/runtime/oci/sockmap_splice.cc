#include "agent/runtime/oci/sockmap_splice.h"

// linux/tcp.h, not netinet/tcp.h: glibc's struct tcp_info stops before the byte counters.
#include <linux/bpf.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

#include "fmt/format.h"

namespace prewarm::agent::oci {
namespace {

long Bpf(int cmd, union bpf_attr& attr) { return ::syscall(SYS_bpf, cmd, &attr, sizeof attr); }

constexpr bpf_insn Insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i = {};
  i.code = code;
  i.dst_reg = dst & 0xF;
  i.src_reg = src & 0xF;
  i.off = off;
  i.imm = imm;
  return i;
}

// Refused by the caller's privileges (PermissionDenied) or unknown to this kernel
// (Unimplemented): the relay's threads relay instead.
absl::Status Unsupported(int err, std::string_view what) {
  if (err == EPERM || err == EACCES) return ErrnoStatus(err, what);
  return absl::UnimplementedError(fmt::format("{}: {}", what, std::strerror(err)));
}

absl::StatusOr<ScopedFd> MakeMap(uint32_t type, uint32_t key_size, uint32_t value_size,
                                 uint32_t entries, std::string_view what) {
  union bpf_attr a = {};
  a.map_type = type;
  a.key_size = key_size;
  a.value_size = value_size;
  a.max_entries = entries;
  ScopedFd fd(static_cast<int>(Bpf(BPF_MAP_CREATE, a)));
  if (!fd.valid()) return Unsupported(errno, fmt::format("bpf(BPF_MAP_CREATE, {})", what));
  return fd;
}

// Keyed by socket cookie; the value on update is the socket's fd.
absl::StatusOr<ScopedFd> SocketHash(int entries) {
  return MakeMap(BPF_MAP_TYPE_SOCKHASH, sizeof(uint64_t), sizeof(uint32_t),
                 static_cast<uint32_t>(entries), "sockhash");
}

template <typename V>
bool Update(int map, uint64_t key, V value) {
  union bpf_attr a = {};
  a.map_fd = static_cast<uint32_t>(map);
  a.key = reinterpret_cast<uintptr_t>(&key);
  a.value = reinterpret_cast<uintptr_t>(&value);
  a.flags = BPF_ANY;
  return Bpf(BPF_MAP_UPDATE_ELEM, a) == 0;
}

bool Update(int sockhash, uint64_t key, int fd) {
  return Update(sockhash, key, static_cast<uint32_t>(fd));
}

bool Delete(int map, uint64_t key) {
  union bpf_attr a = {};
  a.map_fd = static_cast<uint32_t>(map);
  a.key = reinterpret_cast<uintptr_t>(&key);
  return Bpf(BPF_MAP_DELETE_ELEM, a) == 0;
}

bool Cookie(int fd, uint64_t& cookie) {
  socklen_t len = sizeof cookie;
  return ::getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) == 0;
}

// Makes TCP run the socket's data-ready hook over what it has queued (tcp_set_rcvlowat()).
void Kick(int fd) {
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
}

bool Info(int fd, struct tcp_info& info) {
  info = {};
  socklen_t len = sizeof info;
  return ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 &&
         len >= offsetof(struct tcp_info, tcpi_bytes_retrans) + sizeof info.tcpi_bytes_retrans;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SockmapSplice>> SockmapSplice::Create(int max_pairs) {
  if (max_pairs < 1) return absl::InvalidArgumentError("sockmap: max_pairs < 1");
  std::unique_ptr<SockmapSplice> s(new SockmapSplice());
  ASSIGN_OR_RETURN(s->peers_, SocketHash(2 * max_pairs));
  ASSIGN_OR_RETURN(s->verdict_, SocketHash(2 * max_pairs));
  ASSIGN_OR_RETURN(s->counts_, MakeMap(BPF_MAP_TYPE_HASH, sizeof(uint64_t), sizeof(uint64_t),
                                       static_cast<uint32_t>(2 * max_pairs), "hash"));
  // 4,096 records of 16 bytes: one per MiB handed on, read as they come.
  constexpr uint32_t kRing = 64 << 10;
  ASSIGN_OR_RETURN(s->events_, MakeMap(BPF_MAP_TYPE_RINGBUF, 0, 0, kRing, "ringbuf"));
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  s->ring_size_ = kRing;
  s->consumer_ = ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_SHARED, s->events_.get(), 0);
  if (s->consumer_ == MAP_FAILED) {
    s->consumer_ = nullptr;
    return ErrnoStatus(errno, "mmap the ring buffer's consumer page");
  }
  s->producer_ = ::mmap(nullptr, page + 2 * size_t{kRing}, PROT_READ, MAP_SHARED, s->events_.get(),
                        static_cast<off_t>(page));
  if (s->producer_ == MAP_FAILED) {
    s->producer_ = nullptr;
    return ErrnoStatus(errno, "mmap the ring buffer's data");
  }

  constexpr uint8_t kR0 = 0, kR1 = 1, kR2 = 2, kR3 = 3, kR4 = 4, kR6 = 6, kR7 = 7, kFp = 10;
  const int32_t peers = s->peers_.get(), counts = s->counts_.get(), events = s->events_.get();
  const std::array<bpf_insn, 35> prog = {
      // A segment that carries only a FIN reaches the program as an empty skb: handed on,
      // it would fail the peer's send with EPIPE (an error on the peer socket), so it is
      // dropped. TCP has taken the FIN in already (the relay passes EOF on, Progress()).
      Insn(BPF_ALU64 | BPF_MOV | BPF_X, kR6, kR1, 0, 0),                       // 0: r6 = skb
      Insn(BPF_LDX | BPF_MEM | BPF_W, kR2, kR1, offsetof(__sk_buff, len), 0),  // r2 = len
      Insn(BPF_ALU64 | BPF_MOV | BPF_K, kR0, 0, 0, SK_DROP),                   // r0 = SK_DROP
      Insn(BPF_JMP | BPF_JEQ | BPF_K, kR2, 0, 30, 0),                 // if len == 0 goto 34
      Insn(BPF_ALU64 | BPF_MOV | BPF_X, kR7, kR2, 0, 0),              // r7 = len
      Insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_get_socket_cookie),  // 5: r0 = cookie
      Insn(BPF_STX | BPF_MEM | BPF_DW, kFp, kR0, -8, 0),              // *(u64 *)(fp - 8) = cookie
      Insn(BPF_LD | BPF_IMM | BPF_DW, kR1, BPF_PSEUDO_MAP_FD, 0, counts),  // r1 = &counts
      Insn(0, 0, 0, 0, 0),                                          // (the imm64's upper half)
      Insn(BPF_ALU64 | BPF_MOV | BPF_X, kR2, kFp, 0, 0),            // r2 = fp
      Insn(BPF_ALU64 | BPF_ADD | BPF_K, kR2, 0, 0, -8),             // 10: r2 = &cookie
      Insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),  // r0 = &counts[cookie]
      Insn(BPF_JMP | BPF_JEQ | BPF_K, kR0, 0, 14, 0),               // if !r0 goto 27
      Insn(BPF_LDX | BPF_MEM | BPF_DW, kR1, kR0, 0, 0),             // r1 = *r0 (one socket's
      Insn(BPF_ALU64 | BPF_MOV | BPF_X, kR2, kR1, 0, 0),  //   segments come one at a time)
      Insn(BPF_ALU64 | BPF_ADD | BPF_X, kR2, kR7, 0, 0),  // 15: r2 = r1 + len
      Insn(BPF_STX | BPF_MEM | BPF_DW, kR0, kR2, 0, 0),   // *r0 = r2
      Insn(BPF_ALU64 | BPF_RSH | BPF_K, kR1, 0, 0, 20),   // r1 >>= 20 (MiB)
      Insn(BPF_ALU64 | BPF_RSH | BPF_K, kR2, 0, 0, 20),   // r2 >>= 20
      Insn(BPF_JMP | BPF_JEQ | BPF_X, kR1, kR2, 7, 0),    // if r1 == r2 goto 27
      Insn(BPF_LD | BPF_IMM | BPF_DW, kR1, BPF_PSEUDO_MAP_FD, 0, events),  // 20: r1 = &events
      Insn(0, 0, 0, 0, 0),
      Insn(BPF_ALU64 | BPF_MOV | BPF_X, kR2, kFp, 0, 0),  // r2 = &cookie
      Insn(BPF_ALU64 | BPF_ADD | BPF_K, kR2, 0, 0, -8),
      Insn(BPF_ALU64 | BPF_MOV | BPF_K, kR3, 0, 0, 8),  // r3 = 8 bytes
      Insn(BPF_ALU64 | BPF_MOV | BPF_K, kR4, 0, 0, 0),  // 25: r4 = 0 (wake the reader)
      Insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_ringbuf_output),
      Insn(BPF_ALU64 | BPF_MOV | BPF_X, kR1, kR6, 0, 0),                  // 27: r1 = skb
      Insn(BPF_LD | BPF_IMM | BPF_DW, kR2, BPF_PSEUDO_MAP_FD, 0, peers),  // r2 = &peers
      Insn(0, 0, 0, 0, 0),
      Insn(BPF_ALU64 | BPF_MOV | BPF_X, kR3, kFp, 0, 0),  // 30: r3 = &cookie
      Insn(BPF_ALU64 | BPF_ADD | BPF_K, kR3, 0, 0, -8),
      Insn(BPF_ALU64 | BPF_MOV | BPF_K, kR4, 0, 0, 0),               // flags: the peer's send path
      Insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_sk_redirect_hash),  // r0 = SK_PASS / DROP
      Insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),                          // 34: return r0
  };
  static constexpr char kLicense[] = "GPL";
  std::string log(16384, '\0');
  union bpf_attr load = {};
  load.prog_type = BPF_PROG_TYPE_SK_SKB;
  load.insns = reinterpret_cast<uintptr_t>(prog.data());
  load.insn_cnt = prog.size();
  load.license = reinterpret_cast<uintptr_t>(kLicense);
  load.log_buf = reinterpret_cast<uintptr_t>(log.data());
  load.log_size = static_cast<uint32_t>(log.size());
  load.log_level = 1;
  s->prog_.reset(static_cast<int>(Bpf(BPF_PROG_LOAD, load)));
  if (!s->prog_.valid()) {
    const int err = errno;
    log.resize(log.find('\0'));
    return ErrnoStatus(err,
                       fmt::format("bpf(BPF_PROG_LOAD, sk_skb){}{}", log.empty() ? "" : ": ", log));
  }
  union bpf_attr attach = {};
  attach.target_fd = static_cast<uint32_t>(s->verdict_.get());
  attach.attach_bpf_fd = static_cast<uint32_t>(s->prog_.get());
  attach.attach_type = BPF_SK_SKB_STREAM_VERDICT;
  if (Bpf(BPF_PROG_ATTACH, attach) != 0) {
    return Unsupported(errno, "bpf(BPF_PROG_ATTACH, stream verdict)");
  }
  return s;
}

SockmapSplice::~SockmapSplice() {
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  if (consumer_ != nullptr) ::munmap(consumer_, page);
  if (producer_ != nullptr) ::munmap(producer_, page + 2 * ring_size_);
}

SockmapSplice::Pair SockmapSplice::Join(int a, int b) {
  Pair p;
  if (!Cookie(a, p.cookie_a) || !Cookie(b, p.cookie_b)) return p;
  const uint64_t ca = p.cookie_a, cb = p.cookie_b;
  // `a` first: a socket joins only while established, and a client that has half-closed
  // already is the likely misfit (then nothing has joined).
  if (!Update(peers_.get(), cb, a) || !Update(peers_.get(), ca, b)) {
    Delete(peers_.get(), ca);
    Delete(peers_.get(), cb);
    return p;
  }
  if (!Update(counts_.get(), ca, uint64_t{0}) || !Update(counts_.get(), cb, uint64_t{0})) {
    Leave(p);
    return p;
  }
  p.a_to_b = Update(verdict_.get(), ca, a);
  p.b_to_a = Update(verdict_.get(), cb, b);
  if (!p.a_to_b && !p.b_to_a) {  // both stay plain sockets
    Leave(p);
    return p;
  }
  if (p.a_to_b) Kick(a);
  if (p.b_to_a) Kick(b);
  return p;
}

void SockmapSplice::Leave(const Pair& p) {
  for (uint64_t c : {p.cookie_a, p.cookie_b}) {
    Delete(counts_.get(), c);
    Delete(verdict_.get(), c);
    Delete(peers_.get(), c);
  }
}

void SockmapSplice::Events(std::vector<uint64_t>& cookies) {
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  auto* consumer = static_cast<uint64_t*>(consumer_);
  const auto* producer = static_cast<const uint64_t*>(producer_);
  const auto* data = static_cast<const uint8_t*>(producer_) + page;
  uint64_t cons = std::atomic_ref<uint64_t>(*consumer).load(std::memory_order_acquire);
  const uint64_t prod =
      std::atomic_ref<uint64_t>(*const_cast<uint64_t*>(producer)).load(std::memory_order_acquire);
  while (cons < prod) {
    const auto* header = data + (cons & (ring_size_ - 1));
    const uint32_t len =
        std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(const_cast<uint8_t*>(header)))
            .load(std::memory_order_acquire);
    if ((len & BPF_RINGBUF_BUSY_BIT) != 0) break;  // still being written
    const uint32_t size = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
    if ((len & BPF_RINGBUF_DISCARD_BIT) == 0 && size == sizeof(uint64_t)) {
      uint64_t cookie;
      std::memcpy(&cookie, header + BPF_RINGBUF_HDR_SZ, sizeof cookie);
      cookies.push_back(cookie);
    }
    cons += (size + BPF_RINGBUF_HDR_SZ + 7) & ~uint64_t{7};
    std::atomic_ref<uint64_t>(*consumer).store(cons, std::memory_order_release);
  }
}

uint64_t SockmapSplice::Moved(uint64_t cookie) const {
  uint64_t n = 0;
  union bpf_attr a = {};
  a.map_fd = static_cast<uint32_t>(counts_.get());
  a.key = reinterpret_cast<uintptr_t>(&cookie);
  a.value = reinterpret_cast<uintptr_t>(&n);
  if (Bpf(BPF_MAP_LOOKUP_ELEM, a) != 0) return 0;
  return n;
}

bool SockmapSplice::Stop(uint64_t cookie) { return Delete(verdict_.get(), cookie); }

uint64_t SockmapSplice::Taken(int fd) {
  struct tcp_info out;
  if (!Info(fd, out)) return 0;
  return out.tcpi_bytes_sent - out.tcpi_bytes_retrans + out.tcpi_notsent_bytes;
}

SockmapSplice::Flow SockmapSplice::Progress(int from, int to) {
  struct tcp_info in;
  if (!Info(from, in)) return Flow::kDrained;  // nothing more can be learnt
  // TCP states (include/net/tcp_states.h), not in the uapi headers.
  enum : uint8_t { kTimeWait = 6, kClose = 7, kCloseWait = 8, kLastAck = 9, kClosing = 11 };
  switch (in.tcpi_state) {
    case kCloseWait:
    case kLastAck:
    case kClosing:
    case kTimeWait:
    case kClose:
      break;  // no more bytes will come from `from`
    default:
      return Flow::kOpen;
  }
  // `from`'s received count includes the FIN's sequence number.
  return Taken(to) + 1 >= in.tcpi_bytes_received ? Flow::kDrained : Flow::kDraining;
}

}  // namespace prewarm::agent::oci
