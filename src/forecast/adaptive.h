// Adaptive conformal inference on top of calibrated quantiles: the interval levels follow
// the realised coverage, online.
//
// A static calibration (quantile.h) fits one error distribution to a span of past folds.
// When the errors drift (a series whose log-scale noise grows as its level falls), the
// next origin's errors are not the span's, and the intervals under- or over-cover. ACI
// (Gibbs & Candes 2021, "Adaptive Conformal Inference Under Distribution Shift") corrects
// the level instead of the distribution: the central interval of nominal miscoverage
// alpha is read at alpha_t, and after each realised observation
//   alpha_{t+1} = alpha_t + gamma (alpha - err_t),   err_t = 1 if it fell outside.
// The step gamma trades adaptation speed against noise, and the right one depends on the
// series. Instead of searching one, several experts with gammas on a geometric grid run
// side by side and are aggregated by exponential weights on their pinball loss (DtACI,
// Gibbs & Candes 2022, "Conformal Inference for Online Prediction with Arbitrary
// Distribution Shifts", Algorithm 1, with its eta and sigma for an interval of `window`
// updates; the output is the weighted mean of the experts rather than a random draw,
// as AgACI, Zaffran et al. 2022, does).
//
// Each bound of each central interval is tracked on its own (the quantile-tracking form
// of ACI: one-sided intervals of miscoverage a = min(p, 1 - p) for the quantile level p),
// so that a drift on one side (a bias, or a zero-inflated series whose lower bound is 0
// and never misses) moves that side only: the daemon reads upper quantiles alone (a
// newsvendor level), and a symmetric update would shift them to make up for the other
// side. The 80 % interval is [Q(0.1), Q(0.9)]: two trackers of a = 0.1.
//
// The feedback is one number per realised observation and bound, independent of the
// level: beta, the largest miscoverage whose one-sided interval still holds the
// observation (u for a lower bound, 1 - u for an upper one, u the observation's level in
// the forecast distribution). The interval of miscoverage a covers it exactly when
// a <= beta. A multi-step forecast is one update, its err the share of its steps outside
// (the steps of one forecast miss together; one update per step would count one bad
// origin h times). Forecasts issued every `stride` < h steps overlap: each is weighted
// stride / h, so that a day-ahead forecast issued every 20 minutes moves the levels once
// a day, not 72 times on nearly the same errors (chasing them lost wc98_10min's 80 %
// coverage; bench/forecast/README.md, "Adaptive interval levels").
//
// Bounded: each expert's alpha stays in [-clamp x alpha, clamp x alpha], clamp 2: from a
// bound that misses twice the nominal share to one read at level -2 alpha, beyond the
// widest held-out error (the calibrated quantile function is extended past its extremes
// linearly, with the slope of its outermost gap, and the observations' levels with it, so
// beta < 0 for one outside every held-out error). With alpha_t floored at 0 the interval
// could not be wider than the errors seen, and errors that double would stay uncovered. The
// aggregate is a mean of clamped values. Cheap: O(levels x experts x steps) per update.
#pragma once

#include <span>
#include <vector>

namespace prewarm::forecast {

struct AdaptiveOptions {
  bool enabled = true;
  // Steps of the experts, per update. A geometric grid spanning the plausible range:
  // 0.001 needs ~1000 updates to move alpha by one nominal unit (static), 0.064 ~15
  // (tracks a drift within a day of a dense span).
  std::vector<double> gammas = {0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064};
  double clamp = 2.0;  // alpha_t in [-clamp x alpha, clamp x alpha]
  // DtACI's interval length I: the weights forget at sigma = 1 / (2 I) and learn at its
  // eta(I, alpha).
  int window = 100;
};

// One one-sided interval of nominal miscoverage `alpha`.
class AdaptiveConformal {
 public:
  AdaptiveConformal(double alpha, const AdaptiveOptions& options);

  // One realised forecast: betas[j] for its steps, NaN where unknown (missing value).
  // `weight` (0, 1] scales the step and the loss: the share of the forecast's steps not
  // already seen in an earlier overlapping one.
  void Observe(std::span<const double> betas, double weight = 1.0);
  double alpha() const;  // the level to read the interval at: the experts' weighted mean
  double nominal() const { return nominal_; }
  int updates() const { return updates_; }
  const std::vector<double>& weights() const { return weights_; }
  const std::vector<double>& experts() const { return experts_; }

 private:
  double nominal_, lo_, hi_, eta_, sigma_;
  std::vector<double> gammas_, experts_, weights_;
  int updates_ = 0;
};

// Every quantile level of a grid but the median, each the bound of a one-sided interval.
class AdaptiveIntervals {
 public:
  AdaptiveIntervals() = default;
  AdaptiveIntervals(std::span<const double> levels, const AdaptiveOptions& options);

  // One realised forecast: per step, the observation lies at levels [u_lo, u_hi] of its
  // forecast distribution (u_lo < u_hi where the distribution has an atom there, e.g. a
  // zero mass; NaN: missing). Levels outside [0, 1] lie beyond the extended quantile
  // function's extremes.
  void Observe(std::span<const double> u_lo, std::span<const double> u_hi, double weight = 1.0);
  // The level to read for nominal level p: alpha_t or 1 - alpha_t of p's tracker (p itself
  // when there is none, or when disabled).
  double Level(double p) const;
  const std::vector<double>& levels() const { return levels_; }
  const std::vector<AdaptiveConformal>& bounds() const { return bounds_; }  // per level
  int updates() const { return bounds_.empty() ? 0 : bounds_[0].updates(); }

  // beta of an observation at [u_lo, u_hi] for the bound at level p: the largest a such
  // that Q(a) <= y (p < 0.5: a <= u_hi) or Q(1 - a) >= y (p > 0.5: a <= 1 - u_lo).
  static double Beta(double p, double u_lo, double u_hi);

 private:
  std::vector<double> levels_;
  std::vector<AdaptiveConformal> bounds_;
};

}  // namespace prewarm::forecast
