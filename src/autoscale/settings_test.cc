#include "autoscale/settings.h"

#include <gtest/gtest.h>

namespace prewarm::orchestrator {
namespace {

TEST(Settings, EveryRowReadsBackWhatItWrote) {
  // Each row's default, written and parsed again, is the same setting: the table can print
  // its defaults in the form it reads.
  AutoscalerSettings defaults;
  for (const Setting& s : SettingsTable()) {
    AutoscalerSettings a;
    ASSERT_TRUE(ApplySetting(a, s.name, s.get(defaults)).ok()) << s.name << "=" << s.get(defaults);
    EXPECT_EQ(s.get(a), s.get(defaults)) << s.name;
  }
}

TEST(Settings, DurationsTakeUnitsAndOutOfRangeValuesAreRefusedWithTheirBounds) {
  AutoscalerSettings a;
  ASSERT_TRUE(ApplySetting(a, "keepalive_s", "10m").ok());
  EXPECT_EQ(a.keepalive_ms, 600'000);
  ASSERT_TRUE(ApplySetting(a, "stable_window_s", "90").ok());
  EXPECT_EQ(a.stable_window_ms, 90'000);
  ASSERT_TRUE(ApplySetting(a, "cold_start_cost_s", "1h").ok());
  EXPECT_DOUBLE_EQ(a.learned.cold_s, 3600);
  auto bad = ApplySetting(a, "stable_window_s", "2h");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("between 1 s and 3600 s"), std::string::npos) << bad.message();
  EXPECT_FALSE(ApplySetting(a, "panic_threshold", "0.5").ok());
  EXPECT_FALSE(ApplySetting(a, "target_utilisation", "nan").ok());
  EXPECT_FALSE(ApplySetting(a, "surplus_levels", "2.5").ok());
  EXPECT_FALSE(ApplySetting(a, "surplus_levels", "65").ok());
  EXPECT_FALSE(ApplySetting(a, "weight", "loud").ok());
  EXPECT_FALSE(ApplySetting(a, "timers", "maybe").ok());
  EXPECT_FALSE(ApplySetting(a, "keepalive_s", "-1").ok());
  EXPECT_FALSE(ApplySetting(a, "keepalive_s", "1e300").ok());
  auto unknown = ApplySetting(a, "cold", "1h");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.message().find("cold_start_cost_s"), std::string::npos) << "lists the names";
}

TEST(Settings, OffMeansNeverWhereARowAllowsIt) {
  AutoscalerSettings a;
  ASSERT_TRUE(ApplySetting(a, "keep_first_min_samples", "off").ok());
  EXPECT_EQ(a.learned.learner.keep_first_min_samples, UINT64_MAX);
  EXPECT_EQ(FindSetting("keep_first_min_samples")->get(a), "off");
  EXPECT_FALSE(ApplySetting(a, "surplus_levels", "off").ok());
}

TEST(Settings, TheSurplusPriceFollowsTheFirstUnlessGivenItsOwn) {
  AutoscalerSettings a;
  ASSERT_TRUE(ApplySettings(a, {{"cold_start_cost_s", "600"}}).ok());
  EXPECT_DOUBLE_EQ(a.learned.surplus_cold_s, 600);
  AutoscalerSettings b;
  // Given both, in either order of the map: the surplus keeps its own.
  ASSERT_TRUE(
      ApplySettings(b, {{"surplus_cold_start_cost_s", "90"}, {"cold_start_cost_s", "600"}}).ok());
  EXPECT_DOUBLE_EQ(b.learned.cold_s, 600);
  EXPECT_DOUBLE_EQ(b.learned.surplus_cold_s, 90);
}

TEST(Settings, ThePanicWindowMustFitInTheStableWindow) {
  AutoscalerSettings a;
  EXPECT_FALSE(ApplySettings(a, {{"stable_window_s", "4"}}).ok());
  AutoscalerSettings b;
  EXPECT_TRUE(ApplySettings(b, {{"stable_window_s", "4"}, {"panic_window_s", "2"}}).ok());
}

TEST(Settings, PoliciesArePresetsOfTheSameSettings) {
  auto fixed = PolicySettings("fixed-keepalive");
  ASSERT_TRUE(fixed.ok());
  EXPECT_FALSE(fixed->proactive);
  EXPECT_FALSE(fixed->reactive);
  EXPECT_FALSE(fixed->learned_keepalive);
  EXPECT_EQ(fixed->keepalive_ms, 600'000);
  auto kpa = PolicySettings("reactive-kpa");
  ASSERT_TRUE(kpa.ok());
  EXPECT_FALSE(kpa->proactive);
  EXPECT_TRUE(kpa->reactive);
  EXPECT_EQ(kpa->stable_window_ms, 60'000);
  EXPECT_EQ(kpa->panic_window_ms, 6'000);
  EXPECT_EQ(kpa->keepalive_ms, 90'000);     // the stable window + Knative's 30-s grace
  EXPECT_EQ(kpa->surplus_keepalive_ms, 0);  // surplus goes when the window no longer wants it
  auto hybrid = PolicySettings("hybrid-histogram");
  ASSERT_TRUE(hybrid.ok());
  EXPECT_FALSE(hybrid->proactive || hybrid->reactive);
  EXPECT_TRUE(hybrid->learned_keepalive);
  EXPECT_EQ(hybrid->learned.planner, LearnedKeepAliveConfig::Planner::kHybridHistogram);
  EXPECT_EQ(hybrid->learned.surplus_levels, 64u);  // each concurrency rank its own histogram
  EXPECT_FALSE(hybrid->learned.bursts || hybrid->learned.timers);
  auto pred = PolicySettings("predictive");
  ASSERT_TRUE(pred.ok());
  EXPECT_TRUE(pred->proactive && pred->reactive && pred->learned_keepalive);
  EXPECT_EQ(pred->keepalive_ms, 60'000);
  auto bad = PolicySettings("hopeful");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("predictive"), std::string::npos);
}

TEST(Settings, TheReconcilerGetsTheWindowsAndTheDefaultTemplate) {
  AutoscalerSettings a;
  ASSERT_TRUE(ApplySettings(a, {{"stable_window_s", "30"},
                                {"panic_window_s", "3"},
                                {"panic_threshold", "3"},
                                {"target_utilisation", "0.5"},
                                {"keepalive_s", "45"},
                                {"reactive", "off"}})
                  .ok());
  ReconcilerConfig rc = MakeReconcilerConfig(a);
  EXPECT_EQ(rc.stable_window_ms, 30'000);
  EXPECT_EQ(rc.panic_window_ms, 3'000);
  EXPECT_EQ(rc.panic_threshold, 3);
  EXPECT_FALSE(rc.reactive);
  EXPECT_TRUE(rc.proactive);
  EXPECT_EQ(rc.default_template.keepalive_ms, 45'000);
  EXPECT_EQ(rc.default_template.target_utilisation, 0.5);
}

TEST(ParseDurationMs, UnitsAndPlainSeconds) {
  EXPECT_EQ(*ParseDurationMs("1500ms"), 1500);
  EXPECT_EQ(*ParseDurationMs("90s"), 90'000);
  EXPECT_EQ(*ParseDurationMs("10m"), 600'000);
  EXPECT_EQ(*ParseDurationMs("2h"), 7'200'000);
  EXPECT_EQ(*ParseDurationMs("1d"), 86'400'000);
  EXPECT_EQ(*ParseDurationMs("2.5"), 2'500);
  EXPECT_FALSE(ParseDurationMs("").ok());
  EXPECT_FALSE(ParseDurationMs("m").ok());
  EXPECT_FALSE(ParseDurationMs("10 m").ok());
  EXPECT_FALSE(ParseDurationMs("-5s").ok());
  EXPECT_FALSE(ParseDurationMs("inf").ok());
}

}  // namespace
}  // namespace prewarm::orchestrator
