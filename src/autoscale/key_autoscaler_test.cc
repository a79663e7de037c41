#include "autoscale/key_autoscaler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>

namespace prewarm::orchestrator {
namespace {

LearnedKeepAliveConfig StartPriced(double cold_s) {
  LearnedKeepAliveConfig c;
  c.weight = "start";
  c.cold_s = cold_s;
  c.surplus_cold_s = cold_s;
  c.surplus_levels = 0;
  c.timers = false;
  c.learner.prior_weight = 0;
  return c;
}

// 41 requests of 1 s each; gaps alternate 20 s and 510 s. Returns the end of the last.
int64_t FeedPairs(KeyAutoscaler& k, const KeyInputs& in) {
  int64_t t = 0;
  for (int i = 0; i < 41; ++i) {
    if (i > 0) t += i % 2 ? 20'000 : 510'000;
    k.Arrival(t, false, in);
    k.Serving(t, 1, in);
    EXPECT_TRUE(k.serving());
    t += 1'000;
    k.Serving(t, 0, in);
    EXPECT_FALSE(k.serving());
  }
  return t;
}

TEST(KeyAutoscaler, AnIdlePeriodBeginsWhenTheLastServingInstanceStops) {
  // Each request runs 1 s; gaps alternate 20 s and 510 s. Priced at 1000 s a cold start,
  // the plan keeps 66 s, then reloads from 432 s to 594 s of idle (as LearnedKeepAlive's
  // own fixture: the adapter adds no rule of its own).
  LearnedKeepAliveConfig c = StartPriced(1'000);
  KeyAutoscaler k(c, 0);
  const KeyInputs in{1.0, 2.7};
  const int64_t t = FeedPairs(k, in);
  // A second report of nothing serving is no second idle period.
  k.Serving(t + 5'000, 0, in);
  ViewKey v;
  k.Apply(v, t + 5'000, in);
  EXPECT_EQ(v.keepalive_ms, 66'000);
  ASSERT_EQ(v.windows.size(), 1u);
  EXPECT_EQ(v.windows[0].start_ms, t + 432'000);
  EXPECT_EQ(v.windows[0].end_ms, t + 594'000);
  EXPECT_EQ(v.windows[0].source, kLearnedWindowSource);
  EXPECT_TRUE(k.Pending(t + 5'000));
  EXPECT_GT(k.reloads(), 0u);
}

TEST(KeyAutoscaler, AnArrivalEndsThePendingReload) {
  LearnedKeepAliveConfig c = StartPriced(1'000);
  KeyAutoscaler k(c, 0);
  const KeyInputs in{1.0, 2.7};
  const int64_t t = FeedPairs(k, in);
  k.Arrival(t + 100'000, true, in);
  k.Serving(t + 100'000, 1, in);
  EXPECT_FALSE(k.Pending(t + 100'000));
  ViewKey v;
  k.Apply(v, t + 100'000, in);
  EXPECT_TRUE(v.windows.empty());
}

TEST(KeyAutoscaler, NothingServedYetLeavesTheTemplatesKeepAlive) {
  LearnedKeepAliveConfig c = StartPriced(1'000);
  KeyAutoscaler k(c, 0);
  k.Serving(10, 0, {});
  ViewKey v;
  k.Apply(v, 10, {});
  EXPECT_EQ(v.keepalive_ms, -1);
  EXPECT_TRUE(v.windows.empty());
  EXPECT_FALSE(k.Pending(10));
}

TEST(KeyAutoscaler, AnHourlyTimerGetsAWindowBeforeItsNextFiring) {
  LearnedKeepAliveConfig c = StartPriced(100'000);
  c.timers = true;
  KeyAutoscaler k(c, 0);
  const KeyInputs in{1.0, 2.7};
  const int64_t hour = 3'600'000;
  for (int i = 1; i <= 6; ++i) {
    k.Arrival(i * hour, false, in);
    k.Serving(i * hour, 1, in);
    k.Serving(i * hour + 1'000, 0, in);
  }
  const int64_t now = 6 * hour + 60'000;
  EXPECT_TRUE(k.Pending(now));
  ViewKey v;
  k.Apply(v, now, in);
  auto timer = std::find_if(v.windows.begin(), v.windows.end(),
                            [](const PrefetchWindow& w) { return w.source == kTimerWindowSource; });
  ASSERT_NE(timer, v.windows.end());
  // The next firing's minute slot, widened by the detector's jitter (2 slots) each side.
  EXPECT_EQ(timer->start_ms, 7 * hour - 2 * 60'000);
  EXPECT_EQ(timer->end_ms, 7 * hour + 3 * 60'000);
}

TEST(AddForecastWindow, KeepsEveryWindowThatHasNotEndedSoTheDueOneIsStillThere) {
  // A forecaster sends a window each minute, each starting a minute ahead: at 90 s the
  // window received at 60 s (due from 120 s) is the newest, and the one received at 0 s
  // covers now. Keeping only the newest would leave nothing due.
  ViewKey k;
  AddForecastWindow(k, {60'000, 120'000, 3, {}, 0, 0}, 0);
  AddForecastWindow(k, {120'000, 180'000, 5, {}, 60'000, 0}, 60'000);
  ASSERT_EQ(k.windows.size(), 2u);
  TemplatePolicy tp;
  tp.lead_ms = 5'000;
  const PrefetchWindow* due = DueWindow(k, tp, 90'000);
  ASSERT_NE(due, nullptr);
  EXPECT_EQ(due->target, 3u);
  // Ended windows of the same source go when the next one arrives.
  AddForecastWindow(k, {180'000, 240'000, 7, {}, 120'000, 0}, 130'000);
  ASSERT_EQ(k.windows.size(), 2u);
  EXPECT_EQ(k.windows[0].target, 5u);
  EXPECT_EQ(k.windows[1].target, 7u);
}

TEST(AddForecastWindow, OtherSourcesAreLeftAloneAndTheOldestGoesAtTheCap) {
  ViewKey k;
  k.windows.push_back({0, 10, 1, {}, 0, kLearnedWindowSource});  // ended, another source
  for (size_t i = 0; i < kMaxWindowsPerKey + 3; ++i) {
    const int64_t t = static_cast<int64_t>(i);
    AddForecastWindow(k, {1'000'000, 2'000'000, 1, {}, t, 0}, t);
  }
  EXPECT_EQ(k.windows.size(), kMaxWindowsPerKey + 1);
  EXPECT_EQ(k.windows[0].source, kLearnedWindowSource);
  int64_t oldest = INT64_MAX;
  for (const auto& w : k.windows)
    if (w.source == 0) oldest = std::min(oldest, w.received_ms);
  EXPECT_EQ(oldest, 3);
}

TEST(MemoryRatio, IsOneWhenUnknown) {
  EXPECT_DOUBLE_EQ(MemoryRatio(256, 128), 2.0);
  EXPECT_DOUBLE_EQ(MemoryRatio(0, 128), 1.0);
  EXPECT_DOUBLE_EQ(MemoryRatio(256, 0), 1.0);
}

}  // namespace
}  // namespace prewarm::orchestrator
