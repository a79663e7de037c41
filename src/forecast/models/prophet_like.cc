#include "forecast/models/prophet_like.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "forecast/models/prophet_map.h"
#include "forecast/series.h"

namespace prewarm::forecast {
namespace {

// Potential changepoints (scaled time) at evenly spaced observed rows of the first
// `range` share of the history, as Prophet's set_changepoints.
std::vector<double> PlaceChangepoints(const std::vector<int>& observed, int wanted,
                                      double range, double t_span) {
  const int hist = static_cast<int>(std::floor(observed.size() * range));
  const int count = std::min(wanted, hist - 1);
  std::vector<double> out;
  for (int j = 1; j <= count; ++j) {
    const double pos = static_cast<double>(hist - 1) * j / count;
    out.push_back(observed[static_cast<size_t>(std::lround(pos))] / t_span);
  }
  return out;
}

bool IsMultipleOfAnother(int period, std::span<const int> periods, int factor) {
  return std::any_of(periods.begin(), periods.end(),
                     [&](int q) { return q > 1 && q < period && period >= factor * q &&
                                         (factor != 7 || period == 7 * q); });
}

// (period, Fourier order) for the periods with two full cycles in n steps.
std::vector<std::pair<int, int>> ChooseSeasons(const ProphetLikeOptions& options,
                                               std::span<const int> periods, int n) {
  std::vector<std::pair<int, int>> out;
  for (int p : periods) {
    auto it = std::find_if(options.fourier_orders.begin(), options.fourier_orders.end(),
                           [p](const auto& po) { return po.first == p; });
    const int order =
        it != options.fourier_orders.end() ? it->second : DefaultFourierOrder(p, periods);
    if (p >= 2 && n >= 2 * p && order >= 1) {
      out.emplace_back(p, order);
    }
  }
  return out;
}

}  // namespace

int DefaultFourierOrder(int period, std::span<const int> periods) {
  int order = 4;  // daily
  if (period == 7 || IsMultipleOfAnother(period, periods, 7)) {
    order = 3;  // weekly
  }
  if (period == 365 || period == 366 || IsMultipleOfAnother(period, periods, 52)) {
    order = 10;  // yearly
  }
  return std::min(order, (period - 1) / 2);
}

ProphetLike::ProphetLike(ProphetLikeOptions options) : options_(std::move(options)) {}

std::unique_ptr<Model> ProphetLike::Clone() const {
  return std::make_unique<ProphetLike>(options_);
}

Eigen::MatrixXd ProphetLike::Design(int from, int to) const {
  int cols = num_trend_params();
  for (const auto& [p, order] : seasons_) {
    cols += 2 * order;
  }
  Eigen::MatrixXd f(to - from, cols);
  for (int i = from; i < to; ++i) {
    const int r = i - from;
    const double t = i / t_span_;
    f(r, 0) = t;
    f(r, 1) = 1.0;
    int c = 2;
    for (double s : changepoints_) {
      f(r, c++) = std::max(t - s, 0.0);
    }
    for (const auto& [p, order] : seasons_) {
      const double phase = 2.0 * std::numbers::pi * (i % p) / p;
      for (int k = 1; k <= order; ++k) {
        f(r, c++) = std::sin(k * phase);
        f(r, c++) = std::cos(k * phase);
      }
    }
  }
  return f;
}

absl::Status ProphetLike::Fit(std::span<const double> y, const FitContext& ctx) {
  fitted_ = false;
  std::vector<int> observed;
  double absmax = 0.0;
  for (size_t i = 0; i < y.size(); ++i) {
    if (!IsMissing(y[i])) {
      observed.push_back(static_cast<int>(i));
      absmax = std::max(absmax, std::abs(y[i]));
    }
  }
  if (observed.size() < 3) {
    return absl::FailedPreconditionError(
        fmt::format("prophetlike: {} observations, need at least 3", observed.size()));
  }
  n_ = static_cast<int>(y.size());
  t_span_ = std::max(n_ - 1, 1);
  y_scale_ = absmax > 0 ? absmax : 1.0;
  changepoints_ = PlaceChangepoints(observed, options_.n_changepoints,
                                    options_.changepoint_range, t_span_);
  seasons_ = ChooseSeasons(options_, ctx.periods, n_);
  const Eigen::Index p = Design(0, 0).cols();
  gram_ = Eigen::MatrixXd::Zero(p, p);
  fty_ = Eigen::VectorXd::Zero(p);
  yty_ = 0.0;
  n_obs_ = Absorb(0, y);
  RETURN_IF_ERROR(Solve(/*warm=*/false));
  fitted_ = true;
  return absl::OkStatus();
}

int ProphetLike::Absorb(int from, std::span<const double> y) {
  constexpr int kBlock = 256;  // rows of the design built at a time
  const int n = static_cast<int>(y.size());
  int added = 0;
  for (int b = 0; b < n; b += kBlock) {
    const int len = std::min(kBlock, n - b);
    Eigen::MatrixXd f = Design(from + b, from + b + len);
    Eigen::VectorXd ys = Eigen::VectorXd::Zero(len);
    for (int i = 0; i < len; ++i) {
      if (IsMissing(y[b + i])) {
        f.row(i).setZero();
      } else {
        ys(i) = y[b + i] / y_scale_;
        ++added;
      }
    }
    gram_.selfadjointView<Eigen::Lower>().rankUpdate(f.transpose());
    fty_.noalias() += f.transpose() * ys;
    yty_ += ys.squaredNorm();
  }
  gram_ = gram_.selfadjointView<Eigen::Lower>();
  return added;
}

absl::Status ProphetLike::Update(std::span<const double> new_obs) {
  if (!fitted_) return absl::FailedPreconditionError("prophetlike: Update before Fit");
  const int m = static_cast<int>(new_obs.size());
  if (m == 0) return absl::OkStatus();
  const int added = Absorb(n_, new_obs);
  n_ += m;
  n_obs_ += added;
  return added == 0 ? absl::OkStatus() : Solve(/*warm=*/true);
}

absl::Status ProphetLike::Solve(bool warm) {
  const int p = static_cast<int>(fty_.size());
  const int nt = num_trend_params();
  MapProblem problem{gram_, fty_, yty_, static_cast<double>(n_obs_), Eigen::VectorXd(p)};
  problem.ridge.head(2).setConstant(1.0 / 25.0);  // k, m ~ N(0, 5)
  problem.ridge.segment(2, nt - 2).setZero();     // deltas: Laplace
  const double ss = options_.seasonality_prior_scale;
  problem.ridge.tail(p - nt).setConstant(1.0 / (ss * ss));
  if (options_.changepoint_prior_scale > 0) {
    problem.l1_begin = 2;
    problem.l1_end = nt;
    problem.l1 = 1.0 / options_.changepoint_prior_scale;
  } else {
    problem.ridge.segment(2, nt - 2).setConstant(1e-12);  // no prior: (nearly) flat
  }
  MapOptions map_options;
  map_options.max_steps = options_.max_iterations;
  ASSIGN_OR_RETURN(MapSolution solution,
                   SolveMap(problem, warm ? theta_ : Eigen::VectorXd(), map_options));
  theta_ = std::move(solution.theta);
  iterations_ = solution.steps;
  return absl::OkStatus();
}

absl::StatusOr<ProphetLike::Components> ProphetLike::Decompose(int h) const {
  if (!fitted_) {
    return absl::FailedPreconditionError("prophetlike: not fitted");
  }
  if (h < 0) {
    return absl::InvalidArgumentError("prophetlike: negative horizon");
  }
  const Eigen::MatrixXd f = Design(0, n_ + h);
  const int nt = num_trend_params();
  const Eigen::VectorXd trend = f.leftCols(nt) * theta_.head(nt) * y_scale_;
  const Eigen::VectorXd seas =
      f.rightCols(f.cols() - nt) * theta_.tail(theta_.size() - nt) * y_scale_;
  return Components{std::vector<double>(trend.begin(), trend.end()),
                    std::vector<double>(seas.begin(), seas.end())};
}

absl::StatusOr<std::vector<double>> ProphetLike::Predict(int h) const {
  if (!fitted_) {
    return absl::FailedPreconditionError("prophetlike: not fitted");
  }
  if (h < 0) {
    return absl::InvalidArgumentError("prophetlike: negative horizon");
  }
  const Eigen::VectorXd out = Design(n_, n_ + h) * theta_ * y_scale_;
  return std::vector<double>(out.begin(), out.end());
}

std::vector<std::pair<double, double>> ProphetLike::Changepoints() const {
  std::vector<std::pair<double, double>> out;
  for (size_t j = 0; j < changepoints_.size() && fitted_; ++j) {
    out.emplace_back(changepoints_[j] * t_span_, theta_(2 + j) * y_scale_ / t_span_);
  }
  return out;
}

}  // namespace prewarm::forecast
