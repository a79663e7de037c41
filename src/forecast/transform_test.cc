#include "forecast/transform.h"

#include <cmath>

#include <gtest/gtest.h>

#include "forecast/models/ets_test_util.h"
#include "forecast/series.h"

namespace prewarm::forecast {
namespace {

TEST(TransformTest, Log1pRoundTripsAndKeepsGaps) {
  Transform t = Transform::Log1p();
  EXPECT_DOUBLE_EQ(t.Forward(0.0), 0.0);
  EXPECT_NEAR(t.Inverse(t.Forward(41.5)), 41.5, 1e-12);
  EXPECT_TRUE(std::isnan(t.Forward(kMissing)));
  EXPECT_TRUE(std::isnan(t.Inverse(kMissing)));
}

TEST(TransformTest, InverseIsClampedToCounts) {
  EXPECT_EQ(Transform::Log1p().Inverse(-3.0), 0.0);
  EXPECT_EQ(Transform::None().Inverse(-3.0), 0.0);
  EXPECT_EQ(Transform::BoxCox(0.5).Inverse(-10.0), 0.0);  // below the transform's range
}

TEST(TransformTest, BoxCoxOnYPlusOne) {
  // ((3 + 1)^0.5 - 1) / 0.5 = 2.
  EXPECT_NEAR(Transform::BoxCox(0.5).Forward(3.0), 2.0, 1e-12);
  EXPECT_NEAR(Transform::BoxCox(0.0).Forward(3.0), std::log(4.0), 1e-12);
  for (double lambda : {-0.5, 0.0, 0.3, 1.0, 1.7}) {
    Transform t = Transform::BoxCox(lambda);
    std::vector<double> y = {0.0, 1.0, 17.0, kMissing, 1234.5};
    std::vector<double> back = t.Inverse(t.Forward(y));
    for (size_t i = 0; i < y.size(); ++i) {
      if (IsMissing(y[i])) {
        EXPECT_TRUE(IsMissing(back[i]));
      } else {
        EXPECT_NEAR(back[i], y[i], 1e-9 * (1 + y[i])) << "lambda " << lambda;
      }
    }
  }
}

TEST(TransformTest, ParsesNamesAndRejectsOthers) {
  EXPECT_EQ(Transform::Parse("none")->kind(), Transform::Kind::kNone);
  EXPECT_EQ(Transform::Parse("log1p")->kind(), Transform::Kind::kLog1p);
  auto fixed = Transform::Parse("boxcox:0.25");
  ASSERT_TRUE(fixed.ok());
  EXPECT_DOUBLE_EQ(fixed->lambda(), 0.25);
  EXPECT_EQ(fixed->ToString(), "boxcox:0.25");
  auto automatic = Transform::Parse("boxcox");
  ASSERT_TRUE(automatic.ok());
  EXPECT_TRUE(std::isnan(automatic->lambda()));  // chosen per series by the forecaster
  EXPECT_FALSE(Transform::Parse("log").ok());
  EXPECT_FALSE(Transform::Parse("boxcox:x").ok());
}

TEST(TransformTest, GuerreroLambdaMatchesR) {
  auto fixture = testing::RFixture::Load();
  ASSERT_TRUE(fixture.has_value());
  std::vector<double> ap = fixture->Array("", "data");
  ASSERT_EQ(ap.size(), 144u);
  // Our Box-Cox is on y + 1: feed y - 1 to compare with R's BoxCox.lambda(y).
  for (double& v : ap) v -= 1.0;
  Transform t = Transform::AutoBoxCox(ap, 12);
  EXPECT_EQ(t.kind(), Transform::Kind::kBoxCox);
  EXPECT_NEAR(t.lambda(), fixture->Number("", "guerrero_lambda"), 2e-4);
}

TEST(TransformTest, GuerreroIsWithinRange) {
  std::vector<double> y;
  for (int i = 0; i < 96; ++i) y.push_back((i % 24 < 12 ? 10.0 : 200.0) * (1 + i / 24));
  double lambda = Transform::AutoBoxCox(y, 24).lambda();
  EXPECT_GE(lambda, -1.0);
  EXPECT_LE(lambda, 2.0);
  EXPECT_DOUBLE_EQ(Transform::AutoBoxCox(std::vector<double>{1, 2, 3}, 24).lambda(), 1.0);
}

}  // namespace
}  // namespace prewarm::forecast
