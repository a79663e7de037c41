// Seasonal naive: the forecast for a step is the last observed value of the same season
// (the baseline every model is scored against). With period 1 it is the plain naive
// forecast (last observed value). A missing observation does not erase its season: the
// most recent observed value of that season is carried.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "forecast/model.h"

namespace prewarm::forecast {

class SeasonalNaive : public Model {
 public:
  // period > 0: that period; 0: the first period in FitContext::periods with at least
  // one full cycle in the data, or 1 (plain naive) when there is none.
  explicit SeasonalNaive(int period = 0) : requested_period_(period) {}

  std::string name() const override;
  absl::Status Fit(std::span<const double> y, const FitContext& ctx) override;
  absl::StatusOr<std::vector<double>> Predict(int h) const override;
  absl::Status Update(std::span<const double> new_obs) override;  // O(len)
  std::unique_ptr<Model> Clone() const override;

  int period() const { return period_; }

 private:
  void Absorb(double v);

  int requested_period_;
  int period_ = 0;  // 0 = not fitted
  // last_[k] = last observed value in season slot k, slot k = (time index) mod period.
  std::vector<double> last_;
  size_t next_ = 0;  // time index of the step after the data seen so far
};

}  // namespace prewarm::forecast
