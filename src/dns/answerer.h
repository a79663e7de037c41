// The seam between the DNS transport (server.h) and whatever answers queries (zone.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "common/net.h"
#include "dns/codec.h"

namespace prewarm::dns {

// Who asked: the packet's source, the EDNS Client Subnet if any, and the transport.
struct ClientInfo {
  IpAddr source;
  std::optional<ClientSubnet> ecs;  // filled by the Authority from the query
  bool tcp = false;
};

// The network a client address stands for when limits are kept per client: its /24
// (IPv4) or /56 (IPv6), the granularity of response rate limiting in Knot and BIND.
inline IpAddr ClientNetwork(const IpAddr& a) { return a.Masked(a.is_v4() ? 24 : 56); }

class Answerer {
 public:
  virtual ~Answerer() = default;
  // Writes the response to `query` into `out` and returns its size; 0 means send nothing.
  // Called concurrently from every DNS thread; must be thread-safe.
  virtual size_t Answer(std::span<const uint8_t> query, const ClientInfo& client,
                        std::span<uint8_t> out) = 0;
};

}  // namespace prewarm::dns
