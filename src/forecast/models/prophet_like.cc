#include "forecast/models/prophet_like.h"

#include <lbfgs.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "forecast/series.h"

namespace prewarm::forecast {
namespace {

// The negative log posterior of the linear model y ~ N(F theta, sigma^2) given through
// its Gram matrix, with sigma profiled out (its MAP for the current theta, closed form),
// Gaussian priors (precision `ridge` per parameter) and, handled by OWL-QN outside this
// function, the Laplace prior on the changepoint deltas.
struct Posterior {
  const Eigen::MatrixXd& gram;
  const Eigen::VectorXd& fty;
  double yty;
  double n_obs;
  Eigen::VectorXd ridge;

  // sigma^2 maximising -N/2 log u - SSE / 2u - 2u (sigma_obs ~ N(0, 0.5)).
  double ProfiledVariance(double sse) const {
    return 2.0 * sse / (n_obs + std::sqrt(n_obs * n_obs + 16.0 * sse));
  }

  double Evaluate(const double* x, double* g) const {
    Eigen::Map<const Eigen::VectorXd> theta(x, fty.size());
    Eigen::Map<Eigen::VectorXd> grad(g, fty.size());
    const Eigen::VectorXd gt = gram * theta;
    const double sse = std::max(yty - 2.0 * theta.dot(fty) + theta.dot(gt), 1e-12 * n_obs);
    const double u = std::max(ProfiledVariance(sse), 1e-300);
    grad = (gt - fty) / u + ridge.cwiseProduct(theta);
    return 0.5 * n_obs * std::log(u) + sse / (2.0 * u) + 2.0 * u +
           0.5 * theta.dot(ridge.cwiseProduct(theta));
  }
};

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

// A warm start for OWL-QN: the MAP with the Laplace prior replaced by a Gaussian of the
// same scale, alternating the linear solve with the profiled variance. It is close to the
// answer, which spares the optimiser most of its iterations on the ill-conditioned
// changepoint columns.
Eigen::VectorXd StartingPoint(const Posterior& post, int nt, double tau) {
  const int p = static_cast<int>(post.fty.size());
  Eigen::VectorXd prec = post.ridge;
  if (tau > 0) {
    prec.segment(2, nt - 2).setConstant(1.0 / (tau * tau));
  }
  Eigen::VectorXd theta = Eigen::VectorXd::Zero(p);
  double u = post.yty / std::max(post.n_obs, 1.0) + 1e-12;
  for (int iter = 0; iter < 3; ++iter) {
    Eigen::MatrixXd a = post.gram / u;
    a.diagonal() += prec + Eigen::VectorXd::Constant(p, 1e-12);
    theta = a.ldlt().solve(post.fty / u);
    const double sse = post.yty - 2.0 * theta.dot(post.fty) + theta.dot(post.gram * theta);
    u = std::max(post.ProfiledVariance(std::max(sse, 1e-12 * post.n_obs)), 1e-300);
  }
  return theta.allFinite() ? theta : Eigen::VectorXd::Zero(p);
}

// Stops when the objective (a sum over observations) has improved by less than
// kStallPerObs per observation over the last kStallWindow iterations: by then the
// optimiser only slides along the flat valleys of correlated changepoint columns.
constexpr int kStallWindow = 100;
constexpr double kStallPerObs = 1e-7;

struct Run {
  const Posterior* post;
  int iterations = 0;
  std::vector<double> history{};

  static lbfgsfloatval_t Evaluate(void* self, const lbfgsfloatval_t* x, lbfgsfloatval_t* g,
                                  int /*n*/, lbfgsfloatval_t /*step*/) {
    return static_cast<Run*>(self)->post->Evaluate(x, g);
  }
  static int Progress(void* self, const lbfgsfloatval_t* /*x*/, const lbfgsfloatval_t* /*g*/,
                      lbfgsfloatval_t fx, lbfgsfloatval_t /*xnorm*/,
                      lbfgsfloatval_t /*gnorm*/, lbfgsfloatval_t /*step*/, int /*n*/, int k,
                      int /*ls*/) {
    Run* run = static_cast<Run*>(self);
    run->iterations = k;
    run->history.push_back(fx);
    const size_t m = run->history.size();
    const bool stalled = m > kStallWindow && run->history[m - 1 - kStallWindow] - fx <
                                                 kStallPerObs * run->post->n_obs;
    return stalled ? 1 : 0;  // non-zero ends lbfgs() at the current point
  }
};

// MAP by OWL-QN from `theta` (updated in place: it is the optimiser's buffer). The L1
// term covers the changepoint deltas, parameters [2, nt). Returns the iterations used.
absl::StatusOr<int> Minimise(const Posterior& post, int nt, const ProphetLikeOptions& opt,
                             Eigen::VectorXd& theta) {
  lbfgs_parameter_t param;
  lbfgs_parameter_init(&param);
  param.max_iterations = opt.max_iterations;
  param.epsilon = 1e-7;
  param.linesearch = LBFGS_LINESEARCH_BACKTRACKING;
  if (nt > 2 && opt.changepoint_prior_scale > 0) {
    param.orthantwise_c = 1.0 / opt.changepoint_prior_scale;
    param.orthantwise_start = 2;
    param.orthantwise_end = nt;
  }
  Run run{&post};
  lbfgsfloatval_t fx = 0;
  const int rc = lbfgs(static_cast<int>(theta.size()), theta.data(), &fx, &Run::Evaluate,
                       &Run::Progress, &run, &param);
  // Max-iteration, rounding and line-search stops leave the best point found; only
  // rejected inputs and non-finite results are failures.
  if (rc >= LBFGSERR_UNKNOWNERROR && rc <= LBFGSERR_INVALID_ORTHANTWISE_END) {
    return absl::InternalError(fmt::format("prophetlike: lbfgs rejected the problem ({})", rc));
  }
  if (!theta.allFinite()) {
    return absl::InternalError(fmt::format("prophetlike: fit diverged (lbfgs {})", rc));
  }
  return run.iterations;
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
  Eigen::MatrixXd f = Design(0, n_);
  Eigen::VectorXd ys = Eigen::VectorXd::Zero(n_);
  for (int i = 0; i < n_; ++i) {
    if (IsMissing(y[i])) {
      f.row(i).setZero();
    } else {
      ys(i) = y[i] / y_scale_;
    }
  }
  gram_ = f.transpose() * f;
  fty_ = f.transpose() * ys;
  yty_ = ys.squaredNorm();
  n_obs_ = static_cast<int>(observed.size());
  RETURN_IF_ERROR(Solve(/*warm=*/false));
  fitted_ = true;
  return absl::OkStatus();
}

absl::Status ProphetLike::Update(std::span<const double> new_obs) {
  if (!fitted_) return absl::FailedPreconditionError("prophetlike: Update before Fit");
  const int m = static_cast<int>(new_obs.size());
  if (m == 0) return absl::OkStatus();
  const Eigen::MatrixXd f = Design(n_, n_ + m);
  int added = 0;
  for (int i = 0; i < m; ++i) {
    if (IsMissing(new_obs[i])) continue;
    const double ys = new_obs[i] / y_scale_;
    gram_.noalias() += f.row(i).transpose() * f.row(i);
    fty_ += f.row(i).transpose() * ys;
    yty_ += ys * ys;
    ++added;
  }
  n_ += m;
  n_obs_ += added;
  return added == 0 ? absl::OkStatus() : Solve(/*warm=*/true);
}

absl::Status ProphetLike::Solve(bool warm) {
  const Eigen::MatrixXd& gram = gram_;
  const Eigen::VectorXd& fty = fty_;
  const double yty = yty_;
  const int n_obs = n_obs_;
  const int p = static_cast<int>(fty.size());
  const int nt = num_trend_params();
  Eigen::VectorXd ridge(p);
  ridge.head(2).setConstant(1.0 / 25.0);  // k, m ~ N(0, 5)
  ridge.segment(2, nt - 2).setZero();     // deltas: Laplace, via OWL-QN
  const double ss = options_.seasonality_prior_scale;
  ridge.tail(p - nt).setConstant(1.0 / (ss * ss));
  Posterior post{gram, fty, yty, static_cast<double>(n_obs), ridge};

  if (!warm || theta_.size() != p) theta_ = StartingPoint(post, nt, options_.changepoint_prior_scale);

  ASSIGN_OR_RETURN(iterations_, Minimise(post, nt, options_, theta_));
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
