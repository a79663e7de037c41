#include "agent/runtime/oci/oci_config.h"

#include <algorithm>

#include "agent/runtime/oci/seccomp_profile.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace prewarm::agent::oci {
namespace {

using nlohmann::json;

OciConfigParams Params() {
  OciConfigParams p;
  p.args = {"/usr/bin/prewarm-httpd", "--root", "/srv/content"};
  p.env = {"LISTEN_FDS=1", "LISTEN_PID=1"};
  p.hostname = "i-1";
  p.scratch_source = "/run/prewarm/n/instances/i-1/scratch";
  p.scratch_destination = "/srv";
  p.memory_limit_bytes = 32 << 20;
  p.pids_limit = 16;
  p.cpus = 0.25;
  p.cgroups_path = "/prewarm/prewarm-i-1";
  return p;
}

json Config(const OciConfigParams& p) { return json::parse(OciConfigJson(p)); }

json MountAt(const json& config, const std::string& dest) {
  for (const json& m : config["mounts"]) {
    if (m["destination"] == dest) return m;
  }
  return nullptr;
}

bool HasOption(const json& mount, const std::string& option) {
  const json& o = mount["options"];
  return std::find(o.begin(), o.end(), option) != o.end();
}

bool HasNamespace(const json& config, const json& ns) {
  const json& all = config["linux"]["namespaces"];
  return std::find(all.begin(), all.end(), ns) != all.end();
}

TEST(OciConfigTest, IsolatesTheWorkload) {
  json c = Config(Params());
  EXPECT_EQ(c["root"], json({{"path", "rootfs"}, {"readonly", true}}));
  EXPECT_TRUE(HasNamespace(c, {{"type", "network"}}));
  EXPECT_TRUE(HasNamespace(c, {{"type", "pid"}}));
  EXPECT_FALSE(HasNamespace(c, {{"type", "user"}}));
  EXPECT_EQ(c["process"]["noNewPrivileges"], true);
  EXPECT_EQ(c["process"]["capabilities"]["bounding"], json::array());
  EXPECT_EQ(c["process"]["user"], json({{"uid", 65534}, {"gid", 65534}}));
  EXPECT_EQ(c["linux"]["maskedPaths"][0], "/proc/acpi");
  EXPECT_EQ(c["linux"]["readonlyPaths"].size(), 5u);
}

TEST(OciConfigTest, CarriesProcessResourcesAndScratch) {
  json c = Config(Params());
  EXPECT_EQ(c["process"]["args"], json({"/usr/bin/prewarm-httpd", "--root", "/srv/content"}));
  EXPECT_EQ(c["process"]["env"], json({"LISTEN_FDS=1", "LISTEN_PID=1"}));
  EXPECT_EQ(c["linux"]["resources"]["memory"]["limit"], 32 << 20);
  EXPECT_EQ(c["linux"]["resources"]["pids"]["limit"], 16);
  EXPECT_EQ(c["linux"]["resources"]["cpu"], json({{"quota", 25000}, {"period", 100000}}));
  EXPECT_EQ(c["linux"]["cgroupsPath"], "/prewarm/prewarm-i-1");
  EXPECT_EQ(MountAt(c, "/srv"), json({{"destination", "/srv"},
                                      {"type", "bind"},
                                      {"source", "/run/prewarm/n/instances/i-1/scratch"},
                                      {"options", {"rbind", "rw", "nosuid", "nodev", "noexec"}}}));
}

// Read-only binds are noexec (a bind of a noexec mount, as /run often is, may only keep
// it in a user namespace) unless asked: the install dir holds prewarm-guest-activate.
TEST(OciConfigTest, ReadonlyBindsAreNoexecUnlessTheyHoldWhatRuns) {
  OciConfigParams p = Params();
  p.readonly_binds.push_back({"/run/prewarm-report", "/run/prewarm/n/instances/i-1/report"});
  p.readonly_binds.push_back({"/run/prewarm-install", "/var/cache/prewarm/install", true});
  json c = Config(p);
  json report = MountAt(c, "/run/prewarm-report");
  EXPECT_EQ(report["source"], "/run/prewarm/n/instances/i-1/report");
  EXPECT_TRUE(HasOption(report, "ro"));
  EXPECT_TRUE(HasOption(report, "noexec"));
  json install = MountAt(c, "/run/prewarm-install");
  EXPECT_TRUE(HasOption(install, "ro"));
  EXPECT_FALSE(HasOption(install, "noexec"));
  EXPECT_TRUE(HasOption(install, "nosuid"));
}

TEST(OciConfigTest, NothingWritableIsExecutable) {
  json c = Config(Params());
  for (const char* dest : {"/tmp", "/srv", "/dev/shm", "/proc", "/sys"}) {
    json m = MountAt(c, dest);
    ASSERT_FALSE(m.is_null()) << dest;
    EXPECT_TRUE(HasOption(m, "noexec")) << dest;
    EXPECT_TRUE(HasOption(m, "nosuid")) << dest;
  }
}

TEST(OciConfigTest, EscapesStrings) {
  OciConfigParams p = Params();
  p.env = {"QUOTE=\"x\"\n\x01"};
  EXPECT_NE(OciConfigJson(p).find(R"("QUOTE=\"x\"\n\u0001")"), std::string::npos);
  p.env = {"BAD=\xff"};  // not UTF-8: replaced, never thrown
  EXPECT_EQ(Config(p)["process"]["env"][0], "BAD=\xEF\xBF\xBD");
}

TEST(OciConfigTest, AnImagesUserWorkdirAndAnOwnNetworkNamespace) {
  OciConfigParams p = Params();
  p.uid = 4242;
  p.gid = 4343;
  p.cwd = "/srv/app";
  p.netns_path = "/run/prewarm/n/instances/i-1/netns";
  json c = Config(p);
  EXPECT_EQ(c["process"]["user"], json({{"uid", 4242}, {"gid", 4343}}));
  EXPECT_EQ(c["process"]["cwd"], "/srv/app");
  EXPECT_TRUE(HasNamespace(c, {{"type", "network"}, {"path", p.netns_path}}));
  EXPECT_FALSE(HasNamespace(c, {{"type", "network"}}));
  EXPECT_EQ(Config(Params())["process"]["cwd"], "/");
}

TEST(OciConfigTest, TheDefaultSeccompProfileDeniesByDefault) {
  json s = Config(Params())["linux"]["seccomp"];
  EXPECT_EQ(s["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(s["defaultErrnoRet"], 1);  // EPERM
  EXPECT_FALSE(s["architectures"].empty());
  OciConfigParams p = Params();
  p.seccomp = false;
  EXPECT_FALSE(Config(p)["linux"].contains("seccomp"));
}

TEST(OciConfigTest, TheAllowListLeavesOutNamespacesKeyringsIoUringAndMounts) {
  const auto& allowed = SeccompAllowedSyscalls();
  for (const char* denied : {"unshare",
                             "setns",
                             "clone",
                             "clone3",
                             "keyctl",
                             "add_key",
                             "request_key",
                             "io_uring_setup",
                             "io_uring_enter",
                             "io_uring_register",
                             "mount",
                             "umount2",
                             "pivot_root",
                             "bpf",
                             "perf_event_open",
                             "ptrace",
                             "process_vm_readv",
                             "kexec_load",
                             "init_module",
                             "reboot",
                             "userfaultfd",
                             "open_by_handle_at",
                             "socket"}) {
    EXPECT_EQ(std::count(allowed.begin(), allowed.end(), denied), 0) << denied;
  }
  for (const char* needed : {"read", "write", "execve", "sendfile", "epoll_wait", "accept4"}) {
    EXPECT_EQ(std::count(allowed.begin(), allowed.end(), needed), 1) << needed;
  }
}

TEST(OciConfigTest, CloneIsAllowedOnlyWithoutNamespaceFlagsAndClone3SaysEnosys) {
  json rules = Config(Params())["linux"]["seccomp"]["syscalls"];
  json clone, clone3;
  for (const json& r : rules) {
    if (r["names"] == json({"clone"})) clone = r;
    if (r["names"] == json({"clone3"})) clone3 = r;
  }
  ASSERT_FALSE(clone.is_null());
  EXPECT_EQ(clone["action"], "SCMP_ACT_ALLOW");
  EXPECT_EQ(clone["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
  // CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET, all of them zero.
  EXPECT_EQ(clone["args"][0]["value"], 0x7E020000u);
  EXPECT_EQ(clone["args"][0]["valueTwo"], 0);
  ASSERT_FALSE(clone3.is_null());
  EXPECT_EQ(clone3["action"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(clone3["errnoRet"], 38);  // ENOSYS
}

TEST(OciConfigTest, AUserNamespaceMapsTheInstanceToItsHostRange) {
  OciConfigParams p = Params();
  p.userns = IdMapping{1065536, 1065536, 65536};
  json c = Config(p);
  EXPECT_TRUE(HasNamespace(c, {{"type", "user"}}));
  json map = {{{"containerID", 0}, {"hostID", 1065536}, {"size", 65536}}};
  EXPECT_EQ(c["linux"]["uidMappings"], map);
  EXPECT_EQ(c["linux"]["gidMappings"], map);
  EXPECT_EQ(MountAt(c, "/sys")["type"], "sysfs");
  // Joining the agent's network namespace from a user namespace: no sysfs to mount.
  p.netns_path = "/run/prewarm/n/instances/i-1/netns";
  EXPECT_EQ(MountAt(Config(p), "/sys")["type"], "tmpfs");
}

}  // namespace
}  // namespace prewarm::agent::oci
