#include "forecast/service/capacity.h"

#include <algorithm>
#include <cmath>

namespace prewarm::forecast {

double NewsvendorQuantile(double cold_cost, double idle_cost) {
  if (!(cold_cost > 0)) return 0.5;
  if (!(idle_cost > 0)) return 0.999;
  return std::clamp(cold_cost / (cold_cost + idle_cost), 0.001, 0.999);
}

uint32_t TargetInstances(std::span<const double> arrivals_per_step, const CapacityInputs& in) {
  double peak = 0;
  for (double a : arrivals_per_step) {
    if (std::isfinite(a)) peak = std::max(peak, a);
  }
  if (peak <= 0 || in.step_s <= 0) return 0;
  double rate = peak / in.step_s;
  double busy = rate * in.service_time_s / std::max(in.per_instance_concurrency, 1e-9);
  // Expected arrivals in the window at all: keep one warm instance even if it idles.
  return static_cast<uint32_t>(std::max(1.0, std::ceil(busy - 1e-9)));
}

}  // namespace prewarm::forecast
