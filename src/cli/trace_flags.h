// The trace flags `prewarm sim` and `prewarm replay` share, so both read a trace, split
// it over regions and slice it the same way: a replay and its simulation run the same
// arrivals.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "sim/workload.h"

namespace prewarm::cli {

struct TraceFlags {
  std::string trace, format;
  int regions = 0, top = 0, replicate = 1;
  uint64_t seed = 1;
  int days = 14;
  double scale = 0.01;
  // The slice (sim/slice.h), in the trace's steps (minutes for wc98 and Azure).
  int64_t from_step = 0, steps = -1;
  int busiest = 0, sparse = 0;
  uint32_t sparse_min = 2;
  // Time compression (sim::Compress): trace seconds per wall second, and the service time
  // each arrival gets under it (the live workload's answer, in ms). The replay drives the
  // live system at this speed; the simulator simulates the same compressed arrivals.
  double speed = 1;
  double speed_service_ms = 1;
  double speed_memory_mb = 0;      // 0: the trace's memory per key
  uint32_t speed_concurrency = 0;  // 0: the trace's per key
  // Set by AddTraceFlags: which format-specific flags were given.
  CLI::Option *days_opt = nullptr, *scale_opt = nullptr, *top_opt = nullptr;
};

// Adds --trace (required), --format, --regions, --seed, --days, --scale, --top,
// --replicate, the slice flags and --speed and the --speed-* shapes (default:
// f.speed as set by the caller) to `cmd`. `seed_help` says what else the seed drives.
void AddTraceFlags(CLI::App* cmd, TraceFlags& f, const std::string& seed_help);

// Reads, splits, replicates, slices and compresses the trace as the flags say. Errors name the
// flag.
absl::StatusOr<sim::Workload> LoadTrace(const TraceFlags& f);

// Region names for a re-split over n regions: the default four, then more that
// sim::RegionPoint knows.
std::vector<std::string> RegionNames(int n);

}  // namespace prewarm::cli
