#include "agent/runtime/qemu/forwarder.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

namespace prewarm::agent::qemu {
namespace {

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

TEST(TcpForwarderTest, ClientsWaitInTheBacklogUntilReadyThenRelayBothWays) {
  IpAddr front = *IpAddr::Parse("127.0.0.1");
  IpAddr back = *IpAddr::Parse("127.0.0.1");
  auto listen = ListenTcp(front, 0);
  ASSERT_TRUE(listen.ok());
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(listen->get(), reinterpret_cast<sockaddr*>(&ss), &len);
  uint16_t front_port = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  // The backend's port is the kernel's choice (a fixed neighbour of the front port can be
  // taken by a test running in parallel); nothing accepts on it until `ready`.
  auto back_listen = ListenTcp(back, 0);
  ASSERT_TRUE(back_listen.ok()) << back_listen.status();
  len = sizeof ss;
  ::getsockname(back_listen->get(), reinterpret_cast<sockaddr*>(&ss), &len);
  uint16_t back_port = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);

  std::atomic<bool> ready{false};
  TcpForwarder fwd(listen->get(), HostPort{back, back_port}, [&] { return ready.load(); });
  ASSERT_TRUE(fwd.Start().ok());
  // A client connects (kernel backlog) and sends before the backend exists.
  ScopedFd early = ConnectTo(front, front_port);
  ASSERT_EQ(::send(early.get(), "early", 5, 0), 5);
  ::shutdown(early.get(), SHUT_WR);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(fwd.open());
  // The forwarder has not connected to the backend before it is ready.
  pollfd pending{back_listen->get(), POLLIN, 0};
  EXPECT_EQ(::poll(&pending, 1, 0), 0);
  EchoServer server(std::move(*back_listen));
  ready = true;
  EXPECT_EQ(ReadAll(early.get()), "echo:early");
  EXPECT_TRUE(fwd.open());
  // A large body crosses both ways intact.
  std::string big(1 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 997) big[i] = static_cast<char>('a' + i % 26);
  ScopedFd c = ConnectTo(front, front_port);
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
  fwd.Stop();
  ScopedFd q = ConnectTo(back, back_port);
  (void)!::send(q.get(), "quit", 4, 0);
  ::shutdown(q.get(), SHUT_WR);
}

TEST(TcpForwarderTest, StopWhileWaitingForReadyReturns) {
  auto listen = ListenTcp(*IpAddr::Parse("127.0.0.1"), 0);
  ASSERT_TRUE(listen.ok());
  TcpForwarder fwd(listen->get(), HostPort{*IpAddr::Parse("127.0.0.1"), 9}, [] { return false; });
  ASSERT_TRUE(fwd.Start().ok());
  fwd.Stop();
  EXPECT_FALSE(fwd.open());
}

}  // namespace
}  // namespace prewarm::agent::qemu
