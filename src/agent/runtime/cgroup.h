// Cgroups: the cgroup of one instance, for both runtimes (one implementation). runc makes
// its containers' groups from the OCI config and the OCI runtime reads them back; the QEMU
// runtime makes each VM's group itself, before QEMU runs, and removes it after.
//
// A group is named by a path under the tree's root ("prewarm/prewarm-abc"). On a cgroup v2
// host (root/cgroup.controllers exists) it is one directory, root/<path>. Otherwise each
// controller has a v1 hierarchy of its own, root/<controller>/<path>: that is the hybrid
// layout of the development machines and CI, where memory, pids and cpu are v1 hierarchies
// and the cgroup2 mount (root/unified) holds none of them.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/runtime.h"
#include "common/status.h"

namespace prewarm::agent {

// The CFS period of CPU quotas (the OCI config's, runc's default).
inline constexpr int64_t kCpuPeriodUs = 100000;

// What a group is limited to; 0 leaves a limit as it is (and unchecked).
struct CgroupLimits {
  uint64_t memory_bytes = 0;  // memory.max (v2), memory.limit_in_bytes (v1)
  uint32_t pids = 0;          // pids.max
  double cpu_cores = 0;       // CFS quota: cpu_cores x kCpuPeriodUs per period
  // Relative CPU share, 100 = the default: cpu.weight (v2, 1..10000), cpu.shares (v1,
  // weight x 1024 / 100).
  uint32_t cpu_weight = 0;
};

class Cgroups {
 public:
  explicit Cgroups(std::string root = "/sys/fs/cgroup") : root_(std::move(root)) {}
  const std::string& root() const { return root_; }
  bool v2() const;
  // The directory of group `path` for `controller` ("memory", "pids", "cpu"); on v2 the
  // controller is ignored.
  std::string Dir(std::string_view path, std::string_view controller) const;
  // Where a process joins the group (writing its pid, or 0 for itself, to each directory's
  // cgroup.procs): one directory on v2, one per controller (memory, pids, cpu) on v1.
  std::vector<std::string> JoinDirs(std::string_view path) const;
  // Makes the group (and its parents; on v2 with the controllers enabled down the tree)
  // and writes `limits`. An existing group is reused and its limits rewritten.
  absl::Status Create(std::string_view path, const CgroupLimits& limits) const;
  // Reads the limits back: FailedPrecondition naming each file, what it holds ("unreadable"
  // if nothing) and what was wanted, unless all are as asked.
  absl::Status CheckLimits(std::string_view path, const CgroupLimits& want) const;
  // Whether process `pid` is in the group in every controller (its /proc/<pid>/cgroup).
  absl::Status CheckMember(std::string_view path, pid_t pid) const;
  // memory.current / memory.usage_in_bytes and pids.current (0 when unreadable).
  ResourceUsage Usage(std::string_view path) const;
  // SIGKILLs every process in the group and in the groups below it (e.g. those of an
  // agent that died); returns how many it signalled.
  int KillAll(std::string_view path) const;
  // Renames group `from` to `to` (the same parent) in every hierarchy; its processes and
  // limits stay. On an error the hierarchies already renamed are renamed back.
  absl::Status Rename(std::string_view from, std::string_view to) const;
  // Removes the group, and any groups below it, once no process is left in them; a group
  // that does not exist is not an error.
  absl::Status Remove(std::string_view path) const;

 private:
  std::string root_;
};

// A cgroup file's single non-negative number; nullopt if unreadable or not a number
// ("max" included).
std::optional<uint64_t> ReadCgroupNumber(const std::string& path);

}  // namespace prewarm::agent
