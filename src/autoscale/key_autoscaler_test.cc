#include "autoscale/key_autoscaler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "autoscale/settings.h"

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
  const KeyInputs in{1.0, 2.7, {}};
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
  const KeyInputs in{1.0, 2.7, {}};
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
  const KeyInputs in{1.0, 2.7, {}};
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

// What a key's policy wrote at each of a run's checkpoints: its keep-alive and windows.
struct Written {
  int64_t keepalive_ms = 0;
  std::vector<PrefetchWindow> windows;
};

// A key fed a day of irregular demand (gaps of 20 s to 2 h, an hourly timer among them,
// requests of 2 s), every time divided by `speed`, under `policy`'s preset at time_scale
// `speed`; what it wrote after each idle period began.
std::vector<Written> RunFaster(const std::string& policy, int64_t speed) {
  auto settings = PolicySettings(policy);
  EXPECT_TRUE(settings.ok());
  settings->time_scale = static_cast<double>(speed);
  const LearnedKeepAliveConfig config = OnPolicyClock(*settings).learned;
  KeyAutoscaler k(config, 0);
  const KeyInputs in{1.0, 2.0 / static_cast<double>(speed), {}};
  const int64_t gaps_s[] = {20, 510, 3'600, 45, 1'200, 3'600, 7'200, 90, 3'600, 600, 30, 3'600};
  std::vector<Written> out;
  int64_t t = 0;
  for (int i = 0; i < 96; ++i) {
    t += gaps_s[i % std::size(gaps_s)] * 1'000;
    k.Arrival(t / speed, false, in);
    k.Serving(t / speed, 1, in);
    k.Serving((t + 2'000) / speed, 0, in);
    ViewKey v;
    k.Apply(v, (t + 2'000) / speed, in);
    out.push_back({v.keepalive_ms, v.windows});
  }
  return out;
}

// On a clock ten times faster (a trace replayed at --speed 10), time_scale 10 gives the
// plan of the trace's own time at a tenth of its times: every duration a policy uses is on
// its clock, the learners' bins and the timers' periods included.
TEST(KeyAutoscaler, TheSameDemandTenTimesFasterAtTimeScaleTenGetsTheSamePlanScaled) {
  for (const std::string policy : {"predictive", "hybrid-histogram"}) {
    SCOPED_TRACE(policy);
    const std::vector<Written> slow = RunFaster(policy, 1);
    const std::vector<Written> fast = RunFaster(policy, 10);
    ASSERT_EQ(slow.size(), fast.size());
    size_t windows = 0;
    size_t timers = 0;
    for (size_t i = 0; i < slow.size(); ++i) {
      SCOPED_TRACE(i);
      EXPECT_EQ(fast[i].keepalive_ms,
                slow[i].keepalive_ms > 0 ? slow[i].keepalive_ms / 10 : slow[i].keepalive_ms);
      ASSERT_EQ(fast[i].windows.size(), slow[i].windows.size());
      for (size_t w = 0; w < slow[i].windows.size(); ++w) {
        const PrefetchWindow& a = slow[i].windows[w];
        const PrefetchWindow& b = fast[i].windows[w];
        EXPECT_EQ(b.source, a.source);
        EXPECT_EQ(b.target, a.target);
        EXPECT_EQ(b.start_ms, a.start_ms / 10);
        EXPECT_EQ(b.end_ms, a.end_ms == INT64_MAX ? INT64_MAX : a.end_ms / 10);
        ++windows;
        timers += a.source == kTimerWindowSource;
      }
    }
    // The fixture exercises windows (and, under predictive, a timer's).
    EXPECT_GT(windows, 10u);
    if (policy == "predictive") {
      EXPECT_GT(timers, 0u);
    }
  }
}

// At time_scale 1 the settings are what the policy runs; a faster clock divides every
// duration of the table (a sentinel stays) and shortens the day its rates are per.
TEST(OnPolicyClock, DividesEveryDurationAndTheDayOfTheRates) {
  auto s = PolicySettings("predictive");
  ASSERT_TRUE(s.ok());
  s->learned.surplus_per_day = 100;
  const AutoscalerSettings same = OnPolicyClock(*s);
  EXPECT_EQ(same.keepalive_ms, s->keepalive_ms);
  EXPECT_EQ(same.learned.learner.bin_ms, s->learned.learner.bin_ms);
  s->time_scale = 60;
  const AutoscalerSettings fast = OnPolicyClock(*s);
  EXPECT_EQ(fast.time_scale, 1);
  EXPECT_EQ(fast.stable_window_ms, s->stable_window_ms / 60);
  EXPECT_EQ(fast.panic_window_ms, s->panic_window_ms / 60);
  EXPECT_EQ(fast.keepalive_ms, s->keepalive_ms / 60);
  EXPECT_EQ(fast.surplus_keepalive_ms, -1);  // "same": follows keepalive_s
  EXPECT_DOUBLE_EQ(fast.learned.cold_s, s->learned.cold_s / 60);
  EXPECT_DOUBLE_EQ(fast.learned.surplus_cold_s, s->learned.surplus_cold_s / 60);
  EXPECT_EQ(fast.learned.learner.range_ms, s->learned.learner.range_ms / 60);
  EXPECT_EQ(fast.learned.learner.bin_ms, 1'000);
  EXPECT_EQ(fast.learned.burst_window_ms, 1'000);
  EXPECT_EQ(fast.learned.hybrid.bin_ms, 1'000);
  EXPECT_EQ(fast.learned.hybrid.range_ms, 240'000);
  EXPECT_EQ(fast.learned.hybrid.standard_keepalive_ms, 240'000);
  EXPECT_EQ(fast.learned.timer.slot_ms, 1'000);
  EXPECT_EQ(fast.learned.timer.periods_ms.front(), 5'000);
  EXPECT_EQ(fast.learned.day_ms, 1'440'000);
  EXPECT_DOUBLE_EQ(fast.learned.mix_per_day, s->learned.mix_per_day);
  EXPECT_DOUBLE_EQ(fast.learned.surplus_per_day, 100);
  // Counts, shares and percentiles are no durations.
  EXPECT_EQ(fast.learned.burst_min_samples, s->learned.burst_min_samples);
  EXPECT_DOUBLE_EQ(fast.learned.hybrid.tail, s->learned.hybrid.tail);
  // The reconciler gets the scaled windows.
  const ReconcilerConfig rc = MakeReconcilerConfig(*s);
  EXPECT_EQ(rc.stable_window_ms, 1'000);
  EXPECT_EQ(rc.default_template.keepalive_ms, s->keepalive_ms / 60);
}

// One rounding for every duration put on the policy's clock (the table's rows, the
// learners' bins, a template's own keep-alive): to the nearest ms, never below 1 ms, and
// 0 and the negative sentinels stay.
TEST(OnPolicyClock, OneDurationRoundsToTheNearestMsAndKeepsSentinels) {
  EXPECT_EQ(OnPolicyClockMs(600'000, 60), 10'000);
  EXPECT_EQ(OnPolicyClockMs(15, 10), 2);  // 1.5 ms rounds up
  EXPECT_EQ(OnPolicyClockMs(14, 10), 1);
  EXPECT_EQ(OnPolicyClockMs(1, 3600), 1);  // never 0: 0 means "off" to several rows
  EXPECT_EQ(OnPolicyClockMs(0, 10), 0);
  EXPECT_EQ(OnPolicyClockMs(-1, 10), -1);  // "same"
  EXPECT_EQ(OnPolicyClockMs(12'345, 1), 12'345);
}

// Every duration row is put on the policy's clock: a row added without it would run in
// wall time in a replay while the others are scaled.
TEST(OnPolicyClock, EveryDurationRowScales) {
  for (const Setting& t : SettingsTable()) {
    EXPECT_EQ(static_cast<bool>(t.scale), t.kind == Setting::Kind::kSeconds) << t.name;
  }
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
