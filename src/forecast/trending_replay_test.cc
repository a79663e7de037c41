#include "forecast/trending_replay.h"

#include <string>

#include "fmt/format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace prewarm::forecast {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// A Combined Log Format line `s` seconds after 10:00:00.
std::string Line(int s, std::string_view path, int status, uint64_t bytes) {
  return fmt::format(
      "10.0.0.1 - - [17/May/2015:10:{:02}:{:02} +0000] \"GET {} HTTP/1.1\" {} {} \"-\" \"t\"\n",
      s / 60, s % 60, path, status, bytes);
}

// Training [0, 120 s): a x3 (100 B), b (50 B), c (10 B). Then two one-minute windows:
// [120, 180): c, c, a, a 404 (not counted), an id that is not valid (a miss for all);
// [180, 240): c, b. A garbage line sits in the middle, and the log is out of order.
std::string Fixture() {
  return Line(0, "/a", 200, 100) + Line(20, "/a", 200, 100) + Line(10, "/a", 304, 0) +
         Line(30, "/b", 200, 50) + Line(90, "/c?x=1", 200, 10) + "this is no log line\n" +
         Line(130, "/c", 200, 10) + Line(140, "/c", 200, 10) + Line(150, "/a", 200, 100) +
         Line(160, "/missing", 404, 9) + Line(170, "/%2e%2e/x", 200, 5) + Line(210, "/b", 200, 50) +
         Line(200, "/c", 304, 0);
}

TrendingReplayOptions Minutes(uint64_t budget) {
  TrendingReplayOptions o;
  o.ks = {1};
  o.scratch_bytes = budget;
  o.train_ms = 120'000;
  o.previous_ms = 60'000;
  o.trending.window_ms = 60'000;
  o.trending.half_lives = {1};
  o.trending.max_rank = 10;
  o.trending.max_contents = 100;
  return o;
}

TEST(TrendingReplayTest, ThreePoliciesOnAHandCountedLog) {
  auto r = ReplayTrending(ingest::LineSource::FromString("fixture", Fixture()), Minutes(0));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->read.bad_lines, 1u);
  EXPECT_THAT(r->read.first_errors.at(0), StartsWith("fixture:6: "));
  EXPECT_EQ(r->windows, 2u);
  EXPECT_EQ(r->requests, 6u);  // c c a bad-id | b c
  EXPECT_EQ(r->invalid_ids, 1u);
  EXPECT_EQ(r->skipped_status, 1u);
  const TrendingReplayRow& k1 = r->rows.at(0);
  // static: a, the most requested of the training span: hit once (150 s).
  EXPECT_EQ(k1.static_list.hits, 1u);
  EXPECT_EQ(k1.static_list.preloaded_bytes, 200u);
  // previous minute: c both times ([60, 120) and [120, 180)): c c, then c.
  EXPECT_EQ(k1.previous.hits, 3u);
  EXPECT_EQ(k1.previous.preloaded_bytes, 20u);
  // trending (a = 1/2): at 120 s nothing is scored yet and the level ranks a (3/4) over
  // c (1/2): hit at 150. Then the trend estimator's c served 2 where the level's a
  // served 1, and it ranks c (7/4) over a (1): hit at 200.
  EXPECT_EQ(k1.trending.hits, 2u);
  EXPECT_EQ(k1.trending.preloaded_bytes, 110u);
  EXPECT_EQ(k1.estimators.at("h=1w"), 1u);
  EXPECT_EQ(k1.estimators.at("h=1w+trend"), 1u);
  EXPECT_DOUBLE_EQ(k1.trending.HitRatio(r->requests), 2.0 / 6);
  EXPECT_DOUBLE_EQ(k1.trending.BytesPerHit(), 55);
  std::string table = TrendingReplayTable(*r, Minutes(0));
  EXPECT_THAT(table, HasSubstr("2.000x     0.667x"));  // trending / static, / previous
}

TEST(TrendingReplayTest, TheByteBudgetBindsEveryPolicyAlike) {
  // 50 bytes: a (100) fits no list, so the static list is b.
  auto r = ReplayTrending(ingest::LineSource::FromString("fixture", Fixture()), Minutes(50));
  ASSERT_TRUE(r.ok()) << r.status();
  const TrendingReplayRow& k1 = r->rows.at(0);
  EXPECT_EQ(k1.static_list.hits, 1u);  // b at 210 s
  EXPECT_EQ(k1.static_list.preloaded_bytes, 100u);
  EXPECT_EQ(k1.previous.hits, 3u);
}

TEST(TrendingReplayTest, ALogNoLongerThanTheTrainingSpanIsAnError) {
  TrendingReplayOptions o = Minutes(0);
  o.train_ms = 3'600'000;
  auto r = ReplayTrending(ingest::LineSource::FromString("short", Fixture()), o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("training span"));
  auto empty = ReplayTrending(ingest::LineSource::FromString("empty", "junk\n"), Minutes(0));
  EXPECT_THAT(empty.status().message(), HasSubstr("empty: no request line"));
  o = Minutes(0);
  o.ks = {0};
  EXPECT_FALSE(ReplayTrending(ingest::LineSource::FromString("f", Fixture()), o).ok());
}

}  // namespace
}  // namespace prewarm::forecast
