// The ETS state-space recursions (Hyndman et al., "Forecasting with exponential
// smoothing", and R forecast's etscalc): one-step forecasts, state updates, point
// forecasts, the likelihood criterion and the initial states of R's initstate(). Internal
// to the ETS model (ets.h), separate so the hot loop is easy to read and measure.
#pragma once

#include <span>
#include <string>
#include <vector>

namespace prewarm::forecast {

enum class EtsComponent { kNone, kAdditive, kMultiplicative };

struct EtsSpec {
  EtsComponent error = EtsComponent::kAdditive;
  EtsComponent trend = EtsComponent::kNone;  // kMultiplicative is not supported
  EtsComponent season = EtsComponent::kNone;
  bool damped = false;
  std::string Name() const;  // "ETS(A,Ad,A)"
};

// Smoothing parameters in R's parameterisation: the level moves by alpha * e, the trend
// by beta * e and the season by gamma * e (additive error), phi damps the trend (1 when
// not damped).
struct EtsParams {
  double alpha = 0.0;
  double beta = 0.0;
  double gamma = 0.0;
  double phi = 1.0;
};

struct EtsFilterStats {
  double sse = 0.0;        // sum of squared one-step errors (relative for error M)
  double sum_log_f = 0.0;  // sum of log |one-step forecast| (the M-error Jacobian term)
  int n_obs = 0;           // observed (non-missing) steps
  bool finite = true;
  std::vector<double> residuals;  // one-step errors (NaN where missing), when asked for
  // R's criterion: n log(sse) (+ 2 sum log|f| for error M) = -2 loglik + constant.
  double Lik(EtsComponent error) const;
};

// Level, trend and a ring of seasonal states: slot k holds the seasonal state of the
// time steps t with t mod period == k, so one step touches one slot (O(1) per step
// whatever the period).
struct EtsState {
  double level = 0.0;
  double trend = 0.0;
  std::vector<double> season;  // empty when there is no season
  size_t t = 0;                // time index of the next observation

  // Runs the filter over `y` (NaN = missing: the state propagates without correction),
  // keeping the one-step errors in the result when `keep_residuals`.
  EtsFilterStats Advance(const EtsSpec& spec, const EtsParams& p, std::span<const double> y,
                         bool keep_residuals = false);
  std::vector<double> Forecast(const EtsSpec& spec, const EtsParams& p, int h) const;
};

// R's initstate(): level, trend and seasonal states from a classical decomposition of
// `y` (or a trend + first-harmonic regression when there are fewer than 3 cycles) and a
// regression on the first max(10, 2m) seasonally adjusted values. Missing values are
// skipped. Season slots as in EtsState, normalised (sum 0, or mean 1 for M).
EtsState InitialState(std::span<const double> y, const EtsSpec& spec, int period);

// Whether the parameters are in R's "admissible" region (the characteristic roots of the
// discount matrix within the unit circle). O(m^2).
bool Admissible(const EtsSpec& spec, const EtsParams& p, int period);

// Whether all roots of sum_k c[k] z^k (c.back() != 0) have modulus < radius.
bool RootsWithin(std::vector<double> c, double radius);

}  // namespace prewarm::forecast
