// Forecast accuracy measures used by the backtest (and by tests). Missing actuals (NaN)
// are skipped by every measure.
#pragma once

#include <span>
#include <vector>

namespace prewarm::forecast {

// In-sample mean absolute error of the seasonal naive forecast with period `m` on `train`
// (pairs with a missing side skipped): the MASE denominator. 0 when undefined.
double SeasonalNaiveScale(std::span<const double> train, int m);
// Mean |actual - forecast| / scale.
double Mase(std::span<const double> actual, std::span<const double> forecast, double scale);
// Symmetric MAPE on the 0..200 scale; a term with actual and forecast both 0 counts as 0.
double Smape(std::span<const double> actual, std::span<const double> forecast);
// Mean pinball (quantile) loss of the `tau` quantile forecast.
double Pinball(std::span<const double> actual, std::span<const double> quantile, double tau);
// Fraction of actuals within [lower, upper].
double Coverage(std::span<const double> actual, std::span<const double> lower,
                std::span<const double> upper);

}  // namespace prewarm::forecast
