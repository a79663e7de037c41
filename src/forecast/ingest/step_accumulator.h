// Sums timestamped observations into fixed steps and lays them out as a dense Series.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "absl/status/statusor.h"
#include "forecast/series.h"

namespace prewarm::forecast::ingest {

// What a step inside the observed span holds when no observation fell in it.
enum class EmptyStep {
  kGap,   // kMissing: nothing is known (a row-per-step file whose row is missing)
  kZero,  // 0: the input records every event (a log), so silence means no requests
};

// Steps are aligned to the Unix epoch: an observation at t lands in step floor(t / step).
class StepAccumulator {
 public:
  explicit StepAccumulator(int64_t step_ms) : step_ms_(step_ms) {}

  // Adds `value` to the step holding `unix_ms`; several observations in a step are summed.
  void Add(int64_t unix_ms, double value);
  // An observation known to be missing (a "NaN" cell): it extends the span, and its step
  // stays missing unless another observation lands in it, whatever EmptyStep says.
  void AddMissing(int64_t unix_ms);
  bool empty() const { return first_ > last_; }

  // The series from the first to the last observed step. Fails if that span is longer
  // than `max_steps` (one absurd timestamp must not allocate gigabytes).
  absl::StatusOr<Series> Build(std::string name, EmptyStep empty_step, size_t max_steps) const;

 private:
  int64_t step_ms_;
  int64_t Index(int64_t unix_ms);  // the step of unix_ms, widening [first_, last_]

  std::unordered_map<int64_t, double> sums_;  // step index -> sum
  std::unordered_set<int64_t> missing_;       // steps with an explicitly missing value
  int64_t first_ = std::numeric_limits<int64_t>::max();
  int64_t last_ = std::numeric_limits<int64_t>::min();
};

// Number of missing steps in `s`.
size_t CountGaps(const Series& s);

}  // namespace prewarm::forecast::ingest
