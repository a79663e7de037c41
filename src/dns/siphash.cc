#include "dns/siphash.h"

#include <sys/random.h>

#include <bit>

namespace prewarm::dns {
namespace {

uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) {
    v = (v << 8) | p[i];
  }
  return v;
}

struct State {
  uint64_t v0, v1, v2, v3;

  void Round() {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
  }
  void Absorb(uint64_t m) {
    v3 ^= m;
    Round();
    Round();
    v0 ^= m;
  }
};

}  // namespace

uint64_t SipHash24(const SipKey& key, std::span<const uint8_t> data) {
  const uint64_t k0 = LoadLe64(key.data());
  const uint64_t k1 = LoadLe64(key.data() + 8);
  State s{k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL, k0 ^ 0x6c7967656e657261ULL,
          k1 ^ 0x7465646279746573ULL};
  const size_t n = data.size();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    s.Absorb(LoadLe64(data.data() + i));
  }
  uint64_t last = uint64_t{n & 0xFF} << 56;
  for (size_t j = 0; i + j < n; ++j) {
    last |= uint64_t{data[i + j]} << (8 * j);
  }
  s.Absorb(last);
  s.v2 ^= 0xFF;
  for (int r = 0; r < 4; ++r) {
    s.Round();
  }
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

SipKey RandomSipKey() {
  SipKey k{};
  size_t got = 0;
  while (got < k.size()) {
    ssize_t n = ::getrandom(k.data() + got, k.size() - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  return k;
}

}  // namespace prewarm::dns
