#include "forecast/metrics.h"

#include <algorithm>
#include <cmath>

#include "forecast/series.h"

namespace prewarm::forecast {
namespace {

// Mean of f(i) over the indices where both spans are observed.
template <typename F>
double MeanOver(std::span<const double> a, std::span<const double> b, F f) {
  double sum = 0;
  size_t n = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (IsMissing(a[i]) || IsMissing(b[i])) continue;
    sum += f(i);
    ++n;
  }
  return n == 0 ? kMissing : sum / static_cast<double>(n);
}

}  // namespace

double SeasonalNaiveScale(std::span<const double> train, int m) {
  if (m <= 0 || train.size() <= static_cast<size_t>(m)) return 0;
  double sum = 0;
  size_t n = 0;
  for (size_t i = static_cast<size_t>(m); i < train.size(); ++i) {
    double a = train[i];
    double b = train[i - static_cast<size_t>(m)];
    if (IsMissing(a) || IsMissing(b)) continue;
    sum += std::abs(a - b);
    ++n;
  }
  return n == 0 ? 0 : sum / static_cast<double>(n);
}

double Mase(std::span<const double> actual, std::span<const double> forecast, double scale) {
  if (!(scale > 0)) return kMissing;
  return MeanOver(actual, forecast, [&](size_t i) { return std::abs(actual[i] - forecast[i]); }) /
         scale;
}

double Smape(std::span<const double> actual, std::span<const double> forecast) {
  return MeanOver(actual, forecast, [&](size_t i) {
    double denom = std::abs(actual[i]) + std::abs(forecast[i]);
    return denom == 0 ? 0.0 : 200.0 * std::abs(actual[i] - forecast[i]) / denom;
  });
}

double Pinball(std::span<const double> actual, std::span<const double> quantile, double tau) {
  return MeanOver(actual, quantile, [&](size_t i) {
    double d = actual[i] - quantile[i];
    return d >= 0 ? tau * d : (tau - 1) * d;
  });
}

double Coverage(std::span<const double> actual, std::span<const double> lower,
                std::span<const double> upper) {
  return MeanOver(actual, lower, [&](size_t i) {
    return actual[i] >= lower[i] && actual[i] <= upper[i] ? 1.0 : 0.0;
  });
}

}  // namespace prewarm::forecast
