#include "forecast/models/mstl.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <numbers>
#include <random>

#include "forecast/series.h"

namespace prewarm::forecast {
namespace {

constexpr double kTwoPi = 2.0 * std::numbers::pi;

double Correlation(const std::vector<double>& a, const std::vector<double>& b) {
  double ma = 0, mb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ma += a[i] / a.size();
    mb += b[i] / b.size();
  }
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

// Hourly: daily (24) and weekly (168) cycles on a slow trend, with optional noise.
struct TwoSeason {
  std::vector<double> y, daily, weekly, trend;
};
TwoSeason MakeTwoSeason(int n, double noise_sd, int offset = 0) {
  std::mt19937 rng(5);
  std::normal_distribution<double> noise(0.0, noise_sd);
  TwoSeason s;
  for (int k = 0; k < n; ++k) {
    const int i = k + offset;
    s.trend.push_back(100 + 0.02 * i);
    s.daily.push_back(10 * std::sin(kTwoPi * i / 24) + 3 * std::cos(2 * kTwoPi * i / 24));
    s.weekly.push_back(6 * std::cos(kTwoPi * i / 168) + 2 * std::sin(2 * kTwoPi * i / 168));
    s.y.push_back(s.trend.back() + s.daily.back() + s.weekly.back() +
                  (noise_sd > 0 ? noise(rng) : 0.0));
  }
  return s;
}

TEST(InterpolateMissingTest, LinearInsideNearestAtTheEnds) {
  auto out = InterpolateMissing(std::vector<double>{kMissing, 1, kMissing, kMissing, 4, kMissing});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, (std::vector<double>{1, 1, 2, 3, 4, 4}));
  EXPECT_FALSE(InterpolateMissing(std::vector<double>{kMissing}).ok());
}

TEST(MstlTest, SeparatesDailyAndWeeklyCycles) {
  const TwoSeason s = MakeTwoSeason(168 * 6, 1.0);
  auto d = Mstl(s.y, std::vector<int>{168, 24});
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->periods, (std::vector<int>{24, 168}));
  EXPECT_GT(Correlation(d->seasonal[0], s.daily), 0.99);
  EXPECT_GT(Correlation(d->seasonal[1], s.weekly), 0.99);
  EXPECT_GT(Correlation(d->trend, s.trend), 0.99);
  // The components add up to the data.
  for (size_t i = 0; i < s.y.size(); i += 37) {
    EXPECT_NEAR(d->seasonal[0][i] + d->seasonal[1][i] + d->trend[i] + d->remainder[i], s.y[i],
                1e-9);
  }
}

TEST(MstlTest, MatchesRMstl) {
  // R: j <- 0:671; z <- 100 + 0.02*j + 10*sin(2*pi*j/24) + 6*cos(2*pi*j/168) +
  //   2*sin(4*pi*j/168) + sin(j*j*0.37); mstl(msts(z, seasonal.periods = c(24, 168)))
  std::vector<double> z(672);
  for (int j = 0; j < 672; ++j) {
    z[j] = 100 + 0.02 * j + 10 * std::sin(kTwoPi * j / 24) + 6 * std::cos(kTwoPi * j / 168) +
           2 * std::sin(2 * kTwoPi * j / 168) + std::sin(j * j * 0.37);
  }
  auto d = Mstl(z, std::vector<int>{24, 168});
  ASSERT_TRUE(d.ok()) << d.status();
  const std::vector<int> idx{1, 2, 100, 336, 500, 671, 672};
  const std::vector<double> trend{100.2210676592, 100.2392786913, 102.0442974069,
                                  106.6899721523, 109.8626208074, 113.3998543480,
                                  113.4199696597};
  const std::vector<double> s24{-0.2577395362, 2.6391222321, 7.2814110983, -2.7284913934,
                                -9.8586984218, -5.2403483395, -3.0078713238};
  const std::vector<double> s168{6.2174960561, 5.1914303095, -3.2162540501, 6.1557403508,
                                 5.4174894703, 5.8502031798, 6.1592159968};
  for (size_t k = 0; k < idx.size(); ++k) {
    const int i = idx[k] - 1;
    EXPECT_NEAR(d->trend[i], trend[k], 1e-7) << i;
    EXPECT_NEAR(d->seasonal[0][i], s24[k], 1e-7) << i;
    EXPECT_NEAR(d->seasonal[1][i], s168[k], 1e-7) << i;
  }
}

TEST(MstlTest, DropsPeriodsWithoutTwoCyclesAndInterpolatesGaps) {
  TwoSeason s = MakeTwoSeason(300, 0.5);
  for (int i = 40; i < 50; ++i) {
    s.y[i] = kMissing;
  }
  auto d = Mstl(s.y, std::vector<int>{24, 168});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->periods, std::vector<int>{24});
  for (double v : d->remainder) {
    ASSERT_TRUE(std::isfinite(v));
  }
  auto none = Mstl(s.y, std::vector<int>{});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->seasonal.empty());
}

// A test-only adjusted model: the mean of the last `window` observations.
class WindowMean : public Model {
 public:
  std::string name() const override { return "windowmean"; }
  absl::Status Fit(std::span<const double> y, const FitContext&) override {
    double sum = 0;
    int m = 0;
    for (size_t i = y.size() >= 24 ? y.size() - 24 : 0; i < y.size(); ++i) {
      sum += y[i], ++m;
    }
    mean_ = sum / m;
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<double>> Predict(int h) const override {
    return std::vector<double>(h, mean_);
  }
  std::unique_ptr<Model> Clone() const override { return std::make_unique<WindowMean>(); }

 private:
  double mean_ = 0;
};

void ExpectAccurate(Model& model, double tolerance) {
  const int n = 168 * 4, h = 48;
  const TwoSeason train = MakeTwoSeason(n, 0.0);
  const TwoSeason future = MakeTwoSeason(h, 0.0, n);
  ASSERT_TRUE(model.Fit(train.y, FitContext{{24, 168}}).ok()) << model.name();
  auto fc = model.Predict(h);
  ASSERT_TRUE(fc.ok()) << fc.status();
  for (int j = 0; j < h; ++j) {
    EXPECT_NEAR((*fc)[j], future.y[j], tolerance) << model.name() << " step " << j;
  }
}

TEST(MstlModelTest, ForecastsACleanTwoSeasonSeries) {
  MstlModel with_ets;  // ETS(Z,Z,N) as R's stlf
  ExpectAccurate(with_ets, 1.0);
  EXPECT_EQ(with_ets.fallback_reason(), "");
  MstlModel with_fallback(std::make_unique<FallbackSmoother>());
  ExpectAccurate(with_fallback, 1.0);
  MstlModel with_mean(std::make_unique<WindowMean>());  // no trend: off by the drift only
  ExpectAccurate(with_mean, 2.0);
  EXPECT_EQ(with_mean.name(), "mstl+windowmean");
  auto clone = with_mean.Clone();
  EXPECT_FALSE(clone->Predict(1).ok());  // unfitted
  ExpectAccurate(*clone, 2.0);
}

TEST(MstlModelTest, UpdateContinuesTheSeasonalPhase) {
  const TwoSeason all = MakeTwoSeason(168 * 4 + 30, 0.0);
  MstlModel model(std::make_unique<FallbackSmoother>());
  const std::span<const double> y(all.y);
  ASSERT_TRUE(model.Fit(y.first(168 * 4), FitContext{{24, 168}}).ok());
  ASSERT_TRUE(model.Update(y.subspan(168 * 4)).ok());
  const TwoSeason future = MakeTwoSeason(24, 0.0, 168 * 4 + 30);
  auto fc = model.Predict(24);
  ASSERT_TRUE(fc.ok());
  for (int j = 0; j < 24; ++j) {
    EXPECT_NEAR((*fc)[j], future.y[j], 1.0) << j;
  }
}

TEST(MstlModelTest, FitsFourWeeksOfTenMinuteData) {
  // Reported, not asserted: the machine is shared and noisy.
  const int n = 4032;
  std::mt19937 rng(3);
  std::normal_distribution<double> noise(0.0, 3.0);
  std::vector<double> y(n);
  for (int i = 0; i < n; ++i) {
    y[i] = 100 + 0.01 * i + 30 * std::sin(kTwoPi * i / 144) + 10 * std::sin(kTwoPi * i / 1008) +
           noise(rng);
  }
  using Clock = std::chrono::steady_clock;
  using Ms = std::chrono::duration<double, std::milli>;
  const auto t0 = Clock::now();
  ASSERT_TRUE(Mstl(y, std::vector<int>{144, 1008}).ok());
  const auto t1 = Clock::now();
  MstlModel model;
  ASSERT_TRUE(model.Fit(y, FitContext{{144, 1008}}).ok());
  const auto t2 = Clock::now();
  ASSERT_TRUE(model.Predict(144).ok());
  std::printf("mstl 4032 points: decomposition %.1f ms, %s fit %.1f ms\n", Ms(t1 - t0).count(),
              model.name().c_str(), Ms(t2 - t1).count());
}

TEST(FallbackSmootherTest, SesOnLevelHoltOnTrend) {
  std::mt19937 rng(1);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<double> level(200), trend(200);
  for (int i = 0; i < 200; ++i) {
    level[i] = 50 + noise(rng);
    trend[i] = 10 + 0.5 * i + 0.2 * noise(rng);
  }
  level[17] = kMissing;
  FallbackSmoother ses, holt;
  ASSERT_TRUE(ses.Fit(level, FitContext{}).ok());
  ASSERT_TRUE(holt.Fit(trend, FitContext{}).ok());
  EXPECT_EQ(ses.name(), "ses");
  EXPECT_EQ(holt.name(), "holt-damped");
  EXPECT_NEAR((*ses.Predict(5))[4], 50, 1.0);
  EXPECT_NEAR((*holt.Predict(1))[0], 10 + 0.5 * 200, 1.0);
  ASSERT_TRUE(holt.Update(std::vector<double>{110.0, 110.5}).ok());
  EXPECT_NEAR((*holt.Predict(1))[0], 111, 1.0);
}

}  // namespace
}  // namespace prewarm::forecast
