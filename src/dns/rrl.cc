#include "dns/rrl.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "dns/answerer.h"

namespace prewarm::dns {

ResponseRateLimiter::ResponseRateLimiter(RrlOptions options)
    : ResponseRateLimiter(options, RandomSipKey()) {}

ResponseRateLimiter::ResponseRateLimiter(RrlOptions options, const SipKey& key)
    : options_(options),
      key_(key),
      size_(static_cast<size_t>(std::max(options.table_size, 1))),
      interval_us_(1'000'000 / static_cast<uint64_t>(std::max(options.responses_per_s, 1))),
      burst_us_(interval_us_ * static_cast<uint64_t>(std::max(options.responses_per_s, 1))),
      tat_us_(new std::atomic<uint64_t>[size_]) {
  for (size_t i = 0; i < size_; ++i) {
    tat_us_[i].store(0, std::memory_order_relaxed);
  }
}

size_t ResponseRateLimiter::BucketOf(const IpAddr& client) const {
  const IpAddr net = ClientNetwork(client);
  std::array<uint8_t, 17> in{};
  in[0] = net.is_v4() ? 4 : 6;
  std::memcpy(in.data() + 1, net.bytes(), net.size());
  const uint64_t h = SipHash24(key_, {in.data(), 1 + net.size()});
  return static_cast<size_t>((static_cast<unsigned __int128>(h) * size_) >> 64);
}

// GCRA: the bucket is full again at `tat`; a response is allowed while taking its token
// keeps `tat` within one second (the bucket's size) of now.
RrlVerdict ResponseRateLimiter::Check(const IpAddr& client, int64_t now_ms) {
  const uint64_t now = static_cast<uint64_t>(std::max<int64_t>(now_ms, 1)) * 1000;
  std::atomic<uint64_t>& slot = tat_us_[BucketOf(client)];
  uint64_t tat = slot.load(std::memory_order_relaxed);
  while (true) {
    // Idle since it filled up, or the clock stepped back: a full bucket.
    uint64_t base = (tat < now || tat > now + burst_us_) ? now : tat;
    uint64_t next = base + interval_us_;
    if (next > now + burst_us_) {
      break;
    }
    if (slot.compare_exchange_weak(tat, next, std::memory_order_relaxed)) {
      return RrlVerdict::kSend;
    }
  }
  const uint64_t n = limited_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (options_.slip > 0 && n % static_cast<uint64_t>(options_.slip) == 0) {
    return RrlVerdict::kSlip;
  }
  return RrlVerdict::kDrop;
}

}  // namespace prewarm::dns
