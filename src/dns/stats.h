// Counters of the DNS hot path: relaxed atomics, one cache line each so the DNS threads
// do not bounce a shared line. Read with Snapshot() for the metrics exporter.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace prewarm::dns {

struct StatsSnapshot {
  static constexpr size_t kRcodes = 24;  // rcode values 0..23 (16 = BADVERS)
  std::array<uint64_t, kRcodes> responses_by_rcode{};
  uint64_t queries_udp = 0;
  uint64_t queries_tcp = 0;
  uint64_t truncated = 0;           // UDP responses sent with TC=1 because they did not fit
  uint64_t dropped = 0;             // inputs answered with nothing (short, QR=1, no room)
  uint64_t ecs_seen = 0;            // queries carrying a valid Client Subnet option
  uint64_t cookie_client_only = 0;  // COOKIE options by what they held (cookie.h)
  uint64_t cookie_valid = 0;
  uint64_t cookie_invalid = 0;
  uint64_t rrl_dropped = 0;  // UDP responses not sent: over the rate limit
  uint64_t rrl_slipped = 0;  // sent truncated or BADCOOKIE instead: over the rate limit
};

class Stats {
 public:
  struct alignas(64) Counter {
    std::atomic<uint64_t> value{0};
    void Inc() { value.fetch_add(1, std::memory_order_relaxed); }
    uint64_t Get() const { return value.load(std::memory_order_relaxed); }
  };

  std::array<Counter, StatsSnapshot::kRcodes> responses_by_rcode;
  Counter queries_udp;
  Counter queries_tcp;
  Counter truncated;
  Counter dropped;
  Counter ecs_seen;
  Counter cookie_client_only;
  Counter cookie_valid;
  Counter cookie_invalid;
  Counter rrl_dropped;
  Counter rrl_slipped;

  void CountRcode(uint16_t rcode) {
    responses_by_rcode[rcode < StatsSnapshot::kRcodes ? rcode : StatsSnapshot::kRcodes - 1].Inc();
  }

  StatsSnapshot Snapshot() const {
    StatsSnapshot s;
    for (size_t i = 0; i < StatsSnapshot::kRcodes; ++i) {
      s.responses_by_rcode[i] = responses_by_rcode[i].Get();
    }
    s.queries_udp = queries_udp.Get();
    s.queries_tcp = queries_tcp.Get();
    s.truncated = truncated.Get();
    s.dropped = dropped.Get();
    s.ecs_seen = ecs_seen.Get();
    s.cookie_client_only = cookie_client_only.Get();
    s.cookie_valid = cookie_valid.Get();
    s.cookie_invalid = cookie_invalid.Get();
    s.rrl_dropped = rrl_dropped.Get();
    s.rrl_slipped = rrl_slipped.Get();
    return s;
  }
};

}  // namespace prewarm::dns
