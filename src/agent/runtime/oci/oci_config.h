// The OCI runtime-spec (1.0) config.json of one instance: what runc is asked to build.
// Kept apart from the runtime so the exact isolation choices can be read (and tested)
// in one place.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace prewarm::agent::oci {

// The instance's uid/gid 0..size-1 seen as host ids host_uid.. / host_gid.. (a user
// namespace of its own).
struct IdMapping {
  uint32_t host_uid = 0;
  uint32_t host_gid = 0;
  uint32_t size = 65536;
};

struct OciConfigParams {
  std::vector<std::string> args;  // the workload's argv
  std::vector<std::string> env;   // "K=V"
  std::string hostname;
  uint32_t uid = 65534;
  uint32_t gid = 65534;
  std::string cwd = "/";
  std::string rootfs = "rootfs";    // relative to the bundle directory
  std::string scratch_source;       // host directory bind-mounted read-write
  std::string scratch_destination;  // where the workload sees it
  uint64_t tmp_bytes = 16ull << 20;
  uint64_t memory_limit_bytes = 64ull << 20;
  uint32_t pids_limit = 64;
  double cpus = 0.5;
  uint32_t nofile_limit = 4096;
  std::string cgroups_path;  // e.g. "/prewarm/prewarm-abc"
  std::string netns_path;    // join this network namespace (empty: a new, empty one)
  bool readonly_root = true;
  std::vector<std::string> capabilities;  // e.g. "CAP_CHOWN"; none by default
  // Extra read-only bind mounts. noexec unless `exec`: a bind of a directory on a noexec
  // mount (/run on many hosts) can only keep noexec in the instance's user namespace.
  struct ReadonlyBind {
    std::string destination;  // inside the instance
    std::string source;       // on the host
    bool exec = false;
  };
  std::vector<ReadonlyBind> readonly_binds;
  bool seccomp = true;  // the default profile (seccomp_profile.h) for runc to compile; false: none
  std::optional<IdMapping> userns;  // none: the host's own ids
};

// Renders config.json: read-only root (unless readonly_root is false), new
// pid/mount/ipc/uts/network namespaces (the network namespace is empty: no interface but a
// down lo, so no route out), a user namespace when `userns` is set, the default seccomp
// profile when `seccomp` is set, no capabilities (unless listed), no new privileges, runc's
// default masked and read-only /proc paths, /tmp and the scratch mount noexec.
std::string OciConfigJson(const OciConfigParams& p);

}  // namespace prewarm::agent::oci
