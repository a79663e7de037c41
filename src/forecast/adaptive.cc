#include "forecast/adaptive.h"

#include <algorithm>
#include <cmath>

namespace prewarm::forecast {
namespace {

// DtACI's loss of level theta when the observation's beta is `beta`: the pinball loss at
// alpha, minimised in expectation by the alpha-quantile of beta (coverage 1 - alpha).
double Pinball(double alpha, double beta, double theta) {
  const double d = beta - theta;
  return alpha * d - std::min(0.0, d);
}

}  // namespace

AdaptiveConformal::AdaptiveConformal(double alpha, const AdaptiveOptions& options)
    : nominal_(alpha),
      lo_(-options.clamp * alpha),
      hi_(std::min(1.0, options.clamp * alpha)),
      gammas_(options.gammas) {
  if (gammas_.empty()) gammas_ = {0.0};
  const double k = static_cast<double>(gammas_.size());
  const double window = std::max(1, options.window);
  const double a = std::clamp(alpha, 1e-6, 1 - 1e-6);
  sigma_ = 1 / (2 * window);
  eta_ = std::sqrt(3 / window) *
         std::sqrt((std::log(k * window) + 2) /
                   ((1 - a) * (1 - a) * a * a * a + a * a * (1 - a) * (1 - a) * (1 - a)));
  experts_.assign(gammas_.size(), alpha);
  weights_.assign(gammas_.size(), 1 / k);
}

double AdaptiveConformal::alpha() const {
  double out = 0;
  for (size_t i = 0; i < experts_.size(); ++i) out += weights_[i] * experts_[i];
  return std::clamp(out, lo_, hi_);
}

void AdaptiveConformal::Observe(std::span<const double> betas, double weight) {
  int n = 0;
  for (double b : betas) n += std::isfinite(b);
  if (n == 0) return;
  double total = 0;
  for (size_t i = 0; i < experts_.size(); ++i) {
    double err = 0, loss = 0;
    for (double b : betas) {
      if (!std::isfinite(b)) continue;
      err += experts_[i] > b;
      loss += Pinball(nominal_, b, experts_[i]);
    }
    err /= n;
    loss /= n;
    weights_[i] *= std::exp(-eta_ * weight * loss);
    total += weights_[i];
    experts_[i] = std::clamp(experts_[i] + weight * gammas_[i] * (nominal_ - err), lo_, hi_);
  }
  const double k = static_cast<double>(weights_.size());
  const double sigma = weight * sigma_;
  for (double& w : weights_) {
    w = total > 0 ? (1 - sigma) * w / total + sigma / k : 1 / k;
  }
  ++updates_;
}

AdaptiveIntervals::AdaptiveIntervals(std::span<const double> levels,
                                     const AdaptiveOptions& options) {
  if (!options.enabled) return;
  for (double p : levels) {
    if (!(p > 0 && p < 1) || p == 0.5) continue;
    levels_.push_back(p);
    bounds_.emplace_back(std::min(p, 1 - p), options);
  }
}

void AdaptiveIntervals::Observe(std::span<const double> u_lo, std::span<const double> u_hi,
                                double weight) {
  std::vector<double> betas(u_lo.size());
  for (size_t l = 0; l < levels_.size(); ++l) {
    for (size_t j = 0; j < betas.size(); ++j) betas[j] = Beta(levels_[l], u_lo[j], u_hi[j]);
    bounds_[l].Observe(betas, weight);
  }
}

double AdaptiveIntervals::Level(double p) const {
  for (size_t l = 0; l < levels_.size(); ++l) {
    if (std::abs(levels_[l] - p) < 1e-12) {
      return p < 0.5 ? bounds_[l].alpha() : 1 - bounds_[l].alpha();
    }
  }
  return p;
}

double AdaptiveIntervals::Beta(double p, double u_lo, double u_hi) {
  if (std::isnan(u_lo) || std::isnan(u_hi)) return std::nan("");
  return std::min(1.0, p < 0.5 ? u_hi : 1 - u_lo);
}

}  // namespace prewarm::forecast
