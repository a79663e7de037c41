// Boots real QEMU microvm guests under TCG (the accelerator probe decides; KVM fails on
// the development machines). Slow: minutes on first run (Debian's kernel package is
// downloaded into /var/cache/prewarm-test), then ~5-20 s per boot. Needs root (the base
// layer and the instance's port 80), qemu-system-x86_64 and mkfs.erofs; skips otherwise.
#include "agent/runtime/qemu/qemu_runtime.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "agent/layers.h"
#include "agent/runtime/static_test_layers.h"
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
      auto r = runner_.Run({"sh", "-c", std::string("command -v ") + tool}, std::chrono::seconds(10));
      if (!r.ok() || r->exit_code != 0) GTEST_SKIP() << tool << " not installed";
    }
    std::string tag = std::to_string(::getpid());
    work_ = fs::temp_directory_path() / ("prewarm-qemu-test-" + tag);
    options_.state_dir = "/run/prewarm-test-qemu/" + tag;
    options_.cache_dir = "/var/cache/prewarm-test";
    options_.activate = PREWARM_GUEST_ACTIVATE_PATH;
    options_.accel = "auto";
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
  }

  RealProcessRunner runner_;
  QemuOptions options_;
  fs::path work_;
  std::vector<std::string> layers_;
  std::unique_ptr<QemuRuntime> runtime_;
  IpAddr addr_;
};

TEST_F(QemuRuntimeTest, StaticInstanceServesPreloadedContentAndLeavesNothingBehind) {
  InstanceSpec spec;
  spec.id = "vm1";
  spec.address = addr_;
  spec.port = 80;
  spec.tmpl.name = "static";
  spec.tmpl.layers = layers_;
  spec.tmpl.command = {"/usr/bin/prewarm-httpd", "--root", "/srv/content"};
  spec.tmpl.memory_limit_bytes = 48ull << 20;
  spec.tmpl.scratch_bytes = 16ull << 20;
  spec.tmpl.probe_path = "/index.html";
  auto inst = runtime_->Create(spec);
  ASSERT_TRUE(inst.ok()) << inst.status();
  EXPECT_TRUE(runtime_->accel() == "tcg" || runtime_->accel() == "kvm");
  // Preload: what the agent's origin fetch would write.
  fs::create_directories((*inst)->scratch_dir() + "/content");
  std::ofstream((*inst)->scratch_dir() + "/content/index.html") << "hello from a prewarm micro-VM\n";

  auto listen = ListenTcp(addr_, 80);
  ASSERT_TRUE(listen.ok()) << listen.status();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE((*inst)->Start(listen->get()).ok());
  std::string dir = runtime_->InstanceDir("vm1");
  pid_t pid = std::atoi(Slurp(dir + "/qemu.pid").c_str());
  ASSERT_GT(pid, 0);
  // A client that connects while the guest boots waits in the backlog and is answered.
  absl::StatusOr<workload::HttpResponse> r =
      workload::HttpGet(addr_, 80, "/content/index.html", std::chrono::seconds(300));
  double ready_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r.ok()) << r.status() << "\nconsole:\n" << Slurp(dir + "/console.log") << "\nqemu:\n"
                      << Slurp(dir + "/qemu.log");
  EXPECT_EQ(r->status, 404) << "prewarm-httpd serves --root /srv/content: the path is /index.html";
  r = workload::HttpGet(addr_, 80, "/index.html", std::chrono::seconds(30));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello from a prewarm micro-VM\n");
  std::printf("qemu (%s): create -> first HTTP answer %.2f s\n", runtime_->accel().c_str(), ready_s);
  ResourceUsage u = (*inst)->Usage();
  EXPECT_GT(u.memory_bytes, 32ull << 20);  // QEMU + guest RAM actually touched
  EXPECT_FALSE((*inst)->PollExit().has_value());

  ASSERT_TRUE((*inst)->Destroy().ok());
  EXPECT_TRUE((*inst)->Destroy().ok());  // idempotent
  EXPECT_NE(::kill(pid, 0), 0) << "QEMU " << pid << " outlived Destroy()";
  EXPECT_FALSE(fs::exists(dir));
  // Nothing listens on the forward any more.
  auto gone = workload::HttpGet(addr_, options_.forward_port, "/", std::chrono::seconds(2));
  EXPECT_FALSE(gone.ok());
}

TEST_F(QemuRuntimeTest, CleanupStaleKillsAVmOfAPreviousAgent) {
  InstanceSpec spec;
  spec.id = "orphan";
  spec.address = addr_;
  spec.port = 80;
  spec.tmpl.layers = layers_;
  spec.tmpl.command = {"/usr/bin/prewarm-httpd", "--root", "/srv/content"};
  auto inst = runtime_->Create(spec);
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

}  // namespace
}  // namespace prewarm::agent::qemu
