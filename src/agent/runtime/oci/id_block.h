// HostIdBlock: a block of kIdBlockSize host uids/gids owned by one runtime of one agent,
// handed out per instance slot. The block is userns_base + b * kIdBlockSize for the first
// b whose lock file (<lock_dir>/ids-<first id>.lock) this process can flock; the lock is
// held for the block's life, so runtimes and agents sharing a host never share ids. Slot
// s owns the ids Base() + s * kIdsPerInstance .. + kIdsPerInstance - 1.
// Used by the OCI runtime (an instance's user namespace maps its ids 0..65535 onto its
// slot's range) and the QEMU runtime (each QEMU runs as the first id of its slot's range).
#pragma once

#include <cstdint>
#include <mutex>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "common/net.h"
#include "common/status.h"

namespace prewarm::agent::oci {

// Host ids per instance (its uid/gid 0..65535) and per block (256 instances).
inline constexpr uint32_t kIdsPerInstance = 65536;
inline constexpr uint32_t kMaxUsernsSlots = 256;
inline constexpr uint64_t kIdBlockSize = uint64_t{kIdsPerInstance} * kMaxUsernsSlots;

class HostIdBlock {
 public:
  // `who` names the owner in the log line ("oci", "qemu").
  HostIdBlock(uint32_t first_id, std::string lock_dir, std::string who);
  // The first host id of the block, locking one on first use.
  absl::StatusOr<uint32_t> Base();
  // Marks `slot` as held by a live instance: an error past kMaxUsernsSlots or when held.
  absl::Status Claim(uint32_t slot);
  void Release(uint32_t slot);

 private:
  const uint32_t first_id_;
  const std::string lock_dir_, who_;
  std::mutex mu_;
  ScopedFd lock_ ABSL_GUARDED_BY(mu_);
  uint32_t base_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<uint32_t> live_ ABSL_GUARDED_BY(mu_);
};

}  // namespace prewarm::agent::oci
