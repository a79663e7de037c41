#include "dns/server.h"

#include <gtest/gtest.h>

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
    std::vector<uint8_t> f = Framed(Query(id % 2 ? "static.edge.example." : "big.edge.example.", id));
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
  opts.tcp_idle_timeout_ms = 100;
  RunningServer rs(opts);
  ASSERT_TRUE(rs.status.ok()) << rs.status;
  ScopedFd fd = TcpConnect(rs.server->port());
  ASSERT_TRUE(fd.valid());
  EXPECT_TRUE(ClosedByPeer(fd.get()));
}

TEST(DnsServerTest, CapsTcpConnections) {
  ServerOptions opts;
  opts.max_tcp_connections = 2;
  RunningServer rs(opts);
  ASSERT_TRUE(rs.status.ok()) << rs.status;
  std::vector<ScopedFd> kept;
  for (int i = 0; i < 2; ++i) {
    kept.push_back(TcpConnect(rs.server->port()));
    ASSERT_TRUE(SendAll(kept.back().get(), Framed(Query("static.edge.example."))));
    ASSERT_TRUE(RecvFrame(kept.back().get()));  // accepted and served
  }
  ScopedFd extra = TcpConnect(rs.server->port());
  ASSERT_TRUE(extra.valid());
  EXPECT_TRUE(ClosedByPeer(extra.get()));
  kept.clear();
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
