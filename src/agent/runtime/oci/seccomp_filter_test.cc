// The precompiled seccomp filter: what it compiles to, the kernel's answers under it, and
// prewarm-seccomp-exec installing it (or refusing to run anything without it). No root
// needed: no_new_privs lets any process install a filter on itself.
#include "agent/runtime/oci/seccomp_filter.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "agent/runtime/oci/seccomp_filter_file.h"
#include "agent/runtime/oci/seccomp_profile.h"
#include "common/process.h"
#include "gtest/gtest.h"

namespace prewarm::agent::oci {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<sock_filter> Compiled() {
  auto p = CompileSeccompProfile(DefaultSeccompProfile());
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : std::vector<sock_filter>{};
}

// Installs `program` in a child, makes each syscall of `probes` there and returns
// name -> 0 or the errno it failed with (-1: the child died).
std::map<std::string, int> UnderFilter(const std::vector<sock_filter>& program,
                                       const std::map<std::string, long (*)()>& probes) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::close(fds[0]);
    sock_fprog prog = {static_cast<unsigned short>(program.size()),
                       const_cast<sock_filter*>(program.data())};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
      _exit(2);
    }
    for (const auto& [name, probe] : probes) {
      errno = 0;
      long r = probe();
      int result = r < 0 ? errno : 0;
      if (::write(fds[1], &result, sizeof(result)) != sizeof(result)) _exit(3);
    }
    _exit(0);
  }
  ::close(fds[1]);
  std::map<std::string, int> out;
  for (const auto& [name, probe] : probes) {
    int result = -1;
    if (::read(fds[0], &result, sizeof(result)) != sizeof(result)) result = -1;
    out[name] = result;
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  return out;
}

TEST(SeccompFilterTest, TheDefaultProfileCompilesBehindRuncsEnosysStub) {
  std::vector<sock_filter> p = Compiled();
  ASSERT_GT(p.size(), 9u);
  ASSERT_LE(p.size(), static_cast<size_t>(BPF_MAXINSNS));
  // load arch; jeq native; ...; load nr; ...; ret ERRNO(ENOSYS): runc's stub first.
  EXPECT_EQ(p[0].code, BPF_LD | BPF_W | BPF_ABS);
  EXPECT_EQ(p[0].k, 4u);
  EXPECT_EQ(p[1].code, BPF_JMP | BPF_JEQ | BPF_K);
  EXPECT_EQ(p[1].k, kNativeAuditArch);
  bool enosys = false;
  for (size_t i = 0; i < 9; ++i) {
    enosys = enosys || (p[i].code == (BPF_RET | BPF_K) && p[i].k == (0x00050000u | ENOSYS));
  }
  EXPECT_TRUE(enosys);
  EXPECT_EQ(p.back().code & 0x07, BPF_RET);
}

TEST(SeccompFilterTest, TheKernelAnswersUnderItAsTheProfileSays) {
  std::map<std::string, long (*)()> probes = {
      {"getpid", [] { return syscall(SYS_getpid); }},
      {"keyctl", [] { return syscall(SYS_keyctl, 0, -3, 1); }},
      {"io_uring_setup", [] { return syscall(SYS_io_uring_setup, 0, nullptr); }},
      {"ptrace", [] { return syscall(SYS_ptrace, 0, 0, 0, 0); }},
      {"unshare_user", [] { return syscall(SYS_unshare, CLONE_NEWUSER); }},
      {"clone_newuser", [] { return syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0); }},
      {"clone3", [] { return syscall(SYS_clone3, nullptr, 0); }},
      {"socket_vsock", [] { return syscall(SYS_socket, 40, SOCK_STREAM, 0); }},
      {"socket_unix", [] { return syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); }},
      {"personality_query", [] { return syscall(SYS_personality, 0xffffffffUL); }},
      {"personality_bsd", [] { return syscall(SYS_personality, 0x0006UL); }},
      {"past_the_table", [] { return syscall(1000); }},
  };
  std::map<std::string, int> got = UnderFilter(Compiled(), probes);
  EXPECT_EQ(got["getpid"], 0);
  EXPECT_EQ(got["socket_unix"], 0);
  EXPECT_EQ(got["personality_query"], 0);
  for (const char* denied : {"keyctl", "io_uring_setup", "ptrace", "unshare_user", "clone_newuser",
                             "socket_vsock", "personality_bsd"}) {
    EXPECT_EQ(got[denied], EPERM) << denied;
  }
  EXPECT_EQ(got["clone3"], ENOSYS);          // the profile's own rule: libc falls back
  EXPECT_EQ(got["past_the_table"], ENOSYS);  // runc's stub, not the default EPERM
  // The control: without the filter the same probes get through (or fail otherwise).
  std::map<std::string, int> open =
      UnderFilter({{BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW}},
                  {{"keyctl", probes["keyctl"]}, {"personality_bsd", probes["personality_bsd"]}});
  EXPECT_EQ(open["keyctl"], 0);
  EXPECT_EQ(open["personality_bsd"], 0);
}

TEST(SeccompFilterTest, TheFileRoundTripsAndEveryDamageIsFound) {
  std::vector<sock_filter> p = Compiled();
  std::string file = EncodeSeccompFile(p);
  auto back = DecodeSeccompFile(file);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), p.size());
  EXPECT_EQ(std::memcmp(back->data(), p.data(), p.size() * sizeof(sock_filter)), 0);
  auto error = [](std::string bytes) {
    auto r = DecodeSeccompFile(bytes);
    return r.ok() ? std::string("accepted") : std::string(r.status().message());
  };
  std::string flipped = file;
  flipped[sizeof(SeccompFileHeader) + 17] ^= 0x01;
  EXPECT_NE(error(flipped).find("checksum mismatch"), std::string::npos);
  EXPECT_NE(error(file.substr(0, file.size() - 8)).find("truncated"), std::string::npos);
  EXPECT_NE(error(file.substr(0, 10)).find("shorter than its header"), std::string::npos);
  EXPECT_NE(error("ELF" + file.substr(3)).find("bad magic"), std::string::npos);
  std::string other_arch = file;
  uint32_t arch = AUDIT_ARCH_I386;
  std::memcpy(other_arch.data() + offsetof(SeccompFileHeader, arch), &arch, sizeof(arch));
  EXPECT_NE(error(other_arch).find("another architecture"), std::string::npos);
}

TEST(SeccompFilterTest, WhatCannotBePrecompiledIsRefusedNotApproximated) {
  auto refused = [](json profile) {
    auto r = CompileSeccompProfile(profile);
    return r.ok() ? std::string("compiled") : std::string(r.status().message());
  };
  json two_archs = DefaultSeccompProfile();
  two_archs["architectures"].push_back("SCMP_ARCH_X86");
  EXPECT_NE(refused(two_archs).find("exactly one architecture"), std::string::npos);
  json trace = DefaultSeccompProfile();
  trace["syscalls"].push_back({{"names", {"mount"}}, {"action", "SCMP_ACT_TRACE"}});
  EXPECT_NE(refused(trace).find("SCMP_ACT_TRACE"), std::string::npos);
  json flags = DefaultSeccompProfile();
  flags["flags"] = {"SECCOMP_FILTER_FLAG_LOG"};
  EXPECT_NE(refused(flags).find("'flags'"), std::string::npos);
  json bad_op = DefaultSeccompProfile();
  bad_op["syscalls"][1]["args"][0]["op"] = "SCMP_CMP_ROUGHLY";
  EXPECT_NE(refused(bad_op).find("unknown operator"), std::string::npos);
  json no_names = DefaultSeccompProfile();
  no_names["syscalls"].push_back({{"action", "SCMP_ACT_ALLOW"}});
  EXPECT_NE(refused(no_names).find("list of names"), std::string::npos);
  EXPECT_NE(refused(json::array()).find("not an object"), std::string::npos);
}

class SeccompExecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("prewarm-seccomp-exec-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    good_ = EncodeSeccompFile(Compiled());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string Write(const std::string& name, const std::string& bytes) {
    std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  ProcessResult Exec(const std::string& filter, std::vector<std::string> command) {
    std::vector<std::string> argv = {PREWARM_SECCOMP_EXEC_PATH, filter, "--"};
    argv.insert(argv.end(), command.begin(), command.end());
    auto r = runner_.Run(argv, std::chrono::milliseconds(10000));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ProcessResult{};
  }

  RealProcessRunner runner_;
  fs::path dir_;
  std::string good_;
};

TEST_F(SeccompExecTest, TheCommandRunsUnderTheFilterWithNoNewPrivs) {
  auto r = Exec(Write("good.bpf", good_), {"cat", "/proc/self/status"});  // through PATH
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("NoNewPrivs:\t1\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Seccomp:\t2\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Seccomp_filters:\t1\n"), std::string::npos) << r.output;
  // ... and what the command starts inherits it: a shell's child cannot unshare.
  r = Exec(Write("good.bpf", good_),
           {"/bin/sh", "-c", "unshare -U true && echo unshared || echo refused"});
  EXPECT_NE(r.output.find("refused"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("unshared"), std::string::npos) << r.output;
}

TEST_F(SeccompExecTest, NothingRunsWhenTheFilterIsMissingOrDamaged) {
  std::string flipped = good_;
  flipped[sizeof(SeccompFileHeader) + 3] ^= 0x40;
  const std::map<std::string, std::pair<std::string, std::string>> cases = {
      {"missing", {(dir_ / "none.bpf").string(), "No such file or directory"}},
      {"empty", {Write("empty.bpf", ""), "shorter than its header"}},
      {"truncated", {Write("cut.bpf", good_.substr(0, good_.size() - 3)), "truncated"}},
      {"flipped", {Write("flipped.bpf", flipped), "checksum mismatch"}},
      {"not a filter", {Write("text.bpf", std::string(64, 'x')), "bad magic"}},
      {"far too large", {PREWARM_SECCOMP_EXEC_PATH, "larger than any filter"}},
  };
  for (const auto& [name, c] : cases) {
    fs::path marker = dir_ / ("ran-" + std::to_string(std::hash<std::string>()(name)));
    auto r = Exec(c.first, {"/bin/touch", marker.string()});
    EXPECT_EQ(r.exit_code, 125) << name << ": " << r.output;
    EXPECT_NE(r.output.find(c.second), std::string::npos) << name << ": " << r.output;
    EXPECT_NE(r.output.find("not running the workload without its seccomp filter"),
              std::string::npos)
        << r.output;
    EXPECT_FALSE(fs::exists(marker)) << name << ": the command ran";
  }
  // The control: the same command with the good file runs.
  fs::path marker = dir_ / "ran-good";
  EXPECT_EQ(Exec(Write("good.bpf", good_), {"/bin/touch", marker.string()}).exit_code, 0);
  EXPECT_TRUE(fs::exists(marker));
}

TEST_F(SeccompExecTest, ACommandNotFoundIsSaidAndNothingRuns) {
  auto r = Exec(Write("good.bpf", good_), {"prewarm-no-such-command"});
  EXPECT_EQ(r.exit_code, 127) << r.output;
  EXPECT_NE(r.output.find("executable file not found in $PATH"), std::string::npos) << r.output;
  auto usage = runner_.Run({PREWARM_SECCOMP_EXEC_PATH, Write("good.bpf", good_), "true"},
                           std::chrono::milliseconds(10000));
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_EQ(usage->exit_code, 125);
  EXPECT_NE(usage->output.find("usage"), std::string::npos) << usage->output;
}

}  // namespace
}  // namespace prewarm::agent::oci
