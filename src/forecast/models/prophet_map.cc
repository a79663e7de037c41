#include "forecast/models/prophet_map.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace prewarm::forecast {
namespace {

double Sign(double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }

// minimise  d' S d / 2 - g' d + c |d|_1 (S symmetric positive semi-definite) by
// feature-sign search (Lee, Battle, Raina & Ng 2006): guess the signs of the active
// coefficients, solve the quadratic they leave exactly, and walk towards that solution
// only as far as the objective falls, stopping where a coefficient reaches zero. Every
// step lowers the objective and no sign pattern repeats, so it ends in a finite number
// of steps at the exact minimiser; from a warm start that is usually one step.
struct Lasso {
  const Eigen::MatrixXd& s;
  const Eigen::VectorXd& g;
  double c;

  double Objective(const Eigen::VectorXd& d) const {
    return 0.5 * d.dot(s * d) - g.dot(d) + c * d.lpNorm<1>();
  }

  // Returns the steps used; `d` holds the start and then the minimiser.
  int Solve(Eigen::VectorXd& d, int budget) const {
    const int n = static_cast<int>(d.size());
    if (n == 0) return 0;
    const double tol = 1e-9 * (c + g.cwiseAbs().maxCoeff()) + 1e-300;
    Eigen::VectorXd sign = d.unaryExpr([](double v) { return Sign(v); });
    int steps = 0;
    while (steps < budget) {
      const Eigen::VectorXd r = g - s * d;  // minus the gradient of the smooth part
      bool active_optimal = true;
      for (int j = 0; j < n; ++j) {
        if (sign(j) != 0 && std::abs(r(j) - c * sign(j)) > tol) active_optimal = false;
      }
      if (active_optimal) {
        int best = -1;
        for (int j = 0; j < n; ++j) {
          if (sign(j) == 0 && std::abs(r(j)) > c + tol &&
              (best < 0 || std::abs(r(j)) > std::abs(r(best)))) {
            best = j;
          }
        }
        if (best < 0) return steps;  // optimal
        sign(best) = Sign(r(best));
      }
      ++steps;
      if (!Step(d, sign)) return steps;  // no progress left (rounding)
    }
    return steps;
  }

  // One feature-sign step from d under `sign`; updates both. False when the objective
  // could not be lowered.
  bool Step(Eigen::VectorXd& d, Eigen::VectorXd& sign) const {
    std::vector<int> act;
    for (int j = 0; j < d.size(); ++j) {
      if (sign(j) != 0) act.push_back(j);
    }
    const Eigen::Index k = static_cast<Eigen::Index>(act.size());
    Eigen::VectorXd rhs(k);
    for (Eigen::Index a = 0; a < k; ++a) rhs(a) = g(act[a]) - c * sign(act[a]);
    const Eigen::LDLT<Eigen::MatrixXd> ldlt(s(act, act));
    const Eigen::VectorXd solved = ldlt.solve(rhs);
    Eigen::VectorXd target = d;
    target(act) = solved;
    if (ldlt.info() != Eigen::Success || !target.allFinite()) return false;
    // The candidates: the target, and every point of the segment where a coefficient
    // changes sign (there it is set to exactly zero).
    const double current = Objective(d);
    Eigen::VectorXd best = target;
    double best_f = Objective(target);
    for (int j : act) {
      if (d(j) == 0.0 || Sign(target(j)) == Sign(d(j))) continue;
      const double t = d(j) / (d(j) - target(j));
      Eigen::VectorXd x = d + t * (target - d);
      x(j) = 0.0;
      const double f = Objective(x);
      if (f < best_f) best = std::move(x), best_f = f;
    }
    if (!(best_f < current)) return false;
    d = best;
    sign = d.unaryExpr([](double v) { return Sign(v); });
    return true;
  }
};

std::vector<int> Range(int from, int to) {
  std::vector<int> out;
  for (int i = from; i < to; ++i) out.push_back(i);
  return out;
}

}  // namespace

double MapProblem::ProfiledVariance(double sse) const {
  // argmin over u of N/2 log u + SSE / 2u + 2u.
  return 2.0 * sse / (n_obs + std::sqrt(n_obs * n_obs + 16.0 * sse));
}

double MapProblem::Sse(const Eigen::VectorXd& theta) const {
  const double sse = yty - 2.0 * theta.dot(fty) + theta.dot(gram * theta);
  return std::max(sse, 1e-12 * n_obs);
}

double MapProblem::Objective(const Eigen::VectorXd& theta) const {
  const double sse = Sse(theta);
  const double u = std::max(ProfiledVariance(sse), 1e-300);
  const double l1_term =
      l1_end > l1_begin ? l1 * theta.segment(l1_begin, l1_end - l1_begin).lpNorm<1>() : 0.0;
  return 0.5 * n_obs * std::log(u) + sse / (2.0 * u) + 2.0 * u +
         0.5 * theta.dot(ridge.cwiseProduct(theta)) + l1_term;
}

absl::StatusOr<MapSolution> SolveMap(const MapProblem& problem, const Eigen::VectorXd& start,
                                     const MapOptions& options) {
  const int p = static_cast<int>(problem.fty.size());
  if (problem.gram.rows() != p || problem.gram.cols() != p || problem.ridge.size() != p ||
      problem.l1_begin < 0 || problem.l1_end > p || problem.l1_begin > problem.l1_end) {
    return absl::InvalidArgumentError("prophet MAP: inconsistent problem dimensions");
  }
  // Gaussian parameters (a) outside the Laplace block (d).
  std::vector<int> a = Range(0, problem.l1_begin);
  for (int i = problem.l1_end; i < p; ++i) a.push_back(i);
  const std::vector<int> d = Range(problem.l1_begin, problem.l1_end);
  MapSolution out;
  out.theta = start.size() == p && start.allFinite() ? start : Eigen::VectorXd::Zero(p);
  double u = std::max(problem.ProfiledVariance(problem.Sse(out.theta)), 1e-300);
  Eigen::VectorXd delta = out.theta(d);
  // The blocks of F'F and F'y, taken apart once; each round scales them by 1/u.
  const Eigen::MatrixXd g_aa = problem.gram(a, a), g_ad = problem.gram(a, d),
                        g_dd = problem.gram(d, d);
  const Eigen::VectorXd f_a = problem.fty(a), f_d = problem.fty(d);
  const Eigen::VectorXd r_a = problem.ridge(a), r_d = problem.ridge(d);
  while (out.rounds < options.max_rounds) {
    ++out.rounds;
    Eigen::MatrixXd q_aa = g_aa / u;
    q_aa.diagonal() += r_a;
    const Eigen::LLT<Eigen::MatrixXd> llt(q_aa);
    if (llt.info() != Eigen::Success) {
      return absl::InternalError("prophet MAP: the Gaussian block is not positive definite");
    }
    const Eigen::MatrixXd q_ad = g_ad / u;
    const Eigen::MatrixXd x = llt.solve(q_ad);
    const Eigen::VectorXd w = llt.solve(f_a / u);
    Eigen::MatrixXd s = g_dd / u - q_ad.transpose() * x;
    s.diagonal() += r_d;
    s = 0.5 * (s + s.transpose()).eval();
    const Eigen::VectorXd g = f_d / u - q_ad.transpose() * w;
    out.steps += Lasso{s, g, problem.l1}.Solve(delta, std::max(options.max_steps - out.steps, 1));
    out.theta(a) = w - x * delta;
    out.theta(d) = delta;
    if (!out.theta.allFinite()) return absl::InternalError("prophet MAP: the fit diverged");
    const double next = std::max(problem.ProfiledVariance(problem.Sse(out.theta)), 1e-300);
    const bool settled = std::abs(next - u) <= options.u_tol * u;
    u = next;
    if (settled) {
      out.converged = true;
      break;
    }
  }
  return out;
}

}  // namespace prewarm::forecast
