#include "forecast/trending.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace prewarm::forecast {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// One-second windows and one half-life of one window: a = 1/2, so every number below is
// exact and can be followed by hand.
TrendingOptions Halves() {
  TrendingOptions o;
  o.window_ms = 1000;
  o.half_lives = {1};
  o.max_rank = 10;
  o.max_contents = 100;
  return o;
}

TEST(TrendingTest, LevelAndTrendFollowBrownsSmoothingByHand) {
  ContentRanker r(Halves());
  ASSERT_TRUE(r.Add(0, "a", 4, 100).ok());
  r.AdvanceTo(1000);
  // a: S1 = 4/2 = 2, S2 = 2/2 = 1; level 2, trend 2 + (2 - 1) / (1/2) = 4. Nothing scored
  // yet, so the tie goes to the level estimator.
  TrendingPick p = r.Select(1, 0);
  EXPECT_THAT(p.ids, ElementsAre("a"));
  EXPECT_DOUBLE_EQ(p.forecast, 2);
  EXPECT_EQ(p.bytes, 100u);
  EXPECT_EQ(p.estimator, "h=1w");

  ASSERT_TRUE(r.Add(1500, "b", 2, 10).ok());
  r.AdvanceTo(2000);
  // Scored: both lists were [a], which got nothing. a: S1 = 1, S2 = 1 (level 1, trend 1);
  // b: S1 = 1, S2 = 1/2 (level 1, trend 2). Level ranks a, b (tie by id), trend b, a.
  ASSERT_TRUE(r.Add(2500, "b", 2, 10).ok());
  r.AdvanceTo(3000);
  // Scored: the top-1 of level (a) served 0, of trend (b) served 2; both top-2 served 2.
  // b: S1 = 1 + 1/2 = 3/2, S2 = 3/4 + 1/4 = 1, trend 3/2 + (1/2) / (1/2) = 5/2.
  // a: S1 = 1/2, S2 = 3/4: level 1/2, trend 1/2 - 1/2 = 0 (dropped from the trend list).
  p = r.Select(1, 0);
  EXPECT_THAT(p.ids, ElementsAre("b"));
  EXPECT_DOUBLE_EQ(p.forecast, 2.5);
  EXPECT_EQ(p.estimator, "h=1w+trend");
  p = r.Select(2, 0);  // tie at k = 2 (2 served each): the level estimator
  EXPECT_THAT(p.ids, ElementsAre("b", "a"));
  EXPECT_DOUBLE_EQ(p.forecast, 2);
  EXPECT_EQ(p.estimator, "h=1w");

  absl::StatusOr<ContentInfo> a = r.Lookup("a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->bytes, 100u);
  EXPECT_EQ(a->requests, 4u);
  EXPECT_DOUBLE_EQ(a->forecast, 0);  // by the trend estimator, which serves k = 1 best
}

// One window with a:8, b:6, c:4, d:2 requests (sizes 100, 60, 50, 10) and e:3 of unknown
// size. Level forecasts are half the counts: a 4, b 3, c 2, e 1.5, d 1.
ContentRanker Knapsack() {
  ContentRanker r(Halves());
  EXPECT_TRUE(r.Add(0, "a", 8, 100).ok());
  EXPECT_TRUE(r.Add(0, "b", 6, 60).ok());
  EXPECT_TRUE(r.Add(0, "c", 4, 50).ok());
  EXPECT_TRUE(r.Add(0, "d", 2, 10).ok());
  EXPECT_TRUE(r.Add(0, "e", 3, 0).ok());
  r.AdvanceTo(1000);
  return r;
}

TEST(TrendingTest, WithoutBudgetTheKMostLikelyAreTaken) {
  ContentRanker r = Knapsack();
  EXPECT_THAT(r.Select(4, 0).ids, ElementsAre("a", "b", "c", "e"));
  EXPECT_THAT(r.Select(0, 0).ids, ElementsAre());
}

TEST(TrendingTest, WhenTheCountBindsTheFillByForecastWins) {
  ContentRanker r = Knapsack();
  // By forecast a + b = 7 (160 bytes); by forecast per byte d, b = 4.
  TrendingPick p = r.Select(2, 1000);
  EXPECT_THAT(p.ids, ElementsAre("a", "b"));
  EXPECT_DOUBLE_EQ(p.forecast, 7);
  EXPECT_EQ(p.bytes, 160u);
}

TEST(TrendingTest, WhenTheBytesBindTheFillByDensityWins) {
  ContentRanker r = Knapsack();
  // 120 bytes, k = 3. By forecast: a (100), then only d fits: 4 + 1 = 5.
  // By density (d .1, b .05, a .04, c .04): d, b, then c fits: 1 + 3 + 2 = 6.
  TrendingPick p = r.Select(3, 120);
  EXPECT_THAT(p.ids, ElementsAre("b", "c", "d"));
  EXPECT_DOUBLE_EQ(p.forecast, 6);
  EXPECT_EQ(p.bytes, 120u);
  // e's size is unknown: never taken under a budget.
  EXPECT_THAT(r.Select(5, 1'000'000).ids, ElementsAre("a", "b", "c", "d"));
}

TrendingOptions Ladder() {
  TrendingOptions o;
  o.window_ms = 1000;
  o.max_rank = 10;
  o.max_contents = 1000;
  return o;  // the shipped half-lives
}

TEST(TrendingTest, ABurstMovesTheRankingToAShortMemory) {
  ContentRanker r(Ladder());
  int64_t t = 0;
  for (int w = 0; w < 50; ++w, t += 1000) ASSERT_TRUE(r.Add(t, "old", 5, 1).ok());
  for (int w = 0; w < 10; ++w, t += 1000) ASSERT_TRUE(r.Add(t, "new", 10, 1).ok());
  r.AdvanceTo(t);
  TrendingPick p = r.Select(1, 0);
  EXPECT_THAT(p.ids, ElementsAre("new"));
  EXPECT_THAT(p.estimator, ::testing::AnyOf("h=1w", "h=1w+trend", "h=4w", "h=4w+trend"));
}

TEST(TrendingTest, OneOffNoiseDoesNotDisplaceSteadyContent) {
  ContentRanker r(Ladder());
  int64_t t = 0;
  for (int w = 0; w < 60; ++w, t += 1000) {
    ASSERT_TRUE(r.Add(t, "steady", 1, 1).ok());
    ASSERT_TRUE(r.Add(t, "once-" + std::to_string(w), 2, 1).ok());
  }
  r.AdvanceTo(t);
  TrendingPick p = r.Select(1, 0);
  EXPECT_THAT(p.ids, ElementsAre("steady"));
  EXPECT_THAT(p.estimator, ::testing::Not(::testing::AnyOf("h=1w", "h=1w+trend")));
}

TEST(TrendingTest, LateRequestsCountInTheOpenWindow) {
  ContentRanker r(Halves());
  ASSERT_TRUE(r.Add(1500, "a", 2, 0).ok());
  EXPECT_EQ(r.window_start_ms(), 1000);
  ASSERT_TRUE(r.Add(900, "b", 4, 0).ok());  // before the window: counted in it, not lost
  r.AdvanceTo(2000);
  EXPECT_THAT(r.Select(2, 0).ids, ElementsAre("b", "a"));
  EXPECT_EQ(r.windows_closed(), 1u);
}

TEST(TrendingTest, SilenceDecaysThenForgets) {
  ContentRanker r(Halves());
  ASSERT_TRUE(r.Add(0, "a", 8, 0).ok());
  r.AdvanceTo(3000);  // S1 = 4, 2, 1
  EXPECT_DOUBLE_EQ(r.Lookup("a")->forecast, 1);
  EXPECT_EQ(r.windows_closed(), 3u);
  r.AdvanceTo(1'000'000);  // 997 more windows, more than 20 half-lives
  EXPECT_EQ(r.windows_closed(), 1000u);
  EXPECT_EQ(r.tracked(), 0u);
  EXPECT_TRUE(r.Select(1, 0).ids.empty());
  EXPECT_EQ(r.window_start_ms(), 1'000'000);
}

TEST(TrendingTest, PastMaxContentsTheLeastLikelyAreForgotten) {
  TrendingOptions o = Halves();
  o.max_rank = 2;
  o.max_contents = 2;
  ContentRanker r(o);
  ASSERT_TRUE(r.Add(0, "x", 3, 0).ok());
  ASSERT_TRUE(r.Add(0, "y", 2, 0).ok());
  ASSERT_TRUE(r.Add(0, "z", 1, 0).ok());
  r.AdvanceTo(1000);
  EXPECT_EQ(r.tracked(), 2u);
  EXPECT_TRUE(r.Lookup("y").ok());
  EXPECT_EQ(r.Lookup("z").status().code(), absl::StatusCode::kNotFound);
}

TEST(TrendingTest, BadIdsSizesAndCountsAreRefusedWithTheReason) {
  ContentRanker r(Halves());
  for (std::string_view bad : {"", "/etc/passwd", "a/../../b", "a?x=1"}) {
    absl::Status st = r.Add(0, bad, 1, 0);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(st.message(), HasSubstr("bad content id")) << bad;
  }
  EXPECT_FALSE(r.Add(0, std::string("a\0b", 3), 1, 0).ok());
  absl::Status big = r.Add(0, "big.iso", 1, (1ULL << 40) + 1);
  EXPECT_THAT(big.message(), HasSubstr("over the limit"));
  EXPECT_FALSE(r.Add(0, "a", 2'000'000'000, 0).ok());
  EXPECT_EQ(r.tracked(), 0u);
  absl::Status unknown = r.Lookup("never/seen.css").status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(unknown.message(), HasSubstr("'never/seen.css' is unknown"));
  EXPECT_EQ(r.Lookup("../x").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TrendingTest, OptionsOutOfRangeAreRefused) {
  TrendingOptions o;
  EXPECT_TRUE(ValidateTrendingOptions(o).ok());
  o.window_ms = 0;
  EXPECT_FALSE(ValidateTrendingOptions(o).ok());
  o = {};
  o.half_lives = {};
  EXPECT_FALSE(ValidateTrendingOptions(o).ok());
  o.half_lives = {-1};
  EXPECT_FALSE(ValidateTrendingOptions(o).ok());
  o = {};
  o.max_contents = o.max_rank - 1;
  EXPECT_FALSE(ValidateTrendingOptions(o).ok());
}

}  // namespace
}  // namespace prewarm::forecast
