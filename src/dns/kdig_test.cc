// The real kdig (knot-dnsutils) against the real server on loopback. Skipped when kdig
// is not installed.
#include <gtest/gtest.h>

#include <cstdio>
#include <regex>
#include <string>

#include "dns/server_testutil.h"
#include "fmt/format.h"

namespace prewarm::dns {
namespace {

bool HaveKdig() { return std::system("command -v kdig >/dev/null 2>&1") == 0; }

std::string RunCommand(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) {
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
    out.append(buf, n);
  }
  ::pclose(p);
  return out;
}

class DnsKdigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveKdig()) {
      GTEST_SKIP() << "kdig not in PATH";
    }
    ASSERT_TRUE(rs_.status.ok()) << rs_.status;
  }
  std::string Kdig(const std::string& args) {
    return RunCommand(
        fmt::format("kdig @127.0.0.1 -p {} +time=5 +retry=1 {}", rs_.server->port(), args));
  }
  testing::RunningServer rs_;
};

TEST_F(DnsKdigTest, EchoesClientSubnetWithScope) {
  std::string out = Kdig("static.edge.example. A +subnet=203.0.113.0/24");
  EXPECT_NE(out.find("status: NOERROR"), std::string::npos) << out;
  EXPECT_NE(out.find("Flags: qr aa rd"), std::string::npos) << out;
  EXPECT_NE(out.find("CLIENT-SUBNET: 203.0.113.0/24/20"), std::string::npos) << out;
  EXPECT_NE(out.find("192.0.2.1"), std::string::npos) << out;
}

TEST_F(DnsKdigTest, EdnsVersionOneIsBadvers) {
  std::string out = Kdig("static.edge.example. A +edns=1");
  EXPECT_NE(out.find("BADVERS"), std::string::npos) << out;
}

TEST_F(DnsKdigTest, PlainDnsWithoutEdns) {
  std::string out = Kdig("static.edge.example. AAAA +noedns");
  EXPECT_NE(out.find("status: NOERROR"), std::string::npos) << out;
  EXPECT_EQ(out.find("EDNS PSEUDOSECTION"), std::string::npos) << out;
  EXPECT_NE(out.find("2001:db8::1"), std::string::npos) << out;
}

TEST_F(DnsKdigTest, TcpAndTruncationFallback) {
  std::string tcp = Kdig("big.edge.example. A +tcp");
  EXPECT_NE(tcp.find("status: NOERROR"), std::string::npos) << tcp;
  EXPECT_NE(tcp.find("ANSWER: 100"), std::string::npos) << tcp;
  EXPECT_NE(tcp.find("TCP"), std::string::npos) << tcp;
  // Over UDP without EDNS the answer is truncated; kdig retries over TCP by itself.
  std::string udp = Kdig("big.edge.example. A +noedns");
  EXPECT_NE(udp.find("ANSWER: 100"), std::string::npos) << udp;
}

// kdig +cookie sends a client cookie and prints the response's option as one hex string
// (client cookie, then server cookie); sent back with +cookie=HEX, the server cookie is
// accepted: counted valid, and echoed as it was (it is young).
TEST_F(DnsKdigTest, CookiesAreLearnedAndThenAccepted) {
  std::string first = Kdig("static.edge.example. A +cookie");
  EXPECT_NE(first.find("status: NOERROR"), std::string::npos) << first;
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(first, m, std::regex("COOKIE: ([0-9a-fA-F]{16})([0-9a-fA-F]{32})\n")))
      << first;
  EXPECT_EQ(m[2].str().substr(0, 2), "01") << "RFC 9018 version 1";
  std::string second =
      Kdig(fmt::format("static.edge.example. A +cookie={}{}", m[1].str(), m[2].str()));
  EXPECT_NE(second.find("status: NOERROR"), std::string::npos) << second;
  EXPECT_NE(second.find("192.0.2.1"), std::string::npos) << second;
  EXPECT_NE(second.find("COOKIE: " + m[1].str() + m[2].str() + "\n"), std::string::npos) << second;
  StatsSnapshot s = rs_.authority->stats().Snapshot();
  EXPECT_EQ(s.cookie_client_only, 1u);
  EXPECT_EQ(s.cookie_valid, 1u);
  // Over TCP too.
  std::string tcp = Kdig("static.edge.example. A +cookie +tcp");
  EXPECT_NE(tcp.find("TCP"), std::string::npos) << tcp;
  EXPECT_TRUE(std::regex_search(tcp, std::regex("COOKIE: [0-9a-fA-F]{48}\n"))) << tcp;
}

TEST_F(DnsKdigTest, NxdomainAndRefused) {
  EXPECT_NE(Kdig("nosuch.edge.example. A").find("status: NXDOMAIN"), std::string::npos);
  EXPECT_NE(Kdig("www.example.com. A").find("status: REFUSED"), std::string::npos);
}

}  // namespace
}  // namespace prewarm::dns
