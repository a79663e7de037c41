#include "forecast/adaptive.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "forecast/models/snaive.h"
#include "forecast/quantile.h"

namespace prewarm::forecast {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

AdaptiveOptions OneExpert(double gamma) {
  AdaptiveOptions o;
  o.gammas = {gamma};
  return o;
}

TEST(AdaptiveTest, OneExpertIsGibbsCandesAci) {
  // alpha_{t+1} = alpha_t + gamma (alpha - err_t), by hand with gamma 0.1, alpha 0.2.
  AdaptiveConformal a(0.2, OneExpert(0.1));
  EXPECT_DOUBLE_EQ(a.alpha(), 0.2);
  a.Observe(std::vector<double>{0.1});  // beta 0.1 < 0.2: outside, err 1
  EXPECT_NEAR(a.alpha(), 0.2 + 0.1 * (0.2 - 1), 1e-12);
  a.Observe(std::vector<double>{0.5});  // inside, err 0
  EXPECT_NEAR(a.alpha(), 0.12 + 0.1 * 0.2, 1e-12);
  EXPECT_EQ(a.updates(), 2);
  a.Observe(std::vector<double>{kNaN});  // nothing realised: no update
  EXPECT_EQ(a.updates(), 2);

  // One forecast of several steps is one update, err its share of steps outside.
  AdaptiveConformal b(0.2, OneExpert(0.1));
  b.Observe(std::vector<double>{0.1, 0.5, kNaN});
  EXPECT_NEAR(b.alpha(), 0.2 + 0.1 * (0.2 - 0.5), 1e-12);
}

TEST(AdaptiveTest, AlphaStaysWithinTheClamp) {
  AdaptiveConformal miss(0.2, OneExpert(0.1));
  for (int i = 0; i < 100; ++i) miss.Observe(std::vector<double>{-5.0});  // always outside
  EXPECT_NEAR(miss.alpha(), -0.4, 1e-12);                                 // -2 x 0.2
  AdaptiveConformal hit(0.2, OneExpert(0.1));
  for (int i = 0; i < 100; ++i) hit.Observe(std::vector<double>{1.0});  // always inside
  EXPECT_NEAR(hit.alpha(), 0.4, 1e-12);                                 // 2 x 0.2
}

TEST(AdaptiveTest, BetaIsTheLargestCoveringMiscoverage) {
  EXPECT_DOUBLE_EQ(AdaptiveIntervals::Beta(0.1, 0.3, 0.3), 0.3);    // Q(a) <= y for a <= 0.3
  EXPECT_NEAR(AdaptiveIntervals::Beta(0.9, 0.3, 0.3), 0.7, 1e-12);  // Q(1 - a) >= y
  // A zero under a zero mass up to 0.4: above Q(a) for a <= 0.4, below every upper bound.
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_DOUBLE_EQ(AdaptiveIntervals::Beta(0.1, -inf, 0.4), 0.4);
  EXPECT_DOUBLE_EQ(AdaptiveIntervals::Beta(0.9, -inf, 0.4), 1.0);
  EXPECT_DOUBLE_EQ(AdaptiveIntervals::Beta(0.1, -0.01, -0.01), -0.01);  // beyond every error
  EXPECT_TRUE(std::isnan(AdaptiveIntervals::Beta(0.1, kNaN, kNaN)));
}

TEST(AdaptiveTest, IntervalsMoveTheirLevelsAndLeaveTheMedian) {
  const std::vector<double> levels = {0.01, 0.1, 0.5, 0.9, 0.99};
  AdaptiveIntervals ai(levels, OneExpert(0.1));
  ASSERT_EQ(ai.bounds().size(), 4u);
  EXPECT_DOUBLE_EQ(ai.Level(0.1), 0.1);
  // An observation at level 0.05: below Q(0.1), so that bound misses (err 1) and moves
  // down; every other bound holds it (err 0) and narrows by gamma x a.
  ai.Observe(std::vector<double>{0.05}, std::vector<double>{0.05});
  EXPECT_NEAR(ai.Level(0.1), 0.1 + 0.1 * (0.1 - 1), 1e-12);
  EXPECT_NEAR(ai.Level(0.9), 1 - (0.1 + 0.1 * 0.1), 1e-12);
  EXPECT_NEAR(ai.Level(0.01), 0.01 + 0.1 * 0.01, 1e-12);
  EXPECT_NEAR(ai.Level(0.99), 1 - (0.01 + 0.1 * 0.01), 1e-12);
  EXPECT_DOUBLE_EQ(ai.Level(0.5), 0.5);
  EXPECT_DOUBLE_EQ(ai.Level(0.3), 0.3);  // no bound configured there

  AdaptiveOptions off;
  off.enabled = false;
  AdaptiveIntervals none(levels, off);
  none.Observe(std::vector<double>{0.0}, std::vector<double>{0.0});
  EXPECT_TRUE(none.bounds().empty());
  EXPECT_DOUBLE_EQ(none.Level(0.1), 0.1);
}

TEST(AdaptiveTest, TheWeightsFollowTheExpertThatTracksAShift) {
  // Calibrated betas (uniform) then a shift: beta uniform on [0, 0.5], whose 0.2-quantile
  // is 0.1. A static expert (gamma 0) stays at 0.2 and misses 40 %; the moving one tracks
  // 0.1 and gets the weight.
  AdaptiveOptions o;
  o.gammas = {0.0, 0.05};
  AdaptiveConformal a(0.2, o);
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int i = 0; i < 500; ++i) a.Observe(std::vector<double>{u(rng)});
  EXPECT_NEAR(a.alpha(), 0.2, 0.05);
  for (int i = 0; i < 1000; ++i) a.Observe(std::vector<double>{0.5 * u(rng)});
  EXPECT_GT(a.weights()[1], 0.8);
  EXPECT_NEAR(a.experts()[1], 0.1, 0.04);
  EXPECT_NEAR(a.alpha(), 0.1, 0.04);
}

// --- On the quantile forecaster: the daemon's path (Fit, then Update and Predict) and the
// backtest's (Fit and Predict at each origin).

constexpr int kPeriod = 24;
constexpr int kHorizon = 6;

// A seasonal mean with Gaussian noise whose sd is `sd` before `change`, `sd2` from it.
std::vector<double> Series(int n, double sd, double sd2, int change, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<double> y(static_cast<size_t>(n));
  for (int t = 0; t < n; ++t) {
    y[t] = 100.0 + 20.0 * std::sin(2 * M_PI * t / kPeriod) + (t < change ? sd : sd2) * noise(rng);
  }
  return y;
}

struct Covered {
  double c80 = 0, c98 = 0;
  int n = 0;
  void Add(const QuantileForecast& q, std::span<const double> actual) {
    for (size_t j = 0; j < actual.size(); ++j) {
      c80 += actual[j] >= q.At(0.1)[j] && actual[j] <= q.At(0.9)[j];
      c98 += actual[j] >= q.At(0.01)[j] && actual[j] <= q.At(0.99)[j];
      ++n;
    }
  }
  double r80() const { return c80 / n; }
  double r98() const { return c98 / n; }
};

// Fits on y[0, fit), rolls forward one step at a time with Update() and scores the
// forecasts issued every horizon from `score_from` on.
Covered Rolled(const std::vector<double>& y, int fit, int score_from, bool adaptive,
               ProbabilisticForecaster* out = nullptr) {
  QuantileOptions o;
  o.adaptive.enabled = adaptive;
  ProbabilisticForecaster f(Transform::None(), std::make_unique<SeasonalNaive>(kPeriod), o);
  EXPECT_TRUE(f.Fit(std::span(y).first(fit), FitContext{{kPeriod}}, kHorizon).ok());
  Covered c;
  const int n = static_cast<int>(y.size());
  for (int t = fit; t + kHorizon <= n; ++t) {
    if (t >= score_from && (t - score_from) % kHorizon == 0) {
      absl::StatusOr<QuantileForecast> q = f.Predict(kHorizon);
      EXPECT_TRUE(q.ok());
      if (q.ok()) c.Add(*q, std::span(y).subspan(t, kHorizon));
    }
    EXPECT_TRUE(f.Update(std::span(y).subspan(t, 1)).ok());
  }
  if (out != nullptr) *out = std::move(f);
  std::printf("adaptive %d: 80%% -> %.3f, 98%% -> %.3f over %d points\n", adaptive, c.r80(),
              c.r98(), c.n);
  return c;
}

TEST(AdaptiveTest, CoverageRecoversWhenTheErrorsDoubleHalfway) {
  // Fitted on the calm first part; the noise doubles at step 2400 and the forecasts of
  // the last 1200 steps are scored. The static calibration cannot know.
  const std::vector<double> y = Series(4800, 2.0, 4.0, 2400, 3);
  const Covered fixed = Rolled(y, 1200, 3600, false);
  const Covered adaptive = Rolled(y, 1200, 3600, true);
  EXPECT_LT(fixed.r80(), 0.6);  // the fixture does shift: about 0.48 and 0.76 expected
  EXPECT_LT(fixed.r98(), 0.85);
  EXPECT_NEAR(adaptive.r80(), 0.80, 0.04);
  // The 1 % bounds must reach twice the largest held-out error; the clamp (level -0.02,
  // 4 grid steps of the extended quantile function beyond its extreme) stops them short.
  EXPECT_GT(adaptive.r98(), 0.94);
}

TEST(AdaptiveTest, AStationarySeriesKeepsItsLevelsNearNominal) {
  const std::vector<double> y = Series(4800, 2.0, 2.0, 0, 5);
  ProbabilisticForecaster f(Transform::None(), std::make_unique<SeasonalNaive>(kPeriod));
  const Covered fixed = Rolled(y, 1200, 1200, false);
  const Covered adaptive = Rolled(y, 1200, 1200, true, &f);
  EXPECT_NEAR(fixed.r80(), 0.80, 0.03);
  EXPECT_NEAR(adaptive.r80(), 0.80, 0.03);
  EXPECT_NEAR(fixed.r98(), 0.98, 0.035);
  EXPECT_NEAR(adaptive.r98(), 0.98, 0.02);
  ASSERT_EQ(f.adaptive().bounds().size(), 10u);  // the default levels but the median
  EXPECT_GT(f.adaptive().updates(), 3000);
  for (const AdaptiveConformal& a : f.adaptive().bounds()) {
    // The static 98 % interval under-covers here (0.95): its 1 % bounds move out, but stay
    // inside the held-out errors (alpha > 0).
    EXPECT_NEAR(a.alpha(), a.nominal(), (a.nominal() < 0.05 ? 1.0 : 0.5) * a.nominal())
        << a.nominal();
  }
}

TEST(AdaptiveTest, TheBacktestsFitAdaptsToTheEndOfItsWindow) {
  // Backtest origins: each fits afresh on everything before it. The noise doubles 150
  // steps before the first origin, so the calibration span (the last 300 steps of ~2000)
  // mixes both regimes; the replay of its forecasts ends in the recent one.
  const std::vector<double> y = Series(3000, 2.0, 4.0, 2000, 11);
  Covered fixed, adaptive;
  for (int origin = 2150; origin + kHorizon <= 2450; origin += kHorizon) {
    for (bool on : {false, true}) {
      QuantileOptions o;
      o.adaptive.enabled = on;
      ProbabilisticForecaster f(Transform::None(), std::make_unique<SeasonalNaive>(kPeriod), o);
      ASSERT_TRUE(f.Fit(std::span(y).first(origin), FitContext{{kPeriod}}, kHorizon).ok());
      absl::StatusOr<QuantileForecast> q = f.Predict(kHorizon);
      ASSERT_TRUE(q.ok());
      (on ? adaptive : fixed).Add(*q, std::span(y).subspan(origin, kHorizon));
    }
  }
  std::printf("backtest: static 80%% %.3f 98%% %.3f; adaptive 80%% %.3f 98%% %.3f\n", fixed.r80(),
              fixed.r98(), adaptive.r80(), adaptive.r98());
  EXPECT_LT(std::abs(adaptive.r80() - 0.8), std::abs(fixed.r80() - 0.8));
  EXPECT_LT(std::abs(adaptive.r98() - 0.98), std::abs(fixed.r98() - 0.98));
}

TEST(AdaptiveTest, NothingAfterTheOriginIsRead) {
  // Two series equal up to the origin, one wild after it.
  std::vector<double> calm = Series(2000, 2.0, 2.0, 0, 13);
  std::vector<double> wild = calm;
  for (size_t t = 1500; t < wild.size(); ++t) wild[t] *= 5;
  ProbabilisticForecaster a(Transform::None(), std::make_unique<SeasonalNaive>(kPeriod));
  ProbabilisticForecaster b(Transform::None(), std::make_unique<SeasonalNaive>(kPeriod));
  ASSERT_TRUE(a.Fit(std::span(calm).first(1500), FitContext{{kPeriod}}, kHorizon).ok());
  ASSERT_TRUE(b.Fit(std::span(wild).first(1500), FitContext{{kPeriod}}, kHorizon).ok());
  EXPECT_EQ(a.Predict(kHorizon)->q, b.Predict(kHorizon)->q);

  // In the daemon's path a forecast counts once all its steps have arrived, not before:
  // the forecast issued at the fit is the first to complete, after kHorizon steps.
  const int replayed = a.adaptive().updates();
  ASSERT_GT(replayed, 0);
  const double before_alpha = a.adaptive().bounds().back().alpha();  // Q(0.99)
  for (int t = 1500; t < 1500 + kHorizon - 1; ++t) {
    ASSERT_TRUE(a.Update(std::span(wild).subspan(t, 1)).ok());
  }
  EXPECT_EQ(a.adaptive().updates(), replayed);
  EXPECT_EQ(a.adaptive().bounds().back().alpha(), before_alpha);
  ASSERT_TRUE(a.Update(std::span(wild).subspan(1500 + kHorizon - 1, 1)).ok());
  EXPECT_EQ(a.adaptive().updates(), replayed + 1);
  EXPECT_LT(a.adaptive().bounds().back().alpha(), before_alpha);  // above it: raised
}

TEST(AdaptiveTest, UpdateInOneChunkOrStepByStepAgrees) {
  const std::vector<double> y = Series(2000, 2.0, 4.0, 1400, 17);
  ProbabilisticForecaster a(Transform::Log1p(), std::make_unique<SeasonalNaive>(kPeriod));
  ProbabilisticForecaster b(Transform::Log1p(), std::make_unique<SeasonalNaive>(kPeriod));
  ASSERT_TRUE(a.Fit(std::span(y).first(1200), FitContext{{kPeriod}}, kHorizon).ok());
  ASSERT_TRUE(b.Fit(std::span(y).first(1200), FitContext{{kPeriod}}, kHorizon).ok());
  ASSERT_TRUE(a.Update(std::span(y).subspan(1200, 500)).ok());
  for (int t = 1200; t < 1700; ++t) ASSERT_TRUE(b.Update(std::span(y).subspan(t, 1)).ok());
  EXPECT_EQ(a.adaptive().updates(), b.adaptive().updates());
  for (size_t i = 0; i < a.adaptive().bounds().size(); ++i) {
    EXPECT_DOUBLE_EQ(a.adaptive().bounds()[i].alpha(), b.adaptive().bounds()[i].alpha());
  }
  EXPECT_EQ(a.Predict(kHorizon)->q, b.Predict(kHorizon)->q);
}

}  // namespace
}  // namespace prewarm::forecast

namespace prewarm::forecast {
namespace {

// The backtest's chain (backtest.cc RunChain): a fit per origin, the steps up to the next
// origin observed, the next fit carrying the levels on.
std::vector<QuantileForecast> Chain(const std::vector<double>& y, const std::vector<int>& origins,
                                    std::vector<int>* updates = nullptr) {
  std::vector<QuantileForecast> out;
  std::unique_ptr<ProbabilisticForecaster> previous;
  int previous_origin = 0;
  for (int origin : origins) {
    if (previous)
      previous->Observe(std::span(y).subspan(previous_origin, origin - previous_origin));
    auto f = std::make_unique<ProbabilisticForecaster>(Transform::Log1p(),
                                                       std::make_unique<SeasonalNaive>(kPeriod));
    EXPECT_TRUE(f->Fit(std::span(y).first(origin), FitContext{{kPeriod}}, kHorizon).ok());
    if (previous) {
      const int before = previous->adaptive().updates();
      EXPECT_TRUE(f->CarryAdaptive(std::move(*previous)));
      EXPECT_EQ(f->adaptive().updates(), before);
    }
    if (updates != nullptr) updates->push_back(f->adaptive().updates());
    out.push_back(*f->Predict(kHorizon));
    previous = std::move(f);
    previous_origin = origin;
  }
  return out;
}

TEST(AdaptiveTest, TheBacktestChainLearnsFromEachOriginsForecastOnceItIsIn) {
  const std::vector<double> y = Series(3000, 2.0, 2.0, 0, 19);
  std::vector<int> updates;
  Chain(y, {1500, 1600, 1603, 1700}, &updates);
  // Each origin adds the previous origin's forecast, once its kHorizon steps are in: the
  // one at 1600 is not complete at 1603 and is scored by the fit at 1700.
  EXPECT_EQ(updates[1], updates[0] + 1);
  EXPECT_EQ(updates[2], updates[1]);
  EXPECT_EQ(updates[3], updates[2] + 2);

  // Levels carry only between forecasters that read them alike.
  ProbabilisticForecaster a(Transform::Log1p(), std::make_unique<SeasonalNaive>(kPeriod));
  ProbabilisticForecaster b(Transform::Log1p(), std::make_unique<SeasonalNaive>(kPeriod));
  ASSERT_TRUE(a.Fit(std::span(y).first(1500), FitContext{{kPeriod}}, kHorizon).ok());
  ASSERT_TRUE(b.Fit(std::span(y).first(1500), FitContext{{kPeriod}}, kHorizon + 1).ok());
  EXPECT_FALSE(b.CarryAdaptive(std::move(a)));
}

TEST(AdaptiveTest, TheBacktestChainReadsNothingAfterEachOrigin) {
  // Two series equal up to step 2000, one five times larger after it: every origin up to
  // 2000 forecasts the same, the first one after it does not.
  const std::vector<double> calm = Series(3000, 2.0, 2.0, 0, 23);
  std::vector<double> wild = calm;
  for (size_t t = 2000; t < wild.size(); ++t) wild[t] *= 5;
  const std::vector<int> origins = {1400, 1600, 1800, 2000, 2200};
  const std::vector<QuantileForecast> a = Chain(calm, origins), b = Chain(wild, origins);
  for (size_t i = 0; i < origins.size(); ++i) {
    if (origins[i] <= 2000) {
      EXPECT_EQ(a[i].q, b[i].q) << origins[i];
    } else {
      EXPECT_NE(a[i].q, b[i].q) << origins[i];
    }
  }
}

}  // namespace
}  // namespace prewarm::forecast
