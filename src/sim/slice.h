// A slice of a workload: a window of its steps and a choice of its keys, so a long trace
// can be replayed against a live system in bounded time (`prewarm replay`) and simulated
// on exactly the same arrivals (`prewarm sim` with the same flags).
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "sim/workload.h"

namespace prewarm::sim {

struct SliceSpec {
  int64_t from_step = 0;  // first step kept
  int64_t steps = -1;     // steps kept from there (-1: to the end)
  // Key choice, by arrivals inside the window (0 and 0: every key). `busiest`: that many
  // keys with the most arrivals; `sparse`: of the others, that many with the fewest
  // arrivals that still have at least `sparse_min` (keys seen once or never in the window
  // say nothing about pre-warming). Ties go to the earlier key. Kept keys keep their order.
  int busiest = 0;
  int sparse = 0;
  uint32_t sparse_min = 2;
};

// InvalidArgument when the window lies outside the workload or asks for more keys than
// qualify. The slice's start_unix_ms moves with from_step; its report says what was cut.
absl::StatusOr<Workload> Slice(const Workload& w, const SliceSpec& s);

}  // namespace prewarm::sim
