// Small numerical optimisers for model fitting: Nelder-Mead (the variant of R's optim(),
// so that fits can be compared with R's), L-BFGS (liblbfgs) with an analytic or numerical
// gradient, and Brent's one-dimensional minimiser (R's optimize()).
//
// Box constraints: Nelder-Mead projects every trial point into the box; L-BFGS
// optimises over unconstrained variables mapped into the box (logistic for two-sided
// bounds, exp for one-sided ones). An objective may also return +inf or NaN to reject a
// point (Nelder-Mead treats it as a very large value, as R does).
#pragma once

#include <functional>
#include <limits>

#include <Eigen/Dense>

#include "common/status.h"

namespace prewarm::forecast {

using Objective = std::function<double(const Eigen::VectorXd&)>;
using GradientFn = std::function<Eigen::VectorXd(const Eigen::VectorXd&)>;

// Per-coordinate bounds; +-infinity for an open side. Empty vectors = unbounded.
struct Box {
  Eigen::VectorXd lower;
  Eigen::VectorXd upper;
  bool empty() const { return lower.size() == 0; }
  Eigen::VectorXd Clamp(const Eigen::VectorXd& x) const;
};

struct OptimOptions {
  int max_evals = 2000;  // objective evaluations (Nelder-Mead) or iterations (L-BFGS)
  double rel_tol = 1.4901161193847656e-08;  // sqrt(machine eps), R optim's reltol
  double abs_tol = -std::numeric_limits<double>::infinity();  // stop once f <= abs_tol
  // Nelder-Mead also stops when the simplex's values span at most f_tol (0 = only the
  // relative test, as R).
  double f_tol = 0.0;
  // Nelder-Mead initial simplex step; 0 = 10% of the largest |x0_i| (0.1 if all are 0).
  double initial_step = 0.0;
  Box bounds;
};

struct OptimResult {
  Eigen::VectorXd x;
  double f = std::numeric_limits<double>::infinity();
  int evals = 0;
  bool converged = false;  // false: stopped on max_evals (x is still the best found)
};

// Nash's Nelder-Mead as in R's optim(method = "Nelder-Mead"): reflection 1, contraction
// 0.5, expansion 2. Fails only if f is not finite at x0 or x0 has the wrong size.
absl::StatusOr<OptimResult> NelderMead(const Objective& f, const Eigen::VectorXd& x0,
                                       const OptimOptions& options = {});

// L-BFGS; `grad` may be empty, then central differences are used.
absl::StatusOr<OptimResult> Lbfgs(const Objective& f, const Eigen::VectorXd& x0,
                                  const OptimOptions& options = {},
                                  const GradientFn& grad = nullptr);

// Central-difference gradient of f at x (steps scaled to |x_i|, kept inside `bounds`).
Eigen::VectorXd NumericalGradient(const Objective& f, const Eigen::VectorXd& x,
                                  const Box& bounds = {});

struct Minimum1D {
  double x = 0.0;
  double f = 0.0;
};
// Brent's golden-section / parabolic minimiser on [lo, hi], exactly R's optimize().
Minimum1D BrentMinimize(const std::function<double(double)>& f, double lo, double hi,
                        double tol = 1.220703125e-4);

}  // namespace prewarm::forecast
