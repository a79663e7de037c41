// The hostile test: prewarm-hostile (hostile/prewarm_hostile.c) attempts, inside real runc
// instances, each thing a hardened instance must not do. One instance runs with the
// defaults (seccomp profile, own host id range, pids limit 32); a control instance runs the
// same attempts unconfined, on the host's ids, with room for the processes, so each check
// is seen to pass where its rule is absent. The defaults install the seccomp profile
// precompiled (prewarm-seccomp-exec); a third instance has the same profile compiled by
// runc (`seccomp: runtime`), and the two filters are read back from the kernel and
// compared. Needs root and runc: exits 77 otherwise.
#include <grp.h>
#include <linux/filter.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "agent/layers.h"
#include "agent/runtime/oci/oci_runtime.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace prewarm::agent::oci {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr milliseconds kTimeout(20000);
constexpr int kForks = 40;  // more than the hardened pids limit, fewer than the control's

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "name allowed" / "name denied ERRNO TEXT" lines -> name -> "allowed" | "denied ERRNO".
std::map<std::string, std::string> ParseReport(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream lines(text);
  std::string name, verdict, err;
  while (lines >> name >> verdict) {
    if (verdict == "denied") lines >> err;
    out[name] = verdict == "denied" ? "denied " + err : verdict;
    std::getline(lines, err);  // the errno's text
  }
  return out;
}

std::string Denied(int err) { return "denied " + std::to_string(err); }

// One runtime (its own state dir) and one instance of prewarm-hostile on it.
struct Sandbox {
  std::unique_ptr<OciRuntime> runtime;
  std::unique_ptr<RuntimeInstance> instance;
  ScopedFd listen_fd;
  std::map<std::string, std::string> report;
  pid_t workload_pid = -1;  // on the host
  std::string log;
};

// What a host process running as nobody:nogroup gets from `attempt` on `pid`: 0 or errno.
int AsHostNobody(pid_t pid, int (*attempt)(pid_t)) {
  pid_t child = ::fork();
  if (child == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) _exit(254);
    _exit(attempt(pid) & 0xff);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}

int Signal(pid_t pid) { return ::kill(pid, 0) == 0 ? 0 : errno; }

int ReadEnviron(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ");
  std::string s;
  if (!in) return errno ? errno : EACCES;
  std::getline(in, s, '\0');
  return in || !s.empty() ? 0 : (errno ? errno : EACCES);
}

class HardeningTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tag_ = std::to_string(::getpid());
    work_ = fs::temp_directory_path() / ("prewarm-hardening-" + tag_);
    auto base = BuildBaseLayer((work_ / "layers").string());
    ASSERT_TRUE(base.ok()) << base.status();
    auto hostile = BuildFileLayer((work_ / "layers").string(), "hostile",
                                  {{PREWARM_HOSTILE_PATH, "/usr/bin/prewarm-hostile"}});
    ASSERT_TRUE(hostile.ok()) << hostile.status();
    layers_ = {*hostile, *base};
    StartHostListener();
    hardened_ = Run("hardened", {}, 32);
    OciOptions open;
    open.seccomp = SeccompMode::kUnconfined;
    open.userns = false;
    control_ = Run("control", open, 128);
    OciOptions runtime_built;
    runtime_built.seccomp = SeccompMode::kRuntime;
    runc_built_ = Run("runcbuilt", runtime_built, 32);
    // The network control: the same attempt from the host reaches the listener.
    fs::create_directories(work_ / "host");
    RealProcessRunner runner;
    std::string report = (work_ / "host/report.txt").string();
    auto r = runner.Run({PREWARM_HOSTILE_PATH, report, (work_ / "host").string(), "127.0.0.1",
                         std::to_string(host_port_), "1"},
                        kTimeout);
    ASSERT_TRUE(r.ok()) << r.status();
    on_host_ = ParseReport(Slurp(report));
  }

  static void TearDownTestSuite() {
    for (Sandbox* s : {&hardened_, &control_, &runc_built_}) {
      s->instance.reset();
      if (s->runtime) {
        EXPECT_TRUE(s->runtime->CleanupStale().ok());
      }
      std::error_code ec;
      if (s->runtime) fs::remove_all(s->runtime->options().state_dir, ec);
      s->runtime.reset();
    }
    std::error_code ec;
    fs::remove_all(work_, ec);
    for (const auto& controller : fs::directory_iterator("/sys/fs/cgroup", ec)) {
      ::rmdir((controller.path() / "prewarm-hardening").c_str());
    }
  }

  static void StartHostListener() {
    host_listener_ = ScopedFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    ASSERT_EQ(::bind(host_listener_.get(), reinterpret_cast<sockaddr*>(&a), len), 0);
    ASSERT_EQ(::listen(host_listener_.get(), 16), 0);
    ASSERT_EQ(::getsockname(host_listener_.get(), reinterpret_cast<sockaddr*>(&a), &len), 0);
    host_port_ = ntohs(a.sin_port);
  }

  static Sandbox Run(const std::string& name, OciOptions options, uint32_t pids) {
    Sandbox s;
    options.state_dir = "/run/prewarm-test/hardening-" + tag_ + "-" + name;
    options.id_prefix = "pwh" + tag_ + "-";
    options.cgroup_parent = "prewarm-hardening";
    options.seccomp_exec = PREWARM_SECCOMP_EXEC_PATH;
    s.runtime = std::make_unique<OciRuntime>(options, runner_);
    InstanceSpec spec;
    spec.id = name;
    std::random_device rd;
    spec.address =
        IpAddr::V4((127u << 24) | (78u << 16) | (1 + rd() % 250) << 8 | (1 + rd() % 250));
    spec.slot = name == "runcbuilt" ? 4 : 3;
    spec.tmpl.name = "hostile";
    spec.tmpl.layers = layers_;
    spec.tmpl.command = {"/usr/bin/prewarm-hostile", "/srv/report.txt",      "/srv",  "127.0.0.1",
                         std::to_string(host_port_), std::to_string(kForks), "--stay"};
    spec.tmpl.memory_limit_bytes = 64ull << 20;
    spec.tmpl.pids_limit = pids;
    spec.tmpl.scratch_bytes = 16ull << 20;
    auto inst = s.runtime->Create(spec);
    EXPECT_TRUE(inst.ok()) << inst.status();
    if (!inst.ok()) return s;
    s.instance = std::move(inst).value();
    auto fd = ListenTcp(spec.address, 80);
    EXPECT_TRUE(fd.ok()) << fd.status();
    if (!fd.ok()) return s;
    s.listen_fd = std::move(fd).value();
    absl::Status st = s.instance->Start(s.listen_fd.get());
    std::string report = s.instance->scratch_dir() + "/report.txt";
    auto deadline = std::chrono::steady_clock::now() + kTimeout;
    while (st.ok() && !fs::exists(report) && std::chrono::steady_clock::now() < deadline &&
           !s.instance->PollExit().has_value()) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    s.log = Slurp(s.runtime->InstanceDir(name) + "/runc.log");
    EXPECT_TRUE(st.ok()) << st << s.log;
    s.report = ParseReport(Slurp(report));
    EXPECT_FALSE(s.report.empty()) << name << ": no report; runc.log:\n" << s.log;
    auto state =
        runner_.Run(s.runtime->RuncCommand({"state", s.runtime->ContainerId(name)}), kTimeout);
    if (state.ok() && state->exit_code == 0) {
      s.workload_pid = nlohmann::json::parse(state->output, nullptr, false).value("pid", -1);
    }
    return s;
  }

  static inline RealProcessRunner runner_;
  static inline std::string tag_;
  static inline fs::path work_;
  static inline std::vector<std::string> layers_;
  static inline ScopedFd host_listener_;
  static inline uint16_t host_port_ = 0;
  static inline Sandbox hardened_, control_, runc_built_;
  static inline std::map<std::string, std::string> on_host_;
};

TEST_F(HardeningTest, CannotCreateAUserNamespace) {
  EXPECT_EQ(hardened_.report["unshare_user"], Denied(EPERM));
  EXPECT_EQ(hardened_.report["clone_newuser"], Denied(EPERM));  // clone's flag filter
  EXPECT_EQ(control_.report["unshare_user"], "allowed");
  EXPECT_EQ(control_.report["clone_newuser"], "allowed");
}

TEST_F(HardeningTest, CannotCreateANetworkNamespace) {
  EXPECT_EQ(hardened_.report["unshare_net"], Denied(EPERM));
  EXPECT_EQ(control_.report["unshare_net"], "allowed");
}

TEST_F(HardeningTest, CannotReachKeyctl) {
  EXPECT_EQ(hardened_.report["keyctl"], Denied(EPERM));
  EXPECT_EQ(control_.report["keyctl"], "allowed");
}

TEST_F(HardeningTest, CannotReachIoUring) {
  EXPECT_EQ(hardened_.report["io_uring"], Denied(EPERM));
  EXPECT_EQ(control_.report["io_uring"], "allowed");
}

TEST_F(HardeningTest, ABlockedSyscallFails) {
  EXPECT_EQ(hardened_.report["ptrace"], Denied(EPERM));
  EXPECT_EQ(control_.report["ptrace"], "allowed");
}

#if defined(__x86_64__)
// Whether this host's kernel serves 32-bit syscalls at all (int 0x80 from a child of the
// test, outside any instance): kernels built or booted without IA32 emulation (a default
// since 6.7 may turn it off) kill the caller instead.
bool HostServesIa32Syscalls() {
  pid_t pid = ::fork();
  if (pid == 0) {
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");  // 32-bit getpid
    ::_exit(r > 0 ? 0 : 1);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// The profile lists the native ABI only: a 32-bit syscall (int 0x80) does not get through.
TEST_F(HardeningTest, TheThirtyTwoBitSyscallAbiIsClosed) {
  EXPECT_NE(hardened_.report["ia32_syscall"], "allowed");
  if (!HostServesIa32Syscalls()) {
    // Nothing for the profile to close here: the control is refused by the kernel too.
    EXPECT_NE(control_.report["ia32_syscall"], "allowed");
    GTEST_SKIP() << "this host's kernel serves no 32-bit syscalls (no IA32 emulation): "
                    "the control cannot show the profile closing them";
  }
  EXPECT_EQ(control_.report["ia32_syscall"], "allowed");
}
#endif

// The seccomp filter a process runs under, as the kernel holds it (the tracer needs
// CAP_SYS_ADMIN); empty if it has none or cannot be read.
std::vector<sock_filter> FilterOf(pid_t pid) {
  std::vector<sock_filter> out;
  if (::ptrace(PTRACE_SEIZE, pid, 0, 0) != 0) return out;
  int status = 0;
  if (::ptrace(PTRACE_INTERRUPT, pid, 0, 0) == 0 && ::waitpid(pid, &status, __WALL) == pid) {
    long n = ::ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, nullptr);
    if (n > 0) {
      out.resize(n);
      if (::ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, out.data()) != n) out.clear();
    }
  }
  ::ptrace(PTRACE_DETACH, pid, 0, 0);
  return out;
}

// The precompiled filter is the very program runc builds from the same profile.
TEST_F(HardeningTest, ThePrecompiledFilterIsTheOneRuncBuilds) {
  ASSERT_GT(hardened_.workload_pid, 0);
  ASSERT_GT(runc_built_.workload_pid, 0);
  std::vector<sock_filter> ours = FilterOf(hardened_.workload_pid);
  std::vector<sock_filter> runcs = FilterOf(runc_built_.workload_pid);
  ASSERT_GT(ours.size(), 100u);
  ASSERT_EQ(ours.size(), runcs.size());
  EXPECT_EQ(std::memcmp(ours.data(), runcs.data(), ours.size() * sizeof(sock_filter)), 0);
  EXPECT_TRUE(FilterOf(control_.workload_pid).empty());  // unconfined: no filter at all
}

// One filter (runc installed none of its own), no_new_privs, and the wrapper gone: the
// workload itself is pid 1 of the instance.
TEST_F(HardeningTest, TheWorkloadRunsUnderOneFilterWithNoNewPrivs) {
  ASSERT_GT(hardened_.workload_pid, 0);
  std::string proc = "/proc/" + std::to_string(hardened_.workload_pid);
  std::string status = Slurp(proc + "/status");
  EXPECT_NE(status.find("NoNewPrivs:\t1\n"), std::string::npos) << status;
  EXPECT_NE(status.find("Seccomp:\t2\n"), std::string::npos) << status;
  EXPECT_NE(status.find("Seccomp_filters:\t1\n"), std::string::npos) << status;
  EXPECT_EQ(Slurp(proc + "/cmdline").rfind("/usr/bin/prewarm-hostile", 0), 0u);
  EXPECT_NE(status.find("NSpid:\t" + std::to_string(hardened_.workload_pid) + "\t1\n"),
            std::string::npos)
      << status;
}

// Every syscall rule answers the same whichever way the profile was compiled.
TEST_F(HardeningTest, TheRuncBuiltProfileAnswersTheSame) {
  for (const char* rule : {"unshare_user", "clone_newuser", "unshare_net", "keyctl", "io_uring",
                           "ptrace", "ia32_syscall"}) {
    EXPECT_EQ(runc_built_.report[rule], hardened_.report[rule]) << rule;
    EXPECT_NE(hardened_.report[rule], "allowed") << rule;
  }
}

TEST_F(HardeningTest, CannotRunABinaryFromTmp) {
  EXPECT_EQ(hardened_.report["exec_tmp"], Denied(EACCES));
  EXPECT_EQ(hardened_.report["exec_rootfs"], "allowed");  // the same binary, from the root
}

TEST_F(HardeningTest, CannotRunABinaryFromScratch) {
  EXPECT_EQ(hardened_.report["exec_scratch"], Denied(EACCES));
  EXPECT_EQ(hardened_.report["exec_rootfs"], "allowed");
}

TEST_F(HardeningTest, CannotWriteTheRootFilesystem) {
  EXPECT_EQ(hardened_.report["write_root"], Denied(EROFS));
  EXPECT_EQ(hardened_.report["write_scratch"], "allowed");
}

TEST_F(HardeningTest, CannotReachTheHostNetwork) {
  // 127.0.0.1 inside is the instance's own loopback (its network namespace has nothing
  // else): the host's listener there is out of reach, though the host itself reaches it.
  EXPECT_EQ(hardened_.report["host_network"], Denied(ECONNREFUSED));
  EXPECT_EQ(on_host_["host_network"], "allowed");
}

// The instance's own listening socket (fd 3) is in the host's network namespace: shut down
// for reading it stops listening, and this kernel refuses a connect() from it (EINVAL), so
// it cannot become a way out either, with or without the hardening. In the host run fd 3 is
// the report file. There is no control that connects: on a kernel that allowed it, this
// test says so.
TEST_F(HardeningTest, CannotReachTheHostNetworkThroughItsListeningSocket) {
  for (Sandbox* s : {&hardened_, &control_, &runc_built_}) {
    EXPECT_NE(s->report["host_network_via_listener"], "allowed");
    EXPECT_NE(s->report["host_network_via_listener"], Denied(EBADF));  // it had the socket
  }
  EXPECT_EQ(on_host_["host_network_via_listener"], Denied(ENOTSOCK));  // fd 3: its report
}

TEST_F(HardeningTest, CannotExceedItsPidsLimit) {
  EXPECT_EQ(hardened_.report["many_processes"], Denied(EAGAIN));  // 40 forks, limit 32
  EXPECT_EQ(control_.report["many_processes"], "allowed");        // limit 128
}

TEST_F(HardeningTest, HostNobodyCannotSignalTheWorkload) {
  ASSERT_GT(hardened_.workload_pid, 0);
  ASSERT_GT(control_.workload_pid, 0);
  EXPECT_EQ(AsHostNobody(hardened_.workload_pid, Signal), EPERM);
  EXPECT_EQ(AsHostNobody(control_.workload_pid, Signal), 0);  // userns: host
}

TEST_F(HardeningTest, HostNobodyCannotReadTheWorkloadsEnvironment) {
  ASSERT_GT(hardened_.workload_pid, 0);
  EXPECT_NE(AsHostNobody(hardened_.workload_pid, ReadEnviron), 0);
  EXPECT_EQ(AsHostNobody(control_.workload_pid, ReadEnviron), 0);
}

TEST_F(HardeningTest, TheWorkloadRunsAsItsSlotsHostIds) {
  ASSERT_GT(hardened_.workload_pid, 0);
  auto base = hardened_.runtime->IdBase();
  ASSERT_TRUE(base.ok()) << base.status();
  uint32_t uid = *base + 3 * kIdsPerInstance + 65534;  // slot 3, nobody inside
  std::string status = Slurp("/proc/" + std::to_string(hardened_.workload_pid) + "/status");
  EXPECT_NE(status.find(fmt::format("Uid:\t{}\t{}\t{}\t{}\n", uid, uid, uid, uid)),
            std::string::npos)
      << status;
  EXPECT_NE(status.find(fmt::format("Gid:\t{}\t{}\t{}\t{}\n", uid, uid, uid, uid)),
            std::string::npos)
      << status;
  struct stat st = {};
  ASSERT_EQ(::stat(hardened_.instance->scratch_dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid);  // the scratch belongs to the workload's host uid
}

}  // namespace
}  // namespace prewarm::agent::oci

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (::geteuid() != 0) {
    std::cerr << "skipped: needs root (runc, mounts)\n";
    return 77;
  }
  prewarm::RealProcessRunner runner;
  auto v = runner.Run({"runc", "--version"}, std::chrono::milliseconds(10000));
  if (!v.ok() || v->exit_code != 0) {
    std::cerr << "skipped: runc is not installed\n";
    return 77;
  }
  return RUN_ALL_TESTS();
}
