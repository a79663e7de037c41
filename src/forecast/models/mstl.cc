#include "forecast/models/mstl.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "forecast/models/ets.h"
#include "forecast/models/stl.h"
#include "forecast/series.h"

namespace prewarm::forecast {
namespace {

std::vector<int> UsablePeriods(std::span<const int> periods, size_t n) {
  std::vector<int> out;
  for (int p : periods) {
    if (p >= 2 && 2.0 * p < static_cast<double>(n)) {  // R: msts < n / 2
      out.push_back(p);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<double> LoessTrend(std::span<const double> x) {
  int len = std::max(3, static_cast<int>(0.1 * x.size()));
  len += len % 2 == 0 ? 1 : 0;
  return LoessSmooth(x, len, 1, static_cast<int>(std::ceil(len / 10.0)));
}

}  // namespace

std::vector<double> MstlResult::SeasonallyAdjusted() const {
  std::vector<double> out(trend.size());
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = trend[i] + remainder[i];
  }
  return out;
}

absl::StatusOr<std::vector<double>> InterpolateMissing(std::span<const double> y) {
  std::vector<double> out(y.begin(), y.end());
  long prev = -1;  // last observed index
  for (long i = 0; i < static_cast<long>(out.size()); ++i) {
    if (IsMissing(out[i])) {
      continue;
    }
    for (long j = prev + 1; j < i; ++j) {  // fill the gap (prev, i)
      out[j] = prev < 0 ? out[i] : out[prev] + (out[i] - out[prev]) * (j - prev) / (i - prev);
    }
    prev = i;
  }
  if (prev < 0) {
    return absl::InvalidArgumentError("mstl: no observed values");
  }
  std::fill(out.begin() + prev + 1, out.end(), out[prev]);
  return out;
}

absl::StatusOr<MstlResult> Mstl(std::span<const double> y, std::span<const int> periods,
                                const MstlOptions& options) {
  ASSIGN_OR_RETURN(std::vector<double> deseas, InterpolateMissing(y));
  MstlResult out;
  out.periods = UsablePeriods(periods, y.size());
  const size_t k = out.periods.size();
  out.seasonal.assign(k, std::vector<double>(y.size(), 0.0));
  std::vector<double> trend;
  for (int iter = 0; iter < std::max(1, options.iterate) && k > 0; ++iter) {
    for (size_t c = 0; c < k; ++c) {
      for (size_t i = 0; i < y.size(); ++i) {
        deseas[i] += out.seasonal[c][i];
      }
      const int s_window =
          c < options.s_windows.size() ? options.s_windows[c] : 7 + 4 * static_cast<int>(c + 1);
      StlOptions stl = StlOptions::Window(out.periods[c], s_window);
      stl.robust = options.robust;
      ASSIGN_OR_RETURN(StlResult fit, Stl(deseas, stl));
      out.seasonal[c] = std::move(fit.seasonal);
      trend = std::move(fit.trend);
      for (size_t i = 0; i < y.size(); ++i) {
        deseas[i] -= out.seasonal[c][i];
      }
    }
  }
  out.trend = k > 0 ? std::move(trend) : LoessTrend(deseas);
  out.remainder.resize(y.size());
  for (size_t i = 0; i < y.size(); ++i) {
    out.remainder[i] = deseas[i] - out.trend[i];
  }
  return out;
}

// ---------------------------------------------------------------- FallbackSmoother

namespace {

using Params = FallbackSmoother::Params;
using State = FallbackSmoother::State;

struct Filtered {
  double sse = 0.0;
  int n_obs = 0;
  State state;
};

Filtered Filter(std::span<const double> y, const Params& p, State s) {
  Filtered out;
  for (double v : y) {
    const double f = s.level + p.phi * s.slope;
    const double e = IsMissing(v) ? 0.0 : v - f;
    s.level = f + p.alpha * e;
    s.slope = p.phi * s.slope + p.beta * e;
    if (!IsMissing(v)) {
      out.sse += e * e;
      ++out.n_obs;
    }
  }
  out.state = s;
  return out;
}

// Level and slope at step -1 from a least-squares line through the first observations.
State InitialState(std::span<const double> y, bool trend) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  int m = 0;
  for (size_t i = 0; i < y.size() && m < 10; ++i) {
    if (!IsMissing(y[i])) {
      sx += i, sy += y[i], sxx += double(i) * i, sxy += i * y[i], ++m;
    }
  }
  const double denom = m * sxx - sx * sx;
  const double slope = trend && m > 1 && denom > 0 ? (m * sxy - sx * sy) / denom : 0.0;
  const double level = (sy - slope * sx) / std::max(m, 1);
  return State{level - slope, slope};
}

double GoldenSection(const std::function<double(double)>& f, double lo, double hi) {
  const double g = (std::sqrt(5.0) - 1) / 2;
  double a = lo, b = hi, c = b - g * (b - a), d = a + g * (b - a);
  double fc = f(c), fd = f(d);
  for (int i = 0; i < 40; ++i) {
    if (fc < fd) {
      b = d, d = c, fd = fc, c = b - g * (b - a), fc = f(c);
    } else {
      a = c, c = d, fc = fd, d = a + g * (b - a), fd = f(d);
    }
  }
  return fc < fd ? c : d;
}

Params FitParams(std::span<const double> y, bool trend, const State& s0) {
  Params p{0.5, trend ? 0.05 : 0.0, trend ? 0.95 : 0.0};
  auto sse = [&](const Params& q) { return Filter(y, q, s0).sse; };
  for (int sweep = 0; sweep < (trend ? 4 : 1); ++sweep) {
    p.alpha = GoldenSection(
        [&](double a) {
          Params q = p;
          q.alpha = a;
          return sse(q);
        },
        1e-4, 0.9999);
    if (trend) {
      p.beta = GoldenSection(
          [&](double b) {
            Params q = p;
            q.beta = b;
            return sse(q);
          },
          1e-4, p.alpha);
      p.phi = GoldenSection(
          [&](double f) {
            Params q = p;
            q.phi = f;
            return sse(q);
          },
          0.8, 0.98);
    }
  }
  return p;
}

}  // namespace

std::string FallbackSmoother::name() const {
  return fitted_ && params_.phi > 0 ? "holt-damped" : "ses";
}

absl::Status FallbackSmoother::Fit(std::span<const double> y, const FitContext& /*ctx*/) {
  fitted_ = false;
  const long observed = std::count_if(y.begin(), y.end(), [](double v) { return !IsMissing(v); });
  if (observed < 2) {
    return absl::FailedPreconditionError("ses: fewer than 2 observations");
  }
  double best_aic = std::numeric_limits<double>::infinity();
  for (bool trend : {false, true}) {
    if (trend && observed < 10) {
      continue;
    }
    const State s0 = InitialState(y, trend);
    const Params p = FitParams(y, trend, s0);
    const Filtered f = Filter(y, p, s0);
    const double aic = f.n_obs * std::log(std::max(f.sse, 1e-300) / f.n_obs) + 2 * (trend ? 5 : 2);
    if (aic < best_aic) {
      best_aic = aic, params_ = p, state_ = f.state;
    }
  }
  fitted_ = true;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<double>> FallbackSmoother::Predict(int h) const {
  if (!fitted_) {
    return absl::FailedPreconditionError("ses: not fitted");
  }
  std::vector<double> out(std::max(h, 0));
  double damp = 0.0, pow = 1.0;
  for (int j = 0; j < h; ++j) {
    pow *= params_.phi;
    damp += pow;
    out[j] = state_.level + damp * state_.slope;
  }
  return out;
}

absl::Status FallbackSmoother::Update(std::span<const double> new_obs) {
  if (!fitted_) {
    return absl::FailedPreconditionError("ses: not fitted");
  }
  state_ = Filter(new_obs, params_, state_).state;
  return absl::OkStatus();
}

std::unique_ptr<Model> FallbackSmoother::Clone() const {
  return std::make_unique<FallbackSmoother>();
}

// ---------------------------------------------------------------- MstlModel

MstlModel::MstlModel(std::unique_ptr<Model> adjusted_model, MstlOptions options)
    : configured_(std::move(adjusted_model)), options_(std::move(options)) {}

std::string MstlModel::name() const {
  if (adjusted_) {
    return "mstl+" + adjusted_->name();
  }
  return configured_ ? "mstl+" + configured_->name() : "mstl+ets";
}

std::unique_ptr<Model> MstlModel::Clone() const {
  return std::make_unique<MstlModel>(configured_ ? configured_->Clone() : nullptr, options_);
}

std::unique_ptr<Model> MstlModel::CloneSelected() const {
  if (!fitted_ || !adjusted_) return Clone();
  return std::make_unique<MstlModel>(adjusted_->CloneSelected(), options_);
}

absl::Status MstlModel::FitAdjusted(const std::vector<double>& adjusted) {
  fallback_reason_.clear();
  if (configured_) {
    adjusted_ = configured_->Clone();
    return adjusted_->Fit(adjusted, FitContext{});
  }
  EtsOptions ets;
  ets.model = "ZZN";  // R's stlf: etsmodel = "ZZN"
  ets.period = 1;
  adjusted_ = std::make_unique<Ets>(ets);
  const absl::Status status = adjusted_->Fit(adjusted, FitContext{});
  if (status.ok()) {
    return absl::OkStatus();
  }
  fallback_reason_ = std::string(status.message());
  adjusted_ = std::make_unique<FallbackSmoother>();
  return adjusted_->Fit(adjusted, FitContext{});
}

absl::Status MstlModel::Fit(std::span<const double> y, const FitContext& ctx) {
  fitted_ = false;
  ASSIGN_OR_RETURN(MstlResult d, Mstl(y, ctx.periods, options_));
  RETURN_IF_ERROR(FitAdjusted(d.SeasonallyAdjusted()));
  n_ = n_fit_ = static_cast<long>(y.size());
  periods_ = d.periods;
  last_cycle_.clear();
  for (size_t c = 0; c < d.periods.size(); ++c) {
    const std::vector<double>& s = d.seasonal[c];
    last_cycle_.emplace_back(s.end() - d.periods[c], s.end());
  }
  fitted_ = true;
  return absl::OkStatus();
}

double MstlModel::SeasonalAt(long t) const {
  double sum = 0.0;
  for (size_t c = 0; c < periods_.size(); ++c) {
    const long p = periods_[c];
    const long first = n_fit_ - p;  // where the last cycle of the fitted component begins
    sum += last_cycle_[c][(t - first) % p];
  }
  return sum;
}

absl::StatusOr<std::vector<double>> MstlModel::Predict(int h) const {
  if (!fitted_) {
    return absl::FailedPreconditionError(name() + ": not fitted");
  }
  ASSIGN_OR_RETURN(std::vector<double> out, adjusted_->Predict(h));
  for (int j = 0; j < h && j < static_cast<int>(out.size()); ++j) {
    out[j] += SeasonalAt(n_ + j);
  }
  return out;
}

absl::Status MstlModel::Update(std::span<const double> new_obs) {
  if (!fitted_) {
    return absl::FailedPreconditionError(name() + ": not fitted");
  }
  std::vector<double> adjusted(new_obs.begin(), new_obs.end());
  for (size_t j = 0; j < adjusted.size(); ++j) {
    adjusted[j] -= SeasonalAt(n_ + static_cast<long>(j));  // NaN stays NaN
  }
  RETURN_IF_ERROR(adjusted_->Update(adjusted));
  n_ += static_cast<long>(new_obs.size());
  return absl::OkStatus();
}

}  // namespace prewarm::forecast
