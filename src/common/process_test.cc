#include "common/process.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "gtest/gtest.h"

namespace prewarm {
namespace {

using std::chrono::milliseconds;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(RealProcessRunnerTest, RunCapturesOutputAndExitCode) {
  RealProcessRunner runner;
  auto r = runner.Run({"sh", "-c", "echo out; echo err >&2; exit 3"}, milliseconds(10000));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_NE(r->output.find("out"), std::string::npos);
  EXPECT_NE(r->output.find("err"), std::string::npos);
}

TEST(RealProcessRunnerTest, RunReportsMissingExecutable) {
  RealProcessRunner runner;
  EXPECT_FALSE(runner.Run({"/nonexistent/binary"}, milliseconds(1000)).ok());
  EXPECT_FALSE(runner.Run({"no-such-command-prewarm"}, milliseconds(1000)).ok());
}

TEST(RealProcessRunnerTest, RunKillsOnTimeout) {
  RealProcessRunner runner;
  auto r = runner.Run({"sleep", "30"}, milliseconds(100));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(RealProcessRunnerTest, SpawnMapsFdsAndClosesTheRest) {
  RealProcessRunner runner;
  char tmpl[] = "/tmp/prewarm-process-test-XXXXXX";
  int tmpfd = ::mkstemp(tmpl);
  ASSERT_GE(tmpfd, 0);
  int leak = ::fcntl(tmpfd, F_DUPFD, 100);  // not close-on-exec: must still not leak
  ASSERT_GE(leak, 100);
  ::close(tmpfd);
  int pipefd[2];
  ASSERT_EQ(::pipe2(pipefd, O_CLOEXEC), 0);
  std::string log = std::string(tmpl) + ".log";
  SpawnOptions opts;
  opts.argv = {"sh", "-c", "echo mapped >&3; ls /proc/self/fd; echo $FOO"};
  opts.fds = {{3, pipefd[1]}};
  opts.env = std::vector<std::string>{"FOO=bar", "PATH=/usr/bin:/bin"};
  opts.log_path = log;
  opts.new_process_group = true;
  auto pid = runner.Spawn(opts);
  ASSERT_TRUE(pid.ok()) << pid.status();
  ::close(pipefd[1]);
  auto code = WaitFor(runner, *pid, milliseconds(10000));
  ASSERT_TRUE(code.ok() && code->has_value());
  EXPECT_EQ(**code, 0);
  char buf[64] = {};
  EXPECT_GT(::read(pipefd[0], buf, sizeof buf - 1), 0);
  EXPECT_EQ(std::string(buf), "mapped\n");
  std::string out = ReadFile(log);
  // ls lists 0 1 2 3 and its own directory fd; never the leaked fd number.
  EXPECT_EQ(out.find("\n" + std::to_string(leak) + "\n"), std::string::npos) << out;
  EXPECT_NE(out.find("bar"), std::string::npos) << out;
  ::close(pipefd[0]);
  ::close(leak);
  ::unlink(tmpl);
  ::unlink(log.c_str());
}

// State letter of /proc/PID/stat ('Z' zombie), or 0 when the process is gone.
char ProcState(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? 0 : stat[paren + 2];
}

TEST(RealProcessRunnerTest, AnIdlePriorityChildRunsUnderSchedIdleUntilSetNormal) {
  RealProcessRunner runner;
  SpawnOptions so;
  so.argv = {"sh", "-c", "sleep 30 & sleep 30"};  // a second process: not a thread of it
  so.idle_priority = true;
  auto pid = runner.Spawn(so);
  ASSERT_TRUE(pid.ok()) << pid.status();
  EXPECT_EQ(::sched_getscheduler(*pid), SCHED_IDLE);
  EXPECT_TRUE(SetNormalPriority(*pid).ok());
  EXPECT_EQ(::sched_getscheduler(*pid), SCHED_OTHER);
  EXPECT_FALSE(SetNormalPriority(-5).ok()) << "no such process";
  ASSERT_TRUE(runner.Signal(*pid, SIGKILL).ok());
  auto done = WaitFor(runner, *pid, std::chrono::seconds(10));
  ASSERT_TRUE(done.ok() && done->has_value());
  // Without it, the spawner's own policy.
  so.idle_priority = false;
  pid = runner.Spawn(so);
  ASSERT_TRUE(pid.ok());
  EXPECT_EQ(::sched_getscheduler(*pid), ::sched_getscheduler(0));
  ASSERT_TRUE(runner.Signal(*pid, SIGKILL).ok());
  (void)WaitFor(runner, *pid, std::chrono::seconds(10));
}

TEST(RealProcessRunnerTest, KillWithParentEndsTheChildWhenItsSpawnerDies) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  pid_t spawner = ::fork();
  ASSERT_GE(spawner, 0);
  if (spawner == 0) {  // stands in for an agent that is killed
    RealProcessRunner r;
    SpawnOptions o;
    o.argv = {"sleep", "1000"};
    o.kill_with_parent = true;
    auto pid = r.Spawn(o);
    pid_t v = pid.ok() ? *pid : -1;
    (void)!::write(p[1], &v, sizeof v);
    ::_exit(0);
  }
  pid_t child = -1;
  ASSERT_EQ(::read(p[0], &child, sizeof child), static_cast<ssize_t>(sizeof child));
  ::close(p[0]);
  ::close(p[1]);
  ASSERT_GT(child, 0);
  int status = 0;
  ::waitpid(spawner, &status, 0);
  char state = 'R';
  for (int i = 0; i < 500; ++i) {
    state = ProcState(child);
    if (state == 0 || state == 'Z') break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(state == 0 || state == 'Z')
      << "the child outlived its spawner (state " << state << ")";
}

TEST(RealProcessRunnerTest, TryWaitIsNonBlockingAndSignalKills) {
  RealProcessRunner runner;
  SpawnOptions opts;
  opts.argv = {"sleep", "30"};
  auto pid = runner.Spawn(opts);
  ASSERT_TRUE(pid.ok());
  auto first = runner.TryWait(*pid);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->has_value());
  ASSERT_TRUE(runner.Signal(*pid, SIGKILL).ok());
  auto code = WaitFor(runner, *pid, milliseconds(10000));
  ASSERT_TRUE(code.ok() && code->has_value());
  EXPECT_EQ(**code, 128 + SIGKILL);
  EXPECT_FALSE(runner.TryWait(*pid).ok());  // already reaped
}

TEST(RealProcessRunnerTest, SpawnInNewNamespaces) {
  if (::geteuid() != 0) GTEST_SKIP() << "new namespaces need root";
  RealProcessRunner runner;
  char tmpl[] = "/tmp/prewarm-process-ns-XXXXXX";
  int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  SpawnOptions opts;
  // Its own pid is 1 and its network namespace differs from ours.
  opts.argv = {"sh", "-c", "echo pid=$$; readlink /proc/self/ns/net"};
  opts.namespaces = CLONE_NEWPID | CLONE_NEWNET;
  opts.kill_with_parent = true;
  opts.log_path = tmpl;
  auto pid = runner.Spawn(opts);
  ASSERT_TRUE(pid.ok()) << pid.status();
  auto code = WaitFor(runner, *pid, milliseconds(10000));
  ASSERT_TRUE(code.ok() && code->has_value());
  EXPECT_EQ(**code, 0);
  char ours[64] = {};
  ASSERT_GT(::readlink("/proc/self/ns/net", ours, sizeof ours - 1), 0);
  std::string out = ReadFile(tmpl);
  EXPECT_NE(out.find("pid=1\n"), std::string::npos) << out;
  EXPECT_EQ(out.find(ours), std::string::npos) << out;
  EXPECT_NE(out.find("net:["), std::string::npos) << out;
  ::unlink(tmpl);
  opts.namespaces = 1;  // not a namespace flag
  EXPECT_FALSE(runner.Spawn(opts).ok());
}

}  // namespace
}  // namespace prewarm
