#include "forecast/ingest/step_accumulator.h"

#include <algorithm>

#include "absl/status/status.h"
#include "fmt/format.h"
#include "forecast/ingest/timestamp.h"

namespace prewarm::forecast::ingest {

int64_t StepAccumulator::Index(int64_t unix_ms) {
  int64_t index = unix_ms / step_ms_;
  if (unix_ms % step_ms_ < 0) --index;  // floor for times before 1970
  first_ = std::min(first_, index);
  last_ = std::max(last_, index);
  return index;
}

void StepAccumulator::Add(int64_t unix_ms, double value) { sums_[Index(unix_ms)] += value; }

void StepAccumulator::AddMissing(int64_t unix_ms) { missing_.insert(Index(unix_ms)); }

absl::StatusOr<Series> StepAccumulator::Build(std::string name, EmptyStep empty_step,
                                              size_t max_steps) const {
  Series out;
  out.name = std::move(name);
  out.step_ms = step_ms_;
  if (empty()) return out;
  uint64_t span = static_cast<uint64_t>(last_) - static_cast<uint64_t>(first_) + 1;
  if (span > max_steps) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: observations from {} to {} span {} steps of {} ms, more than the limit of {}",
        out.name, FormatIsoUtc(first_ * step_ms_), FormatIsoUtc(last_ * step_ms_), span, step_ms_,
        max_steps));
  }
  out.start_ms = first_ * step_ms_;
  out.values.assign(span, empty_step == EmptyStep::kGap ? kMissing : 0.0);
  for (int64_t index : missing_) out.values[static_cast<size_t>(index - first_)] = kMissing;
  for (const auto& [index, sum] : sums_) out.values[static_cast<size_t>(index - first_)] = sum;
  return out;
}

size_t CountGaps(const Series& s) {
  return static_cast<size_t>(std::count_if(s.values.begin(), s.values.end(), IsMissing));
}

}  // namespace prewarm::forecast::ingest
