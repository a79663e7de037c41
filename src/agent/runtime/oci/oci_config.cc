#include "agent/runtime/oci/oci_config.h"

#include <cmath>

#include "agent/runtime/oci/seccomp_profile.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace prewarm::agent::oci {
namespace {

using nlohmann::json;

// runc's `runc spec` defaults.
const std::vector<std::string> kMaskedPaths = {
    "/proc/acpi",          "/proc/asound",     "/proc/kcore",       "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/sys/firmware",       "/proc/scsi"};
const std::vector<std::string> kReadonlyPaths = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                                 "/proc/sysrq-trigger"};

json Mount(const std::string& dest, const std::string& type, const std::string& source,
           std::vector<std::string> options) {
  return {{"destination", dest}, {"type", type}, {"source", source}, {"options", options}};
}

json Mounts(const OciConfigParams& p) {
  json m = json::array();
  m.push_back(Mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}));
  m.push_back(Mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=1m"}));
  m.push_back(
      Mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=16m"}));
  if (p.userns.has_value() && !p.netns_path.empty()) {
    // sysfs may only be mounted by the user namespace owning the network namespace, and
    // the agent made that one: an empty read-only /sys instead.
    m.push_back(Mount("/sys", "tmpfs", "tmpfs", {"nosuid", "noexec", "nodev", "ro", "size=0"}));
  } else {
    m.push_back(Mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}));
  }
  m.push_back(
      Mount("/tmp", "tmpfs", "tmpfs",
            {"nosuid", "nodev", "noexec", "mode=1777", fmt::format("size={}", p.tmp_bytes)}));
  m.push_back(Mount(p.scratch_destination, "bind", p.scratch_source,
                    {"rbind", "rw", "nosuid", "nodev", "noexec"}));
  for (const OciConfigParams::ReadonlyBind& b : p.readonly_binds) {
    std::vector<std::string> options = {"rbind", "ro", "nosuid", "nodev"};
    if (!b.exec) options.push_back("noexec");
    m.push_back(Mount(b.destination, "bind", b.source, std::move(options)));
  }
  return m;
}

json Process(const OciConfigParams& p) {
  return {{"terminal", false},
          {"user", {{"uid", p.uid}, {"gid", p.gid}}},
          {"args", p.args},
          {"env", p.env},
          {"cwd", p.cwd},
          {"capabilities",
           {{"bounding", p.capabilities},
            {"effective", p.capabilities},
            {"inheritable", json::array()},
            {"permitted", p.capabilities},
            {"ambient", json::array()}}},
          {"rlimits",
           {{{"type", "RLIMIT_NOFILE"}, {"hard", p.nofile_limit}, {"soft", p.nofile_limit}}}},
          {"noNewPrivileges", true}};
}

json Namespaces(const OciConfigParams& p) {
  json ns = {{{"type", "pid"}}};
  ns.push_back(p.netns_path.empty() ? json{{"type", "network"}}
                                    : json{{"type", "network"}, {"path", p.netns_path}});
  for (const char* t : {"ipc", "uts", "mount"}) ns.push_back({{"type", t}});
  if (p.userns.has_value()) ns.push_back({{"type", "user"}});
  return ns;
}

json Linux(const OciConfigParams& p) {
  constexpr int64_t kPeriod = 100000;
  auto quota = static_cast<int64_t>(std::llround(p.cpus * kPeriod));
  json linux = {{"resources",
                 {{"devices", {{{"allow", false}, {"access", "rwm"}}}},
                  {"memory", {{"limit", p.memory_limit_bytes}}},
                  {"pids", {{"limit", p.pids_limit}}},
                  {"cpu", {{"quota", quota}, {"period", kPeriod}}}}},
                {"cgroupsPath", p.cgroups_path},
                {"namespaces", Namespaces(p)},
                {"maskedPaths", kMaskedPaths},
                {"readonlyPaths", kReadonlyPaths}};
  if (p.userns.has_value()) {
    const IdMapping& m = *p.userns;
    linux["uidMappings"] = {{{"containerID", 0}, {"hostID", m.host_uid}, {"size", m.size}}};
    linux["gidMappings"] = {{{"containerID", 0}, {"hostID", m.host_gid}, {"size", m.size}}};
  }
  if (p.seccomp) linux["seccomp"] = DefaultSeccompProfile();
  return linux;
}

}  // namespace

std::string OciConfigJson(const OciConfigParams& p) {
  json config = {{"ociVersion", "1.0.2"},
                 {"process", Process(p)},
                 {"root", {{"path", p.rootfs}, {"readonly", p.readonly_root}}},
                 {"hostname", p.hostname},
                 {"mounts", Mounts(p)},
                 {"linux", Linux(p)}};
  // Replace, not throw, on an env value or argument that is not UTF-8.
  return config.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace prewarm::agent::oci
