#include "forecast/optim.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <lbfgs.h>

namespace prewarm::forecast {
namespace {

constexpr double kBig = 1.0e35;  // R's nmmin stand-in for non-finite values

// The simplex of R's nmmin: columns 0..n are vertices, `fv` their values; column n + 1
// of `p` is the centroid work column.
class NelderMeadRun {
 public:
  NelderMeadRun(const Objective& f, const OptimOptions& o) : f_(f), o_(o) {}

  OptimResult Run(const Eigen::VectorXd& x0, double f0) {
    Build(x0, f0);
    bool converged = false;
    while (evals_ <= o_.max_evals) {
      if (calcvert_) EvaluateVertices();
      FindExtremes();
      if (fv_[h_] <= fv_[l_] + convtol_ || fv_[l_] <= o_.abs_tol) {
        converged = true;
        break;
      }
      if (!Step()) {
        converged = true;  // shrinking no longer reduces the simplex: as small as it gets
        break;
      }
    }
    return OptimResult{p_.col(l_), fv_[l_], evals_, converged};
  }

 private:
  double Eval(const Eigen::VectorXd& x) {
    ++evals_;
    double v = f_(x);
    return std::isfinite(v) ? v : kBig;
  }
  Eigen::VectorXd Project(Eigen::VectorXd x) const {
    return o_.bounds.empty() ? x : o_.bounds.Clamp(x);
  }

  void Build(const Eigen::VectorXd& x0, double f0) {
    n_ = static_cast<int>(x0.size());
    p_.resize(n_, n_ + 2);
    fv_.assign(n_ + 2, 0.0);
    p_.col(0) = x0;
    fv_[0] = f0;
    convtol_ = std::max(o_.rel_tol * (std::abs(f0) + o_.rel_tol), o_.f_tol);
    double step = o_.initial_step;
    if (step <= 0) step = x0.size() > 0 ? 0.1 * x0.cwiseAbs().maxCoeff() : 0.0;
    if (step == 0.0) step = 0.1;
    size_ = 0.0;
    for (int j = 1; j <= n_; ++j) {
      p_.col(j) = x0;
      double trystep = step;
      while (p_(j - 1, j) == x0[j - 1]) {
        p_(j - 1, j) = x0[j - 1] + trystep;
        trystep *= 10;
      }
      p_.col(j) = Project(p_.col(j));
      size_ += trystep;
    }
    oldsize_ = size_;
    calcvert_ = true;
  }

  void EvaluateVertices() {
    for (int j = 0; j <= n_; ++j) {
      if (j != l_) fv_[j] = Eval(p_.col(j));
    }
    calcvert_ = false;
  }

  void FindExtremes() {
    h_ = l_;
    for (int j = 0; j <= n_; ++j) {
      if (j == l_) continue;
      if (fv_[j] < fv_[l_]) l_ = j;
      if (fv_[j] > fv_[h_]) h_ = j;
    }
  }

  // One reflection / expansion / contraction / shrink; false when a shrink stalls.
  bool Step() {
    Eigen::VectorXd centroid = (p_.leftCols(n_ + 1).rowwise().sum() - p_.col(h_)) / n_;
    Eigen::VectorXd xr = Project(2.0 * centroid - p_.col(h_));
    double vr = Eval(xr);
    if (vr < fv_[l_]) {
      Eigen::VectorXd xe = Project(2.0 * xr - centroid);
      double ve = Eval(xe);
      Replace(h_, ve < vr ? xe : xr, std::min(ve, vr));
      return true;
    }
    double vh = fv_[h_];
    if (vr < vh) Replace(h_, xr, vr);
    Eigen::VectorXd xc = Project(0.5 * p_.col(h_) + 0.5 * centroid);
    double vc = Eval(xc);
    if (vc < fv_[h_]) {
      Replace(h_, xc, vc);
      return true;
    }
    if (vr >= vh) return Shrink();
    return true;
  }

  void Replace(int j, const Eigen::VectorXd& x, double v) {
    p_.col(j) = x;
    fv_[j] = v;
  }

  bool Shrink() {
    calcvert_ = true;
    size_ = 0.0;
    for (int j = 0; j <= n_; ++j) {
      if (j == l_) continue;
      p_.col(j) = 0.5 * (p_.col(j) - p_.col(l_)) + p_.col(l_);
      size_ += (p_.col(j) - p_.col(l_)).cwiseAbs().sum();
    }
    if (size_ < oldsize_) {
      oldsize_ = size_;
      return true;
    }
    return false;
  }

  const Objective& f_;
  const OptimOptions& o_;
  int n_ = 0;
  int l_ = 0;
  int h_ = 0;
  int evals_ = 1;
  double convtol_ = 0.0;
  double size_ = 0.0;
  double oldsize_ = 0.0;
  bool calcvert_ = true;
  Eigen::MatrixXd p_;
  std::vector<double> fv_;
};

// Maps unconstrained u to the box and back, with dx/du for the chain rule.
struct BoxMap {
  const Box& box;
  double X(int i, double u) const {
    double lo = box.lower[i], hi = box.upper[i];
    if (std::isfinite(lo) && std::isfinite(hi)) return lo + (hi - lo) / (1.0 + std::exp(-u));
    if (std::isfinite(lo)) return lo + std::exp(u);
    if (std::isfinite(hi)) return hi - std::exp(u);
    return u;
  }
  double U(int i, double x) const {
    double lo = box.lower[i], hi = box.upper[i];
    if (std::isfinite(lo) && std::isfinite(hi)) {
      double t = std::clamp((x - lo) / (hi - lo), 1e-9, 1 - 1e-9);
      return std::log(t / (1 - t));
    }
    if (std::isfinite(lo)) return std::log(std::max(x - lo, 1e-12));
    if (std::isfinite(hi)) return std::log(std::max(hi - x, 1e-12));
    return x;
  }
  double Dx(int i, double u) const {
    double lo = box.lower[i], hi = box.upper[i];
    if (std::isfinite(lo) && std::isfinite(hi)) {
      double s = 1.0 / (1.0 + std::exp(-u));
      return (hi - lo) * s * (1 - s);
    }
    if (std::isfinite(lo)) return std::exp(u);
    if (std::isfinite(hi)) return -std::exp(u);
    return 1.0;
  }
};

struct LbfgsContext {
  const Objective& f;
  const GradientFn& grad;
  const Box& box;
  int evals = 0;
  Eigen::VectorXd ToX(const lbfgsfloatval_t* u, int n) const {
    Eigen::VectorXd x(n);
    BoxMap map{box};
    for (int i = 0; i < n; ++i) x[i] = box.empty() ? u[i] : map.X(i, u[i]);
    return x;
  }
};

lbfgsfloatval_t LbfgsEvaluate(void* instance, const lbfgsfloatval_t* u, lbfgsfloatval_t* g,
                              const int n, const lbfgsfloatval_t /*step*/) {
  auto* ctx = static_cast<LbfgsContext*>(instance);
  ++ctx->evals;
  Eigen::VectorXd x = ctx->ToX(u, n);
  double fx = ctx->f(x);
  Eigen::VectorXd gx = ctx->grad ? ctx->grad(x) : NumericalGradient(ctx->f, x, ctx->box);
  BoxMap map{ctx->box};
  for (int i = 0; i < n; ++i) g[i] = gx[i] * (ctx->box.empty() ? 1.0 : map.Dx(i, u[i]));
  return std::isfinite(fx) ? fx : kBig;
}

}  // namespace

Eigen::VectorXd Box::Clamp(const Eigen::VectorXd& x) const {
  return x.cwiseMax(lower).cwiseMin(upper);
}

absl::StatusOr<OptimResult> NelderMead(const Objective& f, const Eigen::VectorXd& x0,
                                       const OptimOptions& options) {
  if (!options.bounds.empty() &&
      (options.bounds.lower.size() != x0.size() || options.bounds.upper.size() != x0.size())) {
    return absl::InvalidArgumentError("NelderMead: bounds do not match x0");
  }
  Eigen::VectorXd start = options.bounds.empty() ? x0 : options.bounds.Clamp(x0);
  double f0 = f(start);
  if (!std::isfinite(f0)) {
    return absl::InvalidArgumentError("NelderMead: objective is not finite at the start");
  }
  if (start.size() == 0) return OptimResult{start, f0, 1, true};
  return NelderMeadRun(f, options).Run(start, f0);
}

absl::StatusOr<OptimResult> Lbfgs(const Objective& f, const Eigen::VectorXd& x0,
                                  const OptimOptions& options, const GradientFn& grad) {
  const Box& box = options.bounds;
  int n = static_cast<int>(x0.size());
  if (!box.empty() && (box.lower.size() != n || box.upper.size() != n)) {
    return absl::InvalidArgumentError("Lbfgs: bounds do not match x0");
  }
  std::vector<lbfgsfloatval_t> u(n);
  BoxMap map{box};
  for (int i = 0; i < n; ++i) u[i] = box.empty() ? x0[i] : map.U(i, x0[i]);
  lbfgs_parameter_t param;
  lbfgs_parameter_init(&param);
  param.max_iterations = options.max_evals;
  param.past = 1;
  param.delta = options.rel_tol;
  param.epsilon = 1e-6;
  LbfgsContext ctx{f, grad, box};
  lbfgsfloatval_t fx = 0;
  int rc = lbfgs(n, u.data(), &fx, LbfgsEvaluate, nullptr, &ctx, &param);
  Eigen::VectorXd x = ctx.ToX(u.data(), n);
  double value = f(x);
  if (!std::isfinite(value)) {
    return absl::InternalError(fmt::format("Lbfgs: no finite minimum (liblbfgs code {})", rc));
  }
  // Rounding-error and line-search stops happen at the optimum of noisy objectives: the
  // point is still the best found, so only a clean stop counts as converged.
  bool converged = rc == LBFGS_SUCCESS || rc == LBFGS_STOP || rc == LBFGS_ALREADY_MINIMIZED;
  return OptimResult{x, value, ctx.evals, converged};
}

Eigen::VectorXd NumericalGradient(const Objective& f, const Eigen::VectorXd& x,
                                  const Box& bounds) {
  Eigen::VectorXd g(x.size());
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    double h = 1e-6 * std::max(1.0, std::abs(x[i]));
    Eigen::VectorXd hi = x, lo = x;
    hi[i] += h;
    lo[i] -= h;
    if (!bounds.empty()) {
      hi[i] = std::min(hi[i], bounds.upper[i]);
      lo[i] = std::max(lo[i], bounds.lower[i]);
    }
    g[i] = (f(hi) - f(lo)) / (hi[i] - lo[i]);
  }
  return g;
}

Minimum1D BrentMinimize(const std::function<double(double)>& f, double lo, double hi,
                        double tol) {
  const double c = (3.0 - std::sqrt(5.0)) * 0.5;
  const double eps = std::sqrt(std::numeric_limits<double>::epsilon());
  double a = lo, b = hi;
  double v = a + c * (b - a), w = v, x = v;
  double d = 0.0, e = 0.0;
  double fx = f(x), fv = fx, fw = fx;
  const double tol3 = tol / 3.0;
  for (;;) {
    double xm = (a + b) * 0.5;
    double tol1 = eps * std::abs(x) + tol3;
    double t2 = tol1 * 2.0;
    if (std::abs(x - xm) <= t2 - (b - a) * 0.5) break;
    double p = 0.0, q = 0.0, r = 0.0;
    if (std::abs(e) > tol1) {  // fit a parabola
      r = (x - w) * (fx - fv);
      q = (x - v) * (fx - fw);
      p = (x - v) * q - (x - w) * r;
      q = (q - r) * 2.0;
      if (q > 0.0) {
        p = -p;
      } else {
        q = -q;
      }
      r = e;
      e = d;
    }
    if (std::abs(p) >= std::abs(q * 0.5 * r) || p <= q * (a - x) || p >= q * (b - x)) {
      e = x < xm ? b - x : a - x;  // golden section
      d = c * e;
    } else {
      d = p / q;  // parabolic step, not too close to the ends
      double u = x + d;
      if (u - a < t2 || b - u < t2) d = x >= xm ? -tol1 : tol1;
    }
    double u = std::abs(d) >= tol1 ? x + d : (d > 0.0 ? x + tol1 : x - tol1);
    double fu = f(u);
    if (fu <= fx) {
      if (u < x) {
        b = x;
      } else {
        a = x;
      }
      v = w, fv = fw, w = x, fw = fx, x = u, fx = fu;
    } else {
      if (u < x) {
        a = u;
      } else {
        b = u;
      }
      if (fu <= fw || w == x) {
        v = w, fv = fw, w = u, fw = fu;
      } else if (fu <= fv || v == x || v == w) {
        v = u, fv = fu;
      }
    }
  }
  return Minimum1D{x, fx};
}

}  // namespace prewarm::forecast
