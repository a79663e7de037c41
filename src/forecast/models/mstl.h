// MSTL (Bandara, Hyndman & Bergmeir 2021; R's forecast::mstl): STL iterated over several
// seasonal periods, shortest first, giving one seasonal component per period, a trend and
// a remainder. MstlModel forecasts like R's stlf / forecast.mstl: the seasonally adjusted
// series (trend + remainder) by a non-seasonal model (ETS(Z,Z,N) by default), plus each
// seasonal component continued by seasonal naive.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "forecast/model.h"

namespace prewarm::forecast {

struct MstlOptions {
  int iterate = 2;
  // STL s.window per period, shortest first; periods beyond the list get R's default
  // 7 + 4 i (11, 15, 19, ...).
  std::vector<int> s_windows;
  bool robust = false;
};

struct MstlResult {
  std::vector<int> periods;                   // those used, shortest first
  std::vector<std::vector<double>> seasonal;  // one per period
  std::vector<double> trend;
  std::vector<double> remainder;

  std::vector<double> SeasonallyAdjusted() const;  // trend + remainder
};

// Linear interpolation of missing values; leading and trailing gaps take the nearest
// observation. Fails when nothing is observed.
absl::StatusOr<std::vector<double>> InterpolateMissing(std::span<const double> y);

// Decomposes `y` (missing values interpolated first) over the `periods` with fewer than
// n / 2 steps (R: more than two cycles). With none, the trend is a LOESS (R uses supsmu).
absl::StatusOr<MstlResult> Mstl(std::span<const double> y, std::span<const int> periods,
                                const MstlOptions& options = {});

// Simple exponential smoothing or damped Holt (additive errors), whichever has the lower
// AIC, with smoothing parameters fitted by golden-section coordinate search on the
// one-step squared error. MstlModel's fallback when ETS fails; also usable alone.
// Ignores seasonal periods. Missing values propagate the state by its forecast.
class FallbackSmoother : public Model {
 public:
  std::string name() const override;
  absl::Status Fit(std::span<const double> y, const FitContext& ctx) override;
  absl::StatusOr<std::vector<double>> Predict(int h) const override;
  absl::Status Update(std::span<const double> new_obs) override;
  std::unique_ptr<Model> Clone() const override;

  struct Params {
    double alpha = 0.5;
    double beta = 0.0;  // 0 and phi 0: no trend (SES)
    double phi = 0.0;
  };
  struct State {
    double level = 0.0;
    double slope = 0.0;
  };
  const Params& params() const { return params_; }

 private:
  bool fitted_ = false;
  Params params_;
  State state_;
};

class MstlModel : public Model {
 public:
  // `adjusted_model` forecasts the seasonally adjusted series (fitted with no periods);
  // nullptr: ETS(Z,Z,N) as R's stlf, falling back to FallbackSmoother when it fails.
  explicit MstlModel(std::unique_ptr<Model> adjusted_model = nullptr, MstlOptions options = {});

  std::string name() const override;  // "mstl+<adjusted model>"
  absl::Status Fit(std::span<const double> y, const FitContext& ctx) override;
  absl::StatusOr<std::vector<double>> Predict(int h) const override;
  // Absorbs new observations: the seasonal components continue by seasonal naive, the
  // adjusted model absorbs the observations minus them (when it supports Update).
  absl::Status Update(std::span<const double> new_obs) override;
  std::unique_ptr<Model> Clone() const override;
  // The fitted adjusted model's CloneSelected() as the configured one (no fallback).
  std::unique_ptr<Model> CloneSelected() const override;

  // Why the default ETS was replaced by the fallback in the last Fit ("" if it was not).
  const std::string& fallback_reason() const { return fallback_reason_; }

 private:
  double SeasonalAt(long t) const;  // sum of the components' naive continuation at step t
  absl::Status FitAdjusted(const std::vector<double>& adjusted);

  std::unique_ptr<Model> configured_;  // as given (nullptr: the default)
  MstlOptions options_;
  std::unique_ptr<Model> adjusted_;  // the fitted one
  // What forecasting needs of the fitted decomposition: each component's last cycle
  // (periods_[c] values) and the fitted length. The trend and remainder are not kept: a
  // daemon holds one of these per key between refits.
  std::vector<int> periods_;
  std::vector<std::vector<double>> last_cycle_;
  long n_fit_ = 0;
  std::string fallback_reason_;
  long n_ = 0;  // steps seen (fit + updates)
  bool fitted_ = false;
};

}  // namespace prewarm::forecast
