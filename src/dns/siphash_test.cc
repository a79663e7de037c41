#include "dns/siphash.h"

#include <gtest/gtest.h>

#include <vector>

namespace prewarm::dns {
namespace {

// The reference key 00..0f over the messages 00, 00 01, ... of the given lengths; the
// expected values are the reference implementation's vectors (vectors.h), which OpenSSL's
// `openssl mac -macopt hexkey:000102030405060708090a0b0c0d0e0f SIPHASH` also prints
// (as little-endian bytes).
TEST(SipHashTest, MatchesTheReferenceVectors) {
  SipKey key;
  for (size_t i = 0; i < key.size(); ++i) {
    key[i] = static_cast<uint8_t>(i);
  }
  auto msg = [](size_t n) {
    std::vector<uint8_t> m(n);
    for (size_t i = 0; i < n; ++i) {
      m[i] = static_cast<uint8_t>(i);
    }
    return m;
  };
  EXPECT_EQ(SipHash24(key, msg(0)), 0x726fdb47dd0e0e31ULL);
  EXPECT_EQ(SipHash24(key, msg(1)), 0x74f839c593dc67fdULL);
  EXPECT_EQ(SipHash24(key, msg(8)), 0x93f5f5799a932462ULL);
  EXPECT_EQ(SipHash24(key, msg(15)), 0xa129ca6149be45e5ULL);  // the paper's Appendix A
  EXPECT_EQ(SipHash24(key, msg(63)), 0x958a324ceb064572ULL);
}

TEST(SipHashTest, TheKeyMatters) {
  SipKey a{};
  SipKey b{};
  b[15] = 1;
  std::vector<uint8_t> m = {1, 2, 3};
  EXPECT_NE(SipHash24(a, m), SipHash24(b, m));
}

}  // namespace
}  // namespace prewarm::dns
