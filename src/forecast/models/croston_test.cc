#include "forecast/models/croston.h"

#include <gtest/gtest.h>

#include "forecast/models/ets_test_util.h"
#include "forecast/series.h"

namespace prewarm::forecast {
namespace {

CrostonOptions Method(CrostonOptions::Method m, double alpha = 0.1, bool fit = false) {
  CrostonOptions o;
  o.method = m;
  o.alpha = alpha;
  o.fit_alpha = fit;
  return o;
}

TEST(CrostonTest, MatchesRCroston) {
  auto fixture = testing::RFixture::Load();
  ASSERT_TRUE(fixture.has_value());
  std::vector<double> y = fixture->Array("", "sparse");
  Croston croston(Method(CrostonOptions::Method::kCroston));
  ASSERT_TRUE(croston.Fit(y, {}).ok());
  EXPECT_NEAR(croston.rate(), fixture->Number("", "croston_0.1"), 1e-9);
  Croston sba(Method(CrostonOptions::Method::kSba));
  ASSERT_TRUE(sba.Fit(y, {}).ok());
  EXPECT_NEAR(sba.rate(), fixture->Number("", "sba_0.1"), 1e-9);
  auto fc = sba.Predict(3);
  ASSERT_TRUE(fc.ok());
  EXPECT_EQ(*fc, std::vector<double>(3, sba.rate()));
}

TEST(CrostonTest, UpdateEqualsRefitAndGapsAreNotTime) {
  std::vector<double> y = {0, 2, 0, 0, 1, 0, 3, 0, 0, 0, 4, 0, 1};
  Croston refit, updated;
  ASSERT_TRUE(refit.Fit(y, {}).ok());
  ASSERT_TRUE(updated.Fit(std::span(y).first(5), {}).ok());
  ASSERT_TRUE(updated.Update(std::span(y).subspan(5)).ok());
  EXPECT_DOUBLE_EQ(updated.rate(), refit.rate());
  std::vector<double> gappy = {0, 2, kMissing, 0, 0, 1, 0, 3, 0, kMissing, 0, 0, 4, 0, 1};
  Croston with_gaps;
  ASSERT_TRUE(with_gaps.Fit(gappy, {}).ok());
  EXPECT_DOUBLE_EQ(with_gaps.rate(), refit.rate());
}

TEST(CrostonTest, FitsAlphaAndHandlesAllZeros) {
  std::vector<double> y;
  for (int i = 0; i < 200; ++i) y.push_back(i % 7 == 3 ? 2.0 + (i % 3) : 0.0);
  Croston fitted(Method(CrostonOptions::Method::kSba, 0.1, true));
  ASSERT_TRUE(fitted.Fit(y, {}).ok());
  EXPECT_GE(fitted.alpha(), 0.01);
  EXPECT_LE(fitted.alpha(), 0.5);
  EXPECT_NEAR(fitted.rate(), 3.0 / 7.0, 0.1);
  Croston zeros;
  ASSERT_TRUE(zeros.Fit(std::vector<double>(20, 0.0), {}).ok());
  EXPECT_EQ(zeros.rate(), 0.0);
  EXPECT_FALSE(Croston().Fit(std::vector<double>{kMissing}, {}).ok());
  EXPECT_FALSE(Croston(Method(CrostonOptions::Method::kSba, 0.0)).Fit(y, {}).ok());
}

}  // namespace
}  // namespace prewarm::forecast
