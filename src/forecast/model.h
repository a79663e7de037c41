// The forecasting model interface. Fit and forecast are separate; a model forecasts
// point values on the scale it was fitted on (the caller applies transforms), and
// quantiles come from the ProbabilisticForecaster (quantile.h), which calibrates any
// model from rolling-origin errors per horizon step. Models: seasonal naive, ETS,
// Croston/SBA, Prophet-like, MSTL+ETS, and combinations of them.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace prewarm::forecast {

struct FitContext {
  // Seasonal periods in steps, shortest first (e.g. {144, 1008} for 10-min data, {7, 365}
  // for daily). Models use those that the data can support (>= 2 full cycles).
  std::vector<int> periods;
  // Steps the caller will forecast after each fit (0: unknown). Models that validate
  // themselves (auto) size their held-out folds by it.
  int horizon = 0;
};

// Forecasts a model made, while fitting, of the end of its own training series: origin i
// forecast `forecast[i]` for the steps whose observed values are `actual[i]` (NaN =
// missing), all on the scale the model was fitted on: a report of the validation. (The
// quantile calibration, quantile.h, rolls the selected structure over a span holding it at more
// origins instead: 24 origins of a short horizon are too few for a 98 % interval.)
struct HeldOutForecasts {
  std::vector<std::vector<double>> actual;
  std::vector<std::vector<double>> forecast;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual std::string name() const = 0;
  // Fits on `y` (NaN = missing, to be skipped or interpolated by the model; never read
  // as zero). Fails when the series is too short for the model.
  virtual absl::Status Fit(std::span<const double> y, const FitContext& ctx) = 0;
  // Point forecasts for the `h` steps after the end of the fitted series.
  virtual absl::StatusOr<std::vector<double>> Predict(int h) const = 0;
  // Absorbs observations that followed the fitted series without refitting parameters
  // (state update). The default refits on nothing and fails; cheap models override it.
  virtual absl::Status Update(std::span<const double> new_obs) {
    (void)new_obs;
    return absl::UnimplementedError(name() + ": no incremental update; refit instead");
  }
  // A fresh, unfitted model of the same configuration (for rolling-origin calibration).
  virtual std::unique_ptr<Model> Clone() const = 0;
  // A fresh model that fits only the structure this fitted one selected (ETS: its
  // variant; combinations and MSTL: their members'), for the rolling-origin calibration
  // of quantiles, where repeating the selection at every origin costs several fits and
  // changes the errors little. Unfitted models and models without a selection: Clone().
  virtual std::unique_ptr<Model> CloneSelected() const { return Clone(); }
  // True for a model that chooses its own transform of the counts (auto): it is fitted on
  // raw counts, and its quantiles are calibrated on log1p, where count errors are close to
  // scale-free (quantile.h).
  virtual bool ChoosesTransform() const { return false; }
  // The held-out forecasts of the last Fit, or nullptr when the model made none.
  virtual const HeldOutForecasts* held_out() const { return nullptr; }
};

}  // namespace prewarm::forecast
