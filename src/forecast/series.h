// A regularly spaced time series. Gaps are gaps: a missing step is NaN, never zero.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace prewarm::forecast {

inline constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();
inline bool IsMissing(double v) { return std::isnan(v); }

struct Series {
  std::string name;
  int64_t start_ms = 0;  // Unix ms of values[0]
  int64_t step_ms = 60'000;
  std::vector<double> values;  // NaN = no observation for that step

  size_t size() const { return values.size(); }
  int64_t TimeAt(size_t i) const { return start_ms + static_cast<int64_t>(i) * step_ms; }
  // Steps per day / week at this spacing (0 when the step does not divide them).
  int StepsPerDay() const;
  int StepsPerWeek() const;
  // Sums consecutive groups of `factor` steps (a group with any observation sums what it
  // has; a group with none stays missing).
  Series Aggregate(int factor) const;
  // values[from, from+len) as a new series (clamped to the end).
  Series Slice(size_t from, size_t len) const;
};

}  // namespace prewarm::forecast
