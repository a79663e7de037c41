// From a quantile forecast of arrivals to warm instances: the newsvendor quantile from
// costs, and the concurrency an arrival rate needs (Little's law).
#pragma once

#include <cstdint>
#include <span>

namespace prewarm::forecast {

// q = c_cold / (c_cold + c_idle): the quantile of demand that minimises expected cost when
// a cold start costs `cold_cost` and an idle instance costs `idle_cost` over the same span.
double NewsvendorQuantile(double cold_cost, double idle_cost);

struct CapacityInputs {
  double step_s = 10;                   // forecast step length
  double service_time_s = 0.05;         // mean time one request occupies an instance slot
  double per_instance_concurrency = 1;  // requests one instance serves at once
};

// Instances needed to serve `arrivals_per_step` (forecast counts at one quantile, one per
// step of the window): max over steps of ceil(rate x service_time / concurrency), and at
// least one instance when any arrival is expected.
uint32_t TargetInstances(std::span<const double> arrivals_per_step, const CapacityInputs& in);

}  // namespace prewarm::forecast
