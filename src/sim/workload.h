// Workloads for `prewarm sim`: per-key arrival counts per step, read from real traces,
// and the seeded arrival process that spreads each step's count over the step.
//
// A key is one (region, template) series: the unit the forecaster predicts and the
// reconciler scales. Traces without regions are split by a documented, seeded rule
// (see LoadWc98 and LoadAzure).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace prewarm::sim {

using SimTimeUs = int64_t;  // virtual time, microseconds since the workload's start

// Service-time distribution of one key: inverse CDF through (percentile, seconds) knots,
// linear in between. One knot = a constant. No knots = exponential with mean `mean_s` (the
// shape assumed when a trace gives only a mean). Samples are never negative.
struct ServiceTime {
  std::vector<std::pair<double, double>> knots;  // (p in [0,1], seconds), p ascending
  double mean_s = 0.05;
  double Sample(std::mt19937_64& rng) const;
};

struct KeySpec {
  std::string region;
  std::string tmpl;          // template; for Azure one per function ("fn-<hash8>")
  double memory_mb = 128;    // per instance
  uint32_t concurrency = 1;  // requests one instance serves at once
  ServiceTime service;
};

struct Workload {
  std::string name;           // e.g. "wc98", "azure200"
  int64_t start_unix_ms = 0;  // wall time of step 0 (for the forecaster's clock)
  int64_t step_ms = 60'000;
  std::vector<std::string> regions;  // every key's region is one of these
  std::vector<KeySpec> keys;
  std::vector<std::vector<uint32_t>> counts;  // [key][step] arrivals in that step
  // What the loader skipped or assumed (bad lines with "file:line: why", gaps read as 0,
  // defaults for missing durations or memory), one clause per fact; empty when nothing.
  std::string report;
  size_t bad_lines = 0;  // input lines the loader rejected (listed in `report`)
  // Trace seconds per second of this workload's clock (sim::Compress): 60 means step_ms and
  // every arrival time are the trace's divided by 60. 1: the trace's own time.
  double speed = 1;
  // The minute model (AtStepResolution): every arrival of a step comes at its start, is
  // served for the whole step, and stands for invocations[key][step] / counts[key][step] of
  // the trace's invocations (empty: each arrival is one invocation, spread over the step).
  std::vector<std::vector<uint32_t>> invocations;
  size_t steps() const { return counts.empty() ? 0 : counts[0].size(); }
  uint64_t total_arrivals() const;
};

struct Arrival {
  SimTimeUs t = 0;
  uint32_t key = 0;
  uint32_t invocations = 1;  // trace invocations it stands for (the minute model: 0 or more)
  SimTimeUs service_us = 0;
};

// Arrivals one step of a workload may hold, summed over its keys: the simulator buffers a
// step's arrivals (sizeof(Arrival) = 24 bytes each) and handles each as an event, so this is
// 256 MiB of buffer, and at about 2e5 events/s on one core a minute of simulation per step.
// A count the trace gives beyond it cannot be simulated and is rejected before anything is
// allocated for it.
inline constexpr uint64_t kMaxStepArrivals = (uint64_t{256} << 20) / sizeof(Arrival);

// Every step of `w` within kMaxStepArrivals (`what` names the source in the error).
absl::Status CheckStepArrivals(const Workload& w, const std::string& what);

// Generates the arrivals of a workload in time order, one step at a time: the `c` arrivals
// of a key in a step are uniform over the step (a Poisson process conditioned on its count)
// and each gets a service time drawn from its key. Deterministic for a given seed.
class ArrivalStream {
 public:
  ArrivalStream(const Workload& w, uint64_t seed);
  // Next arrival, false at the end.
  bool Next(Arrival& out);
  // Steps generated so far: the last arrival returned lies in step() - 1.
  size_t step() const { return step_; }

 private:
  void FillStep();
  const Workload& w_;
  std::mt19937_64 rng_;
  size_t step_ = 0;
  std::vector<Arrival> buf_;
  size_t pos_ = 0;
};

// The resource shape of a template when the trace does not give it.
struct TemplateShape {
  double memory_mb = 128;
  uint32_t concurrency = 1;
  double service_s = 0.05;  // mean; service times are exponential around it
};

struct Wc98Split {
  // Regions and the shift of each region's local time against the trace's (GMT) clock, in
  // minutes: a region sees the trace's load shifted by its offset, scaled by its share.
  std::vector<std::string> regions = {"us-west", "us-east", "eu-west", "ap-east"};
  std::vector<int> shift_min = {-480, -300, 60, 480};
  std::vector<double> region_share = {0.25, 0.25, 0.35, 0.15};
  // Fixed template mix: share of each region's requests per template, and the templates'
  // shapes.
  std::vector<std::string> templates = {"static", "api", "video"};
  std::vector<double> template_share = {0.6, 0.3, 0.1};
  // static: a file server; api: one request at a time per worker; video: HLS segments.
  std::vector<TemplateShape> shapes = {{64, 16, 0.05}, {128, 1, 0.25}, {256, 4, 2.0}};
  double scale = 0.01;       // multiply counts (the full trace is 1.35e9 requests)
  int64_t from_minute = -1;  // -1: last `days` days of the trace
  int days = 14;
  uint64_t seed = 1;  // rounding of fractional counts is seeded
};

// WorldCup98 per-minute counts (`period,count`): split over regions and templates by
// Wc98Split. Missing minutes are 0 arrivals (the trace has 10 gaps in 125,300 minutes).
//
// The split: step m of the workload is trace minute `from + m`. Region r, template t gets
//   trace[from + m + shift_min[r]] * region_share[r] * template_share[t] * scale
// rounded stochastically (floor, plus 1 with probability the fraction, seeded), so totals
// are unbiased; minutes outside the trace are 0. The window is `days` days (<= 0: as long
// as the trace allows) from `from_minute`, or, when from_minute is -1, the last such days
// that every region can see: the window ends max(shift) minutes before the trace's end and
// starts no earlier than -min(shift), so no region runs off the trace. start_unix_ms is the
// trace's (GMT) time of `from`. One key per (region, template), in region-major order,
// shaped by shapes[t] with exponential service times (no knots).
absl::StatusOr<Workload> LoadWc98(const std::string& path, const Wc98Split& split);

struct AzureSplit {
  std::vector<std::string> regions = {"us-west", "us-east", "eu-west", "ap-east"};
  uint64_t seed = 1;         // each function's home region is drawn with this seed
  uint32_t concurrency = 1;  // per instance (Azure Functions' unit is one worker)
  int top = 0;               // keep the `top` functions by total invocations (0: all)
};

// Azure Functions 2019 sample: `path` is `{N}_inv.csv`; `{N}_run.csv` (durations) and
// `{N}_mem.csv` (memory per app) beside it are read when present. One key per function,
// homed in one region (seeded).
//
// Keys follow the file's order. tmpl is "fn-" + the first 8 characters of the function hash
// ("-2", "-3".. appended on a clash). The region is drawn for every function before `top`
// filters, so a function's home does not depend on `top`. memory_mb is the app's
// AverageAllocatedMb (128 when absent); service knots are the duration percentiles
// 0,1,25,50,75,99,100 in seconds (0 ms read as 1 ms), mean_s the Average; without a
// duration row the service time is exponential with mean 0.05 s. Defaults are counted in
// `report`. Steps are the trace's minutes, start_unix_ms = 0 (which day is unknown).
absl::StatusOr<Workload> LoadAzure(const std::string& inv_path, const AzureSplit& split);

// `timestamp,region,template,count` CSV (timestamps in seconds or ISO 8601 UTC; the
// step is inferred as the smallest positive gap, at least 1 s; 60 s with one timestamp).
// Every key gets `shape`. Keys are sorted by (region, template) and share one span, from
// the first to the last step of any key; a step without a row is 0 arrivals. Rows in the
// same step are summed, fractional counts are rounded. Bad lines are counted in `report`
// and `bad_lines`; a file with no good line is an error naming its first bad lines.
absl::StatusOr<Workload> LoadCsv(const std::string& path, const TemplateShape& shape = {});

// The ATC'20 reference simulator's minute model (bench/sim/README.md, "Reference mode"):
// minutes with invocations are busy, whole. kOneInstance: one instance per key serves every
// invocation of a minute, however they overlap; kConcurrency: a minute with c invocations of
// mean duration d needs ceil(c * d / step) instances (at least 1), each busy for the minute.
enum class MinuteModel : uint8_t { kOff, kOneInstance, kConcurrency };
absl::StatusOr<MinuteModel> ParseMinuteModel(const std::string& s);  // off|one-instance|concurrency
const char* MinuteModelName(MinuteModel m);

// `w` in the minute model: counts[key][step] becomes the instances the step needs (each one
// arrival at the step's start, served for exactly one step) and invocations[key][step] the
// trace's invocations, spread over those arrivals (the first ones get the remainder).
// Takes `w` by value: callers that no longer need the trace's workload move it in, and the
// minute model off (the default) then costs no copy of every key's counts.
absl::StatusOr<Workload> AtStepResolution(Workload w, MinuteModel m);

// `copies` copies of `w` (keys renamed "<tmpl>~<i>", each copy rotated by a seeded number of
// steps and homed in a seeded region): scale tests with 10,000 keys from the 200-function
// sample. Copy i's counts are w's shifted left by its rotation r: step s holds w's step
// (s + r) mod steps, so every key's total is preserved. copies < 1 gives no keys.
Workload Replicate(const Workload& w, int copies, uint64_t seed);

}  // namespace prewarm::sim
