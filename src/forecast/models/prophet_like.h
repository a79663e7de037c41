// A Prophet-style additive model (Taylor & Letham 2018): y(t) = g(t) + s(t) + e, with
// g a piecewise-linear trend whose rate changes at automatic changepoints under a Laplace
// prior, and s a sum of Fourier series, one per seasonal period, under a Gaussian prior.
// Fitted by MAP (prophet_map.h: the Gaussian parameters eliminated exactly, the Laplace
// ones by feature-sign search, the noise profiled out).
//
// As in Prophet: y is scaled by max |y|, t runs over [0, 1] across the history, the
// potential changepoints are evenly spaced over the first 80% of the observed rows, and
// sigma_obs ~ N(0, 0.5), k, m ~ N(0, 5). Missing values (NaN) are left out of the
// likelihood. The model is linear in its parameters, so the fit works on the Gram matrix
// F'F (parameters x parameters) and costs O(n p^2) once, then O(p^3) per re-profiling of
// the noise and O(k^3) per feature-sign step on the k active changepoints.
// Multiplicative seasonality: fit on log scale (the caller's Transform).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Dense>

#include "forecast/model.h"

namespace prewarm::forecast {

struct ProphetLikeOptions {
  int n_changepoints = 25;
  double changepoint_range = 0.8;         // share of the observed history holding them
  double changepoint_prior_scale = 0.05;  // Laplace scale of the rate changes
  double seasonality_prior_scale = 10.0;  // Gaussian scale of the Fourier coefficients
  // (period, order) overrides; other periods get DefaultFourierOrder.
  std::vector<std::pair<int, int>> fourier_orders;
  int max_iterations = 20000;  // feature-sign steps (the fit is exact far sooner)
};

// Prophet's orders by the role a period plays among `periods`: weekly (7, or 7x another
// period) 3, yearly (365/366, or >= 52x another period) 10, otherwise daily 4; capped at
// (period - 1) / 2 so that no column is degenerate.
int DefaultFourierOrder(int period, std::span<const int> periods);

class ProphetLike : public Model {
 public:
  explicit ProphetLike(ProphetLikeOptions options = {});

  std::string name() const override { return "prophetlike"; }
  absl::Status Fit(std::span<const double> y, const FitContext& ctx) override;
  absl::StatusOr<std::vector<double>> Predict(int h) const override;
  // Adds the new observations to the posterior (O(p^2) each) and re-solves from the
  // current parameters: changepoints and scaling stay those of the last Fit.
  absl::Status Update(std::span<const double> new_obs) override;
  std::unique_ptr<Model> Clone() const override;

  // The fitted decomposition over steps [0, n + h) on the scale of y.
  struct Components {
    std::vector<double> trend;
    std::vector<double> seasonal;  // all periods summed
  };
  absl::StatusOr<Components> Decompose(int h) const;

  // The periods (with their Fourier order) the last Fit used.
  const std::vector<std::pair<int, int>>& seasonalities() const { return seasons_; }
  // Changepoint positions in steps and their fitted rate changes (on the scale of y,
  // per step).
  std::vector<std::pair<double, double>> Changepoints() const;
  int iterations() const { return iterations_; }  // feature-sign steps of the last solve

 private:
  // Design rows for steps [from, to): [t, 1, (t - s_j)+ ..., sin/cos ...].
  Eigen::MatrixXd Design(int from, int to) const;
  // Adds the rows of steps [from, from + y.size()) to the sufficient statistics (F'F,
  // F'y, y'y), a block of the design at a time; returns the observed rows.
  int Absorb(int from, std::span<const double> y);
  // MAP of the posterior given by the sufficient statistics; `warm` starts from theta_.
  absl::Status Solve(bool warm);
  int num_trend_params() const { return 2 + static_cast<int>(changepoints_.size()); }

  ProphetLikeOptions options_;
  bool fitted_ = false;
  int n_ = 0;                  // fitted length in steps
  double t_span_ = 1.0;        // steps per unit of scaled time
  double y_scale_ = 1.0;
  std::vector<double> changepoints_;  // in scaled time
  std::vector<std::pair<int, int>> seasons_;  // (period, order)
  Eigen::VectorXd theta_;
  int iterations_ = 0;
  // Sufficient statistics of the fitted data on the scaled y: F'F, F'y, y'y, observations.
  Eigen::MatrixXd gram_;
  Eigen::VectorXd fty_;
  double yty_ = 0.0;
  int n_obs_ = 0;
};

}  // namespace prewarm::forecast
