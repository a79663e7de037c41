// A blocking stub-resolver query for `prewarm replay`: one A question with an ECS option,
// over UDP, retried on timeout, encoded and decoded with prewarm's own codec.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/net.h"

namespace prewarm::replay {

struct DnsAnswer {
  uint16_t rcode = 0;
  std::vector<IpAddr> addresses;  // the A records of the answer section, in order
  uint32_t ttl = 0;               // of the first A record
};

struct DnsQueryOptions {
  int timeout_ms = 1000;  // per try
  int tries = 3;
};

// Asks `server` for `name` A, with `ecs` as the client subnet when given, and a DNS Cookie
// as resolvers send one (RFC 7873): the server cookie learnt from earlier answers exempts
// the replay from the server's response rate limit, as it would a real resolver; a
// BADCOOKIE answer is retried at once with the cookie it carries. Errors: no answer
// in any try (DeadlineExceeded), a reply that does not parse or does not match the query
// (DataLoss), a truncated reply (Unavailable: answers of prewarm's size never are).
absl::StatusOr<DnsAnswer> QueryA(const HostPort& server, const std::string& name,
                                 const std::optional<Cidr>& ecs, const DnsQueryOptions& o);

}  // namespace prewarm::replay
