#include "orchestrator/keys.h"

#include <gtest/gtest.h>

namespace prewarm::orchestrator {
namespace {

TEST(KeysTest, EveryKeyParsesBackToItsKindAndParts) {
  Keys k;
  auto claim = k.Parse(k.Claim("fra-1", "127.77.1.5"));
  ASSERT_TRUE(claim);
  EXPECT_EQ(claim->kind, KeyKind::kClaim);
  EXPECT_EQ(claim->a, "fra-1");
  EXPECT_EQ(claim->b, "127.77.1.5");
  auto pf = k.Parse(k.Prefetch("frankfurt", "static", "0001-f-0"));
  ASSERT_TRUE(pf);
  EXPECT_EQ(pf->kind, KeyKind::kPrefetch);
  EXPECT_EQ(pf->c, "0001-f-0");
  EXPECT_EQ(k.Parse(k.Leader())->kind, KeyKind::kLeader);
  EXPECT_EQ(k.Parse(k.Instance("fra-1-static-1"))->a, "fra-1-static-1");
  EXPECT_EQ(k.Leader(), "/prewarm/v1/leader");
}

TEST(KeysTest, ANameWithASlashCannotForgeAnotherKey) {
  Keys k;
  std::string key = k.Node("fra-1/../leader");
  EXPECT_EQ(key, "/prewarm/v1/nodes/fra-1%2F..%2Fleader");
  auto parsed = k.Parse(key);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->kind, KeyKind::kNode);
  EXPECT_EQ(parsed->a, "fra-1/../leader");
}

TEST(KeysTest, ForeignAndMalformedKeysAreNotParsed) {
  Keys k("/other/");
  EXPECT_FALSE(k.Parse("/prewarm/v1/nodes/fra-1"));
  EXPECT_FALSE(k.Parse("/other/nodes"));
  EXPECT_FALSE(k.Parse("/other/nodes/a/b"));
  EXPECT_FALSE(k.Parse("/other/claims/fra-1"));
  EXPECT_FALSE(k.Parse("/other/nodes/bad%zz"));
  EXPECT_FALSE(k.Parse("/other/nodes/"));
  EXPECT_FALSE(k.Parse("/other/unknown/x"));
}

TEST(KeysTest, EscapingRoundTripsEveryByte) {
  std::string all;
  for (int c = 1; c < 256; ++c) all += static_cast<char>(c);
  auto back = UnescapeKeyPart(EscapeKeyPart(all));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, all);
  EXPECT_FALSE(UnescapeKeyPart("%4"));
  EXPECT_FALSE(UnescapeKeyPart("%"));
}

}  // namespace
}  // namespace prewarm::orchestrator
