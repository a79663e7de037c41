#include "forecast/transform.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "forecast/optim.h"

namespace prewarm::forecast {
namespace {

double Mean(std::span<const double> x) {
  double sum = 0.0;
  int n = 0;
  for (double v : x) {
    if (!std::isnan(v)) sum += v, ++n;
  }
  return n > 0 ? sum / n : std::numeric_limits<double>::quiet_NaN();
}

double StdDev(std::span<const double> x) {
  double mean = Mean(x);
  double ss = 0.0;
  int n = 0;
  for (double v : x) {
    if (!std::isnan(v)) ss += (v - mean) * (v - mean), ++n;
  }
  return n > 1 ? std::sqrt(ss / (n - 1)) : std::numeric_limits<double>::quiet_NaN();
}

// R forecast:::guer.cv: coefficient of variation, over the whole periods at the end of
// the series, of sd / mean^(1 - lambda).
double GuerreroCv(double lambda, std::span<const double> x, int period) {
  size_t years = x.size() / period;
  std::span<const double> tail = x.subspan(x.size() - years * period);
  std::vector<double> ratio;
  for (size_t k = 0; k < years; ++k) {
    std::span<const double> block = tail.subspan(k * period, period);
    ratio.push_back(StdDev(block) / std::pow(Mean(block), 1.0 - lambda));
  }
  return StdDev(ratio) / Mean(ratio);
}

}  // namespace

Transform Transform::AutoBoxCox(std::span<const double> y, int period) {
  // Guerrero on y + 1 (the transform is Box-Cox on y + 1), at least two points a block.
  period = std::max(period, 2);
  std::vector<double> shifted(y.begin(), y.end());
  for (double& v : shifted) v += 1.0;
  if (shifted.size() < 2 * static_cast<size_t>(period)) return BoxCox(1.0);
  Minimum1D best = BrentMinimize(
      [&](double lambda) { return GuerreroCv(lambda, shifted, period); }, -1.0, 2.0);
  if (!std::isfinite(best.f)) return BoxCox(1.0);
  return BoxCox(best.x);
}

absl::StatusOr<Transform> Transform::Parse(const std::string& name) {
  if (name == "none") return None();
  if (name == "log1p") return Log1p();
  if (name.rfind("boxcox:", 0) == 0) {
    char* end = nullptr;
    double lambda = std::strtod(name.c_str() + 7, &end);
    if (end != name.c_str() + name.size() || !std::isfinite(lambda)) {
      return absl::InvalidArgumentError(fmt::format("bad Box-Cox lambda in \"{}\"", name));
    }
    return BoxCox(lambda);
  }
  if (name == "boxcox") {
    // Lambda to be chosen per series: NaN marks "not chosen yet" (see IsAutoBoxCox()).
    return BoxCox(std::numeric_limits<double>::quiet_NaN());
  }
  return absl::InvalidArgumentError(
      fmt::format("unknown transform \"{}\" (none, log1p, boxcox, boxcox:<lambda>)", name));
}

double Transform::Forward(double y) const {
  if (std::isnan(y)) return y;
  switch (kind_) {
    case Kind::kNone:
      return y;
    case Kind::kLog1p:
      return std::log1p(y);
    case Kind::kBoxCox:
      if (std::abs(lambda_) < 1e-10) return std::log1p(y);
      return (std::pow(y + 1.0, lambda_) - 1.0) / lambda_;
  }
  return y;
}

double Transform::Inverse(double z) const {
  if (std::isnan(z)) return z;
  double y = z;
  switch (kind_) {
    case Kind::kNone:
      break;
    case Kind::kLog1p:
      y = std::expm1(z);
      break;
    case Kind::kBoxCox: {
      if (std::abs(lambda_) < 1e-10) {
        y = std::expm1(z);
        break;
      }
      double base = lambda_ * z + 1.0;
      if (base <= 0.0) {
        // Beyond the transform's range: below it for lambda > 0 (-> 0), above it for
        // lambda < 0 (-> the largest representable count).
        return lambda_ > 0 ? 0.0 : std::numeric_limits<double>::max();
      }
      y = std::pow(base, 1.0 / lambda_) - 1.0;
      break;
    }
  }
  return std::max(y, 0.0);
}

std::vector<double> Transform::Forward(std::span<const double> y) const {
  std::vector<double> out(y.size());
  std::transform(y.begin(), y.end(), out.begin(), [this](double v) { return Forward(v); });
  return out;
}

std::vector<double> Transform::Inverse(std::span<const double> z) const {
  std::vector<double> out(z.size());
  std::transform(z.begin(), z.end(), out.begin(), [this](double v) { return Inverse(v); });
  return out;
}

std::string Transform::ToString() const {
  switch (kind_) {
    case Kind::kNone:
      return "none";
    case Kind::kLog1p:
      return "log1p";
    case Kind::kBoxCox:
      return std::isnan(lambda_) ? "boxcox" : fmt::format("boxcox:{:.4g}", lambda_);
  }
  return "none";
}

}  // namespace prewarm::forecast
