#include "forecast/models/auto_select.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include "forecast/quantile.h"
#include "forecast/transform.h"

namespace prewarm::forecast {
namespace {

// Poisson counts around a daily cycle whose amplitude grows with the level (multiplicative).
std::vector<double> DailyCounts(int days, int period = 24, unsigned seed = 7) {
  std::mt19937 rng(seed);
  std::vector<double> y;
  for (int t = 0; t < days * period; ++t) {
    const double level = 200 * std::exp(0.8 * std::sin(2 * std::numbers::pi * t / period));
    y.push_back(std::poisson_distribution<int>(level)(rng));
  }
  return y;
}

TEST(AutoSelectTest, HeldOutFoldsLieAtTheEndOfTheTrainingWindow) {
  const std::vector<double> y = DailyCounts(28);
  AutoSelect m;
  ASSERT_TRUE(m.Fit(y, FitContext{{24}, 24}).ok());
  const HeldOutForecasts* held = m.held_out();
  ASSERT_NE(held, nullptr);
  ASSERT_FALSE(held->forecast.empty());
  EXPECT_LE(held->forecast.size(), 24u);
  // A quarter of the 672 steps (more than three folds of one day) is held out: the first
  // origin lies within the last 168 steps, and the last forecast ends exactly at the end,
  // so nothing after the training window is read.
  const auto first = std::find(y.end() - 168, y.end(), held->actual.front().front());
  EXPECT_NE(first, y.end());
  EXPECT_TRUE(std::equal(held->actual.front().begin(), held->actual.front().end(), first));
  EXPECT_TRUE(std::equal(held->actual.back().begin(), held->actual.back().end(), y.end() - 24));
  for (const auto& f : held->forecast) EXPECT_EQ(f.size(), 24u);
}

TEST(AutoSelectTest, KeepsAtMostThreeCandidatesNoWorseThanSeasonalNaive) {
  AutoSelect m;
  ASSERT_TRUE(m.Fit(DailyCounts(28), FitContext{{24}, 24}).ok());
  const std::vector<AutoCandidate>& c = m.candidates();
  ASSERT_FALSE(c.empty());
  ASSERT_EQ(c[0].name, "snaive");
  double weights = 0;
  int chosen = 0;
  for (const AutoCandidate& a : c) {
    if (a.weight == 0) continue;
    ++chosen;
    weights += a.weight;
    EXPECT_FALSE(a.dropped) << a.name;
    EXPECT_LE(a.mase, c[0].mase) << a.name;
  }
  EXPECT_LE(chosen, 3);
  EXPECT_NEAR(weights, 1.0, 1e-9);
}

TEST(AutoSelectTest, TheSingleBestWhenTopIsOne) {
  AutoOptions o;
  o.top = 1;
  AutoSelect m(o);
  ASSERT_TRUE(m.Fit(DailyCounts(28), FitContext{{24}, 24}).ok());
  const std::string name = m.name();
  EXPECT_EQ(std::count(name.begin(), name.end(), '+'), 0) << name;
  // The best candidate if it beats the median on log1p (the last one) by 10 %, else that.
  const auto& c = m.candidates();
  const auto best = std::min_element(c.begin(), c.end(), [](const auto& a, const auto& b) {
    return (a.dropped ? 1e9 : a.score) < (b.dropped ? 1e9 : b.score);
  });
  const std::string want = best->score < 0.9 * c.back().score ? best->name : c.back().name;
  EXPECT_EQ(m.name(), "auto[1.00 " + want + "]");
}

TEST(AutoSelectTest, CloneSelectedRefitsTheChosenStructureWithoutSelecting) {
  const std::vector<double> y = DailyCounts(28);
  AutoSelect m;
  ASSERT_TRUE(m.Fit(y, FitContext{{24}, 24}).ok());
  std::unique_ptr<Model> again = m.CloneSelected();
  ASSERT_TRUE(again->Fit(y, FitContext{{24}, 24}).ok());
  EXPECT_EQ(again->name(), m.name());
  EXPECT_TRUE(again->ChoosesTransform());
  EXPECT_EQ(again->held_out(), nullptr);  // no validation: the quantiles roll origins
  absl::StatusOr<std::vector<double>> a = m.Predict(24), b = again->Predict(24);
  ASSERT_TRUE(a.ok() && b.ok());
  for (int j = 0; j < 24; ++j) EXPECT_NEAR((*a)[j], (*b)[j], 1e-6 * (1 + (*a)[j])) << j;
}

TEST(AutoSelectTest, TooShortToValidateFallsBackToTheMedianOnLog1p) {
  AutoSelect m;
  ASSERT_TRUE(m.Fit(DailyCounts(2), FitContext{{24}, 24}).ok());
  EXPECT_EQ(m.name(), "auto[1.00 combo_log1p]");
  EXPECT_TRUE(m.held_out()->forecast.empty());
}

TEST(AutoSelectTest, MostlyZerosAddsSbaToTheCandidates) {
  std::vector<double> sparse(24 * 20, 0.0);
  for (size_t t = 0; t < sparse.size(); t += 7) sparse[t] = 3;
  AutoSelect m;
  ASSERT_TRUE(m.Fit(sparse, FitContext{{24}, 24}).ok());
  const auto& c = m.candidates();
  EXPECT_TRUE(std::any_of(c.begin(), c.end(), [](const auto& a) { return a.name == "sba"; }));
}

TEST(AutoSelectTest, IntervalsFromTheHeldOutFoldsCoverAboutTheirNominalShare) {
  const std::vector<double> y = DailyCounts(60, 24, 11);
  int in80 = 0, in98 = 0, total = 0;
  for (int origin = 28 * 24; origin + 24 <= static_cast<int>(y.size()); origin += 24 * 4) {
    ProbabilisticForecaster f(Transform::Log1p(), std::make_unique<AutoSelect>());
    std::span<const double> train(y.data() + origin - 28 * 24, 28 * 24);
    ASSERT_TRUE(f.Fit(train, FitContext{{24}}, 24).ok());
    EXPECT_EQ(f.transform().kind(), Transform::Kind::kNone);  // auto picks its own
    absl::StatusOr<QuantileForecast> q = f.Predict(24);
    ASSERT_TRUE(q.ok()) << q.status();
    for (int j = 0; j < 24; ++j) {
      const double a = y[origin + j];
      in80 += a >= q->At(0.1)[j] && a <= q->At(0.9)[j];
      in98 += a >= q->At(0.01)[j] && a <= q->At(0.99)[j];
      ++total;
    }
  }
  EXPECT_NEAR(static_cast<double>(in80) / total, 0.80, 0.10);
  EXPECT_NEAR(static_cast<double>(in98) / total, 0.98, 0.05);
}

}  // namespace
}  // namespace prewarm::forecast
