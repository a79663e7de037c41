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

class RelayTest : public ::testing::Test {
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

  void ClientsAtOnce(int threads);

  fs::path dir_;
  std::string netns_;
  IpAddr addr_ = IpAddr::V4(0x7F4D0A01);  // 127.77.10.1
  ScopedFd listen_;
  uint16_t port_ = 0;
  static constexpr uint16_t kAppPort = 8080;
};

TEST_F(RelayTest, TheNamespaceIsIsolatedWithItsLoopbackUp) {
  // The app's port exists only inside: on the host nothing listens on 127.0.0.1:8080
  // for this test, and inside, 127.0.0.1 is reachable (lo is up).
  NetnsEchoApp app(netns_, kAppPort, 1, std::chrono::milliseconds(0));
  auto relay = OwnPortRelay::Start(listen_.get(), netns_, kAppPort);
  ASSERT_TRUE(relay.ok()) << relay.status();
  ScopedFd c = Connect();
  EXPECT_EQ(RoundTrip(c.get(), "ping"), "ping");
  EXPECT_EQ((*relay)->relayed(), 1u);
}

TEST_F(RelayTest, CarriesLargePayloadsBothWaysIntact) {
  NetnsEchoApp app(netns_, kAppPort, 3, std::chrono::milliseconds(0));
  auto relay = OwnPortRelay::Start(listen_.get(), netns_, kAppPort);
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

TEST_F(RelayTest, AConnectionDuringStartWaitsForTheAppsPort) {
  NetnsEchoApp app(netns_, kAppPort, 1, std::chrono::milliseconds(400));
  auto relay = OwnPortRelay::Start(listen_.get(), netns_, kAppPort);
  ASSERT_TRUE(relay.ok()) << relay.status();
  EXPECT_FALSE(app.listening());
  ScopedFd c = Connect();  // before the app listens
  EXPECT_EQ(RoundTrip(c.get(), "early"), "early");
  EXPECT_EQ((*relay)->refused(), 0u);
}

TEST_F(RelayTest, AnAppThatNeverListensClosesTheClientAfterTheTimeout) {
  RelayOptions o;
  o.connect_timeout = std::chrono::milliseconds(300);
  auto relay = OwnPortRelay::Start(listen_.get(), netns_, kAppPort, o);
  ASSERT_TRUE(relay.ok()) << relay.status();
  ScopedFd c = Connect();
  EXPECT_EQ(RoundTrip(c.get(), "x"), "");
  for (int i = 0; i < 100 && (*relay)->refused() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ((*relay)->refused(), 1u);
}

// More clients at once than the relay relays: the rest wait in the accept queue, and each
// gets its own bytes back; with one relaying thread and with three.
TEST_F(RelayTest, ClientsBeyondTheCapWaitTheirTurnAndEachGetsItsOwnBytes) {
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
  auto relay = OwnPortRelay::Start(listen_.get(), netns_, kAppPort, o);
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
TEST_F(RelayTest, AClientThatResetsDuringStartIsDroppedAtOnce) {
  auto relay = OwnPortRelay::Start(listen_.get(), netns_, kAppPort);  // 30 s timeout
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
TEST_F(RelayTest, AConnectionIsServedWhileABulkTransferRuns) {
  NetnsEchoApp app(netns_, kAppPort, 2, std::chrono::milliseconds(0));
  auto relay = OwnPortRelay::Start(listen_.get(), netns_, kAppPort);
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

TEST_F(RelayTest, StoppingClosesOpenConnections) {
  NetnsEchoApp app(netns_, kAppPort, 1, std::chrono::milliseconds(0));
  auto relay = OwnPortRelay::Start(listen_.get(), netns_, kAppPort);
  ASSERT_TRUE(relay.ok()) << relay.status();
  ScopedFd c = Connect();
  ASSERT_EQ(::write(c.get(), "a", 1), 1);
  char b;
  ASSERT_EQ(::read(c.get(), &b, 1), 1);  // relayed and echoed: the connection is open
  relay->reset();                        // joins everything; must not hang
  EXPECT_EQ(::read(c.get(), &b, 1), 0);  // closed
}

TEST_F(RelayTest, BadArgumentsAreErrors) {
  EXPECT_FALSE(OwnPortRelay::Start(listen_.get(), netns_, 0).ok());
  EXPECT_FALSE(OwnPortRelay::Start(listen_.get(), (dir_ / "nonexistent").string(), kAppPort).ok());
  EXPECT_FALSE(OwnPortRelay::Start(-1, netns_, kAppPort).ok());
  EXPECT_FALSE(CreateNetns(netns_).ok());  // exists already
}

}  // namespace
}  // namespace prewarm::agent::oci
