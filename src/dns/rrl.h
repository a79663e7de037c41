// Response rate limiting (RRL), as Knot and BIND do it, for UDP answers: each client
// network (/24 for IPv4, /56 for IPv6, see ClientNetwork()) has a token bucket of
// `responses_per_s` tokens a second holding at most one second's worth. A response over
// the limit is dropped, except every `slip`-th one, which is "slipped": sent truncated
// (TC=1, no records) so that a real client retries over TCP, which a spoofed source
// cannot. Queries with a valid server cookie and TCP are never limited (zone.cc).
//
// The table is fixed at construction (no allocation on the hot path) and shared by the
// DNS threads without locks: each bucket is one atomic word holding its GCRA "theoretical
// arrival time" (the time at which the bucket would be full again), updated by CAS.
// Networks are placed by a keyed SipHash, so a sender cannot pick networks that collide;
// networks that do collide share one bucket (both limited together, never more than the
// rate). Size the table for the number of client networks active within a second.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/net.h"
#include "dns/siphash.h"

namespace prewarm::dns {

// These defaults are the orchestrator's (`dns.rrl.*` in its config; docs/design.md).
struct RrlOptions {
  // Per client network; 0 turns rate limiting off. Room for a busy resolver farm behind
  // one /24 while keeping the server from reflecting more than this at any one network.
  int responses_per_s = 100;
  // 0: drop every limited response; 1: slip every one; N: slip every Nth.
  int slip = 2;
  int table_size = 65536;  // buckets, 8 bytes each
};

enum class RrlVerdict : uint8_t { kSend, kSlip, kDrop };

class ResponseRateLimiter {
 public:
  // `key` places networks in the table; drawn from getrandom() when absent.
  explicit ResponseRateLimiter(RrlOptions options);
  ResponseRateLimiter(RrlOptions options, const SipKey& key);

  // Takes a token from `client`'s network's bucket at `now_ms` if it has one.
  RrlVerdict Check(const IpAddr& client, int64_t now_ms);

  // The bucket `client`'s network uses (for tests of collisions).
  size_t BucketOf(const IpAddr& client) const;
  size_t table_size() const { return size_; }

 private:
  RrlOptions options_;
  SipKey key_;
  size_t size_;
  uint64_t interval_us_;                             // one token
  uint64_t burst_us_;                                // a full bucket: one second
  std::unique_ptr<std::atomic<uint64_t>[]> tat_us_;  // 0: never used
  std::atomic<uint64_t> limited_{0};                 // limited responses so far, to pick which slip
};

}  // namespace prewarm::dns
