#include "forecast/models/prophet_map.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace prewarm::forecast {
namespace {

// A Prophet-shaped design: slope and intercept, `cps` hinge columns (t - s)+ (strongly
// correlated, as the changepoints are) and a few Fourier pairs; y a bent trend + season.
struct Data {
  Eigen::MatrixXd gram;
  Eigen::VectorXd fty;
  double yty = 0;
  double n = 0;
};

Data MakeData(int n, int cps, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 0.02);
  const int p = 2 + cps + 4;
  Eigen::MatrixXd f(n, p);
  Eigen::VectorXd y(n);
  for (int i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / (n - 1);
    f(i, 0) = t;
    f(i, 1) = 1.0;
    for (int j = 0; j < cps; ++j) f(i, 2 + j) = std::max(t - 0.8 * (j + 1) / (cps + 1), 0.0);
    for (int k = 1; k <= 2; ++k) {
      f(i, 2 + cps + 2 * (k - 1)) = std::sin(2 * M_PI * k * i / 7.0);
      f(i, 3 + cps + 2 * (k - 1)) = std::cos(2 * M_PI * k * i / 7.0);
    }
    y(i) = 0.5 + 0.3 * t - 0.6 * std::max(t - 0.5, 0.0) + 0.1 * std::sin(2 * M_PI * i / 7.0) +
           noise(rng);
  }
  return {f.transpose() * f, f.transpose() * y, y.squaredNorm(), static_cast<double>(n)};
}

MapProblem Problem(const Data& d, int cps, double l1) {
  const int p = static_cast<int>(d.fty.size());
  MapProblem problem{d.gram, d.fty, d.yty, d.n, Eigen::VectorXd::Constant(p, 0.01)};
  problem.ridge.segment(2, cps).setZero();
  problem.l1_begin = 2;
  problem.l1_end = 2 + cps;
  problem.l1 = l1;
  return problem;
}

TEST(ProphetMapTest, TheSolutionMeetsTheOptimalityConditions) {
  const int cps = 25;
  const Data data = MakeData(1000, cps, 1);
  const MapProblem problem = Problem(data, cps, 20.0);
  auto sol = SolveMap(problem, Eigen::VectorXd());
  ASSERT_TRUE(sol.ok()) << sol.status();
  EXPECT_TRUE(sol->converged);
  const Eigen::VectorXd& theta = sol->theta;
  // Subgradient of the objective at theta, u at its profiled value: zero on the Gaussian
  // parameters and the non-zero rate changes, within [-l1, l1] on the zero ones.
  const double u = problem.ProfiledVariance(problem.Sse(theta));
  const Eigen::VectorXd grad =
      (data.gram * theta - data.fty) / u + problem.ridge.cwiseProduct(theta);
  const double scale = data.fty.cwiseAbs().maxCoeff() / u;
  int zeros = 0;
  for (int j = 0; j < theta.size(); ++j) {
    const bool laplace = j >= problem.l1_begin && j < problem.l1_end;
    if (!laplace) {
      EXPECT_NEAR(grad(j), 0.0, 1e-8 * scale) << j;
    } else if (theta(j) != 0.0) {
      EXPECT_NEAR(grad(j) + problem.l1 * (theta(j) > 0 ? 1 : -1), 0.0, 1e-8 * scale) << j;
    } else {
      ++zeros;
      EXPECT_LE(std::abs(grad(j)), problem.l1 * (1 + 1e-6)) << j;
    }
  }
  EXPECT_GT(zeros, 0) << "the Laplace prior should zero some rate changes";
  // No nearby point is better.
  std::mt19937 rng(5);
  std::normal_distribution<double> step(0.0, 1e-4);
  const double best = problem.Objective(theta);
  for (int k = 0; k < 200; ++k) {
    Eigen::VectorXd other = theta;
    for (int j = 0; j < other.size(); ++j) other(j) += step(rng);
    EXPECT_GE(problem.Objective(other), best - 1e-9 * std::abs(best));
  }
}

TEST(ProphetMapTest, AWarmStartAtTheSolutionStaysThere) {
  const int cps = 10;
  const Data data = MakeData(500, cps, 2);
  const MapProblem problem = Problem(data, cps, 5.0);
  auto cold = SolveMap(problem, Eigen::VectorXd());
  ASSERT_TRUE(cold.ok());
  auto warm = SolveMap(problem, cold->theta);
  ASSERT_TRUE(warm.ok());
  EXPECT_LE(warm->steps, 1);
  EXPECT_LE(warm->rounds, 2);
  EXPECT_LT((warm->theta - cold->theta).norm(), 1e-8 * cold->theta.norm());
}

TEST(ProphetMapTest, WithoutALaplaceBlockItIsTheRidgeSolution) {
  const Data data = MakeData(300, 3, 3);
  MapProblem problem = Problem(data, 3, 0.0);
  problem.l1_begin = problem.l1_end = 0;
  problem.ridge.setConstant(0.01);
  auto sol = SolveMap(problem, Eigen::VectorXd());
  ASSERT_TRUE(sol.ok());
  const double u = problem.ProfiledVariance(problem.Sse(sol->theta));
  Eigen::MatrixXd a = data.gram / u;
  a.diagonal() += problem.ridge;
  const Eigen::VectorXd ridge = a.ldlt().solve(data.fty / u);
  EXPECT_LT((sol->theta - ridge).norm(), 1e-6 * ridge.norm());
  problem.l1_end = 99;
  EXPECT_FALSE(SolveMap(problem, Eigen::VectorXd()).ok());
}

}  // namespace
}  // namespace prewarm::forecast
