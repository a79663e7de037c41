#include "agent/runtime/qemu/console_watch.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "agent/runtime/qemu/unix_listener_testutil.h"
#include "fmt/format.h"

namespace prewarm::agent::qemu {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// A listening unix socket standing in for QEMU's serial chardev.
class SerialServer {
 public:
  SerialServer()
      : path_(testing::UnixSocketPath("prewarm-console")), listen_(testing::ListenUnix(path_)) {}
  ~SerialServer() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }
  void Accept() { conn_ = ScopedFd(::accept(listen_.get(), nullptr, nullptr)); }
  void Write(const std::string& s) {
    ASSERT_EQ(::send(conn_.get(), s.data(), s.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(s.size()));
  }
  std::string Read(size_t n) {
    std::string out;
    char buf[256];
    while (out.size() < n) {
      ssize_t got = ::recv(conn_.get(), buf, sizeof buf, 0);
      if (got <= 0) break;
      out.append(buf, static_cast<size_t>(got));
    }
    return out;
  }
  void HangUp() { conn_ = ScopedFd(); }
  bool PeerHungUp() {
    char c;
    return ::recv(conn_.get(), &c, 1, 0) == 0;
  }

 private:
  std::string path_;
  ScopedFd listen_, conn_;
};

TEST(ConsoleWatchTest, SendsAndTimesMarkerLinesAsTheyArriveEvenSplitAcrossReads) {
  SerialServer server;
  auto watch = ConsoleWatch::Connect(server.path());
  ASSERT_TRUE(watch.ok()) << watch.status();
  server.Accept();
  ASSERT_TRUE((*watch)->Send("go 00ff id\n").ok());
  EXPECT_EQ(server.Read(11), "go 00ff id\n");
  // Nothing yet: the wait ends at its timeout.
  auto t0 = ConsoleWatch::Clock::now();
  EXPECT_FALSE((*watch)->WaitFor("prewarm-guest: identity id", milliseconds(50)).has_value());
  EXPECT_GE(ConsoleWatch::Clock::now() - t0, milliseconds(50));
  // Kernel noise, then the marker in two pieces (the UART sends a few bytes at a time).
  server.Write("[    1.0] virtio: noise\r\nprewarm-guest: ident");
  EXPECT_FALSE((*watch)->WaitFor("prewarm-guest: identity id", milliseconds(20)).has_value());
  auto before = ConsoleWatch::Clock::now();
  server.Write("ity id\r\n");
  auto at = (*watch)->WaitFor("prewarm-guest: identity id", milliseconds(5000));
  ASSERT_TRUE(at.has_value());
  EXPECT_GE(*at, before);
  // A line seen once stays seen, with the time it came.
  EXPECT_EQ((*watch)->WaitFor("identity id", milliseconds(0)), at);
  EXPECT_FALSE((*watch)->WaitFor("virtio", milliseconds(0)).has_value())
      << "only prewarm-guest lines are kept";
  EXPECT_FALSE((*watch)->closed());
  (*watch)->Stop();
  EXPECT_TRUE(server.PeerHungUp()) << "Stop() hangs up on QEMU";
}

TEST(ConsoleWatchTest, AClosedConsoleEndsAWaitAtOnce) {
  SerialServer server;
  auto watch = ConsoleWatch::Connect(server.path());
  ASSERT_TRUE(watch.ok()) << watch.status();
  server.Accept();
  server.Write("prewarm-guest: root ready\n");
  server.HangUp();  // QEMU exited
  auto t0 = ConsoleWatch::Clock::now();
  EXPECT_FALSE((*watch)->WaitFor("prewarm-guest: listening", milliseconds(30000)).has_value());
  EXPECT_LT(ConsoleWatch::Clock::now() - t0, milliseconds(10000));
  EXPECT_TRUE((*watch)->closed());
  EXPECT_TRUE((*watch)->WaitFor("root ready", milliseconds(0)).has_value())
      << "what came before the close is kept";
}

TEST(ConsoleWatchTest, NoSocketIsAnError) {
  auto watch = ConsoleWatch::Connect("/nonexistent-prewarm/serial.sock");
  EXPECT_FALSE(watch.ok());
}

}  // namespace
}  // namespace prewarm::agent::qemu
