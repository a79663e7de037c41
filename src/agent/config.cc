#include "agent/config.h"

#include <algorithm>

#include "agent/oci_image.h"
#include "agent/origin.h"
#include "agent/output_log.h"
#include "agent/runtime/oci/oci_runtime.h"
#include "agent/runtime/qemu/qemu_runtime.h"
#include "common/logging.h"
#include "common/metrics_server.h"
#include "fmt/format.h"

namespace prewarm::agent {
namespace {

absl::Status ReadNode(const YamlReader& r, AgentConfig& c) {
  ASSIGN_OR_RETURN(auto node, r.Map("node"));
  if (!node) return r.Error("node", "is required (id, region, latitude, longitude)");
  RETURN_IF_ERROR(node->CheckKnown({"id", "region", "latitude", "longitude"}));
  ASSIGN_OR_RETURN(c.node_id, node->String("id"));
  ASSIGN_OR_RETURN(c.region, node->String("region"));
  ASSIGN_OR_RETURN(c.latitude, node->Double("latitude", std::nullopt, -90, 90));
  ASSIGN_OR_RETURN(c.longitude, node->Double("longitude", std::nullopt, -180, 180));
  ASSIGN_OR_RETURN(auto cap, r.Map("capacity"));
  if (cap) {
    RETURN_IF_ERROR(cap->CheckKnown({"slots", "memory"}));
    ASSIGN_OR_RETURN(int64_t slots, cap->Int("slots", 8, 1, 4096));
    c.slots = static_cast<uint32_t>(slots);
    ASSIGN_OR_RETURN(c.memory_bytes, cap->Bytes("memory", 2ull << 30));
  }
  return absl::OkStatus();
}

absl::Status ReadAddresses(const YamlReader& r, AgentConfig& c) {
  ASSIGN_OR_RETURN(auto addrs, r.Map("addresses"));
  if (!addrs) return r.Error("addresses", "is required (range, port)");
  RETURN_IF_ERROR(addrs->CheckKnown({"range", "port", "standby", "quarantine_s"}));
  ASSIGN_OR_RETURN(std::string range, addrs->String("range"));
  auto cidr = Cidr::Parse(range);
  if (!cidr.ok()) return addrs->Error("range", std::string(cidr.status().message()));
  if (cidr->prefix > (cidr->base.is_v4() ? 30 : 126)) {
    return addrs->Error("range", "must be a prefix of at least 4 addresses (IPv4 or IPv6)");
  }
  c.address_range = *cidr;
  ASSIGN_OR_RETURN(int64_t port, addrs->Int("port", 80, 1, 65535));
  c.port = static_cast<uint16_t>(port);
  ASSIGN_OR_RETURN(int64_t standby, addrs->Int("standby", 2, 1, 64));
  c.standby = static_cast<uint32_t>(standby);
  ASSIGN_OR_RETURN(int64_t q, addrs->Int("quarantine_s", 60, 0, 3600));
  c.quarantine_ms = q * 1000;
  return absl::OkStatus();
}

// `orchestrators: [host:port, ...]`, or the older single `orchestrator: host:port`.
absl::Status ReadOrchestrators(const YamlReader& r, AgentConfig& c) {
  if (r.Has("orchestrator") && r.Has("orchestrators")) {
    return r.Error("orchestrators", "give either orchestrators (a list) or orchestrator, not both");
  }
  if (r.Has("orchestrators")) {
    ASSIGN_OR_RETURN(c.orchestrators, r.StringList("orchestrators", std::nullopt));
    if (c.orchestrators.empty()) return r.Error("orchestrators", "must name at least one");
  } else {
    ASSIGN_OR_RETURN(std::string one, r.String("orchestrator", "127.0.0.1:7400"));
    c.orchestrators = {one};
  }
  for (size_t i = 0; i < c.orchestrators.size(); ++i) {
    const std::string& target = c.orchestrators[i];
    if (auto hp = HostPort::Parse(target); !hp.ok()) {
      return r.Error(r.Has("orchestrators") ? "orchestrators" : "orchestrator",
                     std::string(hp.status().message()));
    }
    if (std::find(c.orchestrators.begin(), c.orchestrators.begin() + i, target) !=
        c.orchestrators.begin() + i) {
      return r.Error("orchestrators", fmt::format("'{}' is listed twice", target));
    }
  }
  c.orchestrator = c.orchestrators.front();
  return absl::OkStatus();
}

// oci only: the seccomp profile and the per-instance user namespace (oci_runtime.h).
absl::Status ReadOciHardening(const YamlReader& rt, AgentConfig& c) {
  ASSIGN_OR_RETURN(c.seccomp, rt.String("seccomp", "default"));
  if (c.seccomp != "default" && c.seccomp != "runtime" && c.seccomp != "unconfined") {
    return rt.Error("seccomp",
                    fmt::format("'{}' is not a profile (default, runtime, unconfined)", c.seccomp));
  }
  ASSIGN_OR_RETURN(c.userns, rt.String("userns", "private"));
  if (c.userns != "private" && c.userns != "host") {
    return rt.Error("userns",
                    fmt::format("'{}' is not a user namespace mode (private, host)", c.userns));
  }
  // At least one block of ids past the host's own 0..65535 and below 2^32.
  ASSIGN_OR_RETURN(int64_t base, rt.Int("userns_base", 1000000, 65536,
                                        (int64_t{1} << 32) - int64_t{oci::kIdBlockSize}));
  c.userns_base = static_cast<uint32_t>(base);
  ASSIGN_OR_RETURN(c.relay, rt.String("relay", "handoff"));
  if (c.relay != "handoff" && c.relay != "kernel" && c.relay != "threads") {
    return rt.Error("relay",
                    fmt::format("'{}' is not a relay mode (handoff, kernel, threads)", c.relay));
  }
  return absl::OkStatus();
}

// qemu only: TCG's translation buffers and transparent huge pages (qemu_runtime.h).
absl::Status ReadQemuMemory(const YamlReader& rt, AgentConfig& c) {
  const qemu::QemuOptions defaults;
  // QEMU's own bounds for tb-size on an x86-64 host: 1 MiB to 2 GiB.
  ASSIGN_OR_RETURN(int64_t tb, rt.Int("tb_size_mb", defaults.tb_size_mb, 1, 2048));
  c.qemu_tb_size_mb = static_cast<uint32_t>(tb);
  ASSIGN_OR_RETURN(int64_t restore_tb,
                   rt.Int("restore_tb_size_mb", defaults.restore_tb_size_mb, 1, 2048));
  c.qemu_restore_tb_size_mb = static_cast<uint32_t>(restore_tb);
  ASSIGN_OR_RETURN(c.qemu_thp, rt.Bool("thp", defaults.thp));
  ASSIGN_OR_RETURN(int64_t standby, rt.Int("standby_vms", defaults.standby_vms, 0, 16));
  c.qemu_standby_vms = static_cast<uint32_t>(standby);
  ASSIGN_OR_RETURN(c.qemu_capstone, rt.Bool("capstone", defaults.capstone));
  // Without the jail nothing turns them off: QEMU has the host's setting.
  if (rt.Has("thp") && !c.qemu_jail) {
    return rt.Error("thp",
                    "applies to jailed QEMUs only (jail: true); without the jail QEMU "
                    "has the host's transparent huge page setting");
  }
  return absl::OkStatus();
}

absl::Status ReadRuntime(const YamlReader& r, AgentConfig& c) {
  ASSIGN_OR_RETURN(auto rt, r.Map("runtime"));
  if (rt) {
    RETURN_IF_ERROR(rt->CheckKnown({"kind",          "binary",
                                    "state_dir",     "cache_dir",
                                    "accel",         "kernel_package",
                                    "forward_port",  "snapshot",
                                    "network",       "bridge",
                                    "guest_network", "jail",
                                    "tb_size_mb",    "restore_tb_size_mb",
                                    "thp",           "capstone",
                                    "seccomp",       "userns",
                                    "userns_base",   "relay",
                                    "standby_vms"}));
    ASSIGN_OR_RETURN(c.runtime, rt->String("kind", "oci"));
    if (c.runtime != "oci" && c.runtime != "qemu" && c.runtime != "fake") {
      return rt->Error("kind", fmt::format("'{}' is not a runtime (oci, qemu, fake)", c.runtime));
    }
    ASSIGN_OR_RETURN(c.runtime_binary,
                     rt->String("binary", c.runtime == "qemu" ? "qemu-system-x86_64" : "runc"));
    ASSIGN_OR_RETURN(c.qemu_accel, rt->String("accel", "auto"));
    if (c.qemu_accel != "auto" && c.qemu_accel != "kvm" && c.qemu_accel != "tcg") {
      return rt->Error("accel",
                       fmt::format("'{}' is not an accelerator (auto, kvm, tcg)", c.qemu_accel));
    }
    ASSIGN_OR_RETURN(c.qemu_kernel_package, rt->String("kernel_package", "linux-image-amd64"));
    ASSIGN_OR_RETURN(int64_t fwd, rt->Int("forward_port", 18080, 1, 65535));
    c.qemu_forward_port = static_cast<uint16_t>(fwd);
    ASSIGN_OR_RETURN(c.qemu_snapshot, rt->String("snapshot", "clone"));
    if (c.qemu_snapshot != "clone" && c.qemu_snapshot != "full" && c.qemu_snapshot != "none") {
      return rt->Error("snapshot", fmt::format("'{}' is not a snapshot mode (clone, full, none)",
                                               c.qemu_snapshot));
    }
    ASSIGN_OR_RETURN(c.qemu_network, rt->String("network", "slirp"));
    if (c.qemu_network != "slirp" && c.qemu_network != "tap") {
      return rt->Error("network",
                       fmt::format("'{}' is not a network mode (slirp, tap)", c.qemu_network));
    }
    ASSIGN_OR_RETURN(c.qemu_bridge, rt->String("bridge", "prewarm0"));
    ASSIGN_OR_RETURN(c.qemu_guest_network, rt->String("guest_network", "10.77.0.0/16"));
    if (auto net = Cidr::Parse(c.qemu_guest_network); !net.ok() || !net->base.is_v4()) {
      return rt->Error("guest_network",
                       fmt::format("'{}' is not an IPv4 network", c.qemu_guest_network));
    }
    ASSIGN_OR_RETURN(c.qemu_jail, rt->Bool("jail", true));
    RETURN_IF_ERROR(ReadQemuMemory(*rt, c));
    RETURN_IF_ERROR(ReadOciHardening(*rt, c));
    ASSIGN_OR_RETURN(c.state_dir, rt->String("state_dir", ""));
    ASSIGN_OR_RETURN(c.cache_dir, rt->String("cache_dir", "/var/cache/prewarm"));
  }
  if (c.state_dir.empty()) c.state_dir = "/run/prewarm/" + c.node_id;
  if (c.runtime == "oci" && c.userns == "private" && c.slots > oci::kMaxUsernsSlots) {
    return r.Error("runtime", fmt::format("userns private gives at most {} slots their own ids; "
                                          "capacity.slots is {} (or set userns: host)",
                                          oci::kMaxUsernsSlots, c.slots));
  }
  if (c.runtime == "qemu" && c.qemu_jail && c.slots > oci::kMaxUsernsSlots) {
    return r.Error("runtime", fmt::format("jail gives at most {} slots their own host ids; "
                                          "capacity.slots is {} (or set jail: false)",
                                          oci::kMaxUsernsSlots, c.slots));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TemplateConfig> ParseTemplateConfig(const YamlReader& t) {
  RETURN_IF_ERROR(
      t.CheckKnown({"name", "image", "command", "user", "workdir", "port", "env", "files",
                    "packages", "exclude_packages", "install_packages", "memory", "pids", "cpus",
                    "scratch", "scratch_mount", "probe", "preload",
                    // How it is served (common/template_file.h): read by the orchestrator and
                    // the forecaster from the same file, checked here alike.
                    "tier", "service_time_s", "concurrency", "keepalive_s", "start_time_s"}));
  RETURN_IF_ERROR(ParseTemplateServing(t).status());
  TemplateConfig tc;
  ASSIGN_OR_RETURN(tc.name, t.String("name"));
  // It names layers, cache files and DNS services: one lower-case label.
  if (tc.name.empty() || tc.name.size() > 63 || tc.name.front() == '-' ||
      tc.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos) {
    return t.Error("name",
                   fmt::format("'{}' must be a lower-case DNS label (a-z, 0-9, '-')", tc.name));
  }
  ASSIGN_OR_RETURN(tc.image, t.String("image", ""));
  if (!tc.image.empty()) {
    if (absl::Status st = ParseImageRef(tc.image).status(); !st.ok()) {
      return t.Error("image", std::string(st.message()));
    }
  }
  ASSIGN_OR_RETURN(
      tc.command,
      t.StringList("command",
                   tc.image.empty() ? std::nullopt : std::optional(std::vector<std::string>{})));
  if (tc.command.empty() && tc.image.empty()) return t.Error("command", "must not be empty");
  ASSIGN_OR_RETURN(tc.user, t.String("user", ""));
  ASSIGN_OR_RETURN(tc.workdir, t.String("workdir", ""));
  if (!tc.workdir.empty() && tc.workdir[0] != '/') return t.Error("workdir", "must be absolute");
  ASSIGN_OR_RETURN(int64_t app_port, t.Int("port", 0, 0, 65535));
  tc.app_port = static_cast<uint16_t>(app_port);
  if (tc.image.empty()) {
    for (const char* key : {"user", "workdir", "port"}) {
      if (t.Has(key)) return t.Error(key, "only applies to a template with an image");
    }
  }
  ASSIGN_OR_RETURN(tc.env, t.StringMap("env"));
  ASSIGN_OR_RETURN(tc.files, t.StringMap("files"));
  for (const auto& [host, guest] : tc.files) {
    if (guest.empty() || guest[0] != '/')
      return t.Error("files", fmt::format("'{}' must be absolute", guest));
  }
  ASSIGN_OR_RETURN(tc.memory_bytes, t.Bytes("memory", 64ull << 20));
  ASSIGN_OR_RETURN(int64_t pids, t.Int("pids", 64, 1, 65536));
  tc.pids = static_cast<uint32_t>(pids);
  ASSIGN_OR_RETURN(tc.cpus, t.Double("cpus", 0.5, 0.01, 256));
  ASSIGN_OR_RETURN(tc.scratch_bytes, t.Bytes("scratch", kDefaultScratchBytes));
  ASSIGN_OR_RETURN(tc.scratch_mount, t.String("scratch_mount", "/srv"));
  ASSIGN_OR_RETURN(tc.probe_path, t.String("probe", "/"));
  if (tc.probe_path.empty() || tc.probe_path[0] != '/')
    return t.Error("probe", "must start with /");
  ASSIGN_OR_RETURN(tc.preload, t.StringList("preload", std::vector<std::string>{}));
  for (const std::string& id : tc.preload) {
    if (absl::Status st = ValidateContentId(id); !st.ok()) {
      return t.Error("preload", std::string(st.message()));
    }
  }
  ASSIGN_OR_RETURN(tc.packages, t.StringList("packages", std::vector<std::string>{}));
  ASSIGN_OR_RETURN(tc.exclude_packages,
                   t.StringList("exclude_packages", std::vector<std::string>{}));
  ASSIGN_OR_RETURN(tc.install_packages,
                   t.StringList("install_packages", std::vector<std::string>{}));
  if (!tc.image.empty() && (!tc.packages.empty() || !tc.install_packages.empty())) {
    return t.Error("image", "an image template cannot also have packages or install_packages");
  }
  return tc;
}

absl::StatusOr<TemplateConfig> LoadTemplateConfig(const std::string& path) {
  ASSIGN_OR_RETURN(YamlReader r, YamlReader::FromFile(path));
  return ParseTemplateConfig(r);
}

const TemplateConfig* AgentConfig::FindTemplate(const std::string& name) const {
  for (const auto& t : templates) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

absl::StatusOr<AgentConfig> ParseAgentConfig(const YamlReader& r,
                                             const std::vector<YamlReader>& given) {
  RETURN_IF_ERROR(
      r.CheckKnown({"node", "orchestrator", "orchestrators", "tls", "capacity", "addresses",
                    "runtime", "origin", "heartbeat_ms", "ready_timeout_s", "templates",
                    "template_dir", "log_level", "http", "instance_output_bytes"}));
  AgentConfig c;
  RETURN_IF_ERROR(ReadNode(r, c));
  RETURN_IF_ERROR(ReadAddresses(r, c));
  RETURN_IF_ERROR(ReadRuntime(r, c));
  RETURN_IF_ERROR(ReadOrchestrators(r, c));
  ASSIGN_OR_RETURN(c.tls, security::ParseTlsConfig(r));
  ASSIGN_OR_RETURN(c.origin_url, r.String("origin", "http://127.0.0.1:8400"));
  if (c.origin_url.rfind("http://", 0) != 0) return r.Error("origin", "must be an http:// URL");
  ASSIGN_OR_RETURN(c.heartbeat_ms, r.Int("heartbeat_ms", 1000, 50, 60'000));
  ASSIGN_OR_RETURN(int64_t ready_s, r.Int("ready_timeout_s", 30, 1, 3600));
  c.ready_timeout_ms = ready_s * 1000;
  ASSIGN_OR_RETURN(c.log_level, r.Choice("log_level", "info", kLogLevels));
  ASSIGN_OR_RETURN(c.output_bytes, r.Bytes("instance_output_bytes", kDefaultOutputBytes));
  if (c.output_bytes < kMinOutputBytes || c.output_bytes > kMaxOutputBytes) {
    return r.Error("instance_output_bytes",
                   fmt::format("{} is out of range: give 4KiB to 1MiB", c.output_bytes));
  }
  ASSIGN_OR_RETURN(c.http_listen, ReadHttpListen(r, c.http_listen.ToString()));
  // Templates defined once for every daemon (common/template_file.h), then inline ones.
  ASSIGN_OR_RETURN(SharedTemplates shared, ReadSharedTemplates(r, given));
  for (const YamlReader& d : shared.definitions) {
    ASSIGN_OR_RETURN(TemplateConfig tc, ParseTemplateConfig(d));
    c.templates.push_back(std::move(tc));
  }
  ASSIGN_OR_RETURN(auto templates, r.MapList("templates"));
  for (const YamlReader& t : templates) {
    ASSIGN_OR_RETURN(TemplateConfig tc, ParseTemplateConfig(t));
    if (c.FindTemplate(tc.name) != nullptr) {
      return t.Error("name", shared.origin.empty()
                                 ? std::string("duplicate template")
                                 : fmt::format("duplicate template (also in {})", shared.origin));
    }
    c.templates.push_back(std::move(tc));
  }
  if (c.templates.empty()) {
    return r.Error("templates", "at least one template is required (here or in template_dir)");
  }
  return c;
}

absl::StatusOr<AgentConfig> LoadAgentConfig(const std::string& path) {
  ASSIGN_OR_RETURN(YamlReader r, YamlReader::FromFile(path));
  return ParseAgentConfig(r);
}

}  // namespace prewarm::agent
