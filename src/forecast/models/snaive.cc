#include "forecast/models/snaive.h"

#include <cmath>

#include "forecast/series.h"

namespace prewarm::forecast {

std::string SeasonalNaive::name() const {
  int p = period_ > 0 ? period_ : requested_period_;
  if (p == 1) return "naive";
  return p > 0 ? fmt::format("snaive({})", p) : "snaive";
}

absl::Status SeasonalNaive::Fit(std::span<const double> y, const FitContext& ctx) {
  int period = requested_period_;
  if (period <= 0) {
    period = 1;
    for (int p : ctx.periods) {
      if (p > 1 && y.size() >= static_cast<size_t>(p)) {
        period = p;
        break;
      }
    }
  }
  period_ = period;
  last_.assign(period, kMissing);
  next_ = 0;
  RETURN_IF_ERROR(Update(y));
  // The seasons that never had an observation fall back to the last observation at all.
  double fallback = kMissing;
  for (size_t i = y.size(); i-- > 0;) {
    if (!IsMissing(y[i])) {
      fallback = y[i];
      break;
    }
  }
  if (IsMissing(fallback)) {
    period_ = 0;
    return absl::FailedPreconditionError(name() + ": no observed value to forecast from");
  }
  for (double& v : last_) {
    if (IsMissing(v)) v = fallback;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<double>> SeasonalNaive::Predict(int h) const {
  if (period_ == 0) return absl::FailedPreconditionError(name() + ": not fitted");
  if (h < 0) return absl::InvalidArgumentError(name() + ": negative horizon");
  std::vector<double> out(h);
  for (int j = 0; j < h; ++j) out[j] = last_[(next_ + j) % period_];
  return out;
}

absl::Status SeasonalNaive::Update(std::span<const double> new_obs) {
  if (period_ == 0) return absl::FailedPreconditionError(name() + ": not fitted");
  for (double v : new_obs) Absorb(v);
  return absl::OkStatus();
}

void SeasonalNaive::Absorb(double v) {
  if (!IsMissing(v)) last_[next_ % period_] = v;
  ++next_;
}

std::unique_ptr<Model> SeasonalNaive::Clone() const {
  return std::make_unique<SeasonalNaive>(requested_period_);
}

}  // namespace prewarm::forecast
