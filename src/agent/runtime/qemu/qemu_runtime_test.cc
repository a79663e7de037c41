// Boots real QEMU microvm guests under TCG (the accelerator probe decides; KVM fails on
// the development machines). Slow: minutes on first run (Debian's kernel package is
// downloaded into /var/cache/prewarm-test), then ~5-20 s per boot. Needs root (the base
// layer and the instance's port 80), qemu-system-x86_64 and mkfs.erofs; skips otherwise.
#include "agent/runtime/qemu/qemu_runtime.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "agent/layers.h"
#include "agent/runtime/static_test_layers.h"
#include "fmt/format.h"
#include "workload/http_client.h"

namespace prewarm::agent::qemu {
namespace {
namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class QemuRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    for (const char* tool : {"qemu-system-x86_64", "mkfs.erofs", "apt-get"}) {
      auto r =
          runner_.Run({"sh", "-c", std::string("command -v ") + tool}, std::chrono::seconds(10));
      if (!r.ok() || r->exit_code != 0) GTEST_SKIP() << tool << " not installed";
    }
    std::string tag = std::to_string(::getpid());
    work_ = fs::temp_directory_path() / ("prewarm-qemu-test-" + tag);
    options_.state_dir = "/run/prewarm-test-qemu/" + tag;
    options_.cache_dir = "/var/cache/prewarm-test";
    options_.activate = PREWARM_GUEST_ACTIVATE_PATH;
    options_.jailer = PREWARM_QEMU_JAIL_PATH;
    options_.capstone_off_lib = PREWARM_CAPSTONE_OFF_PATH;
    options_.accel = "auto";
    options_.ram_dir = "/dev/shm/prewarm-test";
    options_.cgroup_parent = "prewarm-test-qemu";
    auto layers = StaticTestLayers((work_ / "layers").string(), PREWARM_HTTPD_PATH);
    ASSERT_TRUE(layers.ok()) << layers.status();
    layers_ = *layers;
    runtime_ = std::make_unique<QemuRuntime>(options_, runner_);
    std::random_device rd;
    addr_ = IpAddr::V4((127u << 24) | (78u << 16) | (1 + rd() % 250) << 8 | (1 + rd() % 250));
  }
  void TearDown() override {
    if (runtime_ == nullptr) return;
    runtime_.reset();
    QemuRuntime cleaner(options_, runner_);
    EXPECT_TRUE(cleaner.CleanupStale().ok());
    std::error_code ec;
    fs::remove_all(options_.state_dir, ec);
    fs::remove_all(work_, ec);
    Cgroups cg(options_.cgroup_root);
    EXPECT_FALSE(fs::exists(cg.Dir(NodeCgroup(), "memory"))) << "VM cgroups outlived the runtime";
    for (const std::string& dir : cg.JoinDirs(options_.cgroup_parent)) ::rmdir(dir.c_str());
    EXPECT_FALSE(
        fs::exists(options_.ram_dir + "/" + fs::path(options_.state_dir).filename().string()))
        << "template RAM files outlived the runtime";
  }

  RealProcessRunner runner_;
  QemuOptions options_;
  fs::path work_;
  std::vector<std::string> layers_;
  std::unique_ptr<QemuRuntime> runtime_;
  IpAddr addr_;

  std::string NodeCgroup() const {
    return options_.cgroup_parent + "/qemu-" + fs::path(options_.state_dir).filename().string();
  }

  // The running QEMU `pid` of instance `spec` is in a cgroup of its own, as its
  // /proc/<pid>/cgroup says, whose limits are its guest's RAM + QEMU's overhead and
  // QEMU's threads.
  void ExpectOwnCgroup(const InstanceSpec& spec, pid_t pid) {
    Cgroups cg(options_.cgroup_root);
    std::string group = NodeCgroup() + "/" + spec.id;
    std::string procs = Slurp(fmt::format("/proc/{}/cgroup", pid));
    if (cg.v2()) {
      EXPECT_NE(procs.find("0::/" + group + "\n"), std::string::npos) << procs;
    } else {
      for (const char* c : {"memory", "pids", "cpu"}) {
        std::regex line(fmt::format(R"((^|\n)\d+:([^:\n]*,)?{}(,[^:\n]*)?:/{}\n)", c, group));
        EXPECT_TRUE(std::regex_search(procs, line)) << c << " of " << group << " in " << procs;
      }
    }
    uint32_t tb_mb =
        runtime_->LastStartPhases().restored ? options_.restore_tb_size_mb : options_.tb_size_mb;
    uint64_t tb = runtime_->accel() == "kvm" ? 0 : uint64_t{tb_mb} << 20;
    if (runtime_->accel() == "tcg") {
      std::string cmdline = Slurp(fmt::format("/proc/{}/cmdline", pid));
      EXPECT_NE(cmdline.find(fmt::format("tcg,thread=single,tb-size={}", tb_mb)), std::string::npos)
          << "a restore's translation buffer is restore_tb_size_mb, a boot's tb_size_mb";
    }
    // QEMU runs with prewarm's capstone stand-in mapped instead of capstone; a restored
    // one without the kernel and initramfs (they are in its guest's RAM).
    std::string maps = Slurp(fmt::format("/proc/{}/maps", pid));
    EXPECT_NE(maps.find("libprewarm-capstone-off.so"), std::string::npos) << maps;
    EXPECT_EQ(maps.find("libcapstone"), std::string::npos) << maps;
    std::string argv0 = Slurp(fmt::format("/proc/{}/cmdline", pid));
    std::replace(argv0.begin(), argv0.end(), '\0', ' ');
    EXPECT_EQ(argv0.find(" -kernel ") == std::string::npos, runtime_->LastStartPhases().restored)
        << argv0;
    // The jailer's PR_SET_THP_DISABLE, as the kernel reports it for the running QEMU.
    std::string status = Slurp(fmt::format("/proc/{}/status", pid));
    if (status.find("THP_enabled:") != std::string::npos) {
      EXPECT_NE(status.find(fmt::format("THP_enabled:\t{}\n", options_.thp ? 1 : 0)),
                std::string::npos)
          << status;
    }
    uint64_t want_mem = runtime_->GuestMemory(spec.tmpl) + kQemuOverheadBytes + tb;
    std::string mem_dir = cg.Dir(group, "memory");
    EXPECT_EQ(Slurp(mem_dir + (cg.v2() ? "/memory.max" : "/memory.limit_in_bytes")),
              std::to_string(want_mem) + "\n");
    uint32_t want_pids = runtime_->GuestVcpus(spec.tmpl) + kQemuWorkerThreads + kQemuOtherThreads;
    std::string pids_dir = cg.Dir(group, "pids");
    EXPECT_EQ(Slurp(pids_dir + "/pids.max"), std::to_string(want_pids) + "\n");
    auto used = ReadCgroupNumber(pids_dir + "/pids.current");
    ASSERT_TRUE(used.has_value());
    EXPECT_GE(*used, 2u) << "QEMU's threads";
    EXPECT_LE(*used, want_pids);
    auto peak =
        ReadCgroupNumber(mem_dir + (cg.v2() ? "/memory.peak" : "/memory.max_usage_in_bytes"));
    std::printf("qemu %s cgroup: memory peak %.1f of %.1f MiB, %u of %u pids\n", spec.id.c_str(),
                peak.value_or(0) / 1048576.0, want_mem / 1048576.0, static_cast<unsigned>(*used),
                want_pids);
  }

  InstanceSpec StaticSpec(const std::string& id, const IpAddr& addr) {
    InstanceSpec spec;
    spec.id = id;
    spec.address = addr;
    spec.port = 80;
    spec.tmpl.name = "static";
    spec.tmpl.layers = layers_;
    spec.tmpl.command = {"/usr/bin/prewarm-httpd", "--root", "/srv/content"};
    spec.tmpl.memory_limit_bytes = 48ull << 20;
    spec.tmpl.scratch_bytes = 16ull << 20;
    spec.tmpl.probe_path = "/index.html";
    return spec;
  }

  // Creates, preloads and starts `spec`, GETs /index.html through the agent-side socket
  // right away (it waits in the backlog while the guest starts), then destroys the
  // instance and checks that nothing of it is left.
  void ServeAndDestroy(const InstanceSpec& spec) {
    auto inst = runtime_->Create(spec);
    ASSERT_TRUE(inst.ok()) << inst.status();
    EXPECT_TRUE(runtime_->accel() == "tcg" || runtime_->accel() == "kvm");
    fs::create_directories((*inst)->scratch_dir() + "/content");
    std::ofstream((*inst)->scratch_dir() + "/content/index.html")
        << "hello from a prewarm micro-VM\n";
    auto listen = ListenTcp(spec.address, 80);
    ASSERT_TRUE(listen.ok()) << listen.status();
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE((*inst)->Start(listen->get()).ok());
    // Its directory: its own (InstanceDir), or the standby VM's it took.
    std::string dir = fs::path((*inst)->scratch_dir()).parent_path().string();
    pid_t pid = std::atoi(Slurp(dir + "/qemu.pid").c_str());
    ASSERT_GT(pid, 0);
    auto r = workload::HttpGet(spec.address, 80, "/index.html", std::chrono::seconds(300));
    double ready_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_TRUE(r.ok()) << r.status() << "\nconsole:\n"
                        << Slurp(dir + "/console.log") << "\nqemu:\n"
                        << Slurp(dir + "/qemu.log");
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello from a prewarm micro-VM\n");
    std::printf("qemu (%s, snapshot %s): start -> first HTTP answer %.2f s\n",
                runtime_->accel().c_str(), options_.snapshot.c_str(), ready_s);
    // The start's phases were recorded when its probe passed, before the GET was relayed.
    StartPhases phases = runtime_->LastStartPhases();
    EXPECT_EQ(phases.restored, options_.snapshot != "none");
    EXPECT_GT(phases.total_ms, 0);
    if (phases.restored) {
      EXPECT_GT(phases.identity_ms, 0) << "the guest's identity acknowledgement was timed";
      // The root and listening lines can arrive in the same console read as the identity
      // acknowledgement (a warm standby is that fast), so their phases may be 0 ms: that
      // the gate opened on the line is what is checked.
      EXPECT_GE(phases.root_ms, 0);
      EXPECT_GE(phases.listen_ms, 0);
      EXPECT_NE(Slurp(dir + "/console.log").find("prewarm-guest: listening"), std::string::npos)
          << "the gate opened without the guest's 'listening' line";
    }
    std::printf(
        "  phases ms: scratch %.1f spawn %.1f qmp %.1f load %.1f cont %.1f identity %.1f root "
        "%.1f listen %.1f probe %.1f total %.1f\n",
        phases.scratch_ms, phases.spawn_ms, phases.qmp_ms, phases.load_ms, phases.cont_ms,
        phases.identity_ms, phases.root_ms, phases.listen_ms, phases.probe_ms, phases.total_ms);
    EXPECT_GT((*inst)->Usage().memory_bytes, 8ull << 20);
    if (options_.jail) ExpectOwnCgroup(spec, pid);
    EXPECT_FALSE((*inst)->PollExit().has_value());
    // The instance's output is its console, where the workload's stdout goes.
    auto out = (*inst)->Output();
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_NE(out->data.find("prewarm-httpd: serving /srv/content"), std::string::npos)
        << out->data;
    // The identity line (its RNG seed) is not echoed into the instance's log.
    EXPECT_FALSE(std::regex_search(out->data, std::regex("(^|\n)go [0-9a-f]{64} "))) << out->data;
    EXPECT_LE(out->data.size(), options_.output_bytes);
    EXPECT_EQ(out->dropped + out->data.size(), fs::file_size(dir + "/console.log"));
    ASSERT_TRUE((*inst)->Destroy().ok());
    EXPECT_TRUE((*inst)->Destroy().ok());  // idempotent
    EXPECT_NE(::kill(pid, 0), 0) << "QEMU " << pid << " outlived Destroy()";
    EXPECT_FALSE(fs::exists(dir));
    for (const std::string& d :
         Cgroups(options_.cgroup_root).JoinDirs(NodeCgroup() + "/" + spec.id))
      EXPECT_FALSE(fs::exists(d)) << "the VM's cgroup outlived it";
    auto gone =
        workload::HttpGet(spec.address, options_.forward_port, "/", std::chrono::seconds(2));
    EXPECT_FALSE(gone.ok()) << "the slirp forward outlived the instance";
  }
};

TEST_F(QemuRuntimeTest, ColdBootServesPreloadedContentAndLeavesNothingBehind) {
  options_.snapshot = "none";
  runtime_ = std::make_unique<QemuRuntime>(options_, runner_);
  ServeAndDestroy(StaticSpec("cold1", addr_));
  EXPECT_FALSE(
      fs::exists(options_.ram_dir + "/" + fs::path(options_.state_dir).filename().string()));
}

TEST_F(QemuRuntimeTest, FullSnapshotRestoreServesAndLeavesNothingBehind) {
  options_.snapshot = "full";
  runtime_ = std::make_unique<QemuRuntime>(options_, runner_);
  ServeAndDestroy(StaticSpec("full1", addr_));  // the template boot, then a restore
  ServeAndDestroy(StaticSpec("full2", addr_));  // a restore of the same state file
}

TEST_F(QemuRuntimeTest, ClonesOfATemplateSnapshotServeTheirOwnScratchWithTheirOwnRandomness) {
  ASSERT_EQ(options_.snapshot, "clone");
  ServeAndDestroy(StaticSpec("clone1", addr_));  // boots and snapshots the template first
  std::string ram_root = options_.ram_dir + "/" + fs::path(options_.state_dir).filename().string();
  EXPECT_TRUE(fs::exists(ram_root)) << "the template's RAM file stays for the next clones";

  // Two clones at once, each writing what it sees of its identity into its scratch.
  std::vector<std::unique_ptr<RuntimeInstance>> insts;
  std::vector<ScopedFd> fds;
  std::vector<IpAddr> addrs = {addr_, IpAddr::V4(addr_.v4_host_order() + 1)};
  for (int i = 0; i < 2; ++i) {
    InstanceSpec spec = StaticSpec(fmt::format("twin{}", i), addrs[i]);
    spec.slot = static_cast<uint32_t>(i);  // live at once: each its own slot (and jail user)
    spec.tmpl.command = {
        "/bin/sh", "-c",
        "cat /proc/sys/kernel/random/uuid > /srv/content/uuid; hostname > /srv/content/host; "
        "cat /proc/sys/kernel/random/boot_id > /srv/content/boot_id; "
        "exec /usr/bin/prewarm-httpd --root /srv/content"};
    spec.tmpl.probe_path = "/uuid";
    auto inst = runtime_->Create(spec);
    ASSERT_TRUE(inst.ok()) << inst.status();
    fs::create_directories((*inst)->scratch_dir() + "/content");
    fs::permissions((*inst)->scratch_dir() + "/content",
                    fs::perms::all);  // the workload runs as nobody
    std::ofstream((*inst)->scratch_dir() + "/content/index.html") << "twin " << i << "\n";
    auto listen = ListenTcp(addrs[i], 80);
    ASSERT_TRUE(listen.ok()) << listen.status();
    ASSERT_TRUE((*inst)->Start(listen->get()).ok());
    insts.push_back(std::move(*inst));
    fds.push_back(std::move(*listen));
  }
  std::vector<std::string> uuids, boot_ids;
  for (int i = 0; i < 2; ++i) {
    auto idx = workload::HttpGet(addrs[i], 80, "/index.html", std::chrono::seconds(300));
    ASSERT_TRUE(idx.ok()) << idx.status() << "\n"
                          << Slurp(runtime_->InstanceDir(fmt::format("twin{}", i)) +
                                   "/console.log");
    EXPECT_EQ(idx->body, fmt::format("twin {}\n", i)) << "each clone mounts its own scratch disk";
    auto host = workload::HttpGet(addrs[i], 80, "/host", std::chrono::seconds(30));
    ASSERT_TRUE(host.ok());
    EXPECT_EQ(host->body, fmt::format("twin{}\n", i));
    auto uuid = workload::HttpGet(addrs[i], 80, "/uuid", std::chrono::seconds(30));
    ASSERT_TRUE(uuid.ok());
    EXPECT_EQ(uuid->body.size(), 37u) << uuid->body;
    uuids.push_back(uuid->body);
    auto boot_id = workload::HttpGet(addrs[i], 80, "/boot_id", std::chrono::seconds(30));
    ASSERT_TRUE(boot_id.ok());
    EXPECT_EQ(boot_id->body.size(), 37u) << boot_id->body;
    boot_ids.push_back(boot_id->body);
  }
  EXPECT_NE(uuids[0], uuids[1]) << "clones of one snapshot must not share their randomness";
  // The kernel draws boot_id at its first read: nothing reads it before the snapshot.
  EXPECT_NE(boot_ids[0], boot_ids[1]) << "clones of one snapshot must not share a boot id";
  for (auto& inst : insts) EXPECT_TRUE(inst->Destroy().ok());
}

// Waits (60 s at most) until the runtime holds `n` standby VMs; their pids.
std::vector<pid_t> WaitForStandbys(QemuRuntime& rt, size_t n) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (rt.StandbyPids().size() != n && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return rt.StandbyPids();
}

TEST_F(QemuRuntimeTest, ACloneTakesAStandbyVmWhichIsRefilledAndGoesWithTheRuntime) {
  ASSERT_EQ(options_.standby_vms, 1u);
  // The first clone of a template starts its own QEMU; its shape gets a standby from then on.
  ServeAndDestroy(StaticSpec("first", addr_));
  EXPECT_FALSE(runtime_->LastStartPhases().standby);
  std::vector<pid_t> standby = WaitForStandbys(*runtime_, 1);
  ASSERT_EQ(standby.size(), 1u) << "no standby VM after the template's first clone";
  // It waits under SCHED_IDLE, as its own jail user, restored from the template's state
  // (started with -incoming defer), its guest reseeded and its scratch mount rehearsed.
  EXPECT_EQ(::sched_getscheduler(standby[0]), SCHED_IDLE);
  std::string cmdline = Slurp(fmt::format("/proc/{}/cmdline", standby[0]));
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  EXPECT_NE(cmdline.find("-incoming defer"), std::string::npos) << cmdline;
  EXPECT_EQ(cmdline.find("hostfwd"), std::string::npos) << "a standby has no instance's forward";
  std::string standby_dir;
  std::error_code dir_ec;
  for (const auto& e : fs::directory_iterator(options_.state_dir + "/instances", dir_ec)) {
    if (std::atoi(Slurp(e.path().string() + "/qemu.pid").c_str()) == standby[0])
      standby_dir = e.path().string();
  }
  ASSERT_NE(standby_dir.find("/standby-"), std::string::npos) << standby_dir;
  std::string console = Slurp(standby_dir + "/console.log");
  EXPECT_NE(console.find("prewarm-guest: standby ready"), std::string::npos) << console;
  EXPECT_EQ(console.find("standby: rehearsal"), std::string::npos) << console;
  EXPECT_EQ(console.find("prewarm-guest: identity"), std::string::npos) << console;
  RuntimeReserve reserve = runtime_->Reserve();
  EXPECT_EQ(reserve.vms, 1u);
  EXPECT_GT(reserve.memory_bytes, 1u << 20) << "its QEMU's memory is reported";

  // The next clone takes it: no spawn or QMP connect in its start, its forward added, its
  // cgroup renamed after it, back to normal scheduling; it serves its own scratch.
  ServeAndDestroy(StaticSpec("second", addr_));
  StartPhases phases = runtime_->LastStartPhases();
  EXPECT_TRUE(phases.standby);
  EXPECT_LT(phases.spawn_ms, 1.0);
  EXPECT_LT(phases.qmp_ms, 1.0);
  EXPECT_LT(phases.load_ms, 1.0) << "its state was loaded before it was taken";
  EXPECT_NE(::kill(standby[0], 0), 0) << "the taken standby's QEMU went with its instance";

  // Refilled; and the runtime's end takes the standby with it (TearDown checks the cgroups).
  std::vector<pid_t> refill = WaitForStandbys(*runtime_, 1);
  ASSERT_EQ(refill.size(), 1u) << "the standby was not refilled";
  EXPECT_NE(refill[0], standby[0]);
  runtime_.reset();
  EXPECT_NE(::kill(refill[0], 0), 0) << "a standby VM outlived its runtime";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(options_.state_dir + "/instances", ec))
    ADD_FAILURE() << e.path() << " outlived the runtime";
  runtime_ = std::make_unique<QemuRuntime>(options_, runner_);
}

// An app on its own port with a user and working dir of its own (an OCI image's): started
// by a bare command name (looked up on PATH), it says from inside the guest which uid,
// gid and working dir it got, and prewarm-httpd binds 0.0.0.0:8080 itself.
InstanceSpec OwnPortSpec(InstanceSpec spec) {
  spec.tmpl.command = {"sh", "-c",
                       "echo \"$(id -u):$(id -g) $(pwd)\" > /srv/content/who; "
                       "exec prewarm-httpd --root /srv/content --listen 0.0.0.0:8080"};
  spec.tmpl.user = std::pair<uint32_t, uint32_t>{4242, 4343};
  spec.tmpl.cwd = "/home/app";  // not in the layers: made at start, as runc does
  spec.tmpl.app_port = 8080;
  spec.tmpl.probe_path = "/who";
  return spec;
}

// Starts `spec` (OwnPortSpec) and checks what it serves through the agent-side socket.
void ServeOwnPort(QemuRuntime& rt, const InstanceSpec& spec) {
  auto inst = rt.Create(spec);
  ASSERT_TRUE(inst.ok()) << inst.status();
  fs::create_directories((*inst)->scratch_dir() + "/content");
  fs::permissions((*inst)->scratch_dir() + "/content", fs::perms::all);
  std::ofstream((*inst)->scratch_dir() + "/content/index.html") << "own port\n";
  auto listen = ListenTcp(spec.address, 80);
  ASSERT_TRUE(listen.ok()) << listen.status();
  std::string dir = rt.InstanceDir(spec.id);
  absl::Status started = (*inst)->Start(listen->get());
  ASSERT_TRUE(started.ok()) << started << "\nqemu:\n" << Slurp(dir + "/qemu.log");
  auto r = workload::HttpGet(spec.address, 80, "/index.html", std::chrono::seconds(300));
  ASSERT_TRUE(r.ok()) << r.status() << "\nconsole:\n" << Slurp(dir + "/console.log");
  EXPECT_EQ(r->body, "own port\n");
  auto who = workload::HttpGet(spec.address, 80, "/who", std::chrono::seconds(30));
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->body, "4242:4343 /home/app\n");
  std::string console = Slurp(dir + "/console.log");
  EXPECT_NE(console.find("prewarm-guest: listening on port 8080"), std::string::npos) << console;
  EXPECT_NE(console.find("prewarm-httpd: serving /srv/content"), std::string::npos) << console;
  ASSERT_TRUE((*inst)->Destroy().ok());
}

// A prewarm-qemu-jail that fails once `marker` exists: it makes the real one bind a path
// that does not exist (a deliberately broken jail setting).
std::string BreakableJailer(const fs::path& work, const std::string& marker) {
  std::string path = (work / "breakable-jail").string();
  fs::create_directories(work);
  std::ofstream(path) << "#!/bin/sh\nif [ -e " << marker << " ]; then\n  exec "
                      << PREWARM_QEMU_JAIL_PATH
                      << " --ro /nonexistent-prewarm-test \"$@\"\nfi\nexec "
                      << PREWARM_QEMU_JAIL_PATH << " \"$@\"\n";
  fs::permissions(path, fs::perms::owner_all);
  return path;
}

// A jail that fails while a clone restores fails the start as soon as the jail exits,
// with the jailer's own words (not after QMP's 30 s connect timeout, as a deadline).
TEST_F(QemuRuntimeTest, AJailFailingDuringACloneRestoreFailsTheStartAtOnceWithItsReason) {
  std::string marker = (work_ / "break-the-jail").string();
  options_.jailer = BreakableJailer(work_, marker);
  runtime_ = std::make_unique<QemuRuntime>(options_, runner_);
  InstanceSpec spec = StaticSpec("broken", addr_);
  auto inst = runtime_->Create(spec);  // the template VM boots through the working jail
  ASSERT_TRUE(inst.ok()) << inst.status();
  std::ofstream(marker) << "";
  auto listen = ListenTcp(spec.address, 80);
  ASSERT_TRUE(listen.ok()) << listen.status();
  auto t0 = std::chrono::steady_clock::now();
  absl::Status st = (*inst)->Start(listen->get());
  std::printf("a clone whose jail fails: Start() returned after %.3f s: %s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
              st.ToString().c_str());
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.code(), absl::StatusCode::kDeadlineExceeded) << st;
  EXPECT_NE(st.message().find("its jail exited with 125"), std::string::npos) << st;
  EXPECT_NE(st.message().find(
                "prewarm-qemu-jail: stat /nonexistent-prewarm-test: No such file or directory"),
            std::string::npos)
      << st;
  EXPECT_TRUE((*inst)->Destroy().ok());
  for (const std::string& d : Cgroups(options_.cgroup_root).JoinDirs(NodeCgroup() + "/broken"))
    EXPECT_FALSE(fs::exists(d)) << "the failed VM's cgroup outlived it";
}

// The accelerator probe boots run in the same jail: one whose jail fails fails Prepare()
// with the jailer's words (no guest boots here).
TEST_F(QemuRuntimeTest, TheAcceleratorProbeBootsInTheJail) {
  std::string marker = (work_ / "break-the-jail").string();
  options_.jailer = BreakableJailer(work_, marker);
  std::ofstream(marker) << "";
  runtime_ = std::make_unique<QemuRuntime>(options_, runner_);
  absl::Status st = runtime_->Prepare();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("qemu probe-tcg: its jail exited with 125"), std::string::npos) << st;
  EXPECT_NE(st.message().find("prewarm-qemu-jail: stat /nonexistent-prewarm-test"),
            std::string::npos)
      << st;
}

TEST_F(QemuRuntimeTest, CleanupStaleKillsAVmOfAPreviousAgent) {
  options_.snapshot = "none";
  runtime_ = std::make_unique<QemuRuntime>(options_, runner_);
  auto inst = runtime_->Create(StaticSpec("orphan", addr_));
  ASSERT_TRUE(inst.ok()) << inst.status();
  auto listen = ListenTcp(addr_, 80);
  ASSERT_TRUE(listen.ok());
  ASSERT_TRUE((*inst)->Start(listen->get()).ok());
  std::string dir = runtime_->InstanceDir("orphan");
  pid_t pid = std::atoi(Slurp(dir + "/qemu.pid").c_str());
  ASSERT_GT(pid, 0);
  // The agent dies without destroying: its successor cleans up by the pid file.
  QemuRuntime successor(options_, runner_);
  ASSERT_TRUE(successor.CleanupStale().ok());
  for (int i = 0; i < 200 && ::kill(pid, 0) == 0; ++i) {
    (void)(*inst)->PollExit();  // reap (the test process is QEMU's parent)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(::kill(pid, 0), 0);
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_TRUE((*inst)->Destroy().ok());
}

// install_packages under QEMU: a clone of the template snapshot installs a package that is
// in no layer with the guest's own dpkg, as root, then runs the workload as nobody.
TEST_F(QemuRuntimeTest, AClonedGuestInstallsPackagesBeforeItsWorkload) {
  auto installer = InstallingTestTemplate(runner_, "/srv/content", PREWARM_HTTPD_PATH,
                                          PREWARM_GUEST_ACTIVATE_PATH);
  ASSERT_TRUE(installer.ok()) << installer.status();
  InstanceSpec spec = StaticSpec("installer", addr_);
  UseTemplate(spec.tmpl, *installer);
  auto inst = runtime_->Create(spec);
  ASSERT_TRUE(inst.ok()) << inst.status();
  fs::create_directories((*inst)->scratch_dir() + "/content");
  fs::permissions((*inst)->scratch_dir() + "/content",
                  fs::perms::all);  // the workload runs as nobody
  auto listen = ListenTcp(addr_, 80);
  ASSERT_TRUE(listen.ok()) << listen.status();
  ASSERT_TRUE((*inst)->Start(listen->get()).ok());
  std::string dir = runtime_->InstanceDir("installer");
  auto r = workload::HttpGet(addr_, 80, "/index.html", std::chrono::seconds(300));
  ASSERT_TRUE(r.ok()) << r.status() << "\nconsole:\n" << Slurp(dir + "/console.log");
  EXPECT_NE(r->body.find(kInstalledReport), std::string::npos) << r->body;
  EXPECT_NE(Slurp(dir + "/console.log").find("Setting up libyaml-0-2"), std::string::npos);
  EXPECT_TRUE((*inst)->Destroy().ok());
}

TEST_F(QemuRuntimeTest, AnAppOnItsOwnPortServesAsAClonedAndAColdGuest) {
  // A clone: the gate opens on the guest's "listening" line, which pid 1 prints once the
  // app's port is in the LISTEN state.
  ServeOwnPort(*runtime_, OwnPortSpec(StaticSpec("own1", addr_)));
  // A cold guest on slirp: probed over HTTP through the forward to 8080.
  options_.snapshot = "none";
  runtime_ = std::make_unique<QemuRuntime>(options_, runner_);
  ServeOwnPort(*runtime_, OwnPortSpec(StaticSpec("owncold", addr_)));
}

TEST_F(QemuRuntimeTest, AnAppOnTheGuestsLoopbackOnlyIsToldTheHostCannotReachIt) {
  InstanceSpec spec = OwnPortSpec(StaticSpec("ownlo", addr_));
  spec.tmpl.command = {"prewarm-httpd", "--root", "/srv/content", "--listen", "127.0.0.1:8080"};
  auto inst = runtime_->Create(spec);
  ASSERT_TRUE(inst.ok()) << inst.status();
  fs::create_directories((*inst)->scratch_dir() + "/content");
  auto listen = ListenTcp(spec.address, 80);
  ASSERT_TRUE(listen.ok()) << listen.status();
  ASSERT_TRUE((*inst)->Start(listen->get()).ok());
  std::string console_log = runtime_->InstanceDir(spec.id) + "/console.log";
  const std::string warning = "prewarm-guest: the app listens on port 8080 on the loopback only";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (Slurp(console_log).find(warning) == std::string::npos &&
         std::chrono::steady_clock::now() < deadline && !(*inst)->PollExit().has_value())
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::string console = Slurp(console_log);
  EXPECT_NE(console.find(warning), std::string::npos) << console;
  EXPECT_EQ(console.find("prewarm-guest: listening on port"), std::string::npos)
      << "the gate must not open for a port the host cannot reach";
  ASSERT_TRUE((*inst)->Destroy().ok());
}

// network: tap, in a network namespace the test makes for itself: the guest serves
// through the bridge, reaches nothing on the host, and its tap goes with it.
TEST_F(QemuRuntimeTest, TapGuestsServeThroughTheirBridgeAndReachNothingElse) {
  auto nft = runner_.Run({"sh", "-c", "command -v nft"}, std::chrono::seconds(10));
  if (!nft.ok() || nft->exit_code != 0) GTEST_SKIP() << "nft not installed";
  ScopedFd home(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  ASSERT_GE(home.get(), 0);
  runtime_.reset();  // the runtime's threads must be born in the new namespace
  ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << std::strerror(errno);
  struct GoHome {
    int fd;
    ~GoHome() { ::setns(fd, CLONE_NEWNET); }
  } go_home{home.get()};
  auto lo = runner_.Run({"ip", "link", "set", "lo", "up"}, std::chrono::seconds(10));
  ASSERT_TRUE(lo.ok() && lo->exit_code == 0);
  options_.network = "tap";
  options_.bridge = "pwtest0";
  options_.guest_network = "10.77.0.0/16";
  runtime_ = std::make_unique<QemuRuntime>(options_, runner_);
  absl::Status prepared = runtime_->Prepare();
  ASSERT_TRUE(prepared.ok()) << prepared;
  // A host service on the bridge's own address: the guest must not get through to it.
  auto host_service = ListenTcp(*IpAddr::Parse("10.77.0.1"), 9999);
  ASSERT_TRUE(host_service.ok()) << host_service.status();

  InstanceSpec spec = StaticSpec("tap1", addr_);
  spec.tmpl.command = {
      "/bin/sh", "-c",
      "ip -4 addr show dev eth0 > /srv/content/ip; "
      "if nc -w 3 10.77.0.1 9999 < /dev/null; then echo reached; else echo blocked; fi"
      " > /srv/content/escape; exec /usr/bin/prewarm-httpd --root /srv/content"};
  spec.tmpl.probe_path = "/escape";
  auto inst = runtime_->Create(spec);
  ASSERT_TRUE(inst.ok()) << inst.status();
  fs::create_directories((*inst)->scratch_dir() + "/content");
  fs::permissions((*inst)->scratch_dir() + "/content",
                  fs::perms::all);  // the workload runs as nobody
  std::ofstream((*inst)->scratch_dir() + "/content/index.html") << "over a tap\n";
  auto listen = ListenTcp(addr_, 80);
  ASSERT_TRUE(listen.ok()) << listen.status();
  std::string dir = runtime_->InstanceDir("tap1");
  absl::Status started = (*inst)->Start(listen->get());
  ASSERT_TRUE(started.ok()) << started << "\nqemu:\n" << Slurp(dir + "/qemu.log");
  auto r = workload::HttpGet(addr_, 80, "/index.html", std::chrono::seconds(300));
  ASSERT_TRUE(r.ok()) << r.status() << "\nconsole:\n" << Slurp(dir + "/console.log");
  EXPECT_EQ(r->body, "over a tap\n");
  uint32_t host = addr_.v4_host_order() & 0xffff;
  std::string guest_ip = fmt::format("10.77.{}.{}", host >> 8, host & 0xff);
  auto ip = workload::HttpGet(addr_, 80, "/ip", std::chrono::seconds(30));
  ASSERT_TRUE(ip.ok());
  EXPECT_NE(ip->body.find("inet " + guest_ip + "/16"), std::string::npos) << ip->body;
  auto escape = workload::HttpGet(addr_, 80, "/escape", std::chrono::seconds(30));
  ASSERT_TRUE(escape.ok());
  EXPECT_EQ(escape->body, "blocked\n");
  auto taps =
      [this] {  // the guests' taps on the bridge (/sys/class/net shows the host's namespace)
        auto r = runner_.Run({"ip", "-o", "link", "show", "master", "pwtest0"},
                             std::chrono::seconds(10));
        if (!r.ok()) return -1;
        return static_cast<int>(std::count(r->output.begin(), r->output.end(), '\n'));
      };
  EXPECT_EQ(taps(), 1);
  ASSERT_TRUE((*inst)->Destroy().ok());
  for (int i = 0; i < 100 && taps() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(taps(), 0) << "the tap outlived its VM";

  // An app on its own port: the forwarder goes to <guest address>:8080.
  ServeOwnPort(*runtime_, OwnPortSpec(StaticSpec("tapown", IpAddr::V4(addr_.v4_host_order() + 2))));
  for (int i = 0; i < 100 && taps() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(taps(), 0);

  // A cold boot on a tap takes its address from the identity line too.
  options_.snapshot = "none";
  runtime_ = std::make_unique<QemuRuntime>(options_, runner_);
  ServeAndDestroy(StaticSpec("tapcold", IpAddr::V4(addr_.v4_host_order() + 1)));
  EXPECT_EQ(taps(), 0);
}

}  // namespace
}  // namespace prewarm::agent::qemu
