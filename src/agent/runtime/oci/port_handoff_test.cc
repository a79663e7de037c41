#include "agent/runtime/oci/port_handoff.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/runtime/oci/seccomp_filter.h"
#include "agent/runtime/oci/seccomp_profile.h"
#include "common/fd_passing.h"
#include "common/process.h"
#include "gtest/gtest.h"
#include "workload/http_client.h"

namespace prewarm::agent::oci {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

const IpAddr kLoopback = IpAddr::Parse("127.0.0.1").value();

uint16_t PortOf(int fd) {
  sockaddr_storage ss = {};
  socklen_t len = sizeof(ss);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

// A port nothing listens on right now (TCP and UDP), for the "app's own port".
uint16_t FreePort() {
  ScopedFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return 0;
  return PortOf(s.get());
}

// What the child below saw; written whole to a pipe.
struct ChildReport {
  int bind_app = -1, bind_app_errno = 0;
  uint16_t app_sockname = 0;  // the port getsockname() gives after bind(app port)
  int listen_app = -1;        // listen() on it
  int accepted_write = -1;    // wrote "hi" to what it accepted
  int cloexec_kept = -1;      // SOCK_CLOEXEC socket: FD_CLOEXEC after the handover
  int bind_udp = -1;          // UDP on the app's port: let through
  uint16_t udp_sockname = 0;
  int bind_other = -1;  // TCP on another port: let through
  uint16_t other_sockname = 0;
  int nonblock_kept = -1;    // a SOCK_NONBLOCK socket handed over stays non-blocking
  int inherit_cleared = -1;  // a socket without SOCK_CLOEXEC gets no FD_CLOEXEC
};

int BindLoopback(int fd, int family, uint16_t port) {
  if (family == AF_INET6) {
    sockaddr_in6 a = {};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    a.sin6_port = htons(port);
    return ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
}

// In the forked child: raw syscalls only. Installs `prog` with a listener, sends it over
// `channel`, then binds as an app would and reports on `out`.
[[noreturn]] void Child(const std::vector<sock_filter>& prog, int channel, int out,
                        uint16_t app_port, uint16_t other_port) {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(10);
  sock_fprog fprog = {static_cast<unsigned short>(prog.size()),
                      const_cast<sock_filter*>(prog.data())};
  long listener =
      ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &fprog);
  if (listener < 0) ::_exit(11);
  int lfd = static_cast<int>(listener);
  char byte = 'L';
  if (SendWithFd(channel, &byte, 1, lfd) != 1) ::_exit(12);
  ::close(lfd);
  ::close(channel);

  ChildReport r;
  int s = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);  // dual-stack, as Node's
  r.bind_app = BindLoopback(s, AF_INET6, app_port);
  r.bind_app_errno = r.bind_app == 0 ? 0 : errno;
  r.app_sockname = PortOf(s);
  r.listen_app = ::listen(s, 16);
  r.cloexec_kept = (::fcntl(s, F_GETFD) & FD_CLOEXEC) != 0 ? 1 : 0;
  int conn = ::accept(s, nullptr, nullptr);
  r.accepted_write = conn >= 0 && ::write(conn, "hi", 2) == 2 ? 1 : 0;
  if (conn >= 0) ::close(conn);
  int u = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  r.bind_udp = BindLoopback(u, AF_INET, app_port);
  r.udp_sockname = PortOf(u);
  int o = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  r.bind_other = BindLoopback(o, AF_INET, other_port);
  r.other_sockname = PortOf(o);
  int n = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (BindLoopback(n, AF_INET, app_port) == 0) {
    r.nonblock_kept = (::fcntl(n, F_GETFL) & O_NONBLOCK) != 0 ? 1 : 0;
    r.inherit_cleared = (::fcntl(n, F_GETFD) & FD_CLOEXEC) == 0 ? 1 : 0;
  }
  ssize_t w = ::write(out, &r, sizeof r);
  ::_exit(w == sizeof r ? 0 : 13);
}

class PortHandoffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto program = CompileSeccompProfile(HandoffSeccompProfile());
    ASSERT_TRUE(program.ok()) << program.status();
    program_ = std::move(program).value();
    auto fd = ListenTcp(kLoopback, 0);
    ASSERT_TRUE(fd.ok()) << fd.status();
    public_ = std::move(fd).value();
    public_port_ = PortOf(public_.get());
    app_port_ = FreePort();
    ASSERT_NE(app_port_, 0);
  }

  std::vector<sock_filter> program_;
  ScopedFd public_;
  uint16_t public_port_ = 0, app_port_ = 0;
};

TEST_F(PortHandoffTest, TheAppsBindOfItsPortGetsTheInstancesSocketAndOtherBindsGoOn) {
  int pair[2], report[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  uint16_t other = FreePort();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) Child(program_, pair[1], report[1], app_port_, other);
  ::close(pair[1]);
  ::close(report[1]);
  ScopedFd from_child(report[0]);
  auto handoff = PortHandoff::Start(ScopedFd(pair[0]), public_.get(), app_port_, "test");
  ASSERT_TRUE(handoff.ok()) << handoff.status();

  // A client of the instance's address reaches the app, which never listened itself.
  ScopedFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(BindLoopback(client.get(), AF_INET, 0), 0);
  sockaddr_in to = {};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(public_port_);
  ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  char got[3] = {};
  ASSERT_EQ(::recv(client.get(), got, 2, MSG_WAITALL), 2);
  EXPECT_STREQ(got, "hi");

  ChildReport r;
  ASSERT_EQ(::read(from_child.get(), &r, sizeof r), static_cast<ssize_t>(sizeof r));
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(r.bind_app, 0) << std::strerror(r.bind_app_errno);
  EXPECT_EQ(r.app_sockname, public_port_);  // the instance's socket, not a new one
  EXPECT_EQ(r.listen_app, 0);
  EXPECT_EQ(r.cloexec_kept, 1);
  EXPECT_EQ(r.accepted_write, 1);
  EXPECT_EQ(r.bind_udp, 0);  // not TCP: bound as asked, inside
  EXPECT_EQ(r.udp_sockname, app_port_);
  EXPECT_EQ(r.bind_other, 0);  // another port: bound as asked
  EXPECT_EQ(r.other_sockname, other);
  EXPECT_EQ(r.nonblock_kept, 1);
  EXPECT_EQ(r.inherit_cleared, 1);
  EXPECT_EQ((*handoff)->handed(), 2u);
  EXPECT_EQ((*handoff)->passed(), 2u);
  // The agent's own descriptor is the same socket, still listening at its address.
  EXPECT_EQ(PortOf(public_.get()), public_port_);
}

// The real wrapper and a real app: prewarm-httpd --listen on its own port answers on the
// instance's address; its own port never opens.
TEST_F(PortHandoffTest, PrewarmSeccompExecHandsTheListenerOverBeforeTheAppRuns) {
  fs::path dir = fs::temp_directory_path() / ("prewarm-handoff-" + std::to_string(::getpid()));
  fs::create_directories(dir / "root");
  std::ofstream(dir / "root" / "hello.txt") << "handed over\n";
  std::string filter = (dir / "handoff.bpf").string();
  std::ofstream(filter, std::ios::binary) << EncodeSeccompFile(program_);
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
  ScopedFd theirs(pair[1]);
  RealProcessRunner runner;
  SpawnOptions opts;
  opts.argv = {PREWARM_SECCOMP_EXEC_PATH,
               filter,
               "--notify-fd",
               "3",
               "--",
               PREWARM_HTTPD_PATH,
               "--root",
               (dir / "root").string(),
               "--listen",
               "127.0.0.1:" + std::to_string(app_port_)};
  opts.fds = {{3, theirs.get()}};
  auto pid = runner.Spawn(opts);
  ASSERT_TRUE(pid.ok()) << pid.status();
  theirs.reset();
  auto handoff = PortHandoff::Start(ScopedFd(pair[0]), public_.get(), app_port_, "httpd");
  ASSERT_TRUE(handoff.ok()) << handoff.status();
  auto r = workload::HttpGet(kLoopback, public_port_, "/hello.txt", milliseconds(10000));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "handed over\n");
  EXPECT_TRUE((*handoff)->listening());
  EXPECT_EQ((*handoff)->handed(), 1u);
  auto direct = workload::HttpGet(kLoopback, app_port_, "/hello.txt", milliseconds(1000));
  EXPECT_FALSE(direct.ok() && direct->status == 200) << "the app's own port opened";
  ASSERT_TRUE(runner.Signal(*pid, SIGKILL).ok());
  for (int i = 0; i < 1000; ++i) {
    auto code = runner.TryWait(*pid);
    if (!code.ok() || code->has_value()) break;
    std::this_thread::sleep_for(milliseconds(5));
  }
  handoff->reset();  // joins; the listener hung up with the app
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// Without the agent's answer the wrapper does not run the app at all when the channel is
// not a socket, and a wrong --notify-fd is a usage error.
TEST_F(PortHandoffTest, AWrapperThatCannotSendTheListenerRunsNothing) {
  fs::path dir = fs::temp_directory_path() / ("prewarm-handoff-bad-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string filter = (dir / "handoff.bpf").string();
  std::ofstream(filter, std::ios::binary) << EncodeSeccompFile(program_);
  fs::path marker = dir / "ran";
  RealProcessRunner runner;
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  ScopedFd r(p[0]), w(p[1]);
  SpawnOptions opts;
  opts.argv = {
      PREWARM_SECCOMP_EXEC_PATH, filter, "--notify-fd", "3", "--", "/bin/touch", marker.string()};
  opts.fds = {{3, w.get()}};  // a pipe: sendmsg fails
  auto pid = runner.Spawn(opts);
  ASSERT_TRUE(pid.ok()) << pid.status();
  std::optional<int> code;
  for (int i = 0; i < 2000 && !code; ++i) {
    auto c = runner.TryWait(*pid);
    ASSERT_TRUE(c.ok()) << c.status();
    code = *c;
    if (!code) std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(code, 125);
  EXPECT_FALSE(fs::exists(marker)) << "the command ran";
  auto usage = runner.Run({PREWARM_SECCOMP_EXEC_PATH, filter, "--notify-fd", "x", "--", "true"},
                          milliseconds(10000));
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_EQ(usage->exit_code, 125);
  EXPECT_NE(usage->output.find("usage"), std::string::npos) << usage->output;
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace prewarm::agent::oci
