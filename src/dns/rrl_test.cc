#include "dns/rrl.h"

#include <gtest/gtest.h>

#include <map>

namespace prewarm::dns {
namespace {

IpAddr Ip(const char* s) { return *IpAddr::Parse(s); }

constexpr int64_t kT0 = 1'700'000'000'000;  // ms

struct Counts {
  int sent = 0;
  int slipped = 0;
  int dropped = 0;
};

Counts Burst(ResponseRateLimiter& rrl, const IpAddr& ip, int n, int64_t now_ms) {
  Counts c;
  for (int i = 0; i < n; ++i) {
    switch (rrl.Check(ip, now_ms)) {
      case RrlVerdict::kSend:
        ++c.sent;
        break;
      case RrlVerdict::kSlip:
        ++c.slipped;
        break;
      case RrlVerdict::kDrop:
        ++c.dropped;
        break;
    }
  }
  return c;
}

TEST(RrlTest, AFullBucketHoldsOneSecondOfResponsesThenRefillsAtTheRate) {
  ResponseRateLimiter rrl({.responses_per_s = 10, .slip = 0, .table_size = 1024});
  IpAddr a = Ip("192.0.2.1");
  EXPECT_EQ(Burst(rrl, a, 15, kT0).sent, 10);
  EXPECT_EQ(Burst(rrl, a, 5, kT0 + 50).sent, 0);      // half a token
  EXPECT_EQ(Burst(rrl, a, 5, kT0 + 100).sent, 1);     // one token
  EXPECT_EQ(Burst(rrl, a, 5, kT0 + 350).sent, 2);     // 2.5 more
  EXPECT_EQ(Burst(rrl, a, 50, kT0 + 5000).sent, 10);  // full again, never more
}

TEST(RrlTest, ASteadyClientAtTheRateIsNeverLimited) {
  ResponseRateLimiter rrl({.responses_per_s = 20, .slip = 2, .table_size = 64});
  IpAddr a = Ip("192.0.2.1");
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(rrl.Check(a, kT0 + i * 50), RrlVerdict::kSend) << i;
  }
}

TEST(RrlTest, EverySlipThLimitedResponseIsSlipped) {
  for (int slip : {0, 1, 2, 5}) {
    ResponseRateLimiter rrl({.responses_per_s = 10, .slip = slip, .table_size = 64});
    Counts c = Burst(rrl, Ip("192.0.2.1"), 110, kT0);
    EXPECT_EQ(c.sent, 10) << slip;
    EXPECT_EQ(c.slipped, slip == 0 ? 0 : 100 / slip) << slip;
    EXPECT_EQ(c.dropped, 100 - c.slipped) << slip;
  }
}

TEST(RrlTest, BucketsArePerSlash24AndSlash56) {
  ResponseRateLimiter rrl({.responses_per_s = 5, .slip = 0, .table_size = 1 << 16});
  EXPECT_EQ(Burst(rrl, Ip("192.0.2.1"), 5, kT0).sent, 5);
  EXPECT_EQ(Burst(rrl, Ip("192.0.2.200"), 5, kT0).sent, 0);  // same /24
  EXPECT_EQ(Burst(rrl, Ip("192.0.3.1"), 5, kT0).sent, 5);    // another /24
  EXPECT_EQ(Burst(rrl, Ip("2001:db8:0:1::1"), 5, kT0).sent, 5);
  EXPECT_EQ(Burst(rrl, Ip("2001:db8:0:ff::2"), 5, kT0).sent, 0);  // same /56
  EXPECT_EQ(Burst(rrl, Ip("2001:db8:0:100::1"), 5, kT0).sent, 5);
}

TEST(RrlTest, NetworksThatCollideShareOneBucketAndAnIdleOneIsFullForTheNext) {
  ResponseRateLimiter rrl({.responses_per_s = 10, .slip = 0, .table_size = 1});
  IpAddr a = Ip("192.0.2.1");
  IpAddr b = Ip("198.51.100.1");
  ASSERT_EQ(rrl.BucketOf(a), rrl.BucketOf(b));
  EXPECT_EQ(Burst(rrl, a, 6, kT0).sent, 6);
  EXPECT_EQ(Burst(rrl, b, 6, kT0).sent, 4);           // the rest of the shared second
  EXPECT_EQ(Burst(rrl, b, 20, kT0 + 1000).sent, 10);  // a second later: full, for anyone
}

TEST(RrlTest, TheTableSpreadsNetworksAndItsKeyDecidesWhere) {
  SipKey k1{};
  SipKey k2{};
  k2[0] = 1;
  ResponseRateLimiter r1({.responses_per_s = 10, .slip = 0, .table_size = 256}, k1);
  ResponseRateLimiter r2({.responses_per_s = 10, .slip = 0, .table_size = 256}, k2);
  std::map<size_t, int> used;
  int moved = 0;
  for (uint32_t n = 0; n < 256; ++n) {
    IpAddr ip = IpAddr::V4(0x0A000000u | (n << 8));
    ++used[r1.BucketOf(ip)];
    moved += r1.BucketOf(ip) != r2.BucketOf(ip);
    EXPECT_LT(r1.BucketOf(ip), 256u);
  }
  EXPECT_GT(used.size(), 140u);  // 256 balls in 256 bins: about 162 bins used
  EXPECT_GT(moved, 200);
}

TEST(RrlTest, AClockThatStepsBackDoesNotLockANetworkOut) {
  ResponseRateLimiter rrl({.responses_per_s = 10, .slip = 0, .table_size = 64});
  IpAddr a = Ip("192.0.2.1");
  EXPECT_EQ(Burst(rrl, a, 20, kT0).sent, 10);
  EXPECT_EQ(Burst(rrl, a, 20, kT0 - 3'600'000).sent, 10);  // an hour back: a full bucket
}

}  // namespace
}  // namespace prewarm::dns
