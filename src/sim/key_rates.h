// The per-key cold-start metric of ATC'20 (Shahrad et al.): the 75th percentile, across
// keys with arrivals, of each key's cold-start rate. One definition for `prewarm sim` and
// `prewarm replay`, so their figures compare.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

namespace prewarm::sim {

// Nearest rank; 0 when no key had arrivals. `arrivals` and `cold` are per key.
template <typename Keys>
double ColdRateP75(const Keys& keys) {
  std::vector<double> rates;
  for (const auto& k : keys) {
    if (k.arrivals > 0)
      rates.push_back(static_cast<double>(k.cold) / static_cast<double>(k.arrivals));
  }
  if (rates.empty()) return 0;
  std::sort(rates.begin(), rates.end());
  const auto rank = static_cast<size_t>(std::ceil(0.75 * static_cast<double>(rates.size())));
  return rates[std::max<size_t>(rank, 1) - 1];
}

}  // namespace prewarm::sim
