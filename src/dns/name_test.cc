#include "dns/name.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace prewarm::dns {
namespace {

std::vector<uint8_t> Bytes(std::initializer_list<int> b) {
  return std::vector<uint8_t>(b.begin(), b.end());
}

TEST(DnsNameTest, TextRoundTripAddsTheTrailingDot) {
  absl::StatusOr<Name> n = Name::FromText("Static.Edge.Example");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->ToText(), "Static.Edge.Example.");
  EXPECT_EQ(n->label_count(), 3);
  EXPECT_EQ(n->first_label(), "Static");
  EXPECT_EQ(n->wire_size(), 21u);
  EXPECT_TRUE(Name::FromText(".")->is_root());
}

TEST(DnsNameTest, ComparesCaseInsensitivelyButEqualityIsExact) {
  Name a = *Name::FromText("STATIC.edge.example.");
  Name b = *Name::FromText("static.EDGE.example.");
  EXPECT_TRUE(a.EqualsIgnoreCase(b));
  EXPECT_FALSE(a == b);
  Name zone = *Name::FromText("Edge.Example.");
  EXPECT_TRUE(a.IsSubdomainOf(zone));
  EXPECT_TRUE(zone.IsSubdomainOf(zone));
  EXPECT_FALSE(zone.IsSubdomainOf(a));
  EXPECT_FALSE(Name::FromText("xedge.example.")->IsSubdomainOf(zone));
  EXPECT_TRUE(a.IsSubdomainOf(Name()));
}

TEST(DnsNameTest, RejectsOversizedLabelsAndNames) {
  EXPECT_FALSE(Name::FromText(std::string(64, 'a') + ".example.").ok());
  EXPECT_TRUE(Name::FromText(std::string(63, 'a') + ".example.").ok());
  EXPECT_FALSE(Name::FromText("a..example.").ok());
  std::string long_name;
  for (int i = 0; i < 4; ++i) {
    long_name += std::string(63, 'a') + ".";
  }
  EXPECT_FALSE(Name::FromText(long_name).ok());  // 4 * 64 + 1 = 257 bytes
  std::string max_name = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                         std::string(63, 'c') + "." + std::string(61, 'd') + ".";
  absl::StatusOr<Name> max = Name::FromText(max_name);
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(max->wire_size(), 255u);
}

TEST(DnsNameTest, FollowsBackwardCompressionPointers) {
  // offset 0: 3 "foo" 0 ; offset 5: 1 "a" ptr->0
  std::vector<uint8_t> msg = Bytes({3, 'f', 'o', 'o', 0, 1, 'a', 0xC0, 0});
  absl::StatusOr<DecodedName> d = ReadName(msg, 5);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->name.ToText(), "a.foo.");
  EXPECT_EQ(d->next, 9u);
}

TEST(DnsNameTest, RejectsLoopsForwardPointersAndTruncation) {
  EXPECT_FALSE(ReadName(Bytes({0xC0, 0}), 0).ok());             // points at itself
  EXPECT_FALSE(ReadName(Bytes({1, 'a', 0xC0, 0}), 0).ok());     // loop through itself
  EXPECT_FALSE(ReadName(Bytes({0xC0, 2, 0}), 0).ok());          // forward
  EXPECT_FALSE(ReadName(Bytes({3, 'f', 'o'}), 0).ok());         // label truncated
  EXPECT_FALSE(ReadName(Bytes({3, 'f', 'o', 'o'}), 0).ok());    // missing root
  EXPECT_FALSE(ReadName(Bytes({0xC0}), 0).ok());                // pointer truncated
  EXPECT_FALSE(ReadName(Bytes({0x40, 0}), 0).ok());             // reserved label type
  // Two names pointing at each other.
  EXPECT_FALSE(ReadName(Bytes({1, 'a', 0xC0, 4, 1, 'b', 0xC0, 0}), 4).ok());
}

TEST(DnsNameTest, RejectsNamesLongerThan255AfterDecompression) {
  std::vector<uint8_t> msg;
  for (int i = 0; i < 4; ++i) {
    msg.push_back(63);
    msg.insert(msg.end(), 63, 'x');
  }
  msg.push_back(0);
  EXPECT_FALSE(ReadName(msg, 0).ok());
  // A chain of pointers that each add a label, growing past 255.
  std::vector<uint8_t> chain = {0};
  size_t prev = 0;
  for (int i = 0; i < 200; ++i) {
    size_t here = chain.size();
    chain.insert(chain.end(), {1, 'z', static_cast<uint8_t>(0xC0 | (prev >> 8)),
                               static_cast<uint8_t>(prev & 0xFF)});
    prev = here;
  }
  EXPECT_FALSE(ReadName(chain, prev).ok());
  EXPECT_TRUE(ReadName(chain, 1 + 4 * 50).ok());  // 51 labels: 103 bytes
}

TEST(DnsNameTest, FromWireRequiresOneUncompressedName) {
  EXPECT_TRUE(Name::FromWire(Bytes({1, 'a', 0})).ok());
  EXPECT_FALSE(Name::FromWire(Bytes({1, 'a', 0, 0})).ok());
}

}  // namespace
}  // namespace prewarm::dns
