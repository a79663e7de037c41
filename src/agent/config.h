// The agent's configuration (one YAML file per edge node; see examples/agent.yaml).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/net.h"
#include "common/template_file.h"
#include "common/yaml_reader.h"
#include "security/tls.h"

namespace prewarm::agent {

struct TemplateConfig {
  std::string name;
  // An OCI image as the instances' root (see oci_image.h): "docker://HOST:PORT/NAME:TAG" or
  // "oci-archive:FILE". Its config's entrypoint + cmd, env, user, working dir and first
  // exposed TCP port apply unless the fields below say otherwise. Runs under runc only.
  std::string image;
  // Empty only with an image (its entrypoint + cmd); replaces both when given.
  std::vector<std::string> command;
  // image only: "user", "uid", "user:group", "uid:gid" (names from the image's
  // /etc/passwd and /etc/group); empty: the image's user, else the node's default.
  std::string user;
  std::string workdir;  // image only; empty: the image's WorkingDir, else "/"
  // image only (`port`); 0: the image's first exposed TCP port. With a port the app
  // listens on it itself and the agent relays to it (oci/relay.h); without, the app gets
  // the listening socket (LISTEN_FDS).
  uint16_t app_port = 0;
  std::map<std::string, std::string> env;
  // Host path -> path inside the instance. A host path "@prewarm-httpd" means the
  // binary of that name installed next to the prewarm binary.
  std::map<std::string, std::string> files;
  uint64_t memory_bytes = 64ull << 20;
  uint32_t pids = 64;
  double cpus = 0.5;
  uint64_t scratch_bytes = kDefaultScratchBytes;
  std::string scratch_mount = "/srv";
  std::string probe_path = "/";
  std::vector<std::string> preload;  // content ids preloaded into every instance
  // Debian packages (with their dependency closure) as layers; see packages.h.
  std::vector<std::string> packages;
  // Left out of the closure besides DefaultExcludedPackages(); "-name" keeps a default one.
  std::vector<std::string> exclude_packages;
  // Debian packages NOT pre-built: installed inside each instance at start by the guest's
  // dpkg from .debs in the node's package cache (the closure minus what the layers have).
  // Slower to start and every instance pays the installed bytes in memory; see
  // TemplateSpec::install_dir.
  std::vector<std::string> install_packages;
};

// One template: an entry of an agent config's `templates`, or a template file
// (examples/templates/*.yaml) for `prewarm image build`.
absl::StatusOr<TemplateConfig> ParseTemplateConfig(const YamlReader& r);
absl::StatusOr<TemplateConfig> LoadTemplateConfig(const std::string& path);

struct AgentConfig {
  std::string node_id;
  std::string region;
  double latitude = 0;
  double longitude = 0;
  // Orchestrator replicas (gRPC host:port), tried in order, round the list on failure.
  // YAML: `orchestrators: [a, b]` or, the older form, `orchestrator: a`.
  std::vector<std::string> orchestrators = {"127.0.0.1:7400"};
  // = orchestrators.front(); kept for callers that pass one target to OrchestratorSession.
  std::string orchestrator = "127.0.0.1:7400";
  // `tls: {ca, cert, key}`: mutual TLS to the orchestrators (none: plaintext, loopback only).
  security::TlsConfig tls;
  uint32_t slots = 8;
  uint64_t memory_bytes = 2ull << 30;
  Cidr address_range;
  uint16_t port = 80;
  uint32_t standby = 2;                 // listening sockets kept bound for cold-path answers
  int64_t quarantine_ms = 60'000;       // a freed address is not reused for this long
  std::string runtime = "oci";          // oci | qemu | fake
  std::string runtime_binary = "runc";  // oci: the OCI runtime; qemu: qemu-system-x86_64
  // oci only (see agent/runtime/oci/oci_runtime.h)
  // default: the default profile, compiled once by the agent and installed by
  // prewarm-seccomp-exec; runtime: the same profile in config.json, compiled by runc at
  // every start; unconfined: none.
  std::string seccomp = "default";
  std::string userns = "private";  // private (own host id range per instance) | host
  // Apps on their own port. handoff: under runc (seccomp default) the app's bind() of its
  // port gets the instance's socket and nothing relays (oci/port_handoff.h); elsewhere
  // (runsc, qemu) as kernel. kernel: relayed by the kernel (BPF sockmap) where it can.
  // threads: always through the relay's thread.
  std::string relay = "handoff";
  uint32_t userns_base = 1000000;  // first host id of the instances' ranges (also the qemu jail's)
  // qemu only (see agent/runtime/qemu/qemu_runtime.h)
  std::string qemu_accel = "auto";                        // auto | kvm | tcg
  std::string qemu_kernel_package = "linux-image-amd64";  // Debian's kernel for the guests
  uint16_t qemu_forward_port = 18080;                     // slirp forward on each instance address
  std::string qemu_snapshot = "clone";                    // clone | full | none
  std::string qemu_network = "slirp";                     // slirp | tap
  std::string qemu_bridge = "prewarm0";                   // tap: the node's guest bridge
  std::string qemu_guest_network = "10.77.0.0/16";        // tap: guest addresses
  bool qemu_jail =
      true;  // each QEMU its own host user, namespaces, root and seccomp (ids from userns_base)
  // TCG's translation buffer in MiB of a VM that boots and of a restored one (a clone, a
  // full restore); QemuOptions::tb_size_mb / restore_tb_size_mb. Not used under KVM.
  uint32_t qemu_tb_size_mb = 32;
  uint32_t qemu_restore_tb_size_mb = 16;
  uint32_t qemu_standby_vms = 1;  // QEMUs started ahead per template shape (QemuOptions)
  bool qemu_thp = false;          // jail only: transparent huge pages for QEMU (QemuOptions::thp)
  bool qemu_capstone = false;     // QEMU loads its disassembler (QemuOptions::capstone)
  std::string state_dir;          // default /run/prewarm/<node_id>
  std::string cache_dir = "/var/cache/prewarm";
  std::string origin_url = "http://127.0.0.1:8400";
  int64_t heartbeat_ms = 1000;
  int64_t health_interval_ms = 1000;  // health probes of ready instances (not in YAML)
  int64_t ready_timeout_ms = 30'000;
  int64_t preload_fetch_timeout_ms = 60'000;  // one content fetch, whole (not in YAML)
  std::vector<TemplateConfig> templates;
  std::string log_level = "info";
  // `instance_output_bytes`: each instance's workload output (stdout and stderr; a VM's
  // console) kept for `prewarm ctl logs`, 4 KiB - 1 MiB (agent/output_log.h).
  uint64_t output_bytes = 64 << 10;
  // `http: {listen: ...}`: GET /metrics (Prometheus text) and /healthz.
  HostPort http_listen = {IpAddr::V4(0x7F000001), kDefaultHttpPort};
  static constexpr uint16_t kDefaultHttpPort = 9430;

  const TemplateConfig* FindTemplate(const std::string& name) const;
};

// `templates`: template definitions given besides the config's template_dir and inline
// `templates` (prewarm up's top-level `templates`; common/template_file.h).
absl::StatusOr<AgentConfig> ParseAgentConfig(const YamlReader& r,
                                             const std::vector<YamlReader>& templates = {});
absl::StatusOr<AgentConfig> LoadAgentConfig(const std::string& path);

}  // namespace prewarm::agent
