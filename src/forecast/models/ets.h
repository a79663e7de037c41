// ETS: exponential smoothing state-space models (Holt-Winters family) as in Hyndman's
// R forecast::ets: error A or M, trend N, A or Ad, season N, A or M with one period.
// Smoothing parameters and initial states are fitted by minimising R's likelihood
// criterion with R's Nelder-Mead, under R's "usual" bounds and (for periods <= 24) its
// admissibility check, and the variant is chosen by AICc (like ets(model = "ZZZ") with
// restrict = TRUE: no additive error with multiplicative season, no multiplicative trend).
//
// Beyond R: long periods. R refuses seasonal ETS above period 24; here periods up to
// `max_period` are fitted with the seasonal initial states taken from a classical
// decomposition instead of being optimised (the filter is O(1) a step whatever the
// period), and with the usual bounds only. Missing values (NaN) are skipped by the
// filter: the state propagates by its forecast and the likelihood counts observed steps.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "forecast/model.h"
#include "forecast/models/ets_filter.h"

namespace prewarm::forecast {

struct EtsOptions {
  // R's model code: error, trend, season letters from {A, M, N, Z}, 'Z' = choose by
  // AICc; a 'd' after the trend forces damping. E.g. "ZZZ", "ZZN", "AAA", "AAdA", "MAM".
  std::string model = "ZZZ";
  std::optional<bool> damped;  // unset: try both where a trend is fitted (unless "Ad")
  // Seasonal period: > 1 that period; 1 no season; 0 the shortest period in
  // FitContext::periods with at least two cycles in the data, up to max_period.
  int period = 0;
  int max_period = 1008;
  bool allow_multiplicative = false;  // may 'Z' pick M error / season (positive data only)
  int max_evals = 2000;               // Nelder-Mead evaluations per variant (R: maxit)
  int max_optimised_season = 24;      // longer periods: seasonal initial states fixed
  // Nelder-Mead also stops once the simplex's criterion values (-2 log-likelihood
  // scale) span at most this: differences of 0.01 change no decision and halve the fit
  // time on long series. 0 = R's relative tolerance only, for R-identical fits.
  double lik_tol = 0.01;
};

// One fitted variant.
struct EtsFit {
  EtsSpec spec;
  EtsParams params;
  int period = 1;
  EtsState initial;  // states before the first observation
  EtsState state;    // states after the last absorbed observation
  double lik = 0.0;  // R's criterion, -2 log-likelihood up to a constant
  double aic = 0.0;
  double aicc = 0.0;
  double sigma2 = 0.0;  // residual variance (relative errors for error M), R's sigma2
  int n_params = 0;     // smoothing parameters + initial states (R's length(par))
  int n_obs = 0;
  int evals = 0;
};

class Ets : public Model {
 public:
  explicit Ets(EtsOptions options = {}) : options_(std::move(options)) {}

  std::string name() const override;  // the fitted variant, e.g. "ETS(A,Ad,A)"
  absl::Status Fit(std::span<const double> y, const FitContext& ctx) override;
  absl::StatusOr<std::vector<double>> Predict(int h) const override;
  absl::Status Update(std::span<const double> new_obs) override;  // filter only, O(len)
  std::unique_ptr<Model> Clone() const override;
  std::unique_ptr<Model> CloneSelected() const override;  // the fitted variant and period

  // Fits one variant of `spec` on `y` (no selection).
  static absl::StatusOr<EtsFit> FitVariant(std::span<const double> y, const EtsSpec& spec,
                                           int period, const EtsOptions& options);

  bool fitted() const { return fit_.has_value(); }
  const EtsFit& fit() const { return *fit_; }  // requires fitted()
  // Variance of the h-step forecast errors for class-1 models (additive error, no
  // multiplicative component): sigma2 (1 + sum_{j<h} c_j^2), c_j = alpha + beta phi_j +
  // gamma [j mod m == 0]. Unimplemented for the other classes.
  absl::StatusOr<std::vector<double>> ForecastVariance(int h) const;

 private:
  EtsOptions options_;
  std::optional<EtsFit> fit_;
};

}  // namespace prewarm::forecast
