// Croston's method and the Syntetos-Boylan approximation (SBA) for intermittent demand
// (series that are mostly zeros, like many Azure functions): exponential smoothing of
// the non-zero demand sizes and of the intervals between them; the forecast is the flat
// rate size / interval (times 1 - alpha / 2 for SBA, which removes Croston's bias).
// Missing steps are neither demand nor elapsed time. Matches R forecast::croston
// (initial states = first size and first interval) for a fixed alpha.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "forecast/model.h"

namespace prewarm::forecast {

struct CrostonOptions {
  enum class Method { kCroston, kSba };
  Method method = Method::kSba;
  double alpha = 0.1;      // smoothing constant when not fitted
  bool fit_alpha = false;  // choose alpha in [0.01, 0.5] by in-sample one-step MSE
};

class Croston : public Model {
 public:
  explicit Croston(CrostonOptions options = {}) : options_(options) {}

  std::string name() const override;
  absl::Status Fit(std::span<const double> y, const FitContext& ctx) override;
  absl::StatusOr<std::vector<double>> Predict(int h) const override;
  absl::Status Update(std::span<const double> new_obs) override;
  std::unique_ptr<Model> Clone() const override;

  double alpha() const { return alpha_; }
  double rate() const;  // the flat forecast

 private:
  struct State {
    double size = 0.0;      // smoothed demand size
    double interval = 0.0;  // smoothed interval between demands
    int since = 0;          // observed steps since the last demand
    int demands = 0;
    void Absorb(double v, double alpha);
  };
  static double InSampleMse(std::span<const double> y, double alpha);

  CrostonOptions options_;
  double alpha_ = 0.1;
  bool fitted_ = false;
  State state_;
};

}  // namespace prewarm::forecast
