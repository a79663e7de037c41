#include "forecast/quantile.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <tuple>

#include "forecast/models/ets.h"
#include "forecast/series.h"

namespace prewarm::forecast {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Type-7 (R's default) quantile of sorted data.
double SortedQuantile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return kNaN;
  double h = (sorted.size() - 1) * p;
  size_t lo = static_cast<size_t>(std::floor(h));
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

// Inverse standard normal CDF (Acklam's rational approximation, ~1e-9 relative).
double NormalQuantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  if (p <= 0.0 || p >= 1.0) return p <= 0.0 ? -INFINITY : INFINITY;
  if (p < 0.02425 || p > 1 - 0.02425) {
    double q = std::sqrt(-2 * std::log(std::min(p, 1 - p)));
    double x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    return p < 0.5 ? x : -x;
  }
  double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

// SortedQuantile, and beyond [0, 1] (adaptive levels below 0 or above 1: wider than every
// held-out error) linear with the slope of the outermost gap.
double ExtendedQuantile(const std::vector<double>& sorted, double p) {
  const size_t n = sorted.size();
  if (n < 2 || (p >= 0 && p <= 1)) return SortedQuantile(sorted, p);
  const double step = 1.0 / static_cast<double>(n - 1);
  if (p < 0) return sorted[0] + p / step * (sorted[1] - sorted[0]);
  return sorted[n - 1] + (p - 1) / step * (sorted[n - 1] - sorted[n - 2]);
}

int FirstUsablePeriod(std::span<const double> y, const FitContext& ctx) {
  for (int p : ctx.periods) {
    if (p > 1 && y.size() >= 2 * static_cast<size_t>(p)) return p;
  }
  return 2;
}

}  // namespace

struct ProbabilisticForecaster::Errors {
  std::vector<std::vector<double>> e;     // [origin][step], NaN where unknown
  std::vector<std::vector<double>> zero;  // [origin][step], 1 where the actual was 0
  // The same split by the forecast: below `low` (a count of 0.5) or not, NaN elsewhere.
  std::vector<std::vector<double>> zero_low, zero_high;
  std::vector<std::vector<double>> level;  // [origin][step]: the forecast, calibration scale
  double low = 0.5;
  int stride = 1;         // steps between origins, at most the horizon
  int origin_stride = 1;  // steps between origins
  // `actual` and `fc` on the calibration scale (0 there is a count of 0).
  void Add(std::span<const double> actual, std::span<const double> fc) {
    std::vector<double>& err = e.emplace_back(fc.size());
    std::vector<double>& z = zero.emplace_back(fc.size());
    std::vector<double>& zl = zero_low.emplace_back(fc.size(), kNaN);
    std::vector<double>& zh = zero_high.emplace_back(fc.size(), kNaN);
    level.emplace_back(fc.begin(), fc.end());
    for (size_t j = 0; j < fc.size(); ++j) {
      err[j] = actual[j] - fc[j];
      z[j] = std::isnan(actual[j]) ? kNaN : (actual[j] == 0.0 ? 1.0 : 0.0);
      (fc[j] < low ? zl : zh)[j] = z[j];
    }
  }
};

const std::vector<double>& QuantileForecast::At(double level) const {
  size_t best = 0;
  for (size_t i = 1; i < levels.size(); ++i) {
    if (std::abs(levels[i] - level) < std::abs(levels[best] - level)) best = i;
  }
  return q[best];
}

std::vector<double> QuantileForecast::Interpolated(double level) const {
  if (levels.empty()) return {};
  auto hi = std::lower_bound(levels.begin(), levels.end(), level);
  if (hi == levels.begin()) return q.front();
  if (hi == levels.end()) return q.back();
  size_t j = static_cast<size_t>(hi - levels.begin());
  if (*hi == level) return q[j];
  double t = (level - levels[j - 1]) / (levels[j] - levels[j - 1]);
  std::vector<double> out(q[j].size());
  for (size_t k = 0; k < out.size(); ++k) out[k] = q[j - 1][k] + t * (q[j][k] - q[j - 1][k]);
  return out;
}

ProbabilisticForecaster::ProbabilisticForecaster(Transform transform,
                                                 std::unique_ptr<Model> prototype,
                                                 QuantileOptions options)
    : transform_(transform), prototype_(std::move(prototype)), options_(std::move(options)) {
  std::sort(options_.levels.begin(), options_.levels.end());
}

Transform ProbabilisticForecaster::CalibrationScale() const {
  return transform_.kind() == Transform::Kind::kBoxCox || prototype_->ChoosesTransform()
             ? Transform::Log1p()
             : transform_;
}

absl::StatusOr<std::vector<double>> ProbabilisticForecaster::FitModel(std::span<const double> y,
                                                                      const FitContext& ctx,
                                                                      int horizon) {
  if (horizon < 1) return absl::InvalidArgumentError("quantiles: horizon must be >= 1");
  // A model that chooses its own transform (auto) is fitted on the counts.
  if (prototype_->ChoosesTransform()) transform_ = Transform::None();
  adaptive_ = AdaptiveIntervals();
  pending_.clear();
  track_stride_ = since_tracked_ = 0;
  if (transform_.kind() == Transform::Kind::kBoxCox && std::isnan(transform_.lambda())) {
    transform_ = Transform::AutoBoxCox(y, FirstUsablePeriod(y, ctx));
  }
  calibration_ = CalibrationScale();
  std::vector<double> z = transform_.Forward(y);
  horizon_ = horizon;
  FitContext fit_ctx = ctx;
  fit_ctx.horizon = horizon;
  double peak = 0.0;
  for (double v : y) {
    if (!IsMissing(v)) peak = std::max(peak, std::abs(v));
  }
  cap_ = options_.cap_factor * std::max(peak, 1.0);
  std::unique_ptr<Model> model = prototype_->Clone();
  RETURN_IF_ERROR(model->Fit(z, fit_ctx));
  model_ = std::move(model);
  return z;
}

absl::Status ProbabilisticForecaster::Fit(std::span<const double> y, const FitContext& ctx,
                                          int horizon) {
  ASSIGN_OR_RETURN(const std::vector<double> z, FitModel(y, ctx, horizon));
  if (!ModelVariance(1).empty()) return absl::OkStatus();
  FitContext fit_ctx = ctx;
  fit_ctx.horizon = horizon;
  ASSIGN_OR_RETURN(const Errors errors, RollingErrors(z, fit_ctx));
  Calibrate(errors);
  if (shape_.empty()) {
    return absl::FailedPreconditionError(
        fmt::format("{}: no forecast errors to calibrate quantiles (series of {} for horizon {})",
                    model_->name(), y.size(), horizon));
  }
  shared_shape_ = std::make_shared<const std::vector<double>>(shape_);
  ReplayAdaptive(errors);
  if (adaptive_.levels().empty()) return absl::OkStatus();
  track_stride_ = std::max(1, errors.origin_stride);
  return TrackForecast();
}

absl::Status ProbabilisticForecaster::FitKeepingCalibration(
    std::span<const double> y, const FitContext& ctx, int horizon,
    const ProbabilisticForecaster& previous) {
  if (horizon != previous.horizon_ || previous.shape_.empty() || !previous.model_ ||
      !previous.ModelVariance(1).empty() || previous.options_.levels != options_.levels ||
      previous.calibration_.kind() != CalibrationScale().kind()) {
    return Fit(y, ctx, horizon);
  }
  RETURN_IF_ERROR(FitModel(y, ctx, horizon).status());
  if (!ModelVariance(1).empty()) return absl::OkStatus();
  loc_ = previous.loc_;
  scale_ = previous.scale_;
  zero_share_ = previous.zero_share_;
  zero_share_low_ = previous.zero_share_low_;
  zero_share_high_ = previous.zero_share_high_;
  shape_ = previous.shape_;
  samples_ = previous.samples_;
  shared_shape_ = previous.shared_shape_;
  level_power_ = previous.level_power_;
  level_ref_ = previous.level_ref_;
  adaptive_ = previous.adaptive_;  // CarryAdaptive() moves in the newest, when it can
  track_stride_ = previous.track_stride_;
  if (adaptive_.levels().empty() || track_stride_ <= 0) return absl::OkStatus();
  return TrackForecast();
}

double ProbabilisticForecaster::ZeroThreshold() const { return calibration_.Forward(0.5); }

double ProbabilisticForecaster::ToCalibration(double z) const {
  if (calibration_.kind() == transform_.kind() || std::isnan(z)) return z;
  return calibration_.Forward(std::min(cap_, transform_.Inverse(z)));
}

std::vector<double> ProbabilisticForecaster::ToCalibration(std::span<const double> z) const {
  std::vector<double> out(z.size());
  std::transform(z.begin(), z.end(), out.begin(), [this](double v) { return ToCalibration(v); });
  return out;
}

absl::StatusOr<ProbabilisticForecaster::Errors> ProbabilisticForecaster::RollingErrors(
    std::span<const double> z, const FitContext& ctx) const {
  const int n = static_cast<int>(z.size());
  const int h = horizon_;
  const int k = std::max(options_.origins, 1);
  const int min_train = options_.min_train > 0 ? options_.min_train : n / 2;
  if (n - h < min_train) {
    return absl::FailedPreconditionError(
        fmt::format("quantiles: {} points leave no origin after {} training points for horizon {}",
                    n, min_train, h));
  }
  // The calibration span: at least k horizons, span_cycles x max(horizon, periods[0]) (every
  // time of day, several days) and span_share of the window, never before min_train.
  const int p0 = ctx.periods.empty() ? 1 : std::max(1, ctx.periods[0]);
  const int wide =
      std::max(options_.span_cycles * std::max(h, p0), static_cast<int>(options_.span_share * n));
  const int span = std::max(h, std::min(std::max(k * h, wide), n - min_train));
  // Refit origins spread over the span, the last one at n - h.
  const int stride = k > 1 ? std::max(1, (span - h) / (k - 1)) : h;
  const int first = std::max(min_train, n - h - (k - 1) * stride);
  if (options_.use_update) {
    absl::StatusOr<Errors> updated = UpdateErrors(z, ctx, span);
    if (updated.ok() || !absl::IsUnimplemented(updated.status())) return updated;
  }
  return RefitErrors(z, ctx, first, stride);
}

absl::StatusOr<std::unique_ptr<Model>> ProbabilisticForecaster::FitCalibrationModel(
    std::span<const double> z, const FitContext& ctx) const {
  std::unique_ptr<Model> m = model_->CloneSelected();
  if (m->Fit(z, ctx).ok()) return m;
  m = prototype_->Clone();  // the selected structure does not fit this shorter stretch
  RETURN_IF_ERROR(m->Fit(z, ctx));
  return m;
}

absl::StatusOr<ProbabilisticForecaster::Errors> ProbabilisticForecaster::UpdateErrors(
    std::span<const double> z, const FitContext& ctx, int span) const {
  const int n = static_cast<int>(z.size());
  const int gaps = std::max(1, options_.update_origins - 1);
  const int stride = options_.update_stride > 0 ? options_.update_stride
                                                : std::max(1, (span - horizon_ + gaps - 1) / gaps);
  const int first = n - horizon_ - (span - horizon_) / stride * stride;
  ASSIGN_OR_RETURN(std::unique_ptr<Model> m, FitCalibrationModel(z.first(first), ctx));
  RETURN_IF_ERROR(m->Update({}));  // Unimplemented: the caller refits instead
  Errors out;
  out.low = ZeroThreshold();
  out.stride = std::min(stride, horizon_);
  out.origin_stride = stride;
  for (int o = first; o + horizon_ <= n; o += stride) {
    ASSIGN_OR_RETURN(std::vector<double> fc, m->Predict(horizon_));
    out.Add(ToCalibration(z.subspan(o, horizon_)), ToCalibration(fc));
    RETURN_IF_ERROR(m->Update(z.subspan(o, std::min(stride, n - o))));
  }
  return out;
}

absl::StatusOr<ProbabilisticForecaster::Errors> ProbabilisticForecaster::RefitErrors(
    std::span<const double> z, const FitContext& ctx, int first, int stride) const {
  Errors out;
  out.low = ZeroThreshold();
  out.origin_stride = stride;
  for (int o = first; o + horizon_ <= static_cast<int>(z.size()); o += stride) {
    absl::StatusOr<std::unique_ptr<Model>> m = FitCalibrationModel(z.first(o), ctx);
    if (!m.ok()) continue;  // too short this early: skip the origin
    absl::StatusOr<std::vector<double>> fc = (*m)->Predict(horizon_);
    if (!fc.ok()) continue;
    out.Add(ToCalibration(z.subspan(o, horizon_)), ToCalibration(*fc));
  }
  return out;
}

namespace {

// Finite values of rows[.][j - r .. j + r].
std::vector<double> Pooled(const std::vector<std::vector<double>>& rows, int j, int r, int h) {
  std::vector<double> v;
  for (const auto& row : rows) {
    for (int i = std::max(0, j - r); i <= std::min(h - 1, j + r); ++i) {
      if (std::isfinite(row[i])) v.push_back(row[i]);
    }
  }
  return v;
}

}  // namespace

double ProbabilisticForecaster::LevelFactor(double c) const {
  if (std::isnan(c) || level_power_ == 0.0) return 1.0;
  return std::exp(-level_power_ * (std::max(c, 0.0) - level_ref_));
}

void ProbabilisticForecaster::Calibrate(const Errors& input) {
  level_power_ = 0.0;
  level_ref_ = 0.0;
  Errors scaled = input;
  if (options_.level_scaling && calibration_.kind() == Transform::Kind::kLog1p) {
    EstimateLevelPower(input);
    for (size_t o = 0; o < scaled.e.size(); ++o) {
      for (int j = 0; j < horizon_; ++j) scaled.e[o][j] /= LevelFactor(input.level[o][j]);
    }
  }
  const Errors& errors = scaled;
  loc_.assign(horizon_, 0.0);
  scale_.assign(horizon_, 0.0);
  zero_share_.assign(horizon_, 0.0);
  zero_share_low_.assign(horizon_, 0.0);
  zero_share_high_.assign(horizon_, 0.0);
  shape_.clear();
  for (int j = 0; j < horizon_; ++j) {
    int r = 0;
    std::vector<double> v = Pooled(errors.e, j, r, horizon_);
    while (static_cast<int>(v.size()) < options_.min_local && r + 1 < horizon_) {
      v = Pooled(errors.e, j, ++r, horizon_);
    }
    // Origins `stride` apart see every stride-th held-out step at step j: the zero shares
    // pool over at least a stride of steps, so that every held-out step counts.
    const int rz = std::max(r, errors.stride - 1);
    std::vector<double> zeros = Pooled(errors.zero, j, rz, horizon_);
    std::vector<double> zeros_low = Pooled(errors.zero_low, j, rz, horizon_);
    std::vector<double> zeros_high = Pooled(errors.zero_high, j, rz, horizon_);
    if (v.empty()) continue;
    double mean = 0.0, ss = 0.0;
    for (double x : v) mean += x / v.size();
    for (double x : v) ss += (x - mean) * (x - mean);
    loc_[j] = mean;
    scale_[j] = v.size() > 1 ? std::sqrt(ss / (v.size() - 1)) : 0.0;
    for (double x : zeros) zero_share_[j] += x / zeros.size();
    // Conditional on the forecast: a periodic sparse series (a timer every 10 minutes) is
    // mostly zeros, but not where the model forecasts its next arrival. A side with
    // few samples shrinks towards the unconditional share (its weight: kZeroPrior samples).
    auto share = [&](const std::vector<double>& z) {
      double sum = 0;
      for (double x : z) sum += x;
      return (sum + kZeroPrior * zero_share_[j]) / (static_cast<double>(z.size()) + kZeroPrior);
    };
    zero_share_low_[j] = share(zeros_low);
    zero_share_high_[j] = share(zeros_high);
  }
  for (const auto& row : errors.e) {
    for (int j = 0; j < horizon_; ++j) {
      if (!std::isfinite(row[j])) continue;
      shape_.push_back(scale_[j] > 0 ? (row[j] - loc_[j]) / scale_[j] : 0.0);
    }
  }
  std::sort(shape_.begin(), shape_.end());
  samples_ = static_cast<int>(shape_.size());
  // Keep the shape's quantile function at every 0.5 %: Predict() reads it only at the
  // levels and at the mean's grid, all multiples of 0.005, so the values read are the
  // same (other levels: linear between the nearest two), and a key keeps 201 numbers instead of one
  // per held-out error (thousands).
  constexpr size_t kShapePoints = 201;
  if (shape_.size() > kShapePoints) {
    std::vector<double> kept(kShapePoints);
    for (size_t i = 0; i < kShapePoints; ++i) {
      kept[i] = SortedQuantile(shape_, static_cast<double>(i) / (kShapePoints - 1));
    }
    shape_ = std::move(kept);
  }
}

void ProbabilisticForecaster::EstimateLevelPower(const Errors& errors) {
  // Least squares of log|e| on x = log1p(forecast) within each step (the steps' own scales
  // do not leak into the slope); slope = -level_power.
  double sxy = 0, sxx = 0, xsum = 0;
  int count = 0;
  std::vector<std::pair<double, double>> xy;
  for (int j = 0; j < horizon_; ++j) {
    xy.clear();
    for (size_t o = 0; o < errors.e.size(); ++o) {
      const double e = errors.e[o][j], c = errors.level[o][j];
      if (!std::isfinite(e) || !std::isfinite(c) || std::abs(e) < 1e-12) continue;
      xy.push_back({std::max(c, 0.0), std::log(std::abs(e))});
    }
    if (xy.size() < 2) continue;
    double mx = 0, my = 0;
    for (auto [x, y] : xy) mx += x, my += y;
    mx /= xy.size(), my /= xy.size();
    for (auto [x, y] : xy) sxy += (x - mx) * (y - my), sxx += (x - mx) * (x - mx);
    xsum += mx * xy.size();
    count += static_cast<int>(xy.size());
  }
  if (count < options_.min_local || !(sxx > 0)) return;
  level_power_ = std::clamp(-sxy / sxx, 0.0, kMaxLevelPower);
  level_ref_ = xsum / count;
}

std::vector<double> ProbabilisticForecaster::ModelVariance(int h) const {
  if (!options_.prefer_model_variance) return {};
  const auto* ets = dynamic_cast<const Ets*>(model_.get());
  if (ets == nullptr) return {};
  absl::StatusOr<std::vector<double>> var = ets->ForecastVariance(h);
  return var.ok() ? *var : std::vector<double>{};
}

absl::StatusOr<QuantileForecast> ProbabilisticForecaster::Predict(int h) const {
  if (!model_) return absl::FailedPreconditionError("quantiles: not fitted");
  if (h < 1 || h > horizon_) {
    return absl::InvalidArgumentError(
        fmt::format("quantiles: horizon {} outside the calibrated 1..{}", h, horizon_));
  }
  ASSIGN_OR_RETURN(std::vector<double> point, model_->Predict(h));
  std::vector<double> var = ModelVariance(h);
  // The distribution at step j: point + loc + scale * z for z on a grid of the shape.
  auto value = [&](int j, double p) {
    const double p0 =
        options_.zero_mass && var.empty()
            ? (ToCalibration(point[j]) < ZeroThreshold() ? zero_share_low_[j] : zero_share_high_[j])
            : 0.0;
    if (p0 > 0 && p <= p0) return 0.0;
    if (!var.empty()) {
      return std::min(cap_, transform_.Inverse(point[j] + std::sqrt(var[j]) * NormalQuantile(p)));
    }
    const double c = ToCalibration(point[j]);
    const double dev = LevelFactor(c) * (loc_[j] + scale_[j] * ExtendedQuantile(shape_, p));
    return std::min(cap_, calibration_.Inverse(c + dev));
  };
  // The interval levels move with the adaptive layer; the mean's grid does not.
  QuantileForecast out;
  out.levels = options_.levels;
  out.q.assign(out.levels.size(), std::vector<double>(h));
  out.mean.assign(h, 0.0);
  out.point = transform_.Inverse(point);
  for (double& v : out.point) v = std::min(cap_, v);
  constexpr int kGrid = 100;
  for (int j = 0; j < h; ++j) {
    for (size_t l = 0; l < out.levels.size(); ++l) {
      double v = value(j, adaptive_.Level(out.levels[l]));
      out.q[l][j] = l > 0 ? std::max(v, out.q[l - 1][j]) : v;
    }
    for (int g = 0; g < kGrid; ++g) out.mean[j] += value(j, (g + 0.5) / kGrid) / kGrid;
  }
  return out;
}

absl::Status ProbabilisticForecaster::Update(std::span<const double> new_obs) {
  if (!model_) return absl::FailedPreconditionError("quantiles: not fitted");
  const std::vector<double> z = transform_.Forward(new_obs);
  if (track_stride_ <= 0 || z.empty()) return model_->Update(z);
  // In pieces that end where a tracked forecast is due, so that it is issued from the
  // state after exactly those steps, as the calibration's replay issued them.
  for (size_t i = 0; i < z.size();) {
    const size_t piece =
        std::min(z.size() - i, static_cast<size_t>(track_stride_ - since_tracked_));
    const std::span<const double> part = std::span(z).subspan(i, piece);
    RETURN_IF_ERROR(model_->Update(part));
    Realise(part);
    i += piece;
    if (since_tracked_ >= track_stride_) RETURN_IF_ERROR(TrackForecast());
  }
  return absl::OkStatus();
}

absl::Status ProbabilisticForecaster::TrackForecast() {
  ASSIGN_OR_RETURN(const std::vector<double> fc, model_->Predict(horizon_));
  Pending p;
  p.weight = OverlapWeight(since_tracked_ > 0 ? since_tracked_ : track_stride_);
  p.shape = shared_shape_;
  p.actual.assign(horizon_, kNaN);
  for (int j = 0; j < horizon_; ++j) p.steps.push_back(StepAt(j, ToCalibration(fc[j])));
  pending_.push_back(std::move(p));
  since_tracked_ = 0;
  return absl::OkStatus();
}

void ProbabilisticForecaster::Observe(std::span<const double> new_obs) {
  if (model_ && track_stride_ > 0) Realise(transform_.Forward(new_obs));
}

void ProbabilisticForecaster::Realise(std::span<const double> z) {
  since_tracked_ += static_cast<int>(z.size());
  for (double v : z) {
    const double a = ToCalibration(v);
    for (Pending& p : pending_) {
      if (p.filled < static_cast<int>(p.actual.size())) p.actual[p.filled++] = a;
    }
  }
  std::vector<double> u_lo, u_hi;
  size_t done = 0;  // the oldest forecasts, all their steps seen
  for (; done < pending_.size(); ++done) {
    const Pending& p = pending_[done];
    if (p.filled < static_cast<int>(p.actual.size())) break;
    u_lo.resize(p.actual.size());
    u_hi.resize(p.actual.size());
    for (size_t j = 0; j < p.actual.size(); ++j) {
      std::tie(u_lo[j], u_hi[j]) = ObservedLevels(p.steps[j], *p.shape, p.actual[j]);
    }
    adaptive_.Observe(u_lo, u_hi, p.weight);
  }
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(done));
}

double ProbabilisticForecaster::OverlapWeight(int stride) const {
  return std::min(1.0, static_cast<double>(std::max(stride, 1)) / horizon_);
}

void ProbabilisticForecaster::ReplayAdaptive(const Errors& errors) {
  adaptive_ = AdaptiveIntervals(options_.levels, options_.adaptive);
  if (adaptive_.levels().empty()) return;
  std::vector<double> u_lo(horizon_), u_hi(horizon_);
  for (size_t o = 0; o < errors.e.size(); ++o) {  // origins in time order
    for (int j = 0; j < horizon_; ++j) {
      const double c = errors.level[o][j];
      std::tie(u_lo[j], u_hi[j]) = ObservedLevels(StepAt(j, c), shape_, c + errors.e[o][j]);
    }
    adaptive_.Observe(u_lo, u_hi, OverlapWeight(errors.origin_stride));
  }
}

bool ProbabilisticForecaster::CarryAdaptive(ProbabilisticForecaster&& previous) {
  if (adaptive_.levels().empty() || previous.adaptive_.levels() != adaptive_.levels() ||
      previous.horizon_ != horizon_ || previous.track_stride_ <= 0 ||
      previous.calibration_.kind() != calibration_.kind()) {
    return false;
  }
  adaptive_ = std::move(previous.adaptive_);
  // This fit's forecast overlaps the previous one's by the steps between them.
  if (previous.since_tracked_ > 0) {
    for (Pending& p : pending_) p.weight = OverlapWeight(previous.since_tracked_);
  }
  // Its forecasts still awaiting steps go first (issued earlier), with the distributions
  // they were issued with; this fit's own forecast follows.
  std::vector<Pending> pending = std::move(previous.pending_);
  for (Pending& p : pending_) pending.push_back(std::move(p));
  pending_ = std::move(pending);
  return true;
}

ProbabilisticForecaster::StepDistribution ProbabilisticForecaster::StepAt(int j, double c) const {
  StepDistribution d;
  d.c = c;
  d.loc = loc_[j];
  d.scale = scale_[j];
  d.factor = LevelFactor(c);
  d.p0 = options_.zero_mass && std::isfinite(c)
             ? (c < ZeroThreshold() ? zero_share_low_[j] : zero_share_high_[j])
             : 0.0;
  return d;
}

double ProbabilisticForecaster::ShapeLevel(const std::vector<double>& shape, double z) {
  const size_t n = shape.size();
  if (n == 0 || std::isnan(z)) return kNaN;
  if (n == 1) return z < shape[0] ? 0.0 : 1.0;
  // The inverse of ExtendedQuantile: the largest level whose quantile is <= z.
  const double step = 1.0 / static_cast<double>(n - 1);
  if (z < shape[0]) {
    const double gap = shape[1] - shape[0];
    return gap > 0 ? (z - shape[0]) / gap * step : 0.0;
  }
  if (z > shape[n - 1]) {
    const double gap = shape[n - 1] - shape[n - 2];
    return gap > 0 ? 1 + (z - shape[n - 1]) / gap * step : 1.0;
  }
  const size_t k =
      static_cast<size_t>(std::upper_bound(shape.begin(), shape.end(), z) - shape.begin());
  if (k == n) return 1.0;
  const double lo = shape[k - 1], hi = shape[k];
  const double frac = hi > lo ? (z - lo) / (hi - lo) : 0.0;
  return (static_cast<double>(k - 1) + frac) / static_cast<double>(n - 1);
}

std::pair<double, double> ProbabilisticForecaster::ObservedLevels(const StepDistribution& d,
                                                                  const std::vector<double>& shape,
                                                                  double a) {
  if (!std::isfinite(d.c) || !std::isfinite(a)) return {kNaN, kNaN};
  const double dev = (a - d.c) / d.factor - d.loc;
  double u;
  if (d.scale > 0) {
    u = ShapeLevel(shape, dev / d.scale);
  } else {
    u = dev < 0 ? 0.0 : (dev > 0 ? 1.0 : 0.5);
  }
  // Predict's zero mass: every level up to p0 reads 0, so a 0 lies at [0, max(p0, u)]
  // (at or below every level: the quantiles are counts, >= 0), and a positive count above
  // the mass.
  const double u_hi = d.p0 > 0 ? std::max(d.p0, u) : u;
  return {a <= 0 ? -std::numeric_limits<double>::infinity() : u_hi, u_hi};
}

}  // namespace prewarm::forecast
