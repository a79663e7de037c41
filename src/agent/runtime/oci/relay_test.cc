#include "agent/runtime/oci/relay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace prewarm::agent::oci {
namespace {

namespace fs = std::filesystem;

// An "app" inside the namespace at `netns`: listens on 127.0.0.1:port (after `delay`)
// and echoes each of `conns` connections back until the peer closes it, each on a thread
// of its own.
class NetnsEchoApp {
 public:
  NetnsEchoApp(const std::string& netns, uint16_t port, int conns,
               std::chrono::milliseconds delay) {
    thread_ = std::thread([=, this] {
      ScopedFd ns(::open(netns.c_str(), O_RDONLY | O_CLOEXEC));
      if (!ns.valid() || ::setns(ns.get(), CLONE_NEWNET) != 0) return;
      std::this_thread::sleep_for(delay);
      auto l = ListenTcp(IpAddr::V4(0x7F000001), port);
      if (!l.ok()) return;
      listening_ = true;
      std::vector<std::thread> echoes;
      for (int i = 0; i < conns; ++i) {
        struct pollfd p = {l->get(), POLLIN, 0};
        if (::poll(&p, 1, 15000) != 1) break;  // a failed test must not hang
        ScopedFd c(::accept(l->get(), nullptr, nullptr));
        if (!c.valid()) break;
        echoes.emplace_back([c = std::move(c)] {
          std::vector<char> buf(65536);
          for (ssize_t n; (n = ::read(c.get(), buf.data(), buf.size())) > 0;) {
            for (ssize_t off = 0; off < n;) {
              ssize_t w = ::write(c.get(), buf.data() + off, static_cast<size_t>(n - off));
              if (w <= 0) return;
              off += w;
            }
          }
        });
      }
      for (std::thread& t : echoes) t.join();
    });
  }
  ~NetnsEchoApp() { thread_.join(); }
  bool listening() const { return listening_; }

 private:
  std::atomic<bool> listening_{false};
  std::thread thread_;
};

// Each test runs twice: with the kernel relaying established connections (BPF sockmap),
// and with the relay's threads splicing them through pipes.
class RelayTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    dir_ = fs::temp_directory_path() / ("prewarm-relay-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    netns_ = (dir_ / "netns").string();
    ASSERT_TRUE(CreateNetns(netns_).ok());
    auto l = ListenTcp(addr_, 0);
    ASSERT_TRUE(l.ok()) << l.status();
    listen_ = std::move(*l);
    struct sockaddr_in sa = {};
    socklen_t len = sizeof sa;
    ::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
  }
  void TearDown() override {
    if (dir_.empty()) return;
    ::umount2(netns_.c_str(), MNT_DETACH);
    fs::remove_all(dir_);
  }
  ScopedFd Connect() {
    ScopedFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    struct sockaddr_in sa = {};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port_);
    sa.sin_addr.s_addr = htonl(addr_.v4_host_order());
    EXPECT_EQ(::connect(c.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    struct timeval tv = {10, 0};
    ::setsockopt(c.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return c;
  }
  // Sends `data`, half-closes, reads until EOF.
  static std::string RoundTrip(int fd, const std::string& data) {
    std::thread writer([&] {
      for (size_t off = 0; off < data.size();) {
        ssize_t w = ::write(fd, data.data() + off, data.size() - off);
        if (w <= 0) break;
        off += static_cast<size_t>(w);
      }
      ::shutdown(fd, SHUT_WR);
    });
    std::string out;
    char buf[65536];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, n);
    writer.join();
    return out;
  }

  absl::StatusOr<std::unique_ptr<OwnPortRelay>> Start(RelayOptions o = {}) {
    o.kernel_splice = GetParam();
    auto r = OwnPortRelay::Start(listen_.get(), netns_, kAppPort, o);
    if (r.ok() && o.kernel_splice && !(*r)->kernel_splice()) {
      // Which it may not, only where the kernel or the caller's privileges say no.
      auto why = SockmapSplice::Create(1).status();
      if (absl::IsPermissionDenied(why) || absl::IsUnimplemented(why)) {
        kernel_unavailable_ = std::string(why.message());
      } else {
        ADD_FAILURE() << "the kernel should relay: " << why;
      }
    }
    return r;
  }
  // Connections relayed both ways by the kernel, where it relays; otherwise none.
  uint64_t InKernel(uint64_t where_it_relays) const {
    return GetParam() && kernel_unavailable_.empty() ? where_it_relays : 0;
  }

  void ClientsAtOnce(int threads);

  fs::path dir_;
  std::string netns_;
  IpAddr addr_ = IpAddr::V4(0x7F4D0A01);  // 127.77.10.1
  ScopedFd listen_;
  uint16_t port_ = 0;
  std::string kernel_unavailable_;
  static constexpr uint16_t kAppPort = 8080;
};

TEST_P(RelayTest, TheNamespaceIsIsolatedWithItsLoopbackUp) {
  // The app's port exists only inside: on the host nothing listens on 127.0.0.1:8080
  // for this test, and inside, 127.0.0.1 is reachable (lo is up).
  NetnsEchoApp app(netns_, kAppPort, 1, std::chrono::milliseconds(0));
  auto relay = Start();
  ASSERT_TRUE(relay.ok()) << relay.status();
  ScopedFd c = Connect();
  EXPECT_EQ(RoundTrip(c.get(), "ping"), "ping");
  EXPECT_EQ((*relay)->relayed(), 1u);
}

TEST_P(RelayTest, CarriesLargePayloadsBothWaysIntact) {
  NetnsEchoApp app(netns_, kAppPort, 3, std::chrono::milliseconds(0));
  auto relay = Start();
  ASSERT_TRUE(relay.ok()) << relay.status();
  std::string data(3 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 7919) >> 3);
  for (int i = 0; i < 3; ++i) {
    ScopedFd c = Connect();
    std::string back = RoundTrip(c.get(), data);
    EXPECT_EQ(back.size(), data.size());
    EXPECT_TRUE(back == data) << "connection " << i;
  }
  EXPECT_EQ((*relay)->accepted(), 3u);
}

TEST_P(RelayTest, AConnectionDuringStartWaitsForTheAppsPort) {
  NetnsEchoApp app(netns_, kAppPort, 1, std::chrono::milliseconds(400));
  auto relay = Start();
  ASSERT_TRUE(relay.ok()) << relay.status();
  EXPECT_FALSE(app.listening());
  ScopedFd c = Connect();  // before the app listens
  EXPECT_EQ(RoundTrip(c.get(), "early"), "early");
  EXPECT_EQ((*relay)->refused(), 0u);
  // The client had half-closed before the app's port accepted: no socket joins the kernel
  // once its peer has half-closed, so the relay's threads carried it.
  EXPECT_EQ((*relay)->in_kernel(), 0u);
}

// A client that keeps its connection open across several exchanges (as HTTP keep-alive
// does) and starts sending while the app is still starting: its first bytes wait in the
// socket until the connection joins the kernel, later ones are relayed there, and each
// side's EOF is passed on after the bytes before it, not before.
TEST_P(RelayTest, AKeptOpenConnectionIsRelayedAndEachEofFollowsItsBytes) {
  NetnsEchoApp app(netns_, kAppPort, 1, std::chrono::milliseconds(300));
  auto relay = Start();
  ASSERT_TRUE(relay.ok()) << relay.status();
  ScopedFd c = Connect();
  auto exchange = [&](const std::string& data) {
    for (size_t off = 0; off < data.size();) {
      ssize_t w = ::write(c.get(), data.data() + off, data.size() - off);
      if (w <= 0) return std::string("write failed");
      off += static_cast<size_t>(w);
    }
    std::string back;
    char buf[65536];
    while (back.size() < data.size()) {
      ssize_t n = ::read(c.get(), buf, std::min(sizeof buf, data.size() - back.size()));
      if (n <= 0) break;
      back.append(buf, static_cast<size_t>(n));
    }
    return back;
  };
  EXPECT_EQ(exchange("sent while the app starts"), "sent while the app starts");
  std::string big(256 << 10, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) >> 2);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(exchange("request " + std::to_string(i)), "request " + std::to_string(i));
  }
  EXPECT_TRUE(exchange(big) == big);
  // The last bytes and the EOF at once: the app must get both, and its answer must come
  // back before the client's EOF.
  EXPECT_EQ(RoundTrip(c.get(), "last words"), "last words");
  EXPECT_EQ((*relay)->relayed(), 1u);
  EXPECT_EQ((*relay)->in_kernel(), InKernel(1));
}

TEST_P(RelayTest, AnAppThatNeverListensClosesTheClientAfterTheTimeout) {
  RelayOptions o;
  o.connect_timeout = std::chrono::milliseconds(300);
  auto relay = Start(o);
  ASSERT_TRUE(relay.ok()) << relay.status();
  ScopedFd c = Connect();
  EXPECT_EQ(RoundTrip(c.get(), "x"), "");
  for (int i = 0; i < 100 && (*relay)->refused() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ((*relay)->refused(), 1u);
}

// More clients at once than the relay relays: the rest wait in the accept queue, and each
// gets its own bytes back; with one relaying thread and with three.
TEST_P(RelayTest, ClientsBeyondTheCapWaitTheirTurnAndEachGetsItsOwnBytes) {
  for (int threads : {1, 3}) {
    SCOPED_TRACE(threads);
    ClientsAtOnce(threads);
  }
}

void RelayTest::ClientsAtOnce(int threads) {
  constexpr int kClients = 16;
  NetnsEchoApp app(netns_, kAppPort, kClients, std::chrono::milliseconds(0));
  RelayOptions o;
  o.max_connections = 3;
  o.threads = threads;
  auto relay = Start(o);
  ASSERT_TRUE(relay.ok()) << relay.status();
  std::vector<std::future<bool>> done;
  for (int i = 0; i < kClients; ++i) {
    done.push_back(std::async(std::launch::async, [this, i] {
      ScopedFd c = Connect();
      std::string mine(1000 + i * 5000, static_cast<char>('a' + i));
      return RoundTrip(c.get(), mine) == mine;
    }));
  }
  for (int i = 0; i < kClients; ++i) EXPECT_TRUE(done[static_cast<size_t>(i)].get()) << i;
  EXPECT_EQ((*relay)->accepted(), static_cast<uint64_t>(kClients));
  EXPECT_EQ((*relay)->relayed(), static_cast<uint64_t>(kClients));
}

// A client that resets its connection while the app is still starting is dropped then,
// not at the connect timeout. (One that closes with a FIN looks like a half-close, whose
// client still waits for its answer: it waits for the app, or the timeout.)
TEST_P(RelayTest, AClientThatResetsDuringStartIsDroppedAtOnce) {
  auto relay = Start();  // 30 s timeout
  ASSERT_TRUE(relay.ok()) << relay.status();
  {
    ScopedFd c = Connect();
    for (int i = 0; i < 100 && (*relay)->accepted() == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_EQ((*relay)->accepted(), 1u);
    struct linger reset = {1, 0};
    ASSERT_EQ(::setsockopt(c.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
  }  // closed with a reset
  for (int i = 0; i < 300 && (*relay)->refused() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ((*relay)->refused(), 1u);
  EXPECT_EQ((*relay)->relayed(), 0u);
}

// Another connection's round trip completes while one moves bytes as fast as both ends
// can. (pump()'s bound of 8 rounds is not what this checks: here the ends do not keep
// the relay busy enough for an unbounded pump() to starve the other connection either.)
TEST_P(RelayTest, AConnectionIsServedWhileABulkTransferRuns) {
  NetnsEchoApp app(netns_, kAppPort, 2, std::chrono::milliseconds(0));
  auto relay = Start();
  ASSERT_TRUE(relay.ok()) << relay.status();
  ScopedFd bulk = Connect();
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> echoed{0};
  std::thread writer([&] {
    std::string chunk(1 << 16, 'b');
    while (!stop.load() && ::write(bulk.get(), chunk.data(), chunk.size()) > 0) {
    }
    ::shutdown(bulk.get(), SHUT_WR);
  });
  std::thread reader([&] {
    char buf[65536];
    for (ssize_t n; (n = ::read(bulk.get(), buf, sizeof buf)) > 0;) echoed += n;
  });
  for (int i = 0; i < 10'000 && echoed.load() < (8u << 20); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_GE(echoed.load(), 8u << 20) << "the bulk transfer is running";
  ScopedFd small = Connect();  // reads time out after 10 s: a starved relay fails here
  EXPECT_EQ(RoundTrip(small.get(), "small"), "small");
  EXPECT_FALSE(stop.load());
  stop = true;
  writer.join();
  reader.join();
  EXPECT_EQ((*relay)->relayed(), 2u);
}

// An app that does not read holds the client back: the client's writes stop once the
// buffers on the way are full. The kernel's hand-over between the two sockets does not
// count against either socket's buffers, so the relay takes that way back from the kernel
// (held_back) once 4 MiB wait there. When the app reads again, every byte arrives, in order,
// and the rest of the upload goes through the relay's thread.
TEST_P(RelayTest, AnAppThatDoesNotReadHoldsTheClientBackAndLosesNothing) {
  auto pattern = [](uint64_t i) { return static_cast<char>((i * 2654435761u) >> 13); };
  std::promise<void> release;
  std::thread app([&, go = release.get_future()] {
    ScopedFd ns(::open(netns_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns.valid() || ::setns(ns.get(), CLONE_NEWNET) != 0) return;
    auto l = ListenTcp(IpAddr::V4(0x7F000001), kAppPort);
    if (!l.ok()) return;
    struct pollfd p = {l->get(), POLLIN, 0};
    if (::poll(&p, 1, 15000) != 1) return;  // the client's reads time out
    ScopedFd c(::accept(l->get(), nullptr, nullptr));
    go.wait_for(std::chrono::seconds(20));  // reads nothing until then
    uint64_t count = 0, wrong = 0;
    std::vector<char> buf(1 << 16);
    for (ssize_t n; (n = ::read(c.get(), buf.data(), buf.size())) > 0;) {
      for (ssize_t i = 0; i < n; ++i) wrong += buf[static_cast<size_t>(i)] != pattern(count + i);
      count += static_cast<uint64_t>(n);
    }
    std::string answer = std::to_string(count) + " bytes, " + std::to_string(wrong) + " wrong";
    ::write(c.get(), answer.data(), answer.size());  // the client checks it
  });
  auto relay = Start();
  ASSERT_TRUE(relay.ok()) << relay.status();
  ScopedFd c = Connect();
  ASSERT_EQ(::fcntl(c.get(), F_SETFL, O_NONBLOCK), 0);
  std::vector<char> chunk(1 << 16);
  uint64_t sent = 0;
  auto fill = [&] {
    for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = pattern(sent + i);
  };
  constexpr uint64_t kLimit = uint64_t{256} << 20;
  // Written until the client's socket stays full for 500 ms (or kLimit: no push-back).
  auto quiet_since = std::chrono::steady_clock::now();
  fill();
  while (sent < kLimit &&
         std::chrono::steady_clock::now() - quiet_since < std::chrono::milliseconds(500)) {
    ssize_t w = ::write(c.get(), chunk.data(), chunk.size());
    if (w > 0) {
      sent += static_cast<uint64_t>(w);
      fill();
      quiet_since = std::chrono::steady_clock::now();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  EXPECT_LT(sent, uint64_t{64} << 20) << "bytes the app never read were taken from the client";
  EXPECT_EQ((*relay)->held_back(), InKernel(1));
  release.set_value();
  ASSERT_EQ(::fcntl(c.get(), F_SETFL, 0), 0);  // blocking: the rest of the upload
  const uint64_t total = sent + (uint64_t{8} << 20);
  while (sent < total) {
    ssize_t w = ::write(c.get(), chunk.data(), std::min<uint64_t>(chunk.size(), total - sent));
    if (w <= 0) break;
    sent += static_cast<uint64_t>(w);
    fill();
  }
  ::shutdown(c.get(), SHUT_WR);
  std::string answer(128, '\0');
  ssize_t n = ::read(c.get(), answer.data(), answer.size());
  answer.resize(n > 0 ? static_cast<size_t>(n) : 0);
  EXPECT_EQ(answer, std::to_string(total) + " bytes, 0 wrong");
  app.join();
}

TEST_P(RelayTest, StoppingClosesOpenConnections) {
  NetnsEchoApp app(netns_, kAppPort, 1, std::chrono::milliseconds(0));
  auto relay = Start();
  ASSERT_TRUE(relay.ok()) << relay.status();
  ScopedFd c = Connect();
  ASSERT_EQ(::write(c.get(), "a", 1), 1);
  char b;
  ASSERT_EQ(::read(c.get(), &b, 1), 1);  // relayed and echoed: the connection is open
  relay->reset();                        // joins everything; must not hang
  EXPECT_EQ(::read(c.get(), &b, 1), 0);  // closed
}

TEST_P(RelayTest, BadArgumentsAreErrors) {
  EXPECT_FALSE(OwnPortRelay::Start(listen_.get(), netns_, 0).ok());
  EXPECT_FALSE(OwnPortRelay::Start(listen_.get(), (dir_ / "nonexistent").string(), kAppPort).ok());
  EXPECT_FALSE(OwnPortRelay::Start(-1, netns_, kAppPort).ok());
  EXPECT_FALSE(CreateNetns(netns_).ok());  // exists already
}

// The gate (RelayOptions::ready), as the QEMU runtime uses it: a backend in the caller's own
// network namespace, which accepts and resets until its guest listens, so nothing is
// accepted from the instance's socket before ready() says so.
ScopedFd ConnectTo(const IpAddr& addr, uint16_t port) {
  ScopedFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  socklen_t len = 0;
  sockaddr_storage ss = addr.ToSockaddr(port, &len);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len), 0);
  timeval tv{10, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

uint16_t PortOf(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

// A backend that answers each connection with "echo:" + everything it read, then closes.
class EchoServer {
 public:
  explicit EchoServer(ScopedFd listening) : fd_(std::move(listening)) {
    thread_ = std::thread([this] {
      for (;;) {
        int c = ::accept(fd_.get(), nullptr, nullptr);
        if (c < 0) return;
        std::string in = ReadAll(c);
        if (in == "quit") {
          ::close(c);
          return;
        }
        std::string out = "echo:" + in;
        (void)!::send(c, out.data(), out.size(), MSG_NOSIGNAL);
        ::close(c);
      }
    });
  }
  ~EchoServer() {
    ::shutdown(fd_.get(), SHUT_RDWR);
    thread_.join();
  }

 private:
  ScopedFd fd_;
  std::thread thread_;
};

TEST(RelayGateTest, ClientsWaitInTheBacklogUntilReadyThenRelayBothWays) {
  const IpAddr lo = IpAddr::V4(0x7F000001);
  auto listen = ListenTcp(lo, 0);
  ASSERT_TRUE(listen.ok());
  const uint16_t front_port = PortOf(listen->get());
  // The backend's port is the kernel's choice; nothing accepts on it until `ready`.
  auto back_listen = ListenTcp(lo, 0);
  ASSERT_TRUE(back_listen.ok()) << back_listen.status();
  const uint16_t back_port = PortOf(back_listen->get());

  std::atomic<bool> ready{false};
  RelayOptions o;
  o.ready = [&] { return ready.load(); };
  auto relay = OwnPortRelay::Start(listen->get(), HostPort{lo, back_port}, ScopedFd(), o);
  ASSERT_TRUE(relay.ok()) << relay.status();
  // A client connects (kernel backlog) and sends before the backend exists.
  ScopedFd early = ConnectTo(lo, front_port);
  ASSERT_EQ(::send(early.get(), "early", 5, 0), 5);
  ::shutdown(early.get(), SHUT_WR);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE((*relay)->open());
  EXPECT_EQ((*relay)->accepted(), 0u);
  // The relay has not connected to the backend before it is ready.
  pollfd pending{back_listen->get(), POLLIN, 0};
  EXPECT_EQ(::poll(&pending, 1, 0), 0);
  EchoServer server(std::move(*back_listen));
  ready = true;
  EXPECT_EQ(ReadAll(early.get()), "echo:early");
  EXPECT_TRUE((*relay)->open());
  // A large body crosses both ways intact.
  std::string big(1 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 997) big[i] = static_cast<char>('a' + i % 26);
  ScopedFd c = ConnectTo(lo, front_port);
  std::thread writer([&] {
    size_t off = 0;
    while (off < big.size()) {
      ssize_t n = ::send(c.get(), big.data() + off, big.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::shutdown(c.get(), SHUT_WR);
  });
  std::string got = ReadAll(c.get());
  writer.join();
  EXPECT_EQ(got.size(), big.size() + 5);
  EXPECT_TRUE(got == "echo:" + big);
  relay->reset();
  ScopedFd q = ConnectTo(lo, back_port);
  (void)!::send(q.get(), "quit", 4, 0);
  ::shutdown(q.get(), SHUT_WR);
}

TEST(RelayGateTest, StoppingWhileTheGateIsShutReturns) {
  const IpAddr lo = IpAddr::V4(0x7F000001);
  auto listen = ListenTcp(lo, 0);
  ASSERT_TRUE(listen.ok());
  RelayOptions o;
  o.ready = [] { return false; };
  auto relay = OwnPortRelay::Start(listen->get(), HostPort{lo, 9}, ScopedFd(), o);
  ASSERT_TRUE(relay.ok()) << relay.status();
  EXPECT_FALSE((*relay)->open());
  relay->reset();  // joins; must not hang
}

INSTANTIATE_TEST_SUITE_P(KernelOrThreads, RelayTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "kernel" : "threads";
                         });

}  // namespace
}  // namespace prewarm::agent::oci
