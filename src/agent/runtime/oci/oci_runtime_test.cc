// Runs real containers: needs root and runc (skips otherwise). Each test gets its own
// state dir, container-id prefix and 127.77.x.y address.
#include "agent/runtime/oci/oci_runtime.h"

#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "agent/layers.h"
#include "agent/runtime/static_test_layers.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "workload/http_client.h"

namespace prewarm::agent::oci {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using workload::HttpConnection;
using workload::HttpGet;

constexpr milliseconds kTimeout(30000);

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class OciRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    auto version = runner_.Run({"runc", "--version"}, kTimeout);
    if (!version.ok() || version->exit_code != 0) GTEST_SKIP() << "runc not available";
    std::string tag = std::to_string(::getpid());
    work_ = fs::temp_directory_path() / ("prewarm-oci-test-" + tag);
    options_.state_dir = "/run/prewarm-test/" + tag;
    options_.id_prefix = "pwt" + tag + "-";
    options_.cgroup_parent = "prewarm-test";
    options_.seccomp_exec = PREWARM_SECCOMP_EXEC_PATH;
    auto layers = StaticTestLayers((work_ / "layers").string(), PREWARM_HTTPD_PATH);
    ASSERT_TRUE(layers.ok()) << layers.status();
    layers_ = *layers;
    runtime_ = std::make_unique<OciRuntime>(options_, runner_);
    std::random_device rd;
    addr_ = IpAddr::V4((127u << 24) | (77u << 16) | (1 + rd() % 250) << 8 | (1 + rd() % 250));
  }

  void TearDown() override {
    if (runtime_ == nullptr) return;
    runtime_.reset();
    OciRuntime cleaner(options_, runner_);
    EXPECT_TRUE(cleaner.CleanupStale().ok());
    std::error_code ec;
    fs::remove_all(options_.state_dir, ec);
    fs::remove_all(work_, ec);
    for (const auto& controller : fs::directory_iterator("/sys/fs/cgroup", ec)) {
      ::rmdir((controller.path() / options_.cgroup_parent).c_str());  // runc leaves the parent
    }
    ::rmdir("/run/prewarm-test");  // if empty
  }

  InstanceSpec Spec(const std::string& id) {
    InstanceSpec spec;
    spec.id = id;
    spec.address = addr_;
    spec.tmpl.name = "static";
    spec.tmpl.layers = layers_;
    spec.tmpl.command = {"/usr/bin/prewarm-httpd", "--root", "/srv/content"};
    spec.tmpl.memory_limit_bytes = 48ull << 20;
    spec.tmpl.pids_limit = 32;
    spec.tmpl.scratch_bytes = 16ull << 20;
    return spec;
  }

  // Spec(id) with prewarm-httpd listening on a port of its own (TemplateSpec::app_port).
  InstanceSpec OwnPortSpec(const std::string& id) {
    InstanceSpec spec = Spec(id);
    spec.tmpl.command = {"/usr/bin/prewarm-httpd", "--root", "/srv/content", "--listen",
                         "127.0.0.1:8080"};
    spec.tmpl.app_port = 8080;
    return spec;
  }

  // Preloads hello.txt into `inst` and starts it on a new listening socket at addr_:port_,
  // kept in `fd`.
  static absl::Status PreloadAndStart(RuntimeInstance& inst, const IpAddr& addr, uint16_t port,
                                      ScopedFd& fd) {
    fs::create_directories(fs::path(inst.scratch_dir()) / "content");
    std::ofstream(fs::path(inst.scratch_dir()) / "content/hello.txt") << "preloaded\n";
    ASSIGN_OR_RETURN(fd, ListenTcp(addr, port));
    return inst.Start(fd.get());
  }

  // Create (by `rt`, else the fixture's runtime) + preload hello.txt + listen: ready to
  // Start().
  std::unique_ptr<RuntimeInstance> CreateWithContent(const std::string& id,
                                                     OciRuntime* rt = nullptr) {
    auto inst = (rt != nullptr ? rt : runtime_.get())->Create(Spec(id));
    EXPECT_TRUE(inst.ok()) << inst.status();
    if (!inst.ok()) return nullptr;
    fs::path content = fs::path((*inst)->scratch_dir()) / "content";
    fs::create_directories(content);
    std::ofstream(content / "hello.txt") << "preloaded\n";
    auto fd = ListenTcp(addr_, port_);
    EXPECT_TRUE(fd.ok()) << fd.status();
    listen_fd_ = std::move(fd).value();
    return std::move(inst).value();
  }

  bool WaitReady() {
    auto deadline = std::chrono::steady_clock::now() + kTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = HttpGet(addr_, port_, "/hello.txt", milliseconds(1000));
      if (r.ok() && r->status == 200) return true;
      std::this_thread::sleep_for(milliseconds(5));
    }
    return false;
  }

  std::string Runc(std::vector<std::string> args) {
    auto r = runner_.Run(runtime_->RuncCommand(std::move(args)), kTimeout);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->output : "";
  }

  RealProcessRunner runner_;
  OciOptions options_;
  std::unique_ptr<OciRuntime> runtime_;
  std::vector<std::string> layers_;
  fs::path work_;
  IpAddr addr_;
  uint16_t port_ = 80;
  ScopedFd listen_fd_;
};

TEST_F(OciRuntimeTest, AnswersARequestThatConnectedBeforeStart) {
  auto inst = CreateWithContent("early");
  ASSERT_NE(inst, nullptr);
  // Connected and sent while nothing runs yet: the kernel queues it on our socket.
  auto early = HttpConnection::Connect(addr_, port_, kTimeout);
  ASSERT_TRUE(early.ok()) << early.status();
  ASSERT_TRUE(early->Send("GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  ASSERT_TRUE(inst->Start(listen_fd_.get()).ok());
  auto r = early->ReadResponse();
  ASSERT_TRUE(r.ok()) << r.status() << Slurp(runtime_->InstanceDir("early") + "/runc.log");
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "preloaded\n");
  auto fresh = HttpGet(addr_, port_, "/hello.txt", kTimeout);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->body, "preloaded\n");
  EXPECT_FALSE(inst->PollExit().has_value());
  ResourceUsage usage = inst->Usage();
  EXPECT_GT(usage.memory_bytes, 0u);
  EXPECT_GE(usage.pids, 1u);
}

// The instance's report socket reaches through the sandbox (bind mount, user namespace,
// $PREWARM_CONTENT_REPORT): what prewarm-httpd served arrives on content_report_fd().
TEST_F(OciRuntimeTest, TheWorkloadReportsWhatItServedOnTheInstancesReportSocket) {
  auto inst = CreateWithContent("reports");
  ASSERT_NE(inst, nullptr);
  const int fd = inst->content_report_fd();
  ASSERT_GE(fd, 0);
  // Only the workload's (host) user may send: the socket is its, mode 0600.
  struct stat st {};
  ASSERT_EQ(::stat((runtime_->InstanceDir("reports") + "/report/content.sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_GE(st.st_uid, options_.userns_base) << "the workload's mapped uid, not root";
  ASSERT_TRUE(inst->Start(listen_fd_.get()).ok());
  auto r = HttpGet(addr_, port_, "/hello.txt", kTimeout);
  ASSERT_TRUE(r.ok()) << r.status() << Slurp(runtime_->InstanceDir("reports") + "/runc.log");
  EXPECT_EQ(r->status, 200);
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10'000), 1) << "no report within 10 s";
  char buf[2048];
  ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "200\t10\thello.txt");
}

TEST_F(OciRuntimeTest, WorkloadHasNoNetworkButLoopback) {
  auto inst = CreateWithContent("netns");
  ASSERT_NE(inst, nullptr);
  ASSERT_TRUE(inst->Start(listen_fd_.get()).ok());
  ASSERT_TRUE(WaitReady());
  std::string cid = runtime_->ContainerId("netns");
  std::string dev = Runc({"exec", cid, "/bin/cat", "/proc/net/dev"});
  EXPECT_NE(dev.find("lo:"), std::string::npos) << dev;
  int interfaces = 0;
  for (char c : dev) interfaces += c == ':' ? 1 : 0;
  EXPECT_EQ(interfaces, 1) << dev;  // one "name:" per interface: lo only
  std::string routes = Runc({"exec", cid, "/bin/cat", "/proc/net/route"});
  EXPECT_EQ(std::count(routes.begin(), routes.end(), '\n'), 1) << routes;  // header only
  std::string whoami = Runc({"exec", cid, "/bin/id", "-u"});
  EXPECT_EQ(whoami, "65534\n");
}

TEST_F(OciRuntimeTest, AppliesMemoryAndPidsLimits) {
  auto inst = CreateWithContent("limits");
  ASSERT_NE(inst, nullptr);
  ASSERT_TRUE(inst->Start(listen_fd_.get()).ok());
  ASSERT_TRUE(WaitReady());
  std::string mem = runtime_->CgroupDir("limits", "memory");
  std::string limit = fs::exists(mem + "/memory.max") ? Slurp(mem + "/memory.max")
                                                      : Slurp(mem + "/memory.limit_in_bytes");
  EXPECT_EQ(limit, std::to_string(48ull << 20) + "\n");
  EXPECT_EQ(Slurp(runtime_->CgroupDir("limits", "pids") + "/pids.max"), "32\n");
}

// The agent reads the limits back after start; a cgroup that does not show them is a
// failed start that says why (here: the agent looks in a cgroup tree runc never wrote to).
TEST_F(OciRuntimeTest, StartFailsClearlyWhenTheCgroupLimitsDoNotReadBack) {
  OciOptions o = options_;
  o.cgroup_root = (work_ / "not-a-cgroup-tree").string();
  o.command_timeout = milliseconds(1500);
  fs::create_directories(o.cgroup_root);
  OciRuntime rt(o, runner_);
  auto inst = rt.Create(Spec("nolimits"));
  ASSERT_TRUE(inst.ok()) << inst.status();
  auto fd = ListenTcp(addr_, port_);
  ASSERT_TRUE(fd.ok()) << fd.status();
  absl::Status st = (*inst)->Start(fd->get());
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_NE(st.message().find("cgroup limits not applied"), std::string::npos) << st;
  EXPECT_NE(st.message().find("pids.max = unreadable (want 32)"), std::string::npos) << st;
  EXPECT_TRUE((*inst)->Destroy().ok());
}

// Each live instance has its own host id range (slot), and a slot is free again once its
// instance is destroyed.
TEST_F(OciRuntimeTest, LiveInstancesNeverShareAHostIdRange) {
  InstanceSpec a = Spec("ids-a"), b = Spec("ids-b");
  a.slot = 0;
  b.slot = 1;
  auto ia = runtime_->Create(a);
  ASSERT_TRUE(ia.ok()) << ia.status();
  auto ib = runtime_->Create(b);
  ASSERT_TRUE(ib.ok()) << ib.status();
  struct stat sa = {}, sb = {};
  ASSERT_EQ(::stat((*ia)->scratch_dir().c_str(), &sa), 0);
  ASSERT_EQ(::stat((*ib)->scratch_dir().c_str(), &sb), 0);
  auto base = runtime_->IdBase();
  ASSERT_TRUE(base.ok()) << base.status();
  EXPECT_EQ(sa.st_uid, *base + 65534);
  EXPECT_EQ(sb.st_uid, *base + kIdsPerInstance + 65534);
  InstanceSpec again = Spec("ids-c");
  again.slot = 1;
  EXPECT_FALSE(runtime_->Create(again).ok());
  ASSERT_TRUE((*ib)->Destroy().ok());
  auto ic = runtime_->Create(again);
  EXPECT_TRUE(ic.ok()) << ic.status();
  // Another runtime on this host (another agent) gets another block of ids.
  OciOptions other = options_;
  other.state_dir += "-other";
  OciRuntime second(other, runner_);
  auto other_base = second.IdBase();
  ASSERT_TRUE(other_base.ok()) << other_base.status();
  EXPECT_NE(*other_base, *base);
}

// gVisor (Debian's runsc): an app on its own port, behind the agent's relay, answers; the
// instance's kernel is gVisor's. A socket-activated template is refused with the reason.
TEST_F(OciRuntimeTest, GvisorRunsAnOwnPortAppBehindTheRelay) {
  auto version = runner_.Run({"runsc", "--version"}, kTimeout);
  if (!version.ok() || version->exit_code != 0) GTEST_SKIP() << "runsc not installed";
  OciOptions o = options_;
  o.runtime_binary = "runsc";
  o.state_dir += "-runsc";
  OciRuntime rt(o, runner_);
  EXPECT_NE(rt.Create(Spec("gvisor")).status().message().find("a port of its own"),
            std::string::npos);
  auto inst = rt.Create(OwnPortSpec("gvisor"));
  ASSERT_TRUE(inst.ok()) << inst.status();
  ScopedFd fd;
  absl::Status st = PreloadAndStart(**inst, addr_, port_, fd);
  ASSERT_TRUE(st.ok()) << st << Slurp(rt.InstanceDir("gvisor") + "/runc.log");
  EXPECT_TRUE(WaitReady()) << Slurp(rt.InstanceDir("gvisor") + "/runc.log");
  EXPECT_EQ((*inst)->Relayed().handed, 0u);  // gVisor's kernel applies seccomp: the relay
  EXPECT_GE((*inst)->Relayed().relayed, 1u);
  auto kernel = runner_.Run(
      rt.RuncCommand({"exec", rt.ContainerId("gvisor"), "/bin/cat", "/proc/version"}), kTimeout);
  ASSERT_TRUE(kernel.ok()) << kernel.status();
  std::string host_kernel = Slurp("/proc/version");
  EXPECT_NE(kernel->output, host_kernel);  // gVisor's own, not the host's
  EXPECT_NE(kernel->output.find("Linux version"), std::string::npos) << kernel->output;
  EXPECT_TRUE((*inst)->Destroy().ok());
  auto list = runner_.Run(rt.RuncCommand({"list", "--quiet"}), kTimeout);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->output.find(rt.ContainerId("gvisor")), std::string::npos) << list->output;
  EXPECT_TRUE(rt.CleanupStale().ok());
  std::error_code ec;
  fs::remove_all(o.state_dir, ec);
}

// An app on its own port under runc: by default its bind() of the port gets the instance's
// socket (port_handoff.h) and nothing relays; with the handoff off, the relay carries it.
TEST_F(OciRuntimeTest, AnOwnPortAppGetsTheInstancesSocketAtItsBindOrElseIsRelayed) {
  for (bool handoff : {true, false}) {
    SCOPED_TRACE(handoff ? "handoff" : "relay");
    OciOptions o = options_;
    o.port_handoff = handoff;
    OciRuntime rt(o, runner_);
    const std::string id = handoff ? "own-handoff" : "own-relay";
    auto inst = rt.Create(OwnPortSpec(id));
    ASSERT_TRUE(inst.ok()) << inst.status();
    ScopedFd fd;
    absl::Status st = PreloadAndStart(**inst, addr_, port_, fd);
    ASSERT_TRUE(st.ok()) << st << Slurp(rt.InstanceDir(id) + "/runc.log");
    EXPECT_TRUE(WaitReady()) << Slurp(rt.InstanceDir(id) + "/runc.log");
    for (int i = 0; i < 3; ++i) {
      auto r = HttpGet(addr_, port_, "/hello.txt", kTimeout);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->body, "preloaded\n");
    }
    RelayCounts c = (*inst)->Relayed();
    if (handoff) {
      EXPECT_EQ(c.handed, 1u);
      EXPECT_EQ(c.relayed, 0u);
    } else {
      EXPECT_EQ(c.handed, 0u);
      EXPECT_GE(c.relayed, 4u);  // the probe's and ours
    }
    EXPECT_TRUE((*inst)->Destroy().ok());
  }
}

TEST_F(OciRuntimeTest, PollExitReportsAKilledWorkload) {
  auto inst = CreateWithContent("killed");
  ASSERT_NE(inst, nullptr);
  ASSERT_TRUE(inst->Start(listen_fd_.get()).ok());
  ASSERT_TRUE(WaitReady());
  Runc({"kill", runtime_->ContainerId("killed"), "KILL"});
  auto deadline = std::chrono::steady_clock::now() + kTimeout;
  std::optional<int> code;
  while (!(code = inst->PollExit()).has_value() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  EXPECT_TRUE(inst->Destroy().ok());
}

// The workload's stdout and stderr reach Output() through the agent's pipe: what a
// workload said before it exited is all there once PollExit() has seen the exit.
TEST_F(OciRuntimeTest, OutputHoldsWhatTheWorkloadWroteBeforeItExited) {
  InstanceSpec spec = Spec("talker");
  spec.tmpl.command = {"/usr/bin/prewarm-httpd", "--no-such-flag"};  // usage, exit 2
  auto inst = runtime_->Create(spec);
  ASSERT_TRUE(inst.ok()) << inst.status();
  auto fd = ListenTcp(addr_, port_);
  ASSERT_TRUE(fd.ok()) << fd.status();
  auto before = (*inst)->Output();
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_TRUE(before->data.empty());
  ASSERT_TRUE((*inst)->Start(fd->get()).ok());
  auto deadline = std::chrono::steady_clock::now() + kTimeout;
  std::optional<int> code;
  while (!(code = (*inst)->PollExit()).has_value() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_TRUE(code.has_value());
  auto out = (*inst)->Output();
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_NE(out->data.find("usage: /usr/bin/prewarm-httpd [--root DIR]"), std::string::npos)
      << out->data;
  EXPECT_EQ(out->dropped, 0u);
  EXPECT_TRUE((*inst)->Destroy().ok());
}

// seccomp: default. The filter file going missing after the runtime wrote it fails the
// create, damaged it stops the instance before its command runs; each says why, and
// nothing runs unfiltered.
TEST_F(OciRuntimeTest, AMissingOrDamagedSeccompFilterStopsTheWorkloadBeforeItRuns) {
  auto name = runtime_->PrecompiledSeccomp();
  ASSERT_TRUE(name.ok()) << name.status();
  std::string file = runtime_->SeccompDir() + "/" + *name;
  const std::string good = Slurp(file);
  ASSERT_GT(good.size(), 64u);
  auto run = [&](const std::string& id) -> std::pair<std::optional<int>, std::string> {
    InstanceSpec spec = Spec(id);
    spec.tmpl.command = {"/bin/sh", "-c", "echo ran > /srv/ran; exec sleep 60"};
    auto inst = runtime_->Create(spec);
    EXPECT_TRUE(inst.ok()) << inst.status();
    if (!inst.ok()) return {std::nullopt, ""};
    std::string marker = (*inst)->scratch_dir() + "/ran";
    auto fd = ListenTcp(addr_, port_);
    EXPECT_TRUE(fd.ok()) << fd.status();
    // Start() may or may not see the limits before the instance is gone again.
    (*inst)->Start(fd->get()).IgnoreError();
    auto deadline = std::chrono::steady_clock::now() + kTimeout;
    std::optional<int> code;
    while (!(code = (*inst)->PollExit()).has_value() && !fs::exists(marker) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    auto out = (*inst)->Output();
    std::string said = out.ok() ? out->data : out.status().ToString();
    if (fs::exists(marker)) said += "\n[the command ran]";
    EXPECT_TRUE((*inst)->Destroy().ok());
    return {code, said};
  };
  fs::rename(file, file + ".away");
  auto missing = runtime_->Create(Spec("nofilter"));
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(file), std::string::npos) << missing.status();
  fs::rename(file + ".away", file);
  std::string damaged = good;
  damaged[good.size() / 2] ^= 0x10;
  std::ofstream(file, std::ios::binary | std::ios::trunc) << damaged;
  auto [damaged_code, said] = run("badfilter");
  EXPECT_EQ(damaged_code, 125) << said;
  EXPECT_NE(said.find("prewarm-seccomp-exec: /run/prewarm-seccomp/" + *name +
                      ": checksum mismatch (not running the workload without its seccomp "
                      "filter)"),
            std::string::npos)
      << said;
  // The control: the same command with the file as the runtime wrote it runs.
  std::ofstream(file, std::ios::binary | std::ios::trunc) << good;
  auto [code, ran] = run("goodfilter");
  EXPECT_FALSE(code.has_value()) << ran;
  EXPECT_NE(ran.find("[the command ran]"), std::string::npos) << ran;
}

// seccomp: default hands runc no profile: the instance's command is prewarm-seccomp-exec
// with the filter, both under a read-only bind of the runtime's seccomp directory.
TEST_F(OciRuntimeTest, ThePrecompiledFilterReplacesTheProfileInConfigJson) {
  auto inst = runtime_->Create(Spec("wrapped"));
  ASSERT_TRUE(inst.ok()) << inst.status();
  auto config = nlohmann::json::parse(Slurp(runtime_->InstanceDir("wrapped") + "/config.json"));
  EXPECT_FALSE(config["linux"].contains("seccomp"));
  auto name = runtime_->PrecompiledSeccomp();
  ASSERT_TRUE(name.ok()) << name.status();
  std::vector<std::string> args = config["process"]["args"];
  std::vector<std::string> want = {"/run/prewarm-seccomp/prewarm-seccomp-exec",
                                   "/run/prewarm-seccomp/" + *name,
                                   "--",
                                   "/usr/bin/prewarm-httpd",
                                   "--root",
                                   "/srv/content"};
  EXPECT_EQ(args, want);
  // Both files are the runtime's own, in the root's top layer (no mount of the state dir).
  std::string top = runtime_->InstanceDir("wrapped") + "/mnt/run/prewarm-seccomp/";
  for (const std::string& f : {std::string("prewarm-seccomp-exec"), *name}) {
    struct stat in_root = {}, kept = {};
    ASSERT_EQ(::stat((top + f).c_str(), &in_root), 0) << f;
    ASSERT_EQ(::stat((runtime_->SeccompDir() + "/" + f).c_str(), &kept), 0) << f;
    EXPECT_EQ(in_root.st_ino, kept.st_ino) << f;
    EXPECT_EQ(in_root.st_mode & 0222, 0u) << f;  // writable by no one
  }
  for (const auto& m : config["mounts"]) EXPECT_NE(m["source"], runtime_->SeccompDir());
  // The profile itself when asked for (seccomp: runtime), and no wrapper.
  OciOptions o = options_;
  o.seccomp = SeccompMode::kRuntime;
  o.state_dir += "-runtime";
  OciRuntime rt(o, runner_);
  auto other = rt.Create(Spec("inconfig"));
  ASSERT_TRUE(other.ok()) << other.status();
  config = nlohmann::json::parse(Slurp(rt.InstanceDir("inconfig") + "/config.json"));
  EXPECT_EQ(config["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(config["process"]["args"][0], "/usr/bin/prewarm-httpd");
  EXPECT_TRUE((*other)->Destroy().ok());
  std::error_code ec;
  fs::remove_all(o.state_dir, ec);
  EXPECT_TRUE((*inst)->Destroy().ok());
}

// The seccomp directory keeps what the current runtime uses: a restarted agent removes the
// filters of other profiles (an upgrade changed the profile) and half-written files, and
// keeps the current filter and wrapper, which its instances then run with. A runtime that
// does not precompile (seccomp: runtime) uses none of them.
TEST_F(OciRuntimeTest, ARestartedAgentCollectsTheSeccompFilesNoRuntimeUses) {
  auto name = runtime_->PrecompiledSeccomp();
  ASSERT_TRUE(name.ok()) << name.status();
  const std::string dir = runtime_->SeccompDir();
  const std::string old_filter = dir + "/0123456789abcdef0123456789abcdef.bpf";
  const std::string half_written = dir + "/." + *name + ".tmp";
  std::ofstream(old_filter) << "an older profile's filter";
  std::ofstream(half_written) << "half";
  ASSERT_TRUE(fs::exists(old_filter));

  OciRuntime restarted(options_, runner_);
  ASSERT_TRUE(restarted.CleanupStale().ok());
  EXPECT_FALSE(fs::exists(old_filter));
  EXPECT_FALSE(fs::exists(half_written));
  EXPECT_TRUE(fs::exists(dir + "/" + *name));
  EXPECT_TRUE(fs::exists(dir + "/prewarm-seccomp-exec"));
  // The restarted runtime's instances run under the kept filter.
  auto inst = CreateWithContent("kept", &restarted);
  ASSERT_NE(inst, nullptr);
  ASSERT_TRUE(inst->Start(listen_fd_.get()).ok());
  ASSERT_TRUE(WaitReady());
  EXPECT_TRUE(inst->Destroy().ok());
  EXPECT_TRUE(fs::exists(dir + "/" + *name));

  OciOptions o = options_;
  o.seccomp = SeccompMode::kRuntime;
  OciRuntime in_config(o, runner_);
  ASSERT_TRUE(in_config.CleanupStale().ok());
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST_F(OciRuntimeTest, DestroyLeavesNoMountDirectoryOrContainer) {
  auto inst = CreateWithContent("gone");
  ASSERT_NE(inst, nullptr);
  ASSERT_TRUE(inst->Start(listen_fd_.get()).ok());
  ASSERT_TRUE(WaitReady());
  std::string dir = runtime_->InstanceDir("gone");
  EXPECT_NE(Slurp("/proc/self/mountinfo").find(dir), std::string::npos);
  ASSERT_TRUE(inst->Destroy().ok());
  EXPECT_TRUE(inst->Destroy().ok());  // idempotent
  EXPECT_EQ(Slurp("/proc/self/mountinfo").find(dir), std::string::npos);
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_EQ(Runc({"list", "--quiet"}).find(runtime_->ContainerId("gone")), std::string::npos);
  EXPECT_FALSE(HttpGet(addr_, port_, "/hello.txt", milliseconds(200)).ok());
}

TEST_F(OciRuntimeTest, DestroyBeforeStartReleasesMounts) {
  auto inst = CreateWithContent("unstarted");
  ASSERT_NE(inst, nullptr);
  std::string dir = runtime_->InstanceDir("unstarted");
  ASSERT_TRUE(inst->Destroy().ok());
  EXPECT_EQ(Slurp("/proc/self/mountinfo").find(dir), std::string::npos);
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_FALSE(inst->Start(listen_fd_.get()).ok());
}

TEST_F(OciRuntimeTest, CreateRefusesADuplicateIdWithoutHarmingTheFirst) {
  auto first = CreateWithContent("dup");
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(runtime_->Create(Spec("dup")).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(fs::exists(fs::path(first->scratch_dir()) / "content/hello.txt"));
  EXPECT_FALSE(runtime_->Create(Spec("bad/id")).ok());
}

TEST_F(OciRuntimeTest, CleanupStaleRemovesALeakedContainer) {
  auto inst = CreateWithContent("leaked");
  ASSERT_NE(inst, nullptr);
  ASSERT_TRUE(inst->Start(listen_fd_.get()).ok());
  ASSERT_TRUE(WaitReady());
  RuntimeInstance* leaked = inst.release();  // as if the agent had crashed
  OciRuntime restarted(options_, runner_);
  ASSERT_TRUE(restarted.CleanupStale().ok());
  EXPECT_EQ(Runc({"list", "--quiet"}).find(runtime_->ContainerId("leaked")), std::string::npos);
  EXPECT_EQ(Slurp("/proc/self/mountinfo").find(options_.state_dir + "/"), std::string::npos);
  EXPECT_FALSE(fs::exists(runtime_->InstanceDir("leaked")));
  // The handle outlived its resources; destroying it now must be harmless.
  delete leaked;
  EXPECT_EQ(Runc({"list", "--quiet"}).find(runtime_->ContainerId("leaked")), std::string::npos);
}

// The agent cleans up (runc list) before its first instance, and runc makes a missing
// --root and its parents 0700: an instance in its own user namespace could then not reach
// its bundle. CleanupStale leaves the state directory searchable.
TEST_F(OciRuntimeTest, InstancesStartUnderAStateDirRuncMadePrivate) {
  std::error_code ec;
  fs::create_directories(options_.state_dir, ec);
  ASSERT_FALSE(ec);
  fs::permissions(options_.state_dir, fs::perms::owner_all, ec);
  ASSERT_TRUE(runtime_->CleanupStale().ok());
  auto inst = CreateWithContent("private-state");
  ASSERT_NE(inst, nullptr);
  ASSERT_TRUE(inst->Start(listen_fd_.get()).ok());
  EXPECT_TRUE(WaitReady());
}

// A state dir on a noexec mount, as /run is on a Debian host booted through
// initramfs-tools: the precompiled seccomp filter still reaches the workload (the user
// namespace's mount namespace could not lift noexec from a bind of it).
TEST_F(OciRuntimeTest, InstancesStartUnderANoexecStateDir) {
  std::error_code ec;
  fs::create_directories(options_.state_dir, ec);
  ASSERT_FALSE(ec);
  RealMounter mounter;
  ASSERT_TRUE(mounter.MountTmpfs(options_.state_dir, 64ull << 20, 0, 0, 0711).ok());
  ASSERT_EQ(::mount(nullptr, options_.state_dir.c_str(), nullptr,
                    MS_REMOUNT | MS_NOEXEC | MS_NOSUID | MS_NODEV, nullptr),
            0)
      << std::strerror(errno);
  auto inst = CreateWithContent("noexec-state");
  ASSERT_NE(inst, nullptr);
  absl::Status started = inst->Start(listen_fd_.get());
  ASSERT_TRUE(started.ok()) << started << "\n"
                            << Slurp(runtime_->InstanceDir("noexec-state") + "/runc.log");
  EXPECT_TRUE(WaitReady()) << Slurp(runtime_->InstanceDir("noexec-state") + "/runc.log");
  EXPECT_TRUE(inst->Destroy().ok());
  EXPECT_TRUE(mounter.Unmount(options_.state_dir, /*lazy=*/true).ok());
}

// install_packages: the instance's own dpkg installs a package that is in no layer, as
// root, before the workload starts as nobody; dpkg's database in the instance says so.
TEST_F(OciRuntimeTest, InstallsPackagesInsideTheInstanceBeforeTheWorkload) {
  auto installer =
      InstallingTestTemplate(runner_, "/srv", PREWARM_HTTPD_PATH, PREWARM_GUEST_ACTIVATE_PATH);
  ASSERT_TRUE(installer.ok()) << installer.status();
  EXPECT_GT(installer->install_bytes, 0u);
  InstanceSpec spec = Spec("installer");
  UseTemplate(spec.tmpl, *installer);
  auto inst = runtime_->Create(spec);
  ASSERT_TRUE(inst.ok()) << inst.status();
  auto fd = ListenTcp(addr_, port_);
  ASSERT_TRUE(fd.ok()) << fd.status();
  ASSERT_TRUE((*inst)->Start(fd->get()).ok());
  std::optional<workload::HttpResponse> report;
  auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (!report.has_value() && std::chrono::steady_clock::now() < deadline &&
         !(*inst)->PollExit().has_value()) {
    auto r = HttpGet(addr_, port_, "/index.html", milliseconds(1000));
    if (r.ok() && r->status == 200) report = *r;
  }
  std::string log = Slurp(runtime_->InstanceDir("installer") + "/runc.log");
  ASSERT_TRUE(report.has_value()) << log;
  EXPECT_NE(report->body.find(kInstalledReport), std::string::npos) << report->body;
  EXPECT_NE(log.find("Setting up libyaml-0-2"), std::string::npos) << log;
  EXPECT_EQ(log.find("dependency problems"), std::string::npos)
      << log;  // its libc6 is in the seeded status
  // Nothing of it reached the shared layers: another instance's root starts clean.
  for (const std::string& l : installer->layers)
    EXPECT_FALSE(fs::exists(l + "/var/lib/dpkg/status")) << l;
}

// A package that does not install ends the instance before its workload ever runs.
TEST_F(OciRuntimeTest, AFailedInstallStopsTheInstance) {
  fs::path dir = work_ / "broken-install";
  fs::create_directories(dir / "debs");
  fs::copy_file(PREWARM_GUEST_ACTIVATE_PATH, dir / "prewarm-guest-activate");
  std::ofstream(dir / "debs/broken_1.0_amd64.deb") << "not an ar archive\n";
  auto installer =
      InstallingTestTemplate(runner_, "/srv", PREWARM_HTTPD_PATH, PREWARM_GUEST_ACTIVATE_PATH);
  ASSERT_TRUE(installer.ok()) << installer.status();
  InstanceSpec spec = Spec("broken");
  spec.tmpl.layers = installer->layers;  // dpkg is there; the .deb it is handed is not one
  spec.tmpl.command = installer->command;
  spec.tmpl.install_dir = dir.string();
  spec.tmpl.install_bytes = 1 << 20;
  auto inst = runtime_->Create(spec);
  ASSERT_TRUE(inst.ok()) << inst.status();
  std::ofstream(fs::path((*inst)->scratch_dir()) / "hello.txt") << "never served\n";
  auto fd = ListenTcp(addr_, port_);
  ASSERT_TRUE(fd.ok()) << fd.status();
  ASSERT_TRUE((*inst)->Start(fd->get()).ok());
  auto deadline = std::chrono::steady_clock::now() + kTimeout;
  std::optional<int> code;
  while (!(code = (*inst)->PollExit()).has_value() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  std::string log = Slurp(runtime_->InstanceDir("broken") + "/runc.log");
  ASSERT_TRUE(code.has_value()) << log;
  EXPECT_EQ(*code, 1) << log;
  EXPECT_NE(log.find("dpkg --install failed"), std::string::npos) << log;
  EXPECT_TRUE((*inst)->Destroy().ok());
  EXPECT_EQ(Slurp("/proc/self/mountinfo").find(runtime_->InstanceDir("broken")), std::string::npos);
}

}  // namespace
}  // namespace prewarm::agent::oci
