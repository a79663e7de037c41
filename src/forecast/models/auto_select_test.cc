#include "forecast/models/auto_select.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include "forecast/quantile.h"
#include "forecast/registry.h"
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
  // The best of the median on log1p (the last one) and the challengers that beat its score
  // and beat it at a majority of the held-out origins.
  const auto& c = m.candidates();
  auto eligible = [&](const AutoCandidate& a) {
    return &a == &c.back() || (!a.dropped && a.score < c.back().score && a.win_share > 0.5);
  };
  const AutoCandidate* best = &c.back();
  for (const AutoCandidate& a : c) {
    if (eligible(a) && a.score < best->score) best = &a;
  }
  EXPECT_EQ(m.name(), "auto[1.00 " + best->name + "]");
}

// Counts whose daily shape changes abruptly a few times: the candidates' held-out scores
// differ from origin to origin, so the stability test has something to reject.
std::vector<double> ShiftingCounts(int days, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<double> y;
  double level = 100;
  for (int t = 0; t < days * 24; ++t) {
    if (t % (24 * 5) == 0) level = std::uniform_real_distribution<double>(30, 600)(rng);
    const double mean = level * std::exp(0.6 * std::sin(2 * std::numbers::pi * t / 24));
    y.push_back(std::poisson_distribution<int>(mean)(rng));
  }
  return y;
}

TEST(AutoSelectTest, AChallengerJoinsOnlyIfItBeatsTheAnchorAtMostOrigins) {
  int rejected_on_stability = 0, anchored = 0;
  for (unsigned seed = 1; seed <= 6; ++seed) {
    const std::vector<double> y = ShiftingCounts(40, seed);
    AutoSelect m;
    ASSERT_TRUE(m.Fit(y, FitContext{{24}, 24}).ok());
    const auto& c = m.candidates();
    const AutoCandidate& anchor = c.back();
    ASSERT_EQ(anchor.name, "combo_log1p");
    if (anchor.dropped) continue;  // worse than seasonal naive: no anchor to beat
    ++anchored;
    for (const AutoCandidate& a : c) {
      EXPECT_GE(a.win_share, 0);
      EXPECT_LE(a.win_share, 1);
      if (&a == &anchor || a.weight == 0) {
        rejected_on_stability += !a.dropped && a.score < anchor.score && a.win_share <= 0.5;
        continue;
      }
      EXPECT_LT(a.score, anchor.score) << a.name;
      EXPECT_GT(a.win_share, 0.5) << a.name;
    }
  }
  EXPECT_GE(anchored, 3);
  // The second test is not idle on these series: some challenger with a better mean score
  // wins at no more than half the origins.
  EXPECT_GT(rejected_on_stability, 0);
}

TEST(AutoSelectTest, TheAnchorIsTheDefaultCombinationOnLog1p) {
  // With no challenger admitted, auto forecasts exactly what the median combination fitted
  // on log1p does (the median of four taken on the log scale, as that row takes it).
  const std::vector<double> y = DailyCounts(28, 24, 3);
  AutoOptions only_anchor;
  only_anchor.margin = 1;  // no score is below 0
  AutoSelect m(only_anchor);
  ASSERT_TRUE(m.Fit(y, FitContext{{24}, 24}).ok());
  EXPECT_EQ(m.name(), "auto[1.00 combo_log1p]");
  absl::StatusOr<std::unique_ptr<Model>> combo = MakeModel("combo", std::vector<int>{24});
  ASSERT_TRUE(combo.ok());
  const std::vector<double> z = Transform::Log1p().Forward(y);
  ASSERT_TRUE((*combo)->Fit(z, FitContext{{24}, 24}).ok());
  absl::StatusOr<std::vector<double>> a = m.Predict(24), b = (*combo)->Predict(24);
  ASSERT_TRUE(a.ok() && b.ok());
  for (int j = 0; j < 24; ++j) EXPECT_NEAR((*a)[j], std::expm1((*b)[j]), 1e-9 * (1 + (*a)[j])) << j;
}

TEST(AutoSelectTest, AHeldOutForecastReadsNothingAfterItsOrigin) {
  // Changing the series from some step on leaves every held-out forecast issued before that
  // step as it was. The anchor alone is chosen in both fits (margin 1), so the held-out
  // forecasts are the same structure's.
  const std::vector<double> y = DailyCounts(28);
  AutoOptions only_anchor;
  only_anchor.margin = 1;
  AutoSelect a(only_anchor), b(only_anchor);
  ASSERT_TRUE(a.Fit(y, FitContext{{24}, 24}).ok());
  const HeldOutForecasts ha = *a.held_out();
  ASSERT_GE(ha.actual.size(), 4u);
  // The origin of held-out forecast k: where its actual values start in y (the steps are
  // distinct enough in this Poisson series to be found; checked below).
  auto origin_of = [&](size_t k) {
    for (size_t t = 0; t + 24 <= y.size(); ++t) {
      if (std::equal(ha.actual[k].begin(), ha.actual[k].end(), y.begin() + t)) return t;
    }
    return y.size();
  };
  const size_t cut_k = ha.actual.size() / 2;
  const size_t cut = origin_of(cut_k);
  ASSERT_LT(cut, y.size());
  std::vector<double> changed = y;
  for (size_t t = cut; t < changed.size(); ++t) changed[t] += 3;  // small: the anchor stays
  ASSERT_TRUE(b.Fit(changed, FitContext{{24}, 24}).ok());
  const HeldOutForecasts& hb = *b.held_out();
  ASSERT_EQ(hb.forecast.size(), ha.forecast.size());
  for (size_t k = 0; k <= cut_k; ++k) {
    EXPECT_EQ(hb.forecast[k], ha.forecast[k]) << "origin " << k << " read a changed step";
  }
  // ... and the forecasts after the cut did see the change (the test can fail).
  EXPECT_NE(hb.forecast.back(), ha.forecast.back());
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
