#include "forecast/models/prophet_like.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <numbers>
#include <random>

#include "forecast/series.h"

namespace prewarm::forecast {
namespace {

constexpr double kTwoPi = 2.0 * std::numbers::pi;

// Hourly-like synthetic series: level 50, slope +0.02 per step until step 500, then -0.01;
// a 24-step and a 168-step Fourier seasonality; N(0, 0.3) noise.
double TrueTrend(int i) { return 50.0 + 0.02 * std::min(i, 500) - 0.01 * std::max(i - 500, 0); }
double TrueSeason(int i) {
  return 5.0 * std::sin(kTwoPi * i / 24) + 2.0 * std::cos(2 * kTwoPi * i / 24) +
         3.0 * std::sin(kTwoPi * i / 168) - 1.0 * std::cos(kTwoPi * i / 168);
}

std::vector<double> Synthetic(int n, int nan_every) {
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0.0, 0.3);
  std::vector<double> y(n);
  for (int i = 0; i < n; ++i) {
    y[i] = TrueTrend(i) + TrueSeason(i) + noise(rng);
    if (nan_every > 0 && i % nan_every == 3) {
      y[i] = kMissing;
    }
  }
  return y;
}

TEST(DefaultFourierOrderTest, FollowsProphetRoles) {
  const std::vector<int> daily_data{7, 365};
  EXPECT_EQ(DefaultFourierOrder(7, daily_data), 3);
  EXPECT_EQ(DefaultFourierOrder(365, daily_data), 10);
  const std::vector<int> ten_min{144, 1008};
  EXPECT_EQ(DefaultFourierOrder(144, ten_min), 4);
  EXPECT_EQ(DefaultFourierOrder(1008, ten_min), 3);
  EXPECT_EQ(DefaultFourierOrder(4, std::vector<int>{4}), 1);
}

TEST(ProphetLikeTest, RecoversChangepointTrendAndTwoSeasonalities) {
  const int n = 1008;
  const std::vector<double> y = Synthetic(n, 0);
  ProphetLike model;
  ASSERT_TRUE(model.Fit(y, FitContext{{24, 168}}).ok());
  ASSERT_EQ(model.seasonalities().size(), 2u);
  auto comp = model.Decompose(48);
  ASSERT_TRUE(comp.ok()) << comp.status();
  double trend_err = 0, season_err = 0;
  for (int i = 0; i < n + 48; ++i) {
    trend_err = std::max(trend_err, std::abs(comp->trend[i] - TrueTrend(i)));
    season_err = std::max(season_err, std::abs(comp->seasonal[i] - TrueSeason(i)));
  }
  EXPECT_LT(trend_err, 0.6);
  EXPECT_LT(season_err, 0.5);
  // The largest rate change sits at the true changepoint and has its size (-0.03/step).
  auto cps = model.Changepoints();
  auto biggest = std::max_element(cps.begin(), cps.end(), [](auto a, auto b) {
    return std::abs(a.second) < std::abs(b.second);
  });
  EXPECT_NEAR(biggest->first, 500, 40);
  double total_change = 0;
  for (auto [at, delta] : cps) {
    total_change += delta;
  }
  EXPECT_NEAR(total_change, -0.03, 0.005);
  auto fc = model.Predict(48);
  ASSERT_TRUE(fc.ok());
  for (int j = 0; j < 48; ++j) {
    EXPECT_NEAR((*fc)[j], TrueTrend(n + j) + TrueSeason(n + j), 0.8) << j;
  }
}

TEST(ProphetLikeTest, UpdateLearnsFromNewDataWithoutRefitting) {
  // Fitted before the slope turns at 500; 300 more steps arrive through Update().
  const std::vector<double> y = Synthetic(820, 0);
  std::span<const double> all(y);
  ProphetLike updated;
  ASSERT_TRUE(updated.Fit(all.first(480), FitContext{{24, 168}}).ok());
  ProphetLike stale;
  ASSERT_TRUE(stale.Fit(all.first(480), FitContext{{24, 168}}).ok());
  ASSERT_TRUE(updated.Update(all.subspan(480, 320)).ok());
  ASSERT_TRUE(stale.Update(std::vector<double>(320, kMissing)).ok());  // time only
  auto a = updated.Predict(20);
  auto b = stale.Predict(20);
  ASSERT_TRUE(a.ok() && b.ok());
  double err_updated = 0, err_stale = 0;
  for (int j = 0; j < 20; ++j) {
    double truth = TrueTrend(800 + j) + TrueSeason(800 + j);
    err_updated += std::abs((*a)[j] - truth) / 20;
    err_stale += std::abs((*b)[j] - truth) / 20;
  }
  EXPECT_LT(err_updated, 2.0);  // no changepoint past the first fit: the last segment bends
  EXPECT_LT(err_updated, err_stale / 2) << "the new slope must be learnt";
  ProphetLike unfitted;
  EXPECT_FALSE(unfitted.Update(all.first(3)).ok());
}

TEST(ProphetLikeTest, MissingValuesAreLeftOut) {
  const int n = 1008;
  const std::vector<double> full = Synthetic(n, 0);
  std::vector<double> gappy = Synthetic(n, 5);  // every 5th value missing
  for (int i = 200; i < 260; ++i) {
    gappy[i] = kMissing;  // and a long gap
  }
  ProphetLike a, b;
  ASSERT_TRUE(a.Fit(full, FitContext{{24, 168}}).ok());
  ASSERT_TRUE(b.Fit(gappy, FitContext{{24, 168}}).ok());
  auto fa = a.Predict(24), fb = b.Predict(24);
  ASSERT_TRUE(fa.ok() && fb.ok());
  for (int j = 0; j < 24; ++j) {
    ASSERT_TRUE(std::isfinite((*fb)[j]));
    EXPECT_NEAR((*fa)[j], (*fb)[j], 0.5) << j;
  }
}

TEST(ProphetLikeTest, SkipsPeriodsTheDataCannotSupportAndRejectsTinySeries) {
  ProphetLike model;
  ASSERT_TRUE(model.Fit(Synthetic(100, 0), FitContext{{24, 168}}).ok());
  ASSERT_EQ(model.seasonalities().size(), 1u);
  EXPECT_EQ(model.seasonalities()[0].first, 24);
  EXPECT_FALSE(model.Fit(std::vector<double>{1.0, kMissing}, FitContext{}).ok());
  EXPECT_FALSE(ProphetLike().Predict(3).ok());
}

TEST(ProphetLikeTest, FitsFourWeeksOfTenMinuteDataQuickly) {
  // Reported, not asserted: the machine is shared and noisy.
  const int n = 4032;
  std::mt19937 rng(3);
  std::normal_distribution<double> noise(0.0, 3.0);
  std::vector<double> y(n);
  for (int i = 0; i < n; ++i) {
    y[i] = 100 + 0.01 * i + 30 * std::sin(kTwoPi * i / 144) + 10 * std::sin(kTwoPi * i / 1008) +
           noise(rng);
  }
  ProphetLike model;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(model.Fit(y, FitContext{{144, 1008}}).ok());
  const auto fit = std::chrono::steady_clock::now();
  ASSERT_TRUE(model.Predict(144).ok());
  const auto end = std::chrono::steady_clock::now();
  using Ms = std::chrono::duration<double, std::milli>;
  std::printf("prophetlike 4032 points: fit %.1f ms (%d iterations), predict 144 %.2f ms\n",
              Ms(fit - start).count(), model.iterations(), Ms(end - fit).count());
}

}  // namespace
}  // namespace prewarm::forecast
