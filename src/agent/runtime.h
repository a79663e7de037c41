// Runtime: how an agent turns a template into a running, isolated instance.
// Implementations: OciRuntime (runc; src/agent/runtime/oci), later QemuRuntime, and
// FakeRuntime for tests. The agent's control loop is the only caller.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/output_log.h"
#include "common/net.h"
#include "common/status.h"

namespace prewarm::agent {

// What an instance of a template looks like. Built from the agent's template config.
struct TemplateSpec {
  std::string name;
  // Read-only root filesystem layers, top (highest priority) first; the base layer last.
  std::vector<std::string> layers;
  std::vector<std::string> command;  // argv of the workload inside the instance
  std::map<std::string, std::string> env;
  // Who the workload runs as and where (an OCI image's user and working dir); nullopt:
  // the runtime's unprivileged default.
  std::optional<std::pair<uint32_t, uint32_t>> user;  // uid, gid
  std::string cwd = "/";
  // The port the app listens on itself inside the instance; 0: the app serves the socket
  // it is handed (LISTEN_FDS). With a port, Start() keeps the socket and hands it to the
  // app's bind() of the port (oci/port_handoff.h), or relays into it.
  uint16_t app_port = 0;
  uint64_t memory_limit_bytes = 64ull << 20;
  uint32_t pids_limit = 64;
  double cpus = 0.5;                     // CPU quota in cores
  uint64_t scratch_bytes = 64ull << 20;  // ephemeral tmpfs size
  std::string scratch_mount = "/srv";    // where the workload sees scratch storage
  std::string probe_path = "/";          // readiness probe: HTTP GET path
  // In-instance install (template option install_packages): a read-only directory holding
  // debs/*.deb and the static prewarm-guest-activate. The runtime mounts it at
  // kInstallMount, gives the instance a writable root with room for `install_bytes` more
  // (charged to the instance's memory), and starts the workload through
  // `prewarm-guest-activate --install`, which runs the instance's dpkg as root first.
  std::string install_dir;     // empty: everything is in the layers
  uint64_t install_bytes = 0;  // the packages' Installed-Size
};

// Content reports (issue 17, workload/content_report.h): the directory an instance sees
// holding the agent's report socket, and the socket's path there ($PREWARM_CONTENT_REPORT).
inline constexpr char kContentReportMount[] = "/run/prewarm-report";
inline constexpr char kContentReportPath[] = "/run/prewarm-report/content.sock";

// Where an instance sees TemplateSpec::install_dir.
inline constexpr char kInstallMount[] = "/run/prewarm-install";

// The writable root an installing instance needs (tmpfs, so memory it pays for): the
// packages' installed size, a quarter more for dpkg's database and what maintainer scripts
// write (byte-compiled Python, ...), and 16 MiB for the workload's own writes.
inline uint64_t InstallRootBytes(const TemplateSpec& t) {
  return t.install_bytes + t.install_bytes / 4 + (16ull << 20);
}

struct InstanceSpec {
  std::string id;  // unique on the node; [a-zA-Z0-9_-]+
  TemplateSpec tmpl;
  IpAddr address;  // the instance's own 127.x.y.z
  uint16_t port = 80;
  // 0..slots-1, unique among the node's live instances (the agent's owner thread hands it
  // out and takes it back once the instance is destroyed): e.g. its host uid range.
  uint32_t slot = 0;
};

struct ResourceUsage {
  uint64_t memory_bytes = 0;
  uint32_t pids = 0;
};

// Connections the agent's relay (runtime/oci/relay.h) took for an instance so far.
struct RelayCounts {
  uint64_t relayed = 0;    // connected to the workload
  uint64_t in_kernel = 0;  // of those, relayed both ways by the kernel (BPF sockmap)
  uint64_t refused = 0;    // the workload's port never accepted
  uint64_t held_back = 0;  // ways taken back from the kernel (a receiver fell behind)
  // No relay: the app's bind() of its port got the instance's socket (oci/port_handoff.h)
  uint64_t handed = 0;
  bool operator==(const RelayCounts&) const = default;
};

// One instance's resources on the node. Destroy() is idempotent and always safe; the
// destructor calls it, so nothing an instance created outlives its handle.
class RuntimeInstance {
 public:
  virtual ~RuntimeInstance() = default;
  // Host path of the instance's ephemeral scratch storage; preload writes here before
  // Start(). The workload sees it at TemplateSpec::scratch_mount.
  virtual const std::string& scratch_dir() const = 0;
  // Starts the workload with `listen_fd` (already bound and listening on the instance's
  // address) passed in as fd 3 with LISTEN_FDS=1 (systemd socket activation convention).
  // Returns once the workload's process has been launched, not when it is ready.
  virtual absl::Status Start(int listen_fd) = 0;
  // Non-blocking: the workload's exit status once it has exited, else nullopt.
  virtual std::optional<int> PollExit() = 0;
  virtual ResourceUsage Usage() = 0;
  // What the agent's relay in front of the workload did (all zero where the workload
  // serves the listening socket itself).
  virtual RelayCounts Relayed() const { return {}; }
  // The agent's end of the instance's content-report socket (a bound, non-blocking unix
  // datagram socket the workload sends to; workload/content_report.h), valid until
  // Destroy(); -1 when the runtime gives its workloads no such socket (QEMU guests: a
  // host unix socket is not reachable from inside the VM; gVisor: runsc does not pass host
  // unix sockets through by default).
  virtual int content_report_fd() const { return -1; }
  // The workload's output (stdout and stderr; a QEMU guest's console) as the runtime keeps
  // it, within AgentConfig::output_bytes (agent/output_log.h); empty before Start().
  virtual absl::StatusOr<OutputTail> Output() {
    return absl::UnimplementedError("this runtime keeps no workload output");
  }
  // Stops the workload (if running) and releases everything: container, mounts, scratch.
  virtual absl::Status Destroy() = 0;
};

// What a runtime holds beside its instances, ready for instances to come (the QEMU
// runtime's standby VMs): memory no instance uses.
struct RuntimeReserve {
  uint32_t vms = 0;
  uint64_t memory_bytes = 0;  // their proportional set size
};

class Runtime {
 public:
  virtual ~Runtime() = default;
  virtual std::string name() const = 0;
  // Prepares root filesystem and scratch storage for `spec`; does not start anything.
  virtual absl::StatusOr<std::unique_ptr<RuntimeInstance>> Create(const InstanceSpec& spec) = 0;
  // Removes leftovers of a previous agent run on this node (containers, mounts, dirs).
  virtual absl::Status CleanupStale() = 0;
  virtual RuntimeReserve Reserve() const { return {}; }
};

}  // namespace prewarm::agent
