#include "agent/runtime/oci/oci_config.h"

#include <cmath>

#include "fmt/format.h"

namespace prewarm::agent::oci {
namespace {

// runc's `runc spec` defaults.
constexpr std::string_view kMaskedPaths[] = {
    "/proc/acpi",          "/proc/asound",     "/proc/kcore",       "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/sys/firmware",       "/proc/scsi"};
constexpr std::string_view kReadonlyPaths[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                               "/proc/sysrq-trigger"};

std::string JsonArray(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    out += (i ? ", " : "") + JsonString(items[i]);
  }
  return out + "]";
}

std::string Mount(std::string_view dest, std::string_view type, std::string_view source,
                  const std::vector<std::string>& options) {
  return fmt::format(R"({{"destination": {}, "type": {}, "source": {}, "options": {}}})",
                     JsonString(dest), JsonString(type), JsonString(source), JsonArray(options));
}

std::string Mounts(const OciConfigParams& p) {
  std::vector<std::string> m = {
      Mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
      Mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=1m"}),
      Mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=16m"}),
      Mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
      Mount("/tmp", "tmpfs", "tmpfs",
            {"nosuid", "nodev", "mode=1777", fmt::format("size={}", p.tmp_bytes)}),
      Mount(p.scratch_destination, "bind", p.scratch_source, {"rbind", "rw", "nosuid", "nodev"}),
  };
  for (const auto& [dest, source] : p.readonly_binds) {
    m.push_back(Mount(dest, "bind", source, {"rbind", "ro", "nosuid", "nodev"}));
  }
  std::string out;
  for (size_t i = 0; i < m.size(); ++i) out += (i ? ",\n    " : "") + m[i];
  return out;
}

std::string Process(const OciConfigParams& p) {
  std::string caps = JsonArray(p.capabilities);
  return fmt::format(R"({{
    "terminal": false,
    "user": {{"uid": {}, "gid": {}}},
    "args": {},
    "env": {},
    "cwd": {},
    "capabilities": {{"bounding": {}, "effective": {}, "inheritable": [], "permitted": {}, "ambient": []}},
    "rlimits": [{{"type": "RLIMIT_NOFILE", "hard": {}, "soft": {}}}],
    "noNewPrivileges": true
  }})",
                     p.uid, p.gid, JsonArray(p.args), JsonArray(p.env), JsonString(p.cwd), caps,
                     caps, caps, p.nofile_limit, p.nofile_limit);
}

std::string Linux(const OciConfigParams& p) {
  constexpr int64_t kPeriod = 100000;
  auto quota = static_cast<int64_t>(std::llround(p.cpus * kPeriod));
  std::vector<std::string> masked(std::begin(kMaskedPaths), std::end(kMaskedPaths));
  std::vector<std::string> readonly(std::begin(kReadonlyPaths), std::end(kReadonlyPaths));
  return fmt::format(R"({{
    "resources": {{
      "devices": [{{"allow": false, "access": "rwm"}}],
      "memory": {{"limit": {}}},
      "pids": {{"limit": {}}},
      "cpu": {{"quota": {}, "period": {}}}
    }},
    "cgroupsPath": {},
    "namespaces": [{{"type": "pid"}}, {}, {{"type": "ipc"}}, {{"type": "uts"}}, {{"type": "mount"}}],
    "maskedPaths": {},
    "readonlyPaths": {}
  }})",
                     p.memory_limit_bytes, p.pids_limit, quota, kPeriod, JsonString(p.cgroups_path),
                     p.netns_path.empty() ? std::string(R"({"type": "network"})")
                                          : fmt::format(R"({{"type": "network", "path": {}}})",
                                                        JsonString(p.netns_path)),
                     JsonArray(masked), JsonArray(readonly));
}

}  // namespace

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<int>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  return out + "\"";
}

std::string OciConfigJson(const OciConfigParams& p) {
  return fmt::format(R"({{
  "ociVersion": "1.0.2",
  "process": {},
  "root": {{"path": {}, "readonly": {}}},
  "hostname": {},
  "mounts": [
    {}
  ],
  "linux": {}
}}
)",
                     Process(p), JsonString(p.rootfs), p.readonly_root, JsonString(p.hostname),
                     Mounts(p), Linux(p));
}

}  // namespace prewarm::agent::oci
