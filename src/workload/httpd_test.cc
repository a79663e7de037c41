// End-to-end: starts the real prewarm-httpd binary on a loopback address and talks to it
// over TCP.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>
#include <vector>

#include "common/net.h"
#include "common/process.h"
#include "gtest/gtest.h"
#include "workload/content_report.h"
#include "workload/http_client.h"
#include "workload/queue_wait.h"

namespace prewarm::workload {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr milliseconds kTimeout(10000);

void WriteFile(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

// A random 127.77.x.y so parallel test runs do not collide.
IpAddr RandomLoopback() {
  std::random_device rd;
  return IpAddr::V4((127u << 24) | (77u << 16) | (1 + rd() % 250) << 8 | (1 + rd() % 250));
}

class HttpdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / ("prewarm-httpd-test-" + std::to_string(::getpid()));
    root_ = base_ / "root";
    WriteFile(root_ / "hello.txt", "hello, edge\n");
    WriteFile(root_ / "index.html", "<h1>index</h1>");
    WriteFile(root_ / "sub" / "index.html", "sub index");
    WriteFile(root_ / "live" / "stream.m3u8", "#EXTM3U\n");
    WriteFile(base_ / "secret.txt", "secret");
    fs::create_symlink("/etc/passwd", root_ / "passwd-link");
    fs::create_symlink("../secret.txt", root_ / "escape-link");
    fs::create_symlink("hello.txt", root_ / "inner-link");
    big_.resize(3 << 20);
    for (size_t i = 0; i < big_.size(); ++i) big_[i] = static_cast<char>('a' + i % 26);
    WriteFile(root_ / "big.mp4", big_);
  }

  void TearDown() override {
    if (pid_ > 0) {
      runner_.Signal(pid_, SIGKILL).IgnoreError();
      WaitFor(runner_, pid_, kTimeout).IgnoreError();
    }
    fs::remove_all(base_);
  }

  // Starts prewarm-httpd with --listen and waits until it accepts connections.
  // `env`: extra "K=V" entries over the test's environment.
  void StartListening(std::vector<std::string> env = {}) {
    addr_ = RandomLoopback();
    SpawnOptions opts;
    opts.argv = {PREWARM_HTTPD_PATH, "--root", root_.string(), "--listen",
                 HostPort{addr_, port_}.ToString()};
    if (!env.empty()) {
      for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
      opts.env = std::move(env);
    }
    opts.log_path = (base_ / "httpd.log").string();
    auto pid = runner_.Spawn(opts);
    ASSERT_TRUE(pid.ok()) << pid.status();
    pid_ = *pid;
    for (int i = 0; i < 1000; ++i) {
      if (HttpConnection::Connect(addr_, port_, kTimeout).ok()) return;
      std::this_thread::sleep_for(milliseconds(10));
    }
    FAIL() << "prewarm-httpd did not start listening";
  }

  HttpConnection Connect() {
    auto c = HttpConnection::Connect(addr_, port_, kTimeout);
    EXPECT_TRUE(c.ok()) << c.status();
    return std::move(c).value();
  }

  RealProcessRunner runner_;
  fs::path base_, root_;
  std::string big_;
  IpAddr addr_;
  uint16_t port_ = 8080;
  pid_t pid_ = -1;
};

TEST_F(HttpdTest, ServesFilesWithTypesAndKeepAlive) {
  StartListening();
  HttpConnection c = Connect();
  auto r = c.Request("GET", "/hello.txt");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello, edge\n");
  EXPECT_EQ(r->headers["content-type"], "text/plain; charset=utf-8");
  // The request came after the server was up: it waited for no start.
  EXPECT_EQ(r->headers["x-prewarm-queued-ms"], "0");
  // Same connection: HEAD has the length but no body, then a playlist and the index.
  r = c.Request("HEAD", "/hello.txt");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->headers["content-length"], "12");
  EXPECT_FALSE(r->headers.contains("x-prewarm-queued-ms")) << "only a connection's first";
  EXPECT_EQ(r->body, "");
  r = c.Request("GET", "/live/stream.m3u8");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->headers["content-type"], "application/vnd.apple.mpegurl");
  r = c.Request("GET", "/");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "<h1>index</h1>");
  r = c.Request("GET", "/sub");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "sub index");
}

TEST_F(HttpdTest, LargeFileArrivesIntact) {
  StartListening();
  HttpConnection c = Connect();
  auto r = c.Request("GET", "/big.mp4");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->headers["content-type"], "video/mp4");
  EXPECT_TRUE(r->body == big_);
}

TEST_F(HttpdTest, MissingFilesAre404AndKeepTheConnection) {
  StartListening();
  HttpConnection c = Connect();
  auto r = c.Request("GET", "/nope.html");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  r = c.Request("GET", "/hello.txt");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpdTest, NothingOutsideTheRootIsReachable) {
  StartListening();
  for (const char* path : {"/../secret.txt", "/%2e%2e/secret.txt", "/sub/../../secret.txt",
                           "/escape-link", "/passwd-link"}) {
    auto r = HttpGet(addr_, port_, path, kTimeout);
    ASSERT_TRUE(r.ok()) << path << ": " << r.status();
    EXPECT_EQ(r->status, 404) << path;
    EXPECT_EQ(r->body.find("secret"), std::string::npos);
    EXPECT_EQ(r->body.find("root:"), std::string::npos);
  }
  auto inner = HttpGet(addr_, port_, "/inner-link", kTimeout);
  ASSERT_TRUE(inner.ok());
  EXPECT_EQ(inner->body, "hello, edge\n");
}

TEST_F(HttpdTest, RejectsOtherMethodsBodiesAndGarbage) {
  StartListening();
  HttpConnection post = Connect();
  auto r = post.Request("POST", "/hello.txt");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->headers["allow"], "GET, HEAD");
  EXPECT_TRUE(post.ServerClosed());

  HttpConnection body = Connect();
  ASSERT_TRUE(body.Send("GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc").ok());
  r = body.ReadResponse();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 413);

  HttpConnection junk = Connect();
  ASSERT_TRUE(junk.Send("BLAH\r\n\r\n").ok());
  r = junk.ReadResponse();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400);

  HttpConnection huge = Connect();
  ASSERT_TRUE(huge.Send("GET /" + std::string(40000, 'a') + " HTTP/1.1\r\n\r\n").ok());
  r = huge.ReadResponse();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 413);
}

TEST_F(HttpdTest, PipelinedRequestsAnsweredInOrder) {
  StartListening();
  HttpConnection c = Connect();
  ASSERT_TRUE(c.Send("GET /hello.txt HTTP/1.1\r\n\r\nGET /sub/ HTTP/1.1\r\n"
                     "Connection: close\r\n\r\n")
                  .ok());
  auto first = c.ReadResponse();
  auto second = c.ReadResponse();
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->body, "hello, edge\n");
  EXPECT_EQ(second->body, "sub index");
  EXPECT_EQ(second->headers["connection"], "close");
  EXPECT_TRUE(c.ServerClosed());
}

TEST_F(HttpdTest, ServesManyConnectionsAtOnce) {
  StartListening();
  std::vector<HttpConnection> conns;
  for (int i = 0; i < 50; ++i) conns.push_back(Connect());
  for (auto& c : conns) ASSERT_TRUE(c.Send("GET /hello.txt HTTP/1.1\r\n\r\n").ok());
  for (auto& c : conns) {
    auto r = c.ReadResponse();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
  }
}

TEST_F(HttpdTest, SigtermExitsCleanly) {
  StartListening();
  ASSERT_TRUE(runner_.Signal(pid_, SIGTERM).ok());
  auto code = WaitFor(runner_, pid_, kTimeout);
  ASSERT_TRUE(code.ok() && code->has_value());
  EXPECT_EQ(**code, 0);
  pid_ = -1;
}

TEST_F(HttpdTest, SocketActivationServesAConnectionMadeBeforeStart) {
  addr_ = RandomLoopback();
  auto listener = ListenTcp(addr_, port_);
  ASSERT_TRUE(listener.ok()) << listener.status();
  // The client connects and sends while nobody is serving yet: the kernel queues it.
  HttpConnection early = Connect();
  ASSERT_TRUE(early.Send("GET /hello.txt HTTP/1.1\r\n\r\n").ok());
  std::this_thread::sleep_for(milliseconds(50));  // a start that takes a while
  SpawnOptions opts;
  opts.argv = {"/bin/sh", "-c", "export LISTEN_FDS=1 LISTEN_PID=$$; exec \"$0\" --root \"$1\"",
               PREWARM_HTTPD_PATH, root_.string()};
  opts.fds = {{3, listener->get()}};
  opts.log_path = (base_ / "httpd.log").string();
  auto pid = runner_.Spawn(opts);
  ASSERT_TRUE(pid.ok()) << pid.status();
  pid_ = *pid;
  auto r = early.ReadResponse();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "hello, edge\n");
  // It says the request waited for it: a cold start, as the client saw it.
  ASSERT_TRUE(r->headers.contains("x-prewarm-queued-ms"));
  EXPECT_GT(std::stoll(r->headers["x-prewarm-queued-ms"]), 0);
}

TEST_F(HttpdTest, RefusesASocketMeantForAnotherProcess) {
  addr_ = RandomLoopback();
  auto listener = ListenTcp(addr_, port_);
  ASSERT_TRUE(listener.ok());
  SpawnOptions opts;
  opts.argv = {PREWARM_HTTPD_PATH, "--root", root_.string()};
  opts.env = std::vector<std::string>{"LISTEN_FDS=1", "LISTEN_PID=1"};
  opts.fds = {{3, listener->get()}};
  auto pid = runner_.Spawn(opts);
  ASSERT_TRUE(pid.ok());
  auto code = WaitFor(runner_, *pid, kTimeout);
  ASSERT_TRUE(code.ok() && code->has_value());
  EXPECT_EQ(**code, 1);
}

// The agent's end of the report channel: a unix datagram socket bound under base_.
class ReportSocket {
 public:
  explicit ReportSocket(const fs::path& path) : path_(path.string()) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~ReportSocket() { ::close(fd_); }
  bool bound() const { return bound_; }
  const std::string& path() const { return path_; }
  // The next datagram, or "" after 5 s without one.
  std::string Next() {
    char buf[2048];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
};

TEST_F(HttpdTest, ReportsEachServedOrMissingContentToTheAgentSocket) {
  ReportSocket agent(base_ / "report.sock");
  ASSERT_TRUE(agent.bound());
  StartListening({std::string(kContentReportEnv) + "=" + agent.path()});
  HttpConnection c = Connect();
  for (std::string_view path : {"/hello.txt?v=2", "/sub/", "/", "/nope.css"}) {
    ASSERT_TRUE(c.Request("GET", path).ok()) << path;
  }
  // Not reported: HEAD serves no content, a traversal names none, and the agent's probe
  // (served all the same) is not demand.
  ASSERT_TRUE(c.Request("HEAD", "/hello.txt").ok());
  ASSERT_TRUE(
      c.Send(std::string("GET /hello.txt HTTP/1.1\r\nHost: x\r\n") + kProbeHeader + ": 1\r\n\r\n")
          .ok());
  auto probed = c.ReadResponse();
  ASSERT_TRUE(probed.ok()) << probed.status();
  EXPECT_EQ(probed->status, 200);
  ASSERT_TRUE(c.Request("GET", "/../secret.txt").ok());
  ASSERT_TRUE(c.Request("GET", "/live/stream.m3u8").ok());
  EXPECT_EQ(agent.Next(), "200\t12\thello.txt");
  EXPECT_EQ(agent.Next(), "200\t9\tsub/index.html");
  EXPECT_EQ(agent.Next(), "200\t14\tindex.html");
  EXPECT_EQ(agent.Next(), "404\t0\tnope.css");
  EXPECT_EQ(agent.Next(), "200\t8\tlive/stream.m3u8");
  auto parsed = ParseContentReport("200\t8\tlive/stream.m3u8");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->status, 200);
  EXPECT_EQ(parsed->bytes, 8u);
  EXPECT_EQ(parsed->id, "live/stream.m3u8");
}

TEST(ContentReportTest, MalformedReportsAreRefused) {
  for (std::string_view bad : {"", "200", "200\t8", "200\t8\t", "99\t8\ta", "200\t-1\ta",
                               "200\tx\ta", "2000\t8\ta", " 200\t8\ta"}) {
    EXPECT_FALSE(ParseContentReport(bad).has_value()) << bad;
  }
  EXPECT_FALSE(ParseContentReport(std::string(kMaxContentReportBytes + 1, '1')).has_value());
}

// The reports are fire-and-forget: an agent that never reads (its buffer fills) or no
// agent at all costs the responses nothing but the dropped reports.
TEST_F(HttpdTest, AnAgentThatNeverReadsOrIsAbsentNeverHoldsAResponse) {
  ReportSocket agent(base_ / "report.sock");
  ASSERT_TRUE(agent.bound());
  StartListening({std::string(kContentReportEnv) + "=" + agent.path()});
  HttpConnection c = Connect();
  for (int i = 0; i < 3000; ++i) {  // far more than a unix datagram queue holds
    auto r = c.Request("GET", "/hello.txt");
    ASSERT_TRUE(r.ok()) << i << ": " << r.status();
    ASSERT_EQ(r->status, 200);
  }
  EXPECT_EQ(agent.Next(), "200\t12\thello.txt");  // the first ones were queued
  runner_.Signal(pid_, SIGKILL).IgnoreError();
  WaitFor(runner_, pid_, kTimeout).IgnoreError();
  pid_ = -1;
  StartListening({std::string(kContentReportEnv) + "=" + (base_ / "nobody.sock").string()});
  HttpConnection d = Connect();
  for (int i = 0; i < 100; ++i) {
    auto r = d.Request("GET", "/hello.txt");
    ASSERT_TRUE(r.ok()) << i << ": " << r.status();
  }
}

TEST(ContentReporterTest, APathTooLongForAUnixSocketReportsNothing) {
  EXPECT_EQ(ContentReporter::Open(std::string(200, 'x')), nullptr);
  EXPECT_EQ(ContentReporter::Open(""), nullptr);
  auto r = ContentReporter::Open("/nonexistent/report.sock");
  ASSERT_NE(r, nullptr);
  r->Report(200, 1, "a");  // nobody listens: dropped, not an error
  r->Report(200, 1, std::string(kMaxContentReportBytes, 'x'));  // does not fit: dropped
  EXPECT_EQ(r->sent(), 0u);
  EXPECT_EQ(r->dropped(), 2u);
}

}  // namespace
}  // namespace prewarm::workload
