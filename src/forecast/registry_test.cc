#include "forecast/registry.h"

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
  const std::vector<std::string> want = {"snaive", "ets",   "croston",    "sba",
                                         "prophetlike", "mstl", "combo", "combo_mean",
                                         "combo_weighted", "auto"};
  EXPECT_EQ(ModelNames(), want);
}

std::vector<double> Seasonal(int n, int period) {
  std::vector<double> y;
  for (int t = 0; t < n; ++t) y.push_back(100 + 50 * std::sin(2 * M_PI * t / period));
  return y;
}

TEST(RegistryTest, AutoPicksSbaForMostlyZeros) {
  std::vector<double> sparse(400, 0.0);
  for (size_t t = 0; t < sparse.size(); t += 7) sparse[t] = 3;
  auto m = MakeModel("auto", std::vector<int>{24});
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->Fit(sparse, FitContext{{24}}).ok());
  EXPECT_NE((*m)->name().find("sba"), std::string::npos) << (*m)->name();

  auto dense = MakeModel("auto", std::vector<int>{24});
  ASSERT_TRUE((*dense)->Fit(Seasonal(24 * 14, 24), FitContext{{24}}).ok());
  EXPECT_NE((*dense)->name().find("median("), std::string::npos) << (*dense)->name();
}

TEST(RegistryTest, ZeroShareSkipsMissing) {
  EXPECT_DOUBLE_EQ(ZeroShare(std::vector<double>{0, 1, NAN, 0}), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(ZeroShare(std::vector<double>{}), 0.0);
}

}  // namespace
}  // namespace prewarm::forecast
