#include "geo/geo.h"

#include <algorithm>
#include <cmath>

#include "fmt/format.h"

namespace prewarm::geo {

double GreatCircleKm(GeoPoint a, GeoPoint b) {
  constexpr double kEarthRadiusKm = 6371.0088;
  constexpr double kRad = M_PI / 180.0;
  double dlat = (b.lat - a.lat) * kRad;
  double dlon = (b.lon - a.lon) * kRad;
  double h = std::sin(dlat / 2) * std::sin(dlat / 2) +
             std::cos(a.lat * kRad) * std::cos(b.lat * kRad) * std::sin(dlon / 2) *
                 std::sin(dlon / 2);
  return 2 * kEarthRadiusKm * std::asin(std::min(1.0, std::sqrt(h)));
}

absl::Status CidrLocator::Add(const Cidr& cidr, Location loc) {
  auto it = std::find_if(levels_.begin(), levels_.end(), [&](const Level& l) {
    return l.prefix == cidr.prefix && l.family == cidr.base.family();
  });
  if (it == levels_.end()) {
    levels_.push_back(Level{cidr.prefix, cidr.base.family(), {}});
    std::sort(levels_.begin(), levels_.end(),
              [](const Level& a, const Level& b) { return a.prefix > b.prefix; });
    it = std::find_if(levels_.begin(), levels_.end(), [&](const Level& l) {
      return l.prefix == cidr.prefix && l.family == cidr.base.family();
    });
  }
  if (!it->entries.emplace(Key{cidr.base}, std::move(loc)).second) {
    return absl::AlreadyExistsError(fmt::format("duplicate network {}", cidr.ToString()));
  }
  ++count_;
  return absl::OkStatus();
}

std::optional<Located> CidrLocator::Lookup(const IpAddr& addr) const {
  for (const Level& level : levels_) {
    if (level.family != addr.family()) continue;
    auto it = level.entries.find(Key{addr.Masked(level.prefix)});
    if (it != level.entries.end()) return Located{it->second, level.prefix};
  }
  return std::nullopt;
}

}  // namespace prewarm::geo
