// OciRuntime: instances as OCI bundles run by runc (or any runtime taking the same CLI).
//
// Per instance, under <state_dir>/instances/<id>/:
//   config.json  the bundle config (see oci_config.h)
//   rootfs/      read-only overlayfs of the template's layers (no upper layer)
//   scratch/     tmpfs of tmpl.scratch_bytes; the agent preloads into it before Start()
//                and the workload sees it read-write at tmpl.scratch_mount
//   mnt/         a tiny top layer holding the scratch mount point
//   rw/          only with TemplateSpec::install_dir: a tmpfs holding the root overlay's
//                upper layer (rootfs/ is then writable), where the instance's dpkg
//                installs the template's install_packages before the workload starts
//   netns        only with TemplateSpec::app_port: the instance's network namespace
//                (loopback up), which runc joins; the relay (relay.h) connects into it
//                where the app's bind() is not handed the instance's socket
//                (port_handoff.h; then prewarm-seccomp-exec gets --notify-fd 3)
//   runc.log     stdout/stderr of `runc run` and of the workload, through a pipe the agent
//   runc.log.1   reads: at most OciOptions::output_bytes in the two (agent/output_log.h)
// runc's own state lives in <state_dir>/runc (`runc --root`). The container id is
// id_prefix + instance id; its cgroup is /<cgroup_parent>/<container id>.
//
// Hardening (OciOptions::seccomp, ::userns): the default seccomp profile
// (seccomp_profile.h), and a user namespace per instance mapping its ids 0..65535 to the
// host ids IdBase() + slot * 65536. IdBase() is userns_base + block * kIdBlockSize for the
// first block this runtime can lock (<userns_lock_dir>/ids-<first id>.lock, held for the
// runtime's life), so agents sharing a host never share ids; InstanceSpec::slot keeps the
// instances of one agent apart. A template that installs packages at start runs without
// a user namespace: its dpkg runs as root over layers owned by the host's root.
//
// The seccomp profile reaches the workload one of two ways (SeccompMode). kPrecompiled
// (the default): the runtime compiles it once, on its first Create(), into the BPF program
// runc would build (seccomp_filter.h), kept in <state_dir>/seccomp/<sha256>.bpf beside a
// copy of prewarm-seccomp-exec; both are hard-linked into each instance's top layer (mnt/)
// at kSeccompMount (files of other profiles are removed by the next agent's CleanupStale()),
// and its command becomes `prewarm-seccomp-exec FILTER -- COMMAND...`, which
// installs the filter right before exec'ing the command (runc gets no profile). kRuntime:
// the profile goes into config.json and runc compiles it in `runc init` at every start
// (bench/instance_start/README.md). runsc always gets the profile in config.json (its
// sandbox applies it itself). Under kPrecompiled a process entered with `runc exec` gets
// no filter (config.json has none); the agent never does that.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "agent/output_log.h"
#include "agent/runtime.h"
#include "agent/runtime/cgroup.h"
#include "agent/runtime/oci/id_block.h"
#include "agent/runtime/oci/mounter.h"
#include "agent/runtime/oci/relay.h"
#include "common/process.h"

namespace prewarm::agent::oci {

// Past this many bytes of layer paths, an instance's root is one merged layer
// (BuildMergedLayer): overlayfs options must fit in a page with the rest.
inline constexpr size_t kMaxOverlayOptionBytes = 3000;
// gVisor's kernel and gofer run in the instance's pids cgroup: 39 tasks beside a busybox
// httpd here. Added to the template's limit.
inline constexpr uint32_t kGvisorSandboxPids = 128;

// Where prewarm-seccomp-exec and the filter file are inside an instance (read-only,
// in its root's top layer).
inline constexpr char kSeccompMount[] = "/run/prewarm-seccomp";

enum class SeccompMode {
  kUnconfined,   // no filter
  kPrecompiled,  // the default profile, compiled once, installed by prewarm-seccomp-exec
  kRuntime,      // the default profile in config.json, compiled by runc at every start
};

struct OciOptions {
  std::string runtime_binary = "runc";
  std::string state_dir = "/run/prewarm/node";   // one per agent: CleanupStale() owns it
  std::string cache_dir = "/var/cache/prewarm";  // where merged layers are built
  std::string id_prefix = "prewarm-";            // container ids; CleanupStale() filter
  std::string cgroup_parent = "prewarm";
  std::string cgroup_root = "/sys/fs/cgroup";
  uint32_t uid = 65534;  // the workload runs as nobody:nogroup
  uint32_t gid = 65534;
  uint32_t nofile_limit = 4096;
  uint64_t tmp_bytes = 16ull << 20;                  // /tmp tmpfs inside the instance
  std::chrono::milliseconds command_timeout{10000};  // each runc kill/delete/list
  std::chrono::milliseconds stop_timeout{10000};     // Destroy(): waiting for runc to exit
  SeccompMode seccomp = SeccompMode::kPrecompiled;
  std::string seccomp_exec;        // prewarm-seccomp-exec (static); required with kPrecompiled
  bool userns = true;              // an own host id range per instance
  uint32_t userns_base = 1000000;  // first host id handed out
  std::string userns_lock_dir = "/run/prewarm/userns";  // host-wide: one per machine
  uint64_t output_bytes = kDefaultOutputBytes;          // workload output kept per instance
  // Apps on their own port (TemplateSpec::app_port): their bind() of it gets the instance's
  // socket (port_handoff.h) where it can (kPrecompiled seccomp, runc), else the relay.
  bool port_handoff = true;
  RelayOptions relay;  // the agent's relay, where there is no handoff
};

class OciRuntime final : public Runtime {
 public:
  // `runner` and `mounter` must outlive the runtime and every instance it creates.
  OciRuntime(OciOptions options, ProcessRunner& runner, Mounter& mounter);
  // Convenience: a RealMounter owned by the runtime.
  OciRuntime(OciOptions options, ProcessRunner& runner);

  std::string name() const override { return "oci"; }
  absl::StatusOr<std::unique_ptr<RuntimeInstance>> Create(const InstanceSpec& spec) override;
  absl::Status CleanupStale() override;

  const OciOptions& options() const { return options_; }
  std::string ContainerId(std::string_view instance_id) const;
  std::string InstanceDir(std::string_view instance_id) const;
  // The instance's cgroup (Cgroups' path): <cgroup_parent>/<container id>.
  std::string CgroupPath(std::string_view instance_id) const;
  // The instance's cgroup directory for `controller` ("memory", "pids"); on a pure
  // cgroup v2 host the controller is ignored.
  std::string CgroupDir(std::string_view instance_id, std::string_view controller) const;
  // {runtime_binary, "--root", <state_dir>/runc, args...}
  std::vector<std::string> RuncCommand(std::vector<std::string> args) const;
  // runtime_binary is gVisor's runsc: own-port templates only (no --preserve-fds), its
  // network through the instance's namespace (--network=host), no user namespace of ours
  // (runsc isolates with its own), kGvisorSandboxPids more pids.
  bool gvisor() const;
  // The first host id of this runtime's block (locking one on first use).
  absl::StatusOr<uint32_t> IdBase() { return ids_.Base(); }
  // kPrecompiled: the filter file's name in <state_dir>/seccomp (and in kSeccompMount),
  // compiled and written there with prewarm-seccomp-exec on the first call.
  // `handoff`: the profile that leaves bind() to the agent (own-port apps, port_handoff.h).
  absl::StatusOr<std::string> PrecompiledSeccomp(bool handoff = false);
  std::string SeccompDir() const { return options_.state_dir + "/seccomp"; }
  // Removes what no instance of this runtime uses from SeccompDir(): filters of other
  // profiles (an upgrade changed it, or seccomp is no longer kPrecompiled) and half-written
  // files. CleanupStale() calls it once the stale instances are gone.
  absl::Status CollectSeccompFiles();

 private:
  friend class OciInstance;

  ProcessRunner& runner_;
  std::unique_ptr<Mounter> owned_mounter_;
  Mounter& mounter_;
  OciOptions options_;
  Cgroups cgroups_{options_.cgroup_root};
  HostIdBlock ids_{options_.userns_base, options_.userns_lock_dir, "oci"};
  std::mutex seccomp_mu_;
  std::optional<std::string> seccomp_filter_[2] ABSL_GUARDED_BY(seccomp_mu_);  // [handoff]
};

}  // namespace prewarm::agent::oci
