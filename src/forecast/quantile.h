// Quantile forecasts for any Model: a transform, a model and an empirical calibration.
//
//   ProbabilisticForecaster f(Transform::Log1p(), std::make_unique<Ets>());
//   RETURN_IF_ERROR(f.Fit(history, FitContext{{144, 1008}}, /*horizon=*/144));
//   ASSIGN_OR_RETURN(QuantileForecast qf, f.Predict(144));
//   qf.At(0.9)[j]   // 90% quantile of the count j + 1 steps ahead
//   RETURN_IF_ERROR(f.Update(new_counts));  // between refits: state only
//
// Fit transforms the series, fits the model on all of it, and calibrates: it replays
// rolling origins over the last `span` steps of the training window (refitting a clone at
// each of `origins` origins spread over it, or, for models with Update(), fitting once
// before the span and rolling the state forward through up to `update_origins` origins;
// the clones fit the structure the model selected, Model::CloneSelected()), and collects the
// forecast errors per horizon step on the calibration scale: the model's own (transformed) scale,
// except under Box-Cox, whose errors are taken on the log1p scale (below). Each step j gets a
// location and a scale (mean and standard deviation of the errors at j, pooled with
// neighbouring steps until `min_local` samples), and all standardised errors form one
// shared shape, so even the 1% and 99% quantiles rest on every sample. The quantile at
// level p and step j is
//   C^-1(c_j + g(c_j) * (loc_j + scale_j * Qz(p))),   c_j = C(point_j),
// with C the calibration transform applied to the back-transformed point, made monotone
// in p and clamped at 0, and g the level scaling (1 unless on log1p).
//
// The span: at least span_cycles x max(horizon, periods[0]) steps and span_share of the
// window (auto's held-out span), so that the errors come from every time of day and
// several days, and dense origins. Calibrating on `origins` horizons back to back (80
// minutes of a 1-minute series with a 10-step horizon) left a 98 % interval covering 86 %.
//
// Level scaling (log1p only): counts that are noisier than multiplicative (Poisson-like
// noise, var = mean + mean^2 / k) have log-scale errors that shrink with the level, as
// (1 + forecast)^-beta, beta between 0 (multiplicative) and 0.5 (Poisson). beta is the
// least-squares slope of log|error| on log1p(forecast) within each step, clamped to
// [0, 0.5]; the errors are divided by g = (1 + forecast)^-beta (relative to the mean level)
// before the loc / scale / shape above, and the quantiles multiply it back at the
// forecast's level. When errors grow with the level (bursts at the peaks: WorldCup98 at
// 10 minutes), beta = 0 and nothing changes.
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
// A model that chooses its own transform (auto) is fitted on the counts whatever
// `transform` says, and calibrated on log1p; its calibration clones are its selected
// structure (no new selection), rolled over a span that holds its own held-out folds, but
// at up to `update_origins` origins rather than the selection's 24 (the selection's own
// held-out forecasts are too few for a 98 % interval: 24 origins of a 10-step horizon).
//
// Adaptive levels (adaptive.h): on top of the static calibration, every quantile level but
// the median is read at an adapted level, tracked online from how earlier forecasts fared.
// A forecast counts once all its horizon steps have arrived, scored against the
// distribution it was issued with. The first Fit starts the levels by replaying the
// calibration's held-out forecasts (realised before the end of the window). From then on
// they learn from forecasts made out of sample: Update() (the daemon, between refits) scores
// the forecast issued every `stride` steps, Observe() (the backtest, between origins) the
// one made at the fit, and CarryAdaptive() hands the levels and the forecasts still
// awaiting steps to the forecaster fitted next. Replayed alone, the levels average to
// nominal over the span they were calibrated on and cannot see that the next errors are
// larger than all of the span's (wc98_1min). The median, the mean and the calibration
// itself are unchanged.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "forecast/adaptive.h"
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
  int origins = 8;           // refit origins (models without Update, or use_update = false)
  bool use_update = true;    // fit once and Update() forward when the model supports it
  int update_origins = 500;  // Update() origins spread over the span
  int update_stride = 0;     // steps between Update() origins; 0: from update_origins
  int min_train = 0;         // data before the first origin; 0 = half the series
  // The calibration span (the last steps of the window the origins forecast): at least
  // origins x horizon, span_cycles x max(horizon, periods[0]) and span_share x n, at most
  // n - min_train.
  int span_cycles = 3;
  double span_share = 0.25;
  int min_local = 30;  // error samples behind each step's location and scale
  // For an ETS model with an analytic variance (class 1), use Gaussian quantiles of it
  // instead of the empirical calibration.
  bool prefer_model_variance = false;
  // Forecasts are capped at cap_factor x the largest training count (see cap_).
  double cap_factor = 10.0;
  bool zero_mass = true;  // quantiles below the observed share of zeros are 0
  // On log1p, scale the errors by (1 + forecast)^-beta, beta in [0, 0.5] fitted to the
  // held-out errors (below).
  bool level_scaling = true;
  // Online adaptive interval levels (adaptive.h) on top of the calibration.
  AdaptiveOptions adaptive;
};

class ProbabilisticForecaster {
 public:
  // A Box-Cox transform with NaN lambda (Transform::Parse("boxcox")) gets its lambda
  // from the training data at Fit (Guerrero over the first usable period).
  ProbabilisticForecaster(Transform transform, std::unique_ptr<Model> prototype,
                          QuantileOptions options = {});

  absl::Status Fit(std::span<const double> y, const FitContext& ctx, int horizon);
  // Fit's model, with `previous`'s calibration and adaptive levels instead of new ones: a
  // refit of the structure `previous` was fitted and calibrated with (the daemon's refits
  // between selections). The calibration describes that structure's held-out errors over
  // days of origins, which one more refit interval barely moves, and it costs more than the
  // fit itself (a second fit and `update_origins` forecasts). Falls back to Fit when
  // `previous` has no calibration for this horizon and scale.
  absl::Status FitKeepingCalibration(std::span<const double> y, const FitContext& ctx, int horizon,
                                     const ProbabilisticForecaster& previous);
  absl::StatusOr<QuantileForecast> Predict(int h) const;  // 1 <= h <= horizon
  // Model state and the adaptive levels; the calibration is kept.
  absl::Status Update(std::span<const double> new_obs);

  const Model& model() const { return *model_; }  // the fitted model (valid after Fit)
  const Transform& transform() const { return transform_; }
  int calibration_samples() const { return samples_; }
  const AdaptiveIntervals& adaptive() const { return adaptive_; }
  // After Fit: continue the adaptive levels of the forecaster this one replaces, instead of
  // the replay of its own calibration, so that they keep learning from forecasts made out
  // of sample, across refits. `previous` must have absorbed the same observations (Update()
  // up to this fit's last step); its forecasts still awaiting steps carry over with the
  // distributions they were issued with. False (nothing carried) when the two do not match
  // (levels, horizon, calibration scale) or `previous` tracked nothing.
  bool CarryAdaptive(ProbabilisticForecaster&& previous);
  // Observations that arrived, for the adaptive levels only: the forecasts awaiting them
  // are scored, the model is not rolled forward and issues no new one (the caller refits
  // next). The backtest's origins: each fit's forecast is scored by the steps up to the
  // next origin, and the next fit carries the levels on.
  void Observe(std::span<const double> new_obs);

 private:
  struct Errors;  // errors[origin][step] on the transformed scale
  // The scale the errors are calibrated on: log1p under Box-Cox and for a model that
  // chooses its own transform, else the transform.
  Transform CalibrationScale() const;
  // Fit's first half: the transform, the cap and the model fitted; returns the
  // transformed series. Resets the calibration's online state (adaptive levels, pending).
  absl::StatusOr<std::vector<double>> FitModel(std::span<const double> y, const FitContext& ctx,
                                               int horizon);
  absl::StatusOr<Errors> RollingErrors(std::span<const double> z, const FitContext& ctx) const;
  // A clone fitted on `z` for the calibration: CloneSelected(), or the prototype when the
  // selected structure does not fit.
  absl::StatusOr<std::unique_ptr<Model>> FitCalibrationModel(std::span<const double> z,
                                                             const FitContext& ctx) const;
  // Origins over the last `span` steps of z, rolled forward by Update().
  absl::StatusOr<Errors> UpdateErrors(std::span<const double> z, const FitContext& ctx,
                                      int span) const;
  absl::StatusOr<Errors> RefitErrors(std::span<const double> z, const FitContext& ctx, int first,
                                     int stride) const;
  void Calibrate(const Errors& errors);
  // One step's forecast distribution as Predict() reads it, frozen when it was issued.
  struct StepDistribution {
    double c = 0;  // the point forecast, calibration scale
    double loc = 0, scale = 0;
    double factor = 1;  // LevelFactor(c)
    double p0 = 0;      // zero mass
  };
  StepDistribution StepAt(int j, double c) const;
  // The levels [u_lo, u_hi] (adaptive.h) of an actual `a` (calibration scale) in it.
  static std::pair<double, double> ObservedLevels(const StepDistribution& d,
                                                  const std::vector<double>& shape, double a);
  // The level of a standardised error: the inverse of the extended quantile of `shape`.
  static double ShapeLevel(const std::vector<double>& shape, double z);
  // The adaptive levels: the calibration's forecasts replayed, then tracked by Update().
  void ReplayAdaptive(const Errors& errors);
  absl::Status TrackForecast();            // the forecast at the current origin becomes pending
  double OverlapWeight(int stride) const;  // of forecasts `stride` apart: stride / horizon
  // New observations (model scale): score the pending forecasts they complete.
  void Realise(std::span<const double> z);
  // Sets level_power_ and level_ref_ from the errors (level scaling, above).
  void EstimateLevelPower(const Errors& errors);
  // The errors' scale at a forecast `c` (calibration scale) relative to level_ref_.
  double LevelFactor(double c) const;
  // Poisson counts: sd of log1p(y) ~ (1 + mean)^-0.5; less overdispersed than that
  // is not a count process.
  static constexpr double kMaxLevelPower = 0.5;
  double level_power_ = 0;  // beta: error scale ~ (1 + forecast)^-beta on log1p
  double level_ref_ = 0;    // mean log1p forecast of the calibration errors
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
  AdaptiveIntervals adaptive_;
  struct Pending {  // a forecast issued by Update(), calibration scale, awaiting its steps
    std::vector<StepDistribution> steps;
    std::shared_ptr<const std::vector<double>> shape;
    std::vector<double> actual;
    int filled = 0;
    double weight = 1;  // OverlapWeight of the steps since the forecast before it
  };
  std::shared_ptr<const std::vector<double>> shared_shape_;  // shape_, for Pending
  std::vector<Pending> pending_;  // oldest first; a few at a time (horizon / stride)
  int track_stride_ = 0;          // steps between tracked forecasts (0: none tracked)
  int since_tracked_ = 0;         // steps absorbed since the last one
  // No value is forecast above this: kCapFactor x the largest count seen. A transform
  // whose inverse explodes (Box-Cox with lambda < 0 near its pole) would otherwise turn
  // one wide error into an astronomically large quantile.
  double cap_ = 0.0;
};

}  // namespace prewarm::forecast
