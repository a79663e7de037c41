// The MAP fit behind ProphetLike: a linear model y ~ N(F theta, u) given by its
// sufficient statistics (F'F, F'y, y'y, the number of observations), Gaussian priors of
// precision `ridge` on the parameters, a Laplace prior of weight `l1` on the block
// [l1_begin, l1_end) (the changepoint rate changes), and Prophet's half-normal prior
// sigma ~ N(0, 0.5) on the noise, whose MAP u is profiled out in closed form:
//
//   minimise  N/2 log u + SSE(theta) / 2u + 2u + theta' diag(ridge) theta / 2
//             + l1 sum_{j in block} |theta_j|.
//
// For a fixed u this is a lasso: the Gaussian parameters are eliminated exactly (a Schur
// complement on a Cholesky factor), the few Laplace ones are solved exactly by
// feature-sign search, and u is re-profiled until it stops moving. Exact to rounding and
// warm-startable (one step per round from the previous solution), it takes well under a
// millisecond where L-BFGS (OWL-QN) needed thousands of iterations on the ill-conditioned
// changepoint columns, and still stopped short of the optimum.
#pragma once

#include <Eigen/Dense>

#include "common/status.h"

namespace prewarm::forecast {

struct MapProblem {
  const Eigen::MatrixXd& gram;  // F'F
  const Eigen::VectorXd& fty;   // F'y
  double yty = 0.0;
  double n_obs = 0.0;
  Eigen::VectorXd ridge;        // Gaussian prior precision per parameter (0 in the block)
  int l1_begin = 0, l1_end = 0;  // the Laplace block
  double l1 = 0.0;              // its weight, 1 / scale

  // The noise variance that minimises the objective for a residual sum of squares.
  double ProfiledVariance(double sse) const;
  double Sse(const Eigen::VectorXd& theta) const;
  // The objective above at theta (u profiled).
  double Objective(const Eigen::VectorXd& theta) const;
};

struct MapSolution {
  Eigen::VectorXd theta;
  int steps = 0;        // feature-sign steps over the Laplace block, all rounds
  int rounds = 0;       // re-profilings of u
  bool converged = false;
};

struct MapOptions {
  int max_rounds = 200;
  int max_steps = 20000;   // feature-sign steps, over all rounds
  // Relative change of u that ends the rounds. SSE is a difference of large terms (y is
  // scaled by its maximum, so on a Box-Cox scale with lambda near -1 it varies in its
  // fourth digit): u carries ~1e-10 of rounding noise, and 1e-7 moves no forecast.
  double u_tol = 1e-7;
};

// Solves from `start` (a previous solution; any other size starts from zero).
absl::StatusOr<MapSolution> SolveMap(const MapProblem& problem, const Eigen::VectorXd& start,
                                     const MapOptions& options = {});

}  // namespace prewarm::forecast
