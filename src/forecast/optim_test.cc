#include "forecast/optim.h"

#include <cmath>

#include <gtest/gtest.h>

namespace prewarm::forecast {
namespace {

double Rosenbrock(const Eigen::VectorXd& x) {
  return 100 * std::pow(x[1] - x[0] * x[0], 2) + std::pow(1 - x[0], 2);
}

Eigen::VectorXd RosenbrockGradient(const Eigen::VectorXd& x) {
  Eigen::VectorXd g(2);
  g[0] = -400 * x[0] * (x[1] - x[0] * x[0]) - 2 * (1 - x[0]);
  g[1] = 200 * (x[1] - x[0] * x[0]);
  return g;
}

TEST(OptimTest, NelderMeadRetracesROptim) {
  // R: optim(c(-1.2, 1), fr) -> par 1.000260139 1.000505999, value 8.825241e-08, 195 evals.
  auto r = NelderMead(Rosenbrock, Eigen::Vector2d(-1.2, 1.0));
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->x[0], 1.000260139, 1e-8);
  EXPECT_NEAR(r->x[1], 1.000505999, 1e-8);
  EXPECT_NEAR(r->f, 8.825241097e-08, 1e-14);
  EXPECT_EQ(r->evals, 195);
  EXPECT_TRUE(r->converged);
}

TEST(OptimTest, NelderMeadStopsAtTheEvaluationBudget) {
  OptimOptions o;
  o.max_evals = 30;
  auto r = NelderMead(Rosenbrock, Eigen::Vector2d(-1.2, 1.0), o);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->converged);
  EXPECT_LE(r->evals, 33);
  EXPECT_LT(r->f, Rosenbrock(Eigen::Vector2d(-1.2, 1.0)));
}

TEST(OptimTest, NelderMeadRejectsANonFiniteStart) {
  auto f = [](const Eigen::VectorXd& x) { return x[0] > 0 ? x[0] : std::nan(""); };
  EXPECT_FALSE(NelderMead(f, Eigen::VectorXd::Constant(1, -1.0)).ok());
}

TEST(OptimTest, NelderMeadTreatsInfAsRejection) {
  // Minimum of (x - 2)^2 subject to x <= 1, expressed by returning +inf outside.
  auto f = [](const Eigen::VectorXd& x) {
    return x[0] > 1 ? std::numeric_limits<double>::infinity() : std::pow(x[0] - 2, 2);
  };
  auto r = NelderMead(f, Eigen::VectorXd::Constant(1, 0.0));
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->x[0], 1.0, 1e-4);
}

TEST(OptimTest, LbfgsWithAnalyticAndNumericalGradients) {
  OptimOptions o;
  o.max_evals = 500;
  auto analytic = Lbfgs(Rosenbrock, Eigen::Vector2d(-1.2, 1.0), o, RosenbrockGradient);
  ASSERT_TRUE(analytic.ok());
  EXPECT_NEAR(analytic->x[0], 1.0, 1e-4);
  EXPECT_NEAR(analytic->x[1], 1.0, 1e-4);
  auto numerical = Lbfgs(Rosenbrock, Eigen::Vector2d(-1.2, 1.0), o);
  ASSERT_TRUE(numerical.ok());
  EXPECT_NEAR(numerical->x[0], 1.0, 1e-3);
  EXPECT_NEAR(numerical->x[1], 1.0, 1e-3);
}

TEST(OptimTest, BoxConstraintsHoldForBothMethods) {
  // Quadratic centred at (3, -3) inside [0, 1] x [-1, 5]: the optimum is the corner (1, -1).
  auto f = [](const Eigen::VectorXd& x) { return std::pow(x[0] - 3, 2) + std::pow(x[1] + 3, 2); };
  OptimOptions o;
  o.bounds = Box{Eigen::Vector2d(0, -1), Eigen::Vector2d(1, 5)};
  auto nm = NelderMead(f, Eigen::Vector2d(0.5, 2.0), o);
  ASSERT_TRUE(nm.ok());
  EXPECT_NEAR(nm->x[0], 1.0, 1e-4);
  EXPECT_NEAR(nm->x[1], -1.0, 1e-4);
  auto lb = Lbfgs(f, Eigen::Vector2d(0.5, 2.0), o);
  ASSERT_TRUE(lb.ok());
  EXPECT_NEAR(lb->x[0], 1.0, 1e-3);
  EXPECT_NEAR(lb->x[1], -1.0, 1e-3);
  EXPECT_LE(lb->x[0], 1.0);
  EXPECT_GE(lb->x[1], -1.0);
}

TEST(OptimTest, LbfgsOnAHigherDimensionalQuadratic) {
  // sum_i i (x_i - i)^2 with one-sided bounds x_i >= 0 (inactive) in 10 dimensions.
  auto f = [](const Eigen::VectorXd& x) {
    double s = 0;
    for (int i = 0; i < x.size(); ++i) s += (i + 1) * std::pow(x[i] - (i + 1), 2);
    return s;
  };
  OptimOptions o;
  o.bounds = Box{Eigen::VectorXd::Zero(10),
                 Eigen::VectorXd::Constant(10, std::numeric_limits<double>::infinity())};
  auto r = Lbfgs(f, Eigen::VectorXd::Constant(10, 0.5), o);
  ASSERT_TRUE(r.ok());
  for (int i = 0; i < 10; ++i) EXPECT_NEAR(r->x[i], i + 1, 1e-3);
}

TEST(OptimTest, BrentMatchesROptimize) {
  Minimum1D m = BrentMinimize([](double x) { return std::pow(x - 1.0 / 3.0, 2); }, 0, 1);
  EXPECT_NEAR(m.x, 0.333333333333, 1e-9);  // R: optimize(f, c(0, 1))$minimum
}

}  // namespace
}  // namespace prewarm::forecast
