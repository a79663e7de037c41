// Where a client is, and how far apart two places are.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/net.h"

namespace prewarm::geo {

struct GeoPoint {
  double lat = 0;  // degrees
  double lon = 0;  // degrees
};

// Great-circle (haversine) distance on a spherical Earth, in kilometres.
double GreatCircleKm(GeoPoint a, GeoPoint b);

struct Location {
  std::string region;
  GeoPoint point;
};

struct Located {
  Location location;
  int matched_prefix = 0;  // prefix length of the entry that matched (ECS scope)
};

// Longest-prefix-match map from CIDR prefixes to locations, for IPv4 and IPv6.
// Built once, then read concurrently (no mutation after Freeze-free construction).
class CidrLocator {
 public:
  absl::Status Add(const Cidr& cidr, Location loc);
  std::optional<Located> Lookup(const IpAddr& addr) const;
  size_t size() const { return count_; }

 private:
  struct Key {
    IpAddr addr;
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      return H::combine(H::combine_contiguous(std::move(h), k.addr.bytes(), k.addr.size()),
                        k.addr.family());
    }
    friend bool operator==(const Key&, const Key&) = default;
  };
  // One table per prefix length, longest first within each family.
  struct Level {
    int prefix;
    int family;
    absl::flat_hash_map<Key, Location> entries;
  };
  std::vector<Level> levels_;
  size_t count_ = 0;
};

}  // namespace prewarm::geo
