#include "forecast/models/snaive.h"

#include <gtest/gtest.h>

#include "forecast/series.h"

namespace prewarm::forecast {
namespace {

std::vector<double> Predict(const Model& m, int h) {
  auto p = m.Predict(h);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : std::vector<double>{};
}

TEST(SeasonalNaiveTest, RepeatsTheLastCycle) {
  SeasonalNaive m(3);
  ASSERT_TRUE(m.Fit(std::vector<double>{1, 2, 3, 4, 5, 6, 7}, {}).ok());
  // Next step is t = 7 (slot 1), whose last value was y[4] = 5.
  EXPECT_EQ(Predict(m, 5), (std::vector<double>{5, 6, 7, 5, 6}));
  EXPECT_EQ(m.name(), "snaive(3)");
}

TEST(SeasonalNaiveTest, CarriesTheLastObservedValueOfAMissingSeason) {
  SeasonalNaive m(3);
  ASSERT_TRUE(m.Fit(std::vector<double>{1, 2, 3, 4, kMissing, 6, kMissing}, {}).ok());
  EXPECT_EQ(Predict(m, 3), (std::vector<double>{2, 6, 4}));
}

TEST(SeasonalNaiveTest, UpdateEqualsRefit) {
  std::vector<double> y = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7};
  SeasonalNaive refit(4), updated(4);
  ASSERT_TRUE(refit.Fit(y, {}).ok());
  ASSERT_TRUE(updated.Fit(std::span(y).first(6), {}).ok());
  ASSERT_TRUE(updated.Update(std::span(y).subspan(6)).ok());
  EXPECT_EQ(Predict(updated, 9), Predict(refit, 9));
}

TEST(SeasonalNaiveTest, TakesTheFirstPeriodTheDataCovers) {
  SeasonalNaive m;
  std::vector<double> y(30);
  for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<double>(i % 24);
  ASSERT_TRUE(m.Fit(y, FitContext{{24, 168}}).ok());
  EXPECT_EQ(m.period(), 24);
  ASSERT_TRUE(m.Fit(std::span(y).first(10), FitContext{{24, 168}}).ok());
  EXPECT_EQ(m.period(), 1);  // plain naive: last value
  EXPECT_EQ(m.name(), "naive");
  EXPECT_EQ(Predict(m, 2), (std::vector<double>{9, 9}));
}

TEST(SeasonalNaiveTest, FailsWithoutObservationsOrFit) {
  SeasonalNaive m(2);
  EXPECT_FALSE(m.Predict(1).ok());
  EXPECT_FALSE(m.Fit(std::vector<double>{kMissing, kMissing}, {}).ok());
  EXPECT_NE(m.Clone(), nullptr);
}

}  // namespace
}  // namespace prewarm::forecast
