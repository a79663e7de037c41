// The Authority's DNS Cookies and response rate limiting, on a manual clock.
#include <gtest/gtest.h>

#include "dns/ldns_testutil.h"
#include "dns/static_resolver.h"
#include "dns/zone.h"

namespace prewarm::dns {
namespace {

using testing::QuerySpec;

IpAddr Ip(const char* s) { return *IpAddr::Parse(s); }

std::vector<uint8_t> CookieBytes(const Cookie& c) {
  std::vector<uint8_t> b(c.client.begin(), c.client.end());
  b.insert(b.end(), c.server.begin(), c.server.begin() + c.server_size);
  return b;
}

class ZoneCookieRrlTest : public ::testing::Test {
 protected:
  void Make(RrlOptions rrl, bool cookies = true) {
    ZoneConfig z;
    z.ns = {NsRecord{"ns1.edge.example.", {Ip("198.51.100.53")}}};
    z.cookies.enabled = cookies;
    z.rrl = rrl;
    authority_ = *Authority::Create(z, resolver_, clock_);
  }

  struct Result {
    size_t size = 0;
    Message msg;
  };

  Result Ask(const QuerySpec& s, const IpAddr& from, bool tcp = false) {
    std::vector<uint8_t> buf(65535);
    Result r;
    r.size = authority_->Answer(testing::QueryWire(s), ClientInfo{from, std::nullopt, tcp}, buf);
    if (r.size > 0) {
      absl::StatusOr<Message> m = ParseMessage({buf.data(), r.size});
      EXPECT_TRUE(m.ok()) << m.status();
      EXPECT_NE(testing::FromWire({buf.data(), r.size}), nullptr) << "ldns rejects it";
      if (m.ok()) {
        r.msg = *m;
      }
    }
    return r;
  }

  static QuerySpec WithCookie(std::vector<uint8_t> cookie) {
    QuerySpec s;
    s.edns = true;
    s.extra_options = {{kEdnsOptionCookie, std::move(cookie)}};
    return s;
  }
  static QuerySpec ClientCookieOnly() { return WithCookie({1, 2, 3, 4, 5, 6, 7, 8}); }

  // Asks `n` times from `from`; counts full answers, slipped (TC or BADCOOKIE) and silence.
  struct Tally {
    int answered = 0;
    int truncated = 0;
    int badcookie = 0;
    int silent = 0;
  };
  Tally Flood(const QuerySpec& s, const IpAddr& from, int n, bool tcp = false) {
    Tally t;
    for (int i = 0; i < n; ++i) {
      Result r = Ask(s, from, tcp);
      if (r.size == 0) {
        ++t.silent;
      } else if (r.msg.rcode() == static_cast<uint16_t>(Rcode::kBadCookie)) {
        ++t.badcookie;
      } else if (r.msg.header.tc()) {
        EXPECT_TRUE(r.msg.answers.empty());
        ++t.truncated;
      } else {
        EXPECT_EQ(r.msg.answers.size(), 2u);
        ++t.answered;
      }
    }
    return t;
  }

  StaticResolver resolver_{{
      {"static", ServiceAnswer{{Ip("192.0.2.1"), Ip("192.0.2.2")}, 20, 0}},
  }};
  ManualClock clock_{1'700'000'000'000};
  std::unique_ptr<Authority> authority_;
};

TEST_F(ZoneCookieRrlTest, AClientCookieIsAnsweredWithAServerCookieThatIsThenValid) {
  Make({.responses_per_s = 0});
  Result first = Ask(ClientCookieOnly(), Ip("192.0.2.7"));
  ASSERT_TRUE(first.msg.edns && first.msg.edns->cookie);
  const Cookie& got = *first.msg.edns->cookie;
  EXPECT_EQ(got.client, (std::array<uint8_t, 8>{1, 2, 3, 4, 5, 6, 7, 8}));
  ASSERT_EQ(got.server_size, 16);
  EXPECT_EQ(got.server[0], 1);                               // version
  EXPECT_EQ(Load32(got.server.data() + 4), 1'700'000'000u);  // timestamp
  EXPECT_EQ(first.msg.answers.size(), 2u);
  EXPECT_TRUE(first.msg.header.aa());

  clock_.Advance(60'000);
  Result second = Ask(WithCookie(CookieBytes(got)), Ip("192.0.2.7"));
  EXPECT_EQ(second.msg.rcode(), 0);
  EXPECT_EQ(second.msg.edns->cookie, got);  // young and valid: echoed
  StatsSnapshot s = authority_->stats().Snapshot();
  EXPECT_EQ(s.cookie_client_only, 1u);
  EXPECT_EQ(s.cookie_valid, 1u);
  EXPECT_EQ(s.cookie_invalid, 0u);
}

TEST_F(ZoneCookieRrlTest, ABadServerCookieIsAnsweredNormallyWithANewOne) {
  Make({.responses_per_s = 0});
  std::vector<uint8_t> bogus = {1,    2,    3,    4,    5, 6, 7, 8, 1, 0, 0, 0,
                                0x65, 0x53, 0xF1, 0x00, 9, 9, 9, 9, 9, 9, 9, 9};
  Result r = Ask(WithCookie(bogus), Ip("192.0.2.7"));
  EXPECT_EQ(r.msg.rcode(), 0);
  EXPECT_EQ(r.msg.answers.size(), 2u);
  ASSERT_TRUE(r.msg.edns->cookie);
  EXPECT_NE(CookieBytes(*r.msg.edns->cookie), bogus);
  EXPECT_EQ(authority_->stats().Snapshot().cookie_invalid, 1u);
}

TEST_F(ZoneCookieRrlTest, AMalformedCookieIsFormerr) {
  Make({.responses_per_s = 0});
  Result r = Ask(WithCookie(std::vector<uint8_t>(12, 1)), Ip("192.0.2.7"));
  EXPECT_EQ(r.msg.rcode(), static_cast<uint16_t>(Rcode::kFormErr));
  EXPECT_TRUE(r.msg.answers.empty());
}

TEST_F(ZoneCookieRrlTest, CookiesAreEchoedOverTcpToo) {
  Make({.responses_per_s = 0});
  Result r = Ask(ClientCookieOnly(), Ip("192.0.2.7"), /*tcp=*/true);
  ASSERT_TRUE(r.msg.edns && r.msg.edns->cookie);
  EXPECT_EQ(r.msg.edns->cookie->server_size, 16);
}

TEST_F(ZoneCookieRrlTest, WithCookiesOffTheOptionIsIgnored) {
  Make({.responses_per_s = 0}, /*cookies=*/false);
  Result r = Ask(ClientCookieOnly(), Ip("192.0.2.7"));
  EXPECT_EQ(r.msg.rcode(), 0);
  ASSERT_TRUE(r.msg.edns);
  EXPECT_FALSE(r.msg.edns->cookie);
}

TEST_F(ZoneCookieRrlTest, AFloodFromOneNetworkIsDroppedAndEverySecondLimitedOneSlipped) {
  // Networks that share a bucket are limited together (rrl.h); with 2^20 buckets the two
  // below share one with probability 2^-20 (with 1024 the test failed 1 run in ~1000).
  Make({.responses_per_s = 5, .slip = 2, .table_size = 1 << 20});
  QuerySpec plain;
  Tally t = Flood(plain, Ip("192.0.2.7"), 25);
  EXPECT_EQ(t.answered, 5);
  EXPECT_EQ(t.truncated, 10);
  EXPECT_EQ(t.silent, 10);
  StatsSnapshot s = authority_->stats().Snapshot();
  EXPECT_EQ(s.rrl_dropped, 10u);
  EXPECT_EQ(s.rrl_slipped, 10u);
  EXPECT_EQ(s.truncated, 0u);  // that counter is for answers too big for UDP

  // Another /24 is untouched; the flooded one refills with time.
  EXPECT_EQ(Flood(plain, Ip("192.0.3.7"), 5).answered, 5);
  clock_.Advance(400);
  EXPECT_EQ(Flood(plain, Ip("192.0.2.99"), 5).answered, 2);
}

TEST_F(ZoneCookieRrlTest, TcpIsNeverLimited) {
  Make({.responses_per_s = 1, .slip = 0, .table_size = 64});
  EXPECT_EQ(Flood(QuerySpec{}, Ip("192.0.2.7"), 50, /*tcp=*/true).answered, 50);
}

TEST_F(ZoneCookieRrlTest, AValidServerCookieIsExemptAndAClientCookieAloneIsToldBadcookie) {
  Make({.responses_per_s = 2, .slip = 1, .table_size = 64});
  // Over the limit with only a client cookie: BADCOOKIE with a server cookie to retry with.
  Tally t = Flood(ClientCookieOnly(), Ip("192.0.2.7"), 5);
  EXPECT_EQ(t.answered, 2);
  EXPECT_EQ(t.badcookie, 3);
  Result bad = Ask(ClientCookieOnly(), Ip("192.0.2.7"));
  ASSERT_EQ(bad.msg.rcode(), static_cast<uint16_t>(Rcode::kBadCookie));
  EXPECT_FALSE(bad.msg.header.aa());
  ASSERT_TRUE(bad.msg.edns->cookie);
  EXPECT_EQ(bad.msg.edns->cookie->server_size, 16);
  // The retry with that cookie is answered, however many there are.
  QuerySpec retry = WithCookie(CookieBytes(*bad.msg.edns->cookie));
  EXPECT_EQ(Flood(retry, Ip("192.0.2.7"), 100).answered, 100);
  // The same cookie from another address is not valid there: limited like anyone.
  Tally other = Flood(retry, Ip("192.0.2.8"), 10);
  EXPECT_EQ(other.answered, 0);
  EXPECT_EQ(other.badcookie, 10);
}

// Two Authorities given one rrl_key place networks alike: with a table of 4 buckets shared
// by 64 networks, the same flood is limited the same way, query for query.
TEST_F(ZoneCookieRrlTest, TheSameRrlKeyLimitsAlike) {
  auto make = [&](const SipKey& key) {
    ZoneConfig z;
    z.ns = {NsRecord{"ns1.edge.example.", {Ip("198.51.100.53")}}};
    z.rrl = {.responses_per_s = 3, .slip = 2, .table_size = 4};
    z.rrl_key = key;
    return *Authority::Create(z, resolver_, clock_);
  };
  SipKey k{};
  k[5] = 17;
  std::unique_ptr<Authority> a = make(k);
  std::unique_ptr<Authority> b = make(k);
  const std::vector<uint8_t> q = testing::QueryWire(QuerySpec{});
  std::vector<uint8_t> out_a(65535);
  std::vector<uint8_t> out_b(65535);
  int differ = 0;
  int silent = 0;
  for (uint32_t i = 0; i < 640; ++i) {
    const ClientInfo from{IpAddr::V4(0xC0000000u | ((i % 64) << 8) | 1), std::nullopt, false};
    const size_t na = a->Answer(q, from, out_a);
    const size_t nb = b->Answer(q, from, out_b);
    differ += na != nb || !std::equal(out_a.begin(), out_a.begin() + na, out_b.begin());
    silent += na == 0;
  }
  EXPECT_EQ(differ, 0);
  EXPECT_GT(silent, 300);  // 4 buckets of 3 a second for 64 networks: most are limited
}

TEST_F(ZoneCookieRrlTest, MalformedQueriesAreLimitedToo) {
  Make({.responses_per_s = 2, .slip = 0, .table_size = 64});
  std::vector<uint8_t> junk = {0x12, 0x34, 0x01, 0x00, 0, 2, 0, 0, 0, 0, 0, 0};  // qdcount 2
  std::vector<uint8_t> buf(512);
  int sent = 0;
  for (int i = 0; i < 10; ++i) {
    sent += authority_->Answer(junk, ClientInfo{Ip("192.0.2.7"), std::nullopt, false}, buf) > 0;
  }
  EXPECT_EQ(sent, 2);
}

}  // namespace
}  // namespace prewarm::dns
