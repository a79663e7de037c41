#include "common/process.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

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

}  // namespace
}  // namespace prewarm
