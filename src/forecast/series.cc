#include "forecast/series.h"

#include <algorithm>

namespace prewarm::forecast {

int Series::StepsPerDay() const {
  constexpr int64_t kDay = 86'400'000;
  return step_ms > 0 && kDay % step_ms == 0 ? static_cast<int>(kDay / step_ms) : 0;
}

int Series::StepsPerWeek() const {
  constexpr int64_t kWeek = 7 * 86'400'000LL;
  return step_ms > 0 && kWeek % step_ms == 0 ? static_cast<int>(kWeek / step_ms) : 0;
}

Series Series::Aggregate(int factor) const {
  Series out{name, start_ms, step_ms * factor, {}};
  for (size_t i = 0; i < values.size(); i += static_cast<size_t>(factor)) {
    double sum = 0;
    bool any = false;
    for (size_t j = i; j < std::min(values.size(), i + static_cast<size_t>(factor)); ++j) {
      if (!IsMissing(values[j])) {
        sum += values[j];
        any = true;
      }
    }
    out.values.push_back(any ? sum : kMissing);
  }
  return out;
}

Series Series::Slice(size_t from, size_t len) const {
  Series out{name, TimeAt(from), step_ms, {}};
  if (from >= values.size()) return out;
  size_t end = std::min(values.size(), from + len);
  out.values.assign(values.begin() + static_cast<std::ptrdiff_t>(from),
                    values.begin() + static_cast<std::ptrdiff_t>(end));
  return out;
}

}  // namespace prewarm::forecast
