#include "dns/server.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "dns/ldns_testutil.h"
#include "dns/server_testutil.h"

namespace prewarm::dns {
namespace {

using namespace prewarm::dns::testing;

std::vector<uint8_t> Query(const char* name, uint16_t id = 0x1234) {
  QuerySpec s;
  s.name = name;
  s.id = id;
  return QueryWire(s);
}

TEST(DnsServerTest, AnswersOverUdp) {
  RunningServer rs;
  ASSERT_TRUE(rs.status.ok()) << rs.status;
  ASSERT_NE(rs.server->port(), 0);
  std::vector<uint8_t> reply = UdpExchange(rs.server->port(), Query("static.edge.example."));
  absl::StatusOr<Message> m = ParseMessage(reply);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->header.id, 0x1234);
  ASSERT_EQ(m->answers.size(), 1u);
  EXPECT_EQ(std::get<IpAddr>(m->answers[0].data).ToString(), "192.0.2.1");
  EXPECT_GE(rs.authority->stats().Snapshot().queries_udp, 1u);
}

TEST(DnsServerTest, TruncatedOverUdpThenWholeOverTcp) {
  RunningServer rs;
  ASSERT_TRUE(rs.status.ok()) << rs.status;
  std::vector<uint8_t> q = Query("big.edge.example.");
  absl::StatusOr<Message> udp = ParseMessage(UdpExchange(rs.server->port(), q));
  ASSERT_TRUE(udp.ok()) << udp.status();
  EXPECT_TRUE(udp->header.tc());
  EXPECT_TRUE(udp->answers.empty());

  ScopedFd fd = TcpConnect(rs.server->port());
  ASSERT_TRUE(fd.valid());
  ASSERT_TRUE(SendAll(fd.get(), Framed(q)));
  std::optional<std::vector<uint8_t>> frame = RecvFrame(fd.get());
  ASSERT_TRUE(frame);
  absl::StatusOr<Message> tcp = ParseMessage(*frame);
  ASSERT_TRUE(tcp.ok()) << tcp.status();
  EXPECT_FALSE(tcp->header.tc());
  EXPECT_EQ(tcp->answers.size(), 100u);
}

TEST(DnsServerTest, PipelinedAndByteByByteTcpQueries) {
  RunningServer rs;
  ASSERT_TRUE(rs.status.ok()) << rs.status;
  ScopedFd fd = TcpConnect(rs.server->port());
  ASSERT_TRUE(fd.valid());
  std::vector<uint8_t> batch;
  for (uint16_t id = 1; id <= 5; ++id) {
    std::vector<uint8_t> f =
        Framed(Query(id % 2 ? "static.edge.example." : "big.edge.example.", id));
    batch.insert(batch.end(), f.begin(), f.end());
  }
  ASSERT_TRUE(SendAll(fd.get(), batch));
  for (uint16_t id = 1; id <= 5; ++id) {
    std::optional<std::vector<uint8_t>> frame = RecvFrame(fd.get());
    ASSERT_TRUE(frame) << id;
    EXPECT_EQ(Load16(frame->data()), id);
  }
  // One query dribbled a byte at a time: the server must reassemble it.
  std::vector<uint8_t> slow = Framed(Query("static.edge.example.", 99));
  for (uint8_t b : slow) {
    ASSERT_TRUE(SendAll(fd.get(), {&b, 1}));
  }
  std::optional<std::vector<uint8_t>> frame = RecvFrame(fd.get());
  ASSERT_TRUE(frame);
  EXPECT_EQ(Load16(frame->data()), 99);
}

TEST(DnsServerTest, StopWhileClientsAreConnected) {
  RunningServer rs;
  ASSERT_TRUE(rs.status.ok()) << rs.status;
  uint16_t port = rs.server->port();
  std::vector<ScopedFd> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(TcpConnect(port));
    ASSERT_TRUE(clients.back().valid());
  }
  std::vector<uint8_t> half = Framed(Query("static.edge.example."));
  ASSERT_TRUE(SendAll(clients[0].get(), std::span(half).first(5)));
  ASSERT_TRUE(SendAll(clients[1].get(), Framed(Query("static.edge.example."))));
  ASSERT_TRUE(RecvFrame(clients[1].get()));
  rs.server->Stop();
  for (const ScopedFd& c : clients) {
    EXPECT_TRUE(ClosedByPeer(c.get()));
  }
  EXPECT_FALSE(TcpConnect(port).valid());
  rs.server->Stop();  // idempotent
}

TEST(DnsServerTest, StartFailsClearlyWhenThePortIsTaken) {
  ScopedFd squatter(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa = Loopback(0);
  ASSERT_EQ(::bind(squatter.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  socklen_t len = sizeof sa;
  ::getsockname(squatter.get(), reinterpret_cast<sockaddr*>(&sa), &len);
  ServerOptions opts;
  opts.listen = HostPort{*IpAddr::Parse("127.0.0.1"), ntohs(sa.sin_port)};
  RunningServer rs(opts);
  EXPECT_FALSE(rs.status.ok());
  EXPECT_EQ(rs.status.code(), absl::StatusCode::kAlreadyExists) << rs.status;
  EXPECT_NE(rs.status.message().find("bind udp"), std::string::npos) << rs.status;

  // A second server on a port the first one holds: its TCP listener is refused.
  RunningServer first;
  ASSERT_TRUE(first.status.ok());
  ServerOptions same;
  same.listen = HostPort{*IpAddr::Parse("127.0.0.1"), first.server->port()};
  RunningServer second(same);
  EXPECT_FALSE(second.status.ok());
}

TEST(DnsServerTest, ClosesIdleTcpConnections) {
  ServerOptions opts;
  opts.tcp_limits.idle_timeout_ms = 100;
  RunningServer rs(opts);
  ASSERT_TRUE(rs.status.ok()) << rs.status;
  ScopedFd fd = TcpConnect(rs.server->port());
  ASSERT_TRUE(fd.valid());
  EXPECT_TRUE(ClosedByPeer(fd.get()));
}

// At the cap, a newcomer takes the slot of the connection idle the longest; when every
// connection is busy (a message in progress), the newcomer is closed at once.
TEST(DnsServerTest, CapsTcpConnectionsAndANewcomerEvictsTheIdlest) {
  ServerOptions opts;
  opts.tcp_limits.max_connections = 2;
  opts.tcp_limits.message_timeout_ms = 60'000;  // only the cap is tested here
  RunningServer rs(opts);
  ASSERT_TRUE(rs.status.ok()) << rs.status;
  std::vector<ScopedFd> kept;
  for (uint16_t i = 0; i < 2; ++i) {
    kept.push_back(TcpConnect(rs.server->port()));
    ASSERT_TRUE(SendAll(kept.back().get(), Framed(Query("static.edge.example.", i))));
    ASSERT_TRUE(RecvFrame(kept.back().get()));  // accepted and served, idle from now on
    ::usleep(20'000);                           // kept[0] was active first
  }
  ScopedFd third = TcpConnect(rs.server->port());
  ASSERT_TRUE(SendAll(third.get(), Framed(Query("static.edge.example.", 3))));
  std::optional<std::vector<uint8_t>> answer = RecvFrame(third.get());
  ASSERT_TRUE(answer);
  EXPECT_EQ(Load16(answer->data()), 3);
  EXPECT_TRUE(ClosedByPeer(kept[0].get()));  // the idlest made room
  EXPECT_FALSE(ClosedNow(kept[1].get()));

  // Both open connections start a message: neither is idle, so a newcomer finds no room.
  const uint8_t length_high = 1;
  ASSERT_EQ(::send(kept[1].get(), &length_high, 1, MSG_NOSIGNAL), 1);
  ASSERT_EQ(::send(third.get(), &length_high, 1, MSG_NOSIGNAL), 1);
  ScopedFd extra = TcpConnect(rs.server->port());
  ASSERT_TRUE(extra.valid());
  EXPECT_TRUE(ClosedByPeer(extra.get()));
  EXPECT_FALSE(ClosedNow(kept[1].get()));
  EXPECT_FALSE(ClosedNow(third.get()));
}

// Given 40 slow-loris connections from 127.0.0.0/24, each sending a byte at a time, and
// room for 32 connections of which 8 per network: the loris keep 8, and a client from
// 127.0.1.0/24 is still answered over TCP, and anyone over UDP.
TEST(DnsServerTest, SlowLorisFromOneNetworkLeavesRoomForOthers) {
  ServerOptions opts;
  opts.tcp_limits.max_connections = 32;
  opts.tcp_limits.max_per_network = 8;
  opts.tcp_limits.message_timeout_ms = 60'000;  // only the caps are tested here
  RunningServer rs(opts);
  ASSERT_TRUE(rs.status.ok()) << rs.status;
  const uint16_t port = rs.server->port();
  std::vector<ScopedFd> loris;
  for (uint32_t i = 0; i < 40; ++i) {
    loris.push_back(TcpConnectFrom(port, IpAddr::V4(0x7F000002u + i)));  // 127.0.0.2..41
    ASSERT_TRUE(loris.back().valid()) << i;
    uint8_t length_high = 1;  // a 256-byte message is announced, then dribbled
    ::send(loris.back().get(), &length_high, 1, MSG_NOSIGNAL);
  }
  const IpAddr legit_source = *IpAddr::Parse("127.0.1.1");
  for (uint16_t round = 1; round <= 3; ++round) {
    for (const ScopedFd& fd : loris) {
      uint8_t b = 0;
      ::send(fd.get(), &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT);  // fails once the server closed
    }
    ScopedFd legit = TcpConnectFrom(port, legit_source);
    ASSERT_TRUE(legit.valid());
    ASSERT_TRUE(SendAll(legit.get(), Framed(Query("static.edge.example.", round))));
    std::optional<std::vector<uint8_t>> frame = RecvFrame(legit.get());
    ASSERT_TRUE(frame) << "round " << round;
    EXPECT_EQ(Load16(frame->data()), round);
    std::vector<uint8_t> udp = UdpExchange(port, Query("static.edge.example.", round));
    ASSERT_GE(udp.size(), kHeaderSize);
    EXPECT_EQ(Load16(udp.data()), round);
  }
  // The legit answers came after every loris was accepted or refused.
  int open = 0;
  for (const ScopedFd& fd : loris) {
    open += ClosedNow(fd.get()) ? 0 : 1;
  }
  EXPECT_EQ(open, 8);
}

// A message dribbled a byte every 50 ms is cut at its 100 ms deadline: arriving bytes do
// not extend it, and it is never answered.
TEST(DnsServerTest, SlowMessageIsCutAtItsDeadline) {
  ServerOptions opts;
  opts.tcp_limits.message_timeout_ms = 100;
  opts.tcp_limits.idle_timeout_ms = 60'000;
  RunningServer rs(opts);
  ASSERT_TRUE(rs.status.ok()) << rs.status;
  ScopedFd fd = TcpConnect(rs.server->port());
  ASSERT_TRUE(fd.valid());
  std::vector<uint8_t> msg = Framed(Query("static.edge.example."));
  size_t sent = 0;
  for (; sent < msg.size() && !ClosedNow(fd.get()); ++sent) {
    if (::send(fd.get(), &msg[sent], 1, MSG_NOSIGNAL) != 1) {
      break;
    }
    ::usleep(50'000);
  }
  EXPECT_LT(sent, msg.size());
  EXPECT_TRUE(ReadUntilClosed(fd.get()));
}

// Whole queries, each sent at once, keep a connection open well past the message timeout:
// the deadline is per message, and pipelining still works.
TEST(DnsServerTest, ConnectionOutlivesTheMessageTimeoutWhileQueriesArrive) {
  ServerOptions opts;
  opts.tcp_limits.message_timeout_ms = 100;
  RunningServer rs(opts);
  ASSERT_TRUE(rs.status.ok()) << rs.status;
  ScopedFd fd = TcpConnect(rs.server->port());
  ASSERT_TRUE(fd.valid());
  for (uint16_t id = 1; id <= 6; ++id) {
    std::vector<uint8_t> two = Framed(Query("static.edge.example.", id));
    std::vector<uint8_t> second = Framed(Query("big.edge.example.", id + 100));
    two.insert(two.end(), second.begin(), second.end());
    ASSERT_TRUE(SendAll(fd.get(), two)) << id;
    std::optional<std::vector<uint8_t>> a = RecvFrame(fd.get());
    std::optional<std::vector<uint8_t>> b = RecvFrame(fd.get());
    ASSERT_TRUE(a && b) << id;
    EXPECT_EQ(Load16(a->data()), id);
    EXPECT_EQ(Load16(b->data()), id + 100);
    ::usleep(60'000);
  }
}

// A client that sends queries and never reads the answers is closed once its queued
// answers have waited past the message timeout.
TEST(DnsServerTest, ClientThatDoesNotReadIsClosed) {
  ServerOptions opts;
  opts.tcp_limits.message_timeout_ms = 100;
  opts.tcp_limits.idle_timeout_ms = 60'000;
  RunningServer rs(opts);
  ASSERT_TRUE(rs.status.ok()) << rs.status;
  ScopedFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int small = 4096;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in sa = Loopback(rs.server->port());
  ASSERT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  std::vector<uint8_t> batch;
  for (uint16_t id = 0; id < 400; ++id) {  // ~1.7 KB answers: far more than both buffers
    std::vector<uint8_t> f = Framed(Query("big.edge.example.", id));
    batch.insert(batch.end(), f.begin(), f.end());
  }
  ::send(fd.get(), batch.data(), batch.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::usleep(500'000);
  EXPECT_TRUE(ReadUntilClosed(fd.get()));
}

// Response rate limiting end to end: 2,000 UDP queries from 127.0.1.1 in bursts of 100.
// The server's own counters say exactly what became of each; the client sees the same
// but may miss a datagram, so its figures are checked loosely.
TEST(DnsServerTest, AUdpFloodFromOneNetworkIsRateLimitedWhileAnotherIsAnswered) {
  ServerOptions opts;
  opts.udp_threads = 2;
  ZoneConfig zone = TestZoneConfig();
  zone.rrl = {.responses_per_s = 50, .slip = 2, .table_size = 4096};
  RunningServer rs(opts, zone);
  ASSERT_TRUE(rs.status.ok()) << rs.status;
  ScopedFd flood = UdpSocketFrom(*IpAddr::Parse("127.0.1.1"));
  ASSERT_TRUE(flood.valid());
  sockaddr_in to = Loopback(rs.server->port());
  int answered = 0;
  int truncated = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int burst = 0; burst < 20; ++burst) {
    for (uint16_t i = 0; i < 100; ++i) {
      std::vector<uint8_t> q =
          Query("static.edge.example.", static_cast<uint16_t>(burst * 100 + i));
      ::sendto(flood.get(), q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    }
    std::vector<uint8_t> buf(4096);
    pollfd p{flood.get(), POLLIN, 0};
    while (::poll(&p, 1, 100) == 1) {
      ssize_t n = ::recv(flood.get(), buf.data(), buf.size(), 0);
      absl::StatusOr<Message> m =
          ParseMessage({buf.data(), static_cast<size_t>(std::max<ssize_t>(n, 0))});
      if (!m.ok()) {
        continue;
      }
      if (m->header.tc()) {
        EXPECT_TRUE(m->answers.empty());
        ++truncated;
      } else {
        ++answered;
      }
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Another /24 during the flood's aftermath (its own bucket is full).
  ScopedFd other = UdpSocketFrom(*IpAddr::Parse("127.0.2.1"));
  ASSERT_TRUE(other.valid());
  int other_answered = 0;
  for (uint16_t i = 0; i < 5; ++i) {
    std::vector<uint8_t> q = Query("static.edge.example.", i);
    ::sendto(other.get(), q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    SetRecvTimeout(other.get(), 2);
    std::vector<uint8_t> buf(4096);
    ssize_t n = ::recv(other.get(), buf.data(), buf.size(), 0);
    absl::StatusOr<Message> m =
        ParseMessage({buf.data(), static_cast<size_t>(std::max<ssize_t>(n, 0))});
    other_answered += m.ok() && !m->header.tc() && m->answers.size() == 1;
  }
  EXPECT_EQ(other_answered, 5);

  StatsSnapshot s = rs.authority->stats().Snapshot();
  const uint64_t allowed_max = 50 + static_cast<uint64_t>(50 * (secs + 1));
  const uint64_t flood_in = s.queries_udp - 5;  // the kernel may lose a few on the way in
  const uint64_t sent = flood_in - s.rrl_dropped - s.rrl_slipped;
  std::printf(
      "flood: %.1f s, server: %llu answered, %llu slipped, %llu dropped; client saw "
      "%d answers, %d TC\n",
      secs, static_cast<unsigned long long>(sent), static_cast<unsigned long long>(s.rrl_slipped),
      static_cast<unsigned long long>(s.rrl_dropped), answered, truncated);
  EXPECT_GE(flood_in, 1900u);
  EXPECT_LE(sent, allowed_max);
  EXPECT_GE(sent, 50u);
  EXPECT_GE(s.rrl_dropped, 800u);  // most of the flood is not answered at all
  // slip 2: every second limited response goes back truncated.
  EXPECT_LE(s.rrl_slipped, s.rrl_dropped + 1);
  EXPECT_GE(s.rrl_slipped + 1, s.rrl_dropped);
  EXPECT_LE(static_cast<uint64_t>(answered), sent);
  EXPECT_GE(truncated, 700);
  EXPECT_LE(static_cast<uint64_t>(truncated), s.rrl_slipped);
}

TEST(DnsServerTest, ManyUdpQueriesAcrossThreads) {
  ServerOptions opts;
  opts.udp_threads = 3;
  RunningServer rs(opts);
  ASSERT_TRUE(rs.status.ok()) << rs.status;
  for (uint16_t id = 0; id < 50; ++id) {
    std::vector<uint8_t> reply = UdpExchange(rs.server->port(), Query("static.edge.example.", id));
    ASSERT_GE(reply.size(), kHeaderSize) << id;
    EXPECT_EQ(Load16(reply.data()), id);
  }
}

}  // namespace
}  // namespace prewarm::dns
