#include "forecast/registry.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace prewarm::forecast {
namespace {

TEST(RegistryTest, EveryListedNameMakesAModel) {
  for (const std::string& name : ModelNames()) {
    absl::StatusOr<std::unique_ptr<Model>> m = MakeModel(name, std::vector<int>{24, 168});
    ASSERT_TRUE(m.ok()) << name << ": " << m.status();
    EXPECT_NE(*m, nullptr);
  }
}

TEST(RegistryTest, UnknownNameListsTheValidOnes) {
  absl::StatusOr<std::unique_ptr<Model>> m = MakeModel("arima");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find("arima"), std::string::npos);
  EXPECT_NE(m.status().message().find("snaive"), std::string::npos);
  EXPECT_NE(m.status().message().find("combo_weighted"), std::string::npos);
}

TEST(RegistryTest, NamesAreTheIssuesModels) {
  const std::vector<std::string> want = {"snaive",         "ets",  "croston",  "sba",
                                         "prophetlike",    "mstl", "combo",    "combo_mean",
                                         "combo_weighted", "auto", "auto_best"};
  EXPECT_EQ(ModelNames(), want);
}

std::vector<double> Seasonal(int n, int period) {
  std::vector<double> y;
  for (int t = 0; t < n; ++t) y.push_back(100 + 50 * std::sin(2 * M_PI * t / period));
  return y;
}

TEST(RegistryTest, AutoWeighsThreeCandidatesAndAutoBestOne) {
  auto top3 = MakeModel("auto", std::vector<int>{24});
  auto best = MakeModel("auto_best", std::vector<int>{24});
  ASSERT_TRUE(top3.ok() && best.ok());
  const std::vector<double> y = Seasonal(24 * 14, 24);
  ASSERT_TRUE((*top3)->Fit(y, FitContext{{24}, 24}).ok());
  ASSERT_TRUE((*best)->Fit(y, FitContext{{24}, 24}).ok());
  const std::string name = (*best)->name();
  EXPECT_EQ(std::count(name.begin(), name.end(), '+'), 0) << name;
  EXPECT_TRUE((*top3)->ChoosesTransform());
}

TEST(RegistryTest, ZeroShareSkipsMissing) {
  EXPECT_DOUBLE_EQ(ZeroShare(std::vector<double>{0, 1, NAN, 0}), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(ZeroShare(std::vector<double>{}), 0.0);
}

}  // namespace
}  // namespace prewarm::forecast
