// Cgroups on the host's real cgroup tree (v2, or v1/hybrid as on the development machines):
// needs root; skips otherwise.
#include "agent/runtime/cgroup.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "fmt/format.h"

namespace prewarm::agent {
namespace {
namespace fs = std::filesystem;

// What a process in the group saw when it tried to start more processes than pids.max.
struct ForkReport {
  int started = 0;
  int err = 0;
};

TEST(CgroupsTest, MakesAGroupWhoseLimitsReadBackAndWhosePidsMaxRefusesAFork) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  Cgroups cg;
  std::string parent = fmt::format("prewarm-test-cgroup-{}", ::getpid());
  std::string path = parent + "/g1";
  CgroupLimits limits{.memory_bytes = 32ull << 20, .pids = 4, .cpu_cores = 0.5, .cpu_weight = 50};
  absl::Status made = cg.Create(path, limits);
  if (!made.ok() && !fs::exists(cg.Dir("", "pids"))) GTEST_SKIP() << "no pids controller: " << made;
  ASSERT_TRUE(made.ok()) << made;
  EXPECT_TRUE(cg.CheckLimits(path, limits).ok()) << cg.CheckLimits(path, limits);
  // The files themselves, read here, not through CheckLimits.
  std::string mem = cg.Dir(path, "memory") + (cg.v2() ? "/memory.max" : "/memory.limit_in_bytes");
  EXPECT_EQ(ReadCgroupNumber(mem), 32ull << 20);
  EXPECT_EQ(ReadCgroupNumber(cg.Dir(path, "pids") + "/pids.max"), 4u);
  if (cg.v2()) {
    std::ifstream in(cg.Dir(path, "cpu") + "/cpu.max");
    std::string cpu_max;
    std::getline(in, cpu_max);
    EXPECT_EQ(cpu_max, "50000 100000");
  } else {
    EXPECT_EQ(ReadCgroupNumber(cg.Dir(path, "cpu") + "/cpu.cfs_quota_us"), 50000u);
    EXPECT_EQ(ReadCgroupNumber(cg.Dir(path, "cpu") + "/cpu.shares"), 512u);
  }
  // A limit that is not what was asked is named, with what it is.
  CgroupLimits other = limits;
  other.pids = 5;
  absl::Status wrong = cg.CheckLimits(path, other);
  EXPECT_EQ(wrong.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(wrong.message().find("pids.max = 4 (want 5)"), std::string::npos) << wrong;
  EXPECT_FALSE(cg.CheckMember(path, ::getpid()).ok()) << "this process is not in the group";

  // A child joins the group (as the QEMU jailer does) and starts processes until refused:
  // it is one of the 4 pids, so 3 more start and the 4th fork fails with EAGAIN.
  std::vector<std::string> procs;
  for (const std::string& dir : cg.JoinDirs(path)) procs.push_back(dir + "/cgroup.procs");
  int report[2], release[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(release, O_CLOEXEC), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {       // async-signal-safe calls only from here
    ::close(release[1]);  // so that the parent's close is the end of the pipe
    ::close(report[0]);
    for (const std::string& p : procs) {
      int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0 || ::write(fd, "0", 1) != 1) ::_exit(2);
      ::close(fd);
    }
    ForkReport r;
    pid_t kids[16];
    for (int i = 0; i < 16; ++i) {
      pid_t k = ::fork();
      if (k == 0) {
        ::pause();
        ::_exit(0);
      }
      if (k < 0) {
        r.err = errno;
        break;
      }
      kids[r.started++] = k;
    }
    if (::write(report[1], &r, sizeof r) != sizeof r) ::_exit(3);
    char c;
    (void)!::read(release[0], &c, 1);  // the parent has looked at the group
    for (int i = 0; i < r.started; ++i) {
      ::kill(kids[i], SIGKILL);
      ::waitpid(kids[i], nullptr, 0);
    }
    ::_exit(0);
  }
  ::close(report[1]);
  ::close(release[0]);
  ForkReport r;
  ASSERT_EQ(::read(report[0], &r, sizeof r), static_cast<ssize_t>(sizeof r));
  EXPECT_EQ(r.started, 3);
  EXPECT_EQ(r.err, EAGAIN) << std::strerror(r.err);
  EXPECT_TRUE(cg.CheckMember(path, child).ok()) << cg.CheckMember(path, child);
  EXPECT_EQ(cg.Usage(path).pids, 4u);
  ::close(release[1]);
  int st = 0;
  ASSERT_EQ(::waitpid(child, &st, 0), child);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
  ::close(report[0]);
  EXPECT_EQ(cg.CheckMember(path, child).code(), absl::StatusCode::kNotFound);

  // A rename keeps the group's limits under its new name, in every hierarchy; onto a group
  // that exists it fails and leaves both as they were.
  std::string renamed = parent + "/g2";
  ASSERT_TRUE(cg.Rename(path, renamed).ok()) << cg.Rename(path, renamed);
  for (const std::string& dir : cg.JoinDirs(path)) EXPECT_FALSE(fs::exists(dir)) << dir;
  EXPECT_TRUE(cg.CheckLimits(renamed, limits).ok()) << cg.CheckLimits(renamed, limits);
  ASSERT_TRUE(cg.Create(path, limits).ok());
  ASSERT_TRUE(cg.Create(path + "/below", limits).ok());  // not empty: no rename onto it
  EXPECT_FALSE(cg.Rename(renamed, path).ok());
  EXPECT_TRUE(cg.CheckLimits(renamed, limits).ok()) << "a failed rename moved the group";
  EXPECT_TRUE(cg.CheckLimits(path + "/below", limits).ok());

  // Removing the parent takes the group below it; a group that is gone is no error.
  EXPECT_TRUE(cg.Remove(parent).ok()) << cg.Remove(parent);
  for (const std::string& dir : cg.JoinDirs(parent)) EXPECT_FALSE(fs::exists(dir)) << dir;
  EXPECT_TRUE(cg.Remove(parent).ok());
  EXPECT_FALSE(cg.Create("/absolute", limits).ok());
  EXPECT_FALSE(cg.Create("a/../b", limits).ok());
}

}  // namespace
}  // namespace prewarm::agent
