// Test-only DemandForecasters for the daemon's tests.
#pragma once

#include <string>
#include <vector>

#include "forecast/service/planner.h"

namespace prewarm::forecast::testing {

// Forecasts the last value for every step ahead.
class FlatForecaster final : public DemandForecaster {
 public:
  absl::StatusOr<std::vector<double>> Quantile(const SeriesKey&, const Series& history, int h,
                                               double) override {
    return std::vector<double>(static_cast<size_t>(h), history.values.back());
  }
  std::string model_name() const override { return "flat"; }
};

}  // namespace prewarm::forecast::testing
