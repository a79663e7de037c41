#include "forecast/metrics.h"

#include <gtest/gtest.h>

#include "forecast/series.h"

namespace prewarm::forecast {
namespace {

TEST(MetricsTest, MaseIsScaledBySeasonalNaiveInSampleError) {
  std::vector<double> train = {1, 2, 3, 2, 4, 5};  // m=3: |2-1|,|4-2|,|5-3| -> mean 5/3
  EXPECT_NEAR(SeasonalNaiveScale(train, 3), 5.0 / 3, 1e-12);
  std::vector<double> actual = {10, 20};
  std::vector<double> fc = {11, 18};  // mean abs error 1.5
  EXPECT_NEAR(Mase(actual, fc, 5.0 / 3), 1.5 / (5.0 / 3), 1e-12);
  EXPECT_TRUE(IsMissing(Mase(actual, fc, 0)));
}

TEST(MetricsTest, MissingValuesAreSkippedNotZeros) {
  std::vector<double> train = {1, kMissing, 3, 2, 4, 5};  // pair (kMissing,4) skipped
  EXPECT_NEAR(SeasonalNaiveScale(train, 3), (1.0 + 2.0) / 2, 1e-12);
  std::vector<double> actual = {10, kMissing, 30};
  std::vector<double> fc = {11, 0, 27};
  EXPECT_NEAR(Mase(actual, fc, 1), 2.0, 1e-12);
}

TEST(MetricsTest, SmapePinballAndCoverage) {
  std::vector<double> actual = {0, 100, 50};
  std::vector<double> fc = {0, 50, 50};
  EXPECT_NEAR(Smape(actual, fc), (0 + 200.0 * 50 / 150 + 0) / 3, 1e-9);
  std::vector<double> q = {10, 10, 10};
  // tau 0.9: d = -10 -> 1.0; d = 90 -> 81; d = 40 -> 36.
  EXPECT_NEAR(Pinball(actual, q, 0.9), (1.0 + 81 + 36) / 3, 1e-9);
  std::vector<double> lo = {0, 0, 60};
  std::vector<double> hi = {1, 200, 70};
  EXPECT_NEAR(Coverage(actual, lo, hi), 2.0 / 3, 1e-12);
}

}  // namespace
}  // namespace prewarm::forecast
