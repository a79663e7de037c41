// Quantile forecasts for any Model: a transform, a model and an empirical calibration.
//
//   ProbabilisticForecaster f(Transform::Log1p(), std::make_unique<Ets>());
//   RETURN_IF_ERROR(f.Fit(history, FitContext{{144, 1008}}, /*horizon=*/144));
//   ASSIGN_OR_RETURN(QuantileForecast qf, f.Predict(144));
//   qf.At(0.9)[j]   // 90% quantile of the count j + 1 steps ahead
//   RETURN_IF_ERROR(f.Update(new_counts));  // between refits: state only
//
// Fit transforms the series, fits the model on all of it, and calibrates: it replays
// rolling origins inside the training window (refitting a clone at each of `origins`
// origins, or, for models with Update(), fitting once at the earliest origin and rolling
// the state forward to a denser set of origins; the clones fit the structure the model
// selected, Model::CloneSelected()), and collects the forecast errors per
// horizon step on the calibration scale: the model's own (transformed) scale, except
// under Box-Cox, whose errors are taken on the log1p scale (below). Each step j gets a
// location and a scale (mean and standard deviation of the errors at j, pooled with
// neighbouring steps until `min_local` samples), and all standardised errors form one
// shared shape, so even the 1% and 99% quantiles rest on every sample. The quantile at
// level p and step j is
//   C^-1(C(point_j) + loc_j + scale_j * Qz(p)),
// with C the calibration transform applied to the back-transformed point, made monotone
// in p and clamped at 0.
//
// Why not Box-Cox's own scale: Guerrero's lambda is chosen for the point forecast and is
// often strongly negative on bursty counts (-0.5 .. -1 on WorldCup98), which compresses
// the peaks so much that an error of fixed size on that scale means a relative error that
// grows with the level. One error distribution pooled over troughs and peaks, applied to a
// window whose level differs from the calibration window's, then misses the nominal
// coverage by 10-20 points. On log1p the errors of counts are close to scale-free. Sparse series
// get a zero mass: the fraction p0_j of held-out values that were exactly 0 (pooled like the
// errors), and every quantile at a level <= p0_j is 0 (a zero-inflated distribution without a
// separate model). p0_j is conditional on the point forecast (below a count of 0.5 or not), so that
// a sparse but predictable series keeps its forecast arrivals.
//
// A model that validated itself while fitting (auto, Model::held_out()) hands over its
// held-out forecasts, and those errors are calibrated instead of new rolling origins (a
// conformal calibration on errors made strictly before the origin). Such a model chooses
// its own transform: it is fitted on the counts whatever `transform` says, and calibrated
// on log1p.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "forecast/model.h"
#include "forecast/transform.h"

namespace prewarm::forecast {

struct QuantileForecast {
  // Mean of the predictive distribution on the original scale (the back-transformed
  // distribution averaged, so it includes the bias correction of log-like transforms).
  std::vector<double> mean;
  // The model's point forecast back-transformed: about the median for log-like transforms.
  std::vector<double> point;
  std::vector<double> levels;          // ascending
  std::vector<std::vector<double>> q;  // q[level index][step]
  // The quantile path at `level` (nearest configured level).
  const std::vector<double>& At(double level) const;
  // The quantile path at any `level`: linear between the two configured levels around it
  // (the outermost level beyond them), so a newsvendor q of 0.968 is not read as 0.95.
  std::vector<double> Interpolated(double level) const;
};

struct QuantileOptions {
  // The central 80% and 98% intervals are (0.1, 0.9) and (0.01, 0.99).
  std::vector<double> levels = {0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99};
  int origins = 8;         // refit origins (models without Update, or use_update = false)
  bool use_update = true;  // fit once and Update() forward when the model supports it
  int update_stride = 0;   // steps between Update() origins; 0 = max(1, horizon / 8)
  int min_train = 0;       // data before the first origin; 0 = half the series
  int min_local = 30;      // error samples behind each step's location and scale
  // For an ETS model with an analytic variance (class 1), use Gaussian quantiles of it
  // instead of the empirical calibration.
  bool prefer_model_variance = false;
  // Forecasts are capped at cap_factor x the largest training count (see cap_).
  double cap_factor = 10.0;
  bool zero_mass = true;  // quantiles below the observed share of zeros are 0
};

class ProbabilisticForecaster {
 public:
  // A Box-Cox transform with NaN lambda (Transform::Parse("boxcox")) gets its lambda
  // from the training data at Fit (Guerrero over the first usable period).
  ProbabilisticForecaster(Transform transform, std::unique_ptr<Model> prototype,
                          QuantileOptions options = {});

  absl::Status Fit(std::span<const double> y, const FitContext& ctx, int horizon);
  absl::StatusOr<QuantileForecast> Predict(int h) const;  // 1 <= h <= horizon
  absl::Status Update(std::span<const double> new_obs);   // model state; calibration kept

  const Model& model() const { return *model_; }  // the fitted model (valid after Fit)
  const Transform& transform() const { return transform_; }
  int calibration_samples() const { return samples_; }

 private:
  struct Errors;  // errors[origin][step] on the transformed scale
  absl::StatusOr<Errors> RollingErrors(std::span<const double> z, const FitContext& ctx) const;
  // The errors of the forecasts the model held out while fitting (Model::held_out());
  // nullopt when it made none of the horizon's length.
  std::optional<Errors> HeldOutErrors() const;
  // A clone fitted on `z` for the calibration: CloneSelected(), or the prototype when the
  // selected structure does not fit.
  absl::StatusOr<std::unique_ptr<Model>> FitCalibrationModel(std::span<const double> z,
                                                             const FitContext& ctx) const;
  absl::StatusOr<Errors> UpdateErrors(std::span<const double> z, const FitContext& ctx,
                                      int first) const;
  absl::StatusOr<Errors> RefitErrors(std::span<const double> z, const FitContext& ctx, int first,
                                     int stride) const;
  void Calibrate(const Errors& errors);
  std::vector<double> ModelVariance(int h) const;  // empty unless in use

  // The scale the errors are calibrated on, from a forecast on the model's scale `z`.
  double ToCalibration(double z) const;
  std::vector<double> ToCalibration(std::span<const double> z) const;

  Transform transform_;
  Transform calibration_ = Transform::None();  // transform_, or log1p under Box-Cox
  std::unique_ptr<Model> prototype_;
  std::unique_ptr<Model> model_;
  QuantileOptions options_;
  int horizon_ = 0;
  std::vector<double> loc_, scale_;  // per step, transformed scale
  std::vector<double> zero_share_;   // per step, share of exact zeros held out
  // The same where the point forecast was below / above a count of 0.5 (ZeroThreshold).
  std::vector<double> zero_share_low_, zero_share_high_;
  static constexpr double kZeroPrior = 4;
  double ZeroThreshold() const;  // a count of 0.5 on the calibration scale
  std::vector<double> shape_;    // sorted standardised errors (their quantiles at each 0.5 %)
  int samples_ = 0;              // held-out errors behind shape_
  // No value is forecast above this: kCapFactor x the largest count seen. A transform
  // whose inverse explodes (Box-Cox with lambda < 0 near its pole) would otherwise turn
  // one wide error into an astronomically large quantile.
  double cap_ = 0.0;
};

}  // namespace prewarm::forecast
