#include "store/kv.h"

#include "gtest/gtest.h"

namespace prewarm::store {
namespace {

TEST(PrefixEndTest, IsThePrefixWithItsLastByteIncremented) {
  EXPECT_EQ(PrefixEnd("a"), "b");
  EXPECT_EQ(PrefixEnd("nodes/"), "nodes0");
  EXPECT_EQ(PrefixEnd(std::string("a\x01", 2)), std::string("a\x02", 2));
}

TEST(PrefixEndTest, SkipsTrailingFfBytesAndSpellsTheEndOfTheKeyspaceAsNul) {
  EXPECT_EQ(PrefixEnd("a\xff"), "b");
  EXPECT_EQ(PrefixEnd("a\xff\xff"), "b");
  EXPECT_EQ(PrefixEnd("\xff"), std::string(1, '\0'));
  EXPECT_EQ(PrefixEnd(""), std::string(1, '\0'));
}

TEST(CompareTest, HelpersBuildEtcdsUsualConditions) {
  Compare missing = Compare::Missing("k");
  EXPECT_EQ(missing.target, Compare::Target::kVersion);
  EXPECT_EQ(missing.op, Compare::Op::kEqual);
  EXPECT_EQ(missing.number, 0);
  Compare exists = Compare::Exists("k");
  EXPECT_EQ(exists.op, Compare::Op::kGreater);
  EXPECT_EQ(Compare::ValueIs("k", "v").value, "v");
}

}  // namespace
}  // namespace prewarm::store
