// Host mounts the oci runtime makes for each instance (overlay rootfs, tmpfs scratch),
// behind a narrow interface so the mount table is touched in exactly one place.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace prewarm::agent::oci {

class Mounter {
 public:
  virtual ~Mounter() = default;
  // Read-only overlay of `lower_dirs` (top first) at `target`; no upper layer (a single
  // layer is bind-mounted read-only instead).
  virtual absl::Status MountOverlay(const std::vector<std::string>& lower_dirs,
                                    const std::string& target) = 0;
  // Writable overlay: `lower_dirs` (top first) under `upper_dir` (writes land there),
  // with overlayfs's `work_dir` on the same filesystem as the upper.
  virtual absl::Status MountWritableOverlay(const std::vector<std::string>& lower_dirs, const std::string& upper_dir,
                                            const std::string& work_dir, const std::string& target) = 0;
  // A tmpfs of at most `size_bytes`, root directory owned by uid:gid with `mode`.
  virtual absl::Status MountTmpfs(const std::string& target, uint64_t size_bytes, uid_t uid,
                                  gid_t gid, mode_t mode) = 0;
  // Unmounts `target`; `lazy` detaches even if busy. Not mounted is not an error.
  virtual absl::Status Unmount(const std::string& target, bool lazy) = 0;
  // Mount points at or below `dir`, deepest first (the order to unmount them in).
  virtual absl::StatusOr<std::vector<std::string>> MountsUnder(const std::string& dir) = 0;
};

class RealMounter final : public Mounter {
 public:
  absl::Status MountOverlay(const std::vector<std::string>& lower_dirs,
                            const std::string& target) override;
  absl::Status MountWritableOverlay(const std::vector<std::string>& lower_dirs, const std::string& upper_dir,
                                    const std::string& work_dir, const std::string& target) override;
  absl::Status MountTmpfs(const std::string& target, uint64_t size_bytes, uid_t uid, gid_t gid,
                          mode_t mode) override;
  absl::Status Unmount(const std::string& target, bool lazy) override;
  absl::StatusOr<std::vector<std::string>> MountsUnder(const std::string& dir) override;
};

// Parses /proc/self/mountinfo text: the mount points (unescaped) at or below `dir`,
// deepest first.
std::vector<std::string> ParseMountsUnder(const std::string& mountinfo, const std::string& dir);

}  // namespace prewarm::agent::oci
