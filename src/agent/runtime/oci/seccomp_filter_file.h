// The file a precompiled seccomp filter is kept in: what the agent writes
// (seccomp_filter.h) and prewarm-seccomp-exec (seccomp_exec.cc) reads. A header, then the
// classic BPF program as the kernel takes it (struct sock_filter, host byte order):
//
//   magic "PWSECCMP" | version 1 | AUDIT_ARCH_* | instruction count | 0 | FNV-1a 64 of the
//   instructions
//
// The checksum finds a truncated or damaged file; the file is the agent's own (root's,
// read-only in the instance), so it is not meant to stand against forgery.
#pragma once

#include <linux/audit.h>
#include <linux/filter.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace prewarm::agent::oci {

inline constexpr char kSeccompFileMagic[8] = {'P', 'W', 'S', 'E', 'C', 'C', 'M', 'P'};
inline constexpr uint32_t kSeccompFileVersion = 1;

struct SeccompFileHeader {
  char magic[8];
  uint32_t version;
  uint32_t arch;   // AUDIT_ARCH_X86_64, AUDIT_ARCH_AARCH64: the ABI the program expects
  uint32_t count;  // instructions that follow; 1..BPF_MAXINSNS
  uint32_t reserved;
  uint64_t checksum;  // SeccompChecksum() of the instructions
};
static_assert(sizeof(SeccompFileHeader) == 32);

// The ABI this binary was built for (seccomp_data.arch of its syscalls).
#if defined(__x86_64__)
inline constexpr uint32_t kNativeAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
inline constexpr uint32_t kNativeAuditArch = AUDIT_ARCH_AARCH64;
#else
#error "no seccomp architecture for this target"
#endif
static_assert(sizeof(sock_filter) == 8);

// FNV-1a, 64 bits.
inline uint64_t SeccompChecksum(const void* data, size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

// Checks a whole file's bytes against the format and `arch`. Returns nullptr and points
// `program`/`count` at the instructions inside `data`, or returns what is wrong.
inline const char* CheckSeccompFile(const void* data, size_t size, uint32_t arch,
                                    const sock_filter** program, uint32_t* count) {
  if (size < sizeof(SeccompFileHeader)) return "shorter than its header";
  SeccompFileHeader h;
  std::memcpy(&h, data, sizeof(h));
  if (std::memcmp(h.magic, kSeccompFileMagic, sizeof(h.magic)) != 0) {
    return "not a prewarm seccomp filter (bad magic)";
  }
  if (h.version != kSeccompFileVersion) return "unknown format version";
  if (h.arch != arch) return "built for another architecture";
  if (h.count == 0 || h.count > BPF_MAXINSNS) return "instruction count out of range";
  if (size != sizeof(h) + static_cast<size_t>(h.count) * sizeof(sock_filter)) {
    return "size does not match its instruction count (truncated?)";
  }
  const auto* insns = static_cast<const unsigned char*>(data) + sizeof(h);
  if (SeccompChecksum(insns, size - sizeof(h)) != h.checksum) return "checksum mismatch";
  *program = reinterpret_cast<const sock_filter*>(insns);
  *count = h.count;
  return nullptr;
}

}  // namespace prewarm::agent::oci
