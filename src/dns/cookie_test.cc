#include "dns/cookie.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fmt/format.h"

namespace prewarm::dns {
namespace {

std::vector<uint8_t> Hex(std::string_view h) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string ToHex(std::span<const uint8_t> b) {
  std::string s;
  for (uint8_t x : b) {
    s += fmt::format("{:02x}", x);
  }
  return s;
}

CookieSecret Secret(std::string_view h) {
  CookieSecret s{};
  std::vector<uint8_t> b = Hex(h);
  std::copy(b.begin(), b.end(), s.begin());
  return s;
}

// The COOKIE option a client sends: hex of the client cookie and the server cookie.
Cookie Option(std::string_view h) {
  absl::StatusOr<Cookie> c = ParseCookie(Hex(h));
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : Cookie{};
}

IpAddr Ip(const char* s) { return *IpAddr::Parse(s); }

constexpr std::string_view kSecret = "e5e973e5a6b2a43f48e7dc849e37bfcf";  // RFC 9018 App. A

// RFC 9018 Appendix A.1: a resolver at 198.51.100.100 learns a new server cookie.
TEST(ServerCookieTest, MakesTheRfc9018AppendixA1Cookie) {
  Cookie q = Option("2464c4abcf10c957");
  EXPECT_EQ(ToHex(MakeServerCookie(Secret(kSecret), q.client, Ip("198.51.100.100"), 1559731985)),
            "010000005cf79f111f8130c3eee29480");
}

// A.2: 40 minutes later the same client's cookie still verifies and a new one is made.
TEST(ServerCookieTest, VerifiesAndRenewsTheRfc9018AppendixA2Cookie) {
  Cookie q = Option("2464c4abcf10c957010000005cf79f111f8130c3eee29480");
  EXPECT_TRUE(ServerCookieHashMatches(Secret(kSecret), q, Ip("198.51.100.100")));
  EXPECT_FALSE(ServerCookieHashMatches(Secret(kSecret), q, Ip("198.51.100.101")));
  EXPECT_EQ(ToHex(MakeServerCookie(Secret(kSecret), q.client, Ip("198.51.100.100"), 1559734385)),
            "010000005cf7a871d4a564a1442aca77");
}

// A.3: reserved bytes set by another implementation are hashed as received.
TEST(ServerCookieTest, HashesReservedBytesAsReceivedRfc9018AppendixA3) {
  Cookie q = Option("fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5");
  EXPECT_TRUE(ServerCookieHashMatches(Secret(kSecret), q, Ip("203.0.113.203")));
  EXPECT_EQ(ToHex(MakeServerCookie(Secret(kSecret), q.client, Ip("203.0.113.203"), 1559734700)),
            "010000005cf7a9acf73a7810aca2381e");
}

// A.4: an IPv6 client; the cookie was made with the previous secret.
TEST(ServerCookieTest, Rfc9018AppendixA4Ipv6AndARolledSecret) {
  Cookie q = Option("22681ab97d52c298010000005cf7c57926556bd0934c72f8");
  IpAddr ip = Ip("2001:db8:220:1:59de:d0f4:8769:82b8");
  EXPECT_TRUE(ServerCookieHashMatches(Secret("dd3bdf9344b678b185a6f5cb60fca715"), q, ip));
  EXPECT_FALSE(ServerCookieHashMatches(Secret("445536bcd2513298075a5d379663c962"), q, ip));
  EXPECT_EQ(
      ToHex(MakeServerCookie(Secret("445536bcd2513298075a5d379663c962"), q.client, ip, 1559741961)),
      "010000005cf7c609a6bb79d16625507a");
}

class ServerCookiesTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kT0 = 1'700'000'000;  // a multiple of 3600 plus 800
  ServerCookies cookies_{CookieOptions{true, 3600, Secret(kSecret)}};
  IpAddr client_ = Ip("192.0.2.7");

  Cookie Learn(uint32_t at) {
    CookieCheck c = cookies_.Check(Option("0102030405060708"), client_, at);
    EXPECT_EQ(c.status, CookieStatus::kClientOnly);
    EXPECT_EQ(c.reply.server_size, kServerCookieSize);
    return c.reply;
  }
};

TEST_F(ServerCookiesTest, AClientCookieAloneGetsAFreshServerCookieThatThenVerifies) {
  Cookie learned = Learn(kT0);
  EXPECT_EQ(ToHex(learned.client), "0102030405060708");
  EXPECT_EQ(Load32(learned.server.data() + 4), kT0);
  CookieCheck again = cookies_.Check(learned, client_, kT0 + 10);
  EXPECT_EQ(again.status, CookieStatus::kValid);
  EXPECT_EQ(again.reply, learned);  // young: echoed as it was
}

TEST_F(ServerCookiesTest, ACookieOlderThanHalfAnHourIsValidButRenewed) {
  Cookie learned = Learn(kT0);
  CookieCheck later = cookies_.Check(learned, client_, kT0 + 1900);
  EXPECT_EQ(later.status, CookieStatus::kValid);
  EXPECT_EQ(Load32(later.reply.server.data() + 4), kT0 + 1900);
}

TEST_F(ServerCookiesTest, TooOldOrTooFarAheadIsInvalid) {
  Cookie learned = Learn(kT0);
  EXPECT_EQ(cookies_.Check(learned, client_, kT0 + 3600).status, CookieStatus::kValid);
  EXPECT_EQ(cookies_.Check(learned, client_, kT0 + 3601).status, CookieStatus::kInvalid);
  EXPECT_EQ(cookies_.Check(learned, client_, kT0 - 300).status, CookieStatus::kValid);
  EXPECT_EQ(cookies_.Check(learned, client_, kT0 - 301).status, CookieStatus::kInvalid);
  CookieCheck stale = cookies_.Check(learned, client_, kT0 + 7200);
  EXPECT_EQ(Load32(stale.reply.server.data() + 4), kT0 + 7200);  // a fresh one to retry with
}

TEST_F(ServerCookiesTest, AnotherClientAddressOrAForgedHashIsInvalid) {
  Cookie learned = Learn(kT0);
  EXPECT_EQ(cookies_.Check(learned, Ip("192.0.2.8"), kT0).status, CookieStatus::kInvalid);
  Cookie forged = learned;
  forged.server[15] ^= 1;
  EXPECT_EQ(cookies_.Check(forged, client_, kT0).status, CookieStatus::kInvalid);
  Cookie v2 = learned;
  v2.server[0] = 2;
  EXPECT_EQ(cookies_.Check(v2, client_, kT0).status, CookieStatus::kInvalid);
  Cookie short_one = learned;
  short_one.server_size = 8;
  EXPECT_EQ(cookies_.Check(short_one, client_, kT0).status, CookieStatus::kInvalid);
}

TEST_F(ServerCookiesTest, TheSecretRotatesAndThePreviousOneStaysValidForOnePeriod) {
  const uint32_t period_end = (kT0 / 3600 + 1) * 3600;
  EXPECT_NE(cookies_.SecretAt(kT0), cookies_.SecretAt(period_end));
  EXPECT_EQ(cookies_.SecretAt(kT0), cookies_.SecretAt(period_end - 1));
  Cookie learned = Learn(period_end - 5);  // made with the old secret
  CookieCheck after = cookies_.Check(learned, client_, period_end + 5);
  EXPECT_EQ(after.status, CookieStatus::kValid);
  EXPECT_NE(after.reply, learned);  // re-made with the new secret
  EXPECT_EQ(cookies_.Check(after.reply, client_, period_end + 6).status, CookieStatus::kValid);
}

TEST_F(ServerCookiesTest, ServersSharingTheMasterKeyAcceptEachOthersCookies) {
  ServerCookies other(CookieOptions{true, 3600, Secret(kSecret)});
  ServerCookies stranger(CookieOptions{true, 3600, std::nullopt});
  Cookie learned = Learn(kT0);
  EXPECT_EQ(other.Check(learned, client_, kT0 + 1).status, CookieStatus::kValid);
  EXPECT_EQ(stranger.Check(learned, client_, kT0 + 1).status, CookieStatus::kInvalid);
}

}  // namespace
}  // namespace prewarm::dns
