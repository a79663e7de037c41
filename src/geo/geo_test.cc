#include "geo/geo.h"

#include <gtest/gtest.h>

namespace prewarm::geo {
namespace {

constexpr GeoPoint kFrankfurt{50.11, 8.68};
constexpr GeoPoint kVirginia{38.95, -77.45};
constexpr GeoPoint kSingapore{1.35, 103.82};

TEST(GreatCircleTest, KnownCityDistances) {
  // Reference distances from the haversine formula on a 6371 km sphere.
  EXPECT_NEAR(GreatCircleKm(kFrankfurt, kVirginia), 6540, 60);
  EXPECT_NEAR(GreatCircleKm(kFrankfurt, kSingapore), 10260, 60);
  EXPECT_NEAR(GreatCircleKm(kSingapore, kSingapore), 0, 1e-9);
  EXPECT_NEAR(GreatCircleKm({0, 0}, {0, 180}), M_PI * 6371.0088, 1e-6);
}

TEST(CidrLocatorTest, LongestPrefixWinsAndFamiliesStaySeparate) {
  CidrLocator loc;
  ASSERT_TRUE(loc.Add(*Cidr::Parse("10.0.0.0/8"), {"wide", kVirginia}).ok());
  ASSERT_TRUE(loc.Add(*Cidr::Parse("10.1.0.0/16"), {"narrow", kFrankfurt}).ok());
  ASSERT_TRUE(loc.Add(*Cidr::Parse("2001:db8::/32"), {"v6", kSingapore}).ok());
  auto hit = loc.Lookup(*IpAddr::Parse("10.1.2.3"));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->location.region, "narrow");
  EXPECT_EQ(hit->matched_prefix, 16);
  EXPECT_EQ(loc.Lookup(*IpAddr::Parse("10.2.0.1"))->location.region, "wide");
  EXPECT_EQ(loc.Lookup(*IpAddr::Parse("2001:db8:1::5"))->location.region, "v6");
  EXPECT_FALSE(loc.Lookup(*IpAddr::Parse("192.0.2.1")).has_value());
  EXPECT_FALSE(loc.Add(*Cidr::Parse("10.1.9.9/16"), {"dup", kFrankfurt}).ok());
  EXPECT_EQ(loc.size(), 3u);
}

}  // namespace
}  // namespace prewarm::geo
