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

// How a workload is compressed to match a live replay (`--speed`, `--speed-service-ms`,
// `--speed-memory-mb`, `--speed-concurrency`).
struct Compression {
  double speed = 1;         // trace seconds per second of the compressed clock
  double service_s = 1e-3;  // every arrival's service time on that clock
  double memory_mb = 0;     // every instance's memory (0: the trace's per key)
  // Requests one instance serves at once (0: the trace's per key). The simulator routes no
  // more than this to an instance; live DNS routes to a ready or starting instance whatever
  // its load, and the live workload serves many connections at once.
  uint32_t concurrency = 0;
};

// `w` on a clock `c.speed` times faster, as `prewarm replay --speed` drives a live system:
// the step (and so every arrival ArrivalStream draws, with the same seed: at t / speed, to
// the microsecond) is divided by the speed, and every arrival is served for `c.service_s`
// seconds of that clock, the time the live workload takes to answer it, not the trace's
// duration (which the live system never runs). With `c.memory_mb` every key's instances
// have that memory, as the live template's do; with `c.concurrency`, that concurrency. Keep-alives,
// windows and start times stay in seconds of the compressed clock, as they are on the live system's
// wall clock. Speed 1 returns `w` unchanged. InvalidArgument when the speed is not > 0 or does not
// divide the step into whole milliseconds, service_s or memory_mb is negative, or `w` is in the
// minute model.
absl::StatusOr<Workload> Compress(const Workload& w, const Compression& c);

}  // namespace prewarm::sim
