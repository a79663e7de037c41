#include "autoscale/idle_learner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "autoscale/reconciler.h"

namespace prewarm::orchestrator {
namespace {

constexpr int64_t kMin = 60'000;

TEST(IdleLearner, TooFewSamplesGiveTheDefaultKeepAlive) {
  IdleLearner l({.min_samples = 3, .prior_weight = 0, .default_keepalive_ms = 10 * kMin});
  l.Add(5 * kMin);
  l.Add(5 * kMin);
  IdlePlan p = l.Plan(1e6, 2.7);
  EXPECT_FALSE(p.learned);
  EXPECT_EQ(p.prewarm_ms, 0);
  EXPECT_EQ(p.keep_until_ms, 10 * kMin);
}

TEST(IdleLearner, ATimerIsUnloadedAndReloadedJustBeforeItFires) {
  // Every idle period lasts 30 min 20 s (a timer trigger). Reloading at 30 min costs the
  // start (2.7 s) plus 20 s; keeping warm costs all of it. With the 10% margins: reload
  // from 27 min, keep until 34.1 min.
  IdleLearner l({.prior_weight = 0});
  for (int i = 0; i < 10; ++i) l.Add(30 * kMin + 20'000);
  IdlePlan p = l.Plan(/*cold_cost=*/10'000, /*start_s=*/2.7);
  ASSERT_TRUE(p.learned);
  EXPECT_EQ(p.prewarm_ms, 27 * kMin);
  EXPECT_EQ(p.keep_until_ms, static_cast<int64_t>(31 * kMin * 1.1));
  EXPECT_DOUBLE_EQ(p.cold_share, 0);
  EXPECT_NEAR(p.idle_s, 2.7 + 20, 1e-9);
}

TEST(IdleLearner, AnUnloadIsPaidForUntilItsAnswersHaveExpired) {
  // The same timer with DNS answers cached 32 s and a drain that settles in 5 s: the
  // instance unloaded at once is paid for its first 32 s, so the reload costs
  // 2.7 + 20 + 32 s per idle period, still far below keeping all 1820 s.
  IdleLearner l({.prior_weight = 0});
  for (int i = 0; i < 10; ++i) l.Add(30 * kMin + 20'000);
  IdlePlan p = l.Plan(10'000, 2.7, UnloadHold{.answer_s = 32, .settle_s = 5});
  EXPECT_EQ(p.prewarm_ms, 27 * kMin);
  EXPECT_NEAR(p.idle_s, 2.7 + 20 + 32, 1e-9);
  // An unload long after the last answer still waits for the drain to settle.
  EXPECT_DOUBLE_EQ((UnloadHold{.answer_s = 32, .settle_s = 5}).GoneS(600), 605);
}

TEST(IdleLearner, AGapShorterThanTheHoldIsKeptNotReloaded) {
  // A timer every 3 s (a trace's 3 minutes replayed at 60x, on 1-s bins). Without a hold
  // the cheapest plan unloads and reloads each time (0.05 s start against 3 s kept). With
  // answers cached 32 s the unloaded instance would still be there when the next one
  // starts: two loaded instead of one. Keeping it is cheaper: through the 3-s bin, + 10 %.
  IdleLearner l({.bin_ms = 1'000, .prior_weight = 0});
  for (int i = 0; i < 10; ++i) l.Add(3'000);
  EXPECT_TRUE(l.Plan(40, 0.05).reload());
  IdlePlan p = l.Plan(40, 0.05, UnloadHold{.answer_s = 32, .settle_s = 5});
  EXPECT_FALSE(p.reload());
  EXPECT_EQ(p.keep_until_ms, 4'400);
  EXPECT_DOUBLE_EQ(p.cold_share, 0);
  EXPECT_NEAR(p.idle_s, 3, 1e-9);
}

TEST(IdleLearner, ACheapColdStartUnloadsAtOnce) {
  IdleLearner l({.prior_weight = 0});
  for (int i = 0; i < 10; ++i) l.Add(30 * kMin);
  // One cold start is worth 1 s of idle instance: no warm period pays for itself.
  IdlePlan p = l.Plan(1, 2.7);
  ASSERT_TRUE(p.learned);
  EXPECT_EQ(p.prewarm_ms, 0);
  EXPECT_EQ(p.keep_until_ms, 0);
  EXPECT_DOUBLE_EQ(p.cold_share, 1);
}

TEST(IdleLearner, ShortGapsAreBridgedAndTheRareLongOneIsNot) {
  // 20 gaps of 10 s and one of 5 h, a cold start worth 100 s: keep for the first minute
  // (cost 100 x 1 cold + 20 x 10 s + 60 s = 360) rather than unload at once (2100) or
  // bridge the 5 h (18000 s of idle). Keep-alive: 1 min + 10% margin.
  IdleLearner l({.prior_weight = 0});
  for (int i = 0; i < 20; ++i) l.Add(10'000);
  l.Add(5 * 60 * kMin);
  IdlePlan p = l.Plan(100, 2.7);
  ASSERT_TRUE(p.learned);
  EXPECT_EQ(p.prewarm_ms, 0);
  EXPECT_EQ(p.keep_until_ms, 66'000);
  EXPECT_NEAR(p.cold_share, 1.0 / 21, 1e-12);
  // At 20,000 s per cold start, bridging the 5 h gap pays: keep for all of it.
  p = l.Plan(20'000, 2.7);
  EXPECT_EQ(p.keep_until_ms, static_cast<int64_t>(301 * kMin * 1.1));
  EXPECT_DOUBLE_EQ(p.cold_share, 0);
}

TEST(IdleLearner, ALongTimerBeyondTheRangeIsReloadedAroundItsForecast) {
  // A timer every 10 h, beyond the 6-h histogram: reload at 10 h -15 %, keep to +15 %.
  IdleLearner l({.range_ms = 6 * 60 * kMin, .prior_weight = 0});
  for (int i = 0; i < 4; ++i) l.Add(600 * kMin);
  IdlePlan p = l.Plan(1e6, 2.7);
  ASSERT_TRUE(p.learned);
  EXPECT_EQ(p.prewarm_ms, 510 * kMin);
  EXPECT_EQ(p.keep_until_ms, 690 * kMin);
  EXPECT_DOUBLE_EQ(p.cold_share, 0);
  // Without the rule the long idle times are never bridged.
  IdleLearner off({.range_ms = 6 * 60 * kMin, .prior_weight = 0, .beyond_share = 0});
  for (int i = 0; i < 4; ++i) off.Add(600 * kMin);
  EXPECT_DOUBLE_EQ(off.Plan(1e6, 2.7).cold_share, 1);
}

TEST(IdleLearner, IdleTimesBeyondTheRangeAreAlwaysCold) {
  IdleLearner l({.range_ms = 60 * kMin, .prior_weight = 0, .beyond_share = 0});
  for (int i = 0; i < 5; ++i) l.Add(2 * 60 * kMin);
  IdlePlan p = l.Plan(1e9, 2.7);
  ASSERT_TRUE(p.learned);
  EXPECT_EQ(p.keep_until_ms, 0);  // nothing in range to keep warm for
  EXPECT_DOUBLE_EQ(p.cold_share, 1);
}

TEST(IdleLearner, ThePriorKeepsOneSampleFromSchedulingANarrowReload) {
  // One idle period of 139 min. Alone it says "reload at 139 min"; the prior (one
  // pseudo-period spread over 0..24 h) says the next gap may be much shorter, so at a high
  // cold-start price the plan keeps warm from the start.
  IdleLearner bare({.min_samples = 1, .prior_weight = 0});
  IdleLearner smooth({.min_samples = 1, .prior_weight = 1});
  bare.Add(139 * kMin);
  smooth.Add(139 * kMin);
  EXPECT_GT(bare.Plan(1e6, 2.7).prewarm_ms, 0);
  IdlePlan p = smooth.Plan(1e6, 2.7);
  EXPECT_EQ(p.prewarm_ms, 0);
  EXPECT_GE(p.keep_until_ms, 140 * kMin);
  // Many samples at 139 min outweigh the prior: the reload comes back.
  for (int i = 0; i < 200; ++i) smooth.Add(139 * kMin);
  EXPECT_GT(smooth.Plan(1e5, 2.7).prewarm_ms, 100 * kMin);
}

TEST(IdleLearner, TwoClustersOfIdleTimesAreKeptThroughTheFirstAndReloadedForTheSecond) {
  // 20 idle periods of 20 s and 20 of 8.5 min (an invocation that often comes back at
  // once, and otherwise on the next run of a ~9-min job), a cold start worth 1000 s:
  //   keep through 9 min:               0 cold, 20 x 20 + 20 x 510 s idle = 10600
  //   unload, reload at 8 min:          20 cold (20000) + 20 x (2.7 + 30) s = 20654
  //   keep 1 min, reload at 8 min:      0 cold, 400 + 20 x 60 + 20 x (2.7 + 30) = 2254
  // With the margins: keep 66 s, reload from 432 s, warm until 594 s.
  IdleLearner l({.prior_weight = 0});
  for (int i = 0; i < 20; ++i) {
    l.Add(20'000);
    l.Add(510'000);
  }
  IdlePlan p = l.Plan(1'000, 2.7);
  ASSERT_TRUE(p.learned);
  EXPECT_EQ(p.keep_first_ms, 66'000);
  EXPECT_EQ(p.prewarm_ms, 432'000);
  EXPECT_EQ(p.keep_until_ms, 594'000);
  EXPECT_DOUBLE_EQ(p.cold_share, 0);
  EXPECT_NEAR(p.idle_s, 2254.0 / 40, 1e-9);
  // Keeping alone would cost 10600 s per 40 periods.
  EXPECT_NEAR(l.Plan(1'000, 2.7, {}, /*keep_only=*/true).idle_s, 10'600.0 / 40, 1e-9);
}

TEST(IdleLearner, AFewSamplesDoNotProveAStretchEmpty) {
  // The same two clusters from 20 idle periods: below keep_first_min_samples (30) the
  // empty minutes between them may be chance, so the plan keeps through both
  // (10 x 20 + 10 x 510 s = 5300 beats the reload's 10 cold starts).
  IdleLearner l({.prior_weight = 0, .keep_first_min_samples = 30});
  for (int i = 0; i < 10; ++i) {
    l.Add(20'000);
    l.Add(510'000);
  }
  IdlePlan p = l.Plan(1'000, 2.7);
  EXPECT_EQ(p.keep_first_ms, 0);
  EXPECT_EQ(p.prewarm_ms, 0);
  EXPECT_EQ(p.keep_until_ms, 594'000);
  // Ten more make 30: the stretch counts as empty.
  for (int i = 0; i < 5; ++i) {
    l.Add(20'000);
    l.Add(510'000);
  }
  EXPECT_EQ(l.Plan(1'000, 2.7).keep_first_ms, 66'000);
}

// A config pricing every cold start alike at `cold_s` (surplus ones too), without timers.
LearnedKeepAliveConfig StartPriced(double cold_s) {
  LearnedKeepAliveConfig c;
  c.weight = "start";
  c.cold_s = cold_s;
  c.surplus_cold_s = cold_s;
  c.timers = false;
  return c;
}

TEST(LearnedKeepAlive, AKeepThenReloadPlanKeepsTheInstanceAndSchedulesTheReload) {
  LearnedKeepAliveConfig c = StartPriced(1'000);
  c.surplus_levels = 0;
  c.learner.prior_weight = 0;
  LearnedKeepAlive l(c, 0);
  int64_t t = 0;
  for (int i = 0; i < 41; ++i) {
    if (i > 0) t += i % 2 ? 20'000 : 510'000;  // idle
    l.Arrival(t);
    t += 1'000;  // runs for a second
    l.IdleBegins(t, c, 1.0, 2.7);
  }
  ASSERT_EQ(l.plan().keep_first_ms, 66'000);
  ViewKey k;
  l.Apply(k, kLearnedWindowSource);
  const int64_t idle_since = t;
  EXPECT_EQ(k.keepalive_ms, 66'000);
  ASSERT_EQ(k.windows.size(), 1u);
  EXPECT_EQ(k.windows[0].start_ms, idle_since + 432'000);
  EXPECT_EQ(k.windows[0].end_ms, idle_since + 594'000);
  EXPECT_EQ(k.windows[0].target, 1u);
}

TEST(LearnedKeepAlive, ABigInstancesColdStartIsPricedByItsMemoryRatioToTheMemoryWeight) {
  // Idle times of 30, 90, 150, 210 and 270 s, four of each; a cold start costs 400 s of
  // an average instance's idle time, and this instance has 4x the average memory.
  //   weight 1: 100 s. Reload at 180 s: 12 cold (1200) + 8 starts + 4 x (30 + 90) s = 1688,
  //             beats reloading at 240 s (1724) or unloading at once (2000);
  //   weight 0.5: 200 s. Reload at 120 s: 8 cold (1600) + 12 + 4 x (30 + 90 + 150) = 2692,
  //             beats 60 s (2736) and keeping through all (3000);
  //   weight 0: 400 s. Keep through all: 3000.
  LearnedKeepAliveConfig c = StartPriced(400);
  c.surplus_levels = 0;
  c.learner.prior_weight = 0;
  auto plan_at = [&](double memory_weight) {
    c.memory_weight = memory_weight;
    LearnedKeepAlive l(c, 0);
    int64_t t = 0;
    for (int i = 0; i <= 20; ++i) {
      if (i > 0) t += 30'000 + 60'000 * ((i - 1) % 5);
      l.Arrival(t);
      l.IdleBegins(t, c, 4.0, 1.0);
    }
    EXPECT_DOUBLE_EQ(l.ColdCost(c, 4.0, t), 400 / std::pow(4.0, memory_weight));
    return l.plan();
  };
  IdlePlan per_mb = plan_at(1.0);
  EXPECT_DOUBLE_EQ(per_mb.cold_share, 12.0 / 20);
  EXPECT_EQ(per_mb.prewarm_ms, 162'000);  // 180 s - 10 %
  IdlePlan between = plan_at(0.5);
  EXPECT_DOUBLE_EQ(between.cold_share, 8.0 / 20);
  EXPECT_EQ(between.prewarm_ms, 108'000);
  IdlePlan per_instance = plan_at(0.0);
  EXPECT_EQ(per_instance.cold_share, 0);
  EXPECT_EQ(per_instance.prewarm_ms, 0);
  EXPECT_EQ(per_instance.keep_until_ms, 330'000);  // 300 s + 10 %
}

// Drives `l` through one activation at `t`: an arrival, then `peak` instances serving
// at once, then idle again a second later.
void Activation(LearnedKeepAlive& l, const LearnedKeepAliveConfig& c, int64_t t, uint32_t peak) {
  l.Arrival(t);
  for (uint32_t b = 1; b <= peak; ++b) l.Busy(t + b, b, c, 1.0, 2.0);
  l.IdleBegins(t + 1'000, c, 1.0, 2.0);
  l.Busy(t + 1'000, 0, c, 1.0, 2.0);
}

TEST(LearnedKeepAlive, AnActivationIsScaledOutToThePeakItsPredecessorsReached) {
  // Of ten activations three reached 4 instances, the rest 1. A cold start costs 600 s,
  // a start 2 s, an unused instance a 60-s window:
  // from 1 serving, P(peak >= 4 | >= 1) = 0.3: 0.3 x 600 = 180 > 2 + 0.7 x 60 = 44.
  LearnedKeepAliveConfig c = StartPriced(600);
  LearnedKeepAlive l(c, 0);
  int64_t t = 0;
  for (int i = 0; i < 10; ++i, t += 3'600'000) Activation(l, c, t, i % 3 == 0 && i < 9 ? 4 : 1);
  l.Arrival(t);
  l.Busy(t, 1, c, 1.0, 2.0);
  EXPECT_EQ(l.burst_target(), 4u);
  ViewKey k;
  l.Apply(k, kLearnedWindowSource);
  auto burst = std::find_if(k.windows.begin(), k.windows.end(),
                            [](const PrefetchWindow& w) { return w.source == kBurstWindowSource; });
  ASSERT_NE(burst, k.windows.end());
  EXPECT_EQ(burst->start_ms, t);
  EXPECT_EQ(burst->end_ms, t + 60'000);
  EXPECT_EQ(burst->target, 4u);
  // Past the burst window the activation asks for nothing more.
  l.Busy(t + 61'000, 2, c, 1.0, 2.0);
  EXPECT_EQ(l.burst_target(), 0u);
  l.Apply(k, kLearnedWindowSource);
  EXPECT_TRUE(std::none_of(k.windows.begin(), k.windows.end(),
                           [](const PrefetchWindow& w) { return w.source == kBurstWindowSource; }));
}

TEST(LearnedKeepAlive, ARareOverlapIsNotScaledOutFor) {
  // One activation in twenty reached 2: P = 0.05. A cold start costs 6000 s, so the cost
  // test passes (0.05 x 6000 = 300 > 2 + 0.95 x 60 = 59) and only the minimum share
  // (0.1) holds the scale-out back; at share 0 it scales out.
  LearnedKeepAliveConfig c = StartPriced(6'000);
  auto target_after = [&](double share) {
    c.burst_min_share = share;
    LearnedKeepAlive l(c, 0);
    int64_t t = 0;
    for (int i = 0; i < 20; ++i, t += 3'600'000) Activation(l, c, t, i == 7 ? 2 : 1);
    l.Arrival(t);
    l.Busy(t, 1, c, 1.0, 2.0);
    return l.burst_target();
  };
  EXPECT_EQ(target_after(0.1), 0u);
  EXPECT_EQ(target_after(0.0), 2u);
}

TEST(LearnedKeepAlive, TooFewActivationsAreNoBasisForAScaleOut) {
  LearnedKeepAliveConfig c;
  c.timers = false;
  LearnedKeepAlive l(c, 0);
  int64_t t = 0;
  for (int i = 0; i < 2; ++i, t += 3'600'000) Activation(l, c, t, 5);
  l.Arrival(t);
  l.Busy(t, 1, c, 1.0, 2.0);
  EXPECT_EQ(l.burst_target(), 0u);  // burst_min_samples = 3
  c.bursts = false;
  LearnedKeepAlive off(c, 0);
  for (int i = 0; i < 5; ++i, t += 3'600'000) Activation(off, c, t, 5);
  off.Arrival(t);
  off.Busy(t, 1, c, 1.0, 2.0);
  EXPECT_EQ(off.burst_target(), 0u);
}

TEST(LearnedKeepAlive, ABusyKeysSurplusColdStartIsPricedPerKeyWhileItMeetsTheObjective) {
  // 1001 invocations over one day: 1000 idle periods a day, ten times surplus_per_day, so
  // a surplus cold start costs 600 x 100 / 1000 = 60 s; with 60 of them cold (6 % >= the
  // 5 % objective) the full 600 s; a key of 50 a day is priced per start anyway.
  LearnedKeepAliveConfig c;
  c.surplus_cold_s = 600;
  c.surplus_per_day = 100;
  c.cold_start_objective = 0.05;
  c.timers = false;
  auto price = [&](int n, int cold) {
    LearnedKeepAlive l(c, 0);
    const int64_t every = 86'400'000 / (n - 1);
    for (int i = 0; i < n; ++i) {
      l.Arrival(i * every, i < cold);
      l.IdleBegins(i * every, c, 1.0, 1.0);
    }
    return l.SurplusColdCost(c, 1.0, (n - 1) * every);
  };
  EXPECT_DOUBLE_EQ(price(1001, 0), 60);
  EXPECT_DOUBLE_EQ(price(1001, 49), 60);  // 4.9 %
  EXPECT_DOUBLE_EQ(price(1001, 60), 600);
  EXPECT_DOUBLE_EQ(price(51, 0), 600);
  c.surplus_per_day = 0;
  EXPECT_DOUBLE_EQ(price(1001, 0), 600);
}

TEST(LearnedKeepAlive, SurplusLevelsLearnKeepAlivesOfTheirOwn) {
  // A key that is never idle: two instances serve for 30 s, then one for 30 s, every
  // minute; now and then a third is needed, at irregular intervals of minutes. The second
  // instance is worth keeping through its 30-s gaps; the third is not, at 1 min a start:
  // unloaded at once (at most reloaded ahead of its longest gaps, which few periods reach).
  LearnedKeepAliveConfig c;
  c.weight = "start";
  c.surplus_cold_s = 60;
  LearnedKeepAlive l(c, 0);
  const int64_t third_gaps_min[] = {3, 17, 41, 8, 29, 5, 23, 2, 37, 11};
  int64_t t = 0, next_third = 0;
  size_t g = 0;
  l.Arrival(0);
  for (int cycle = 0; cycle < 2000; ++cycle, t += 60'000) {
    bool third = t >= next_third;
    l.Busy(t, third ? 3 : 2, c, 1.0, 2.7);
    if (third) {
      l.Busy(t + 10'000, 2, c, 1.0, 2.7);
      next_third = t + third_gaps_min[g++ % 10] * 60'000;
    }
    l.Busy(t + 30'000, 1, c, 1.0, 2.7);
  }
  ViewKey k;
  l.Apply(k, kLearnedWindowSource);
  EXPECT_EQ(k.keepalive_ms, -1) << "level 1 was never idle: the template's";
  ASSERT_EQ(k.surplus_keepalive_ms.size(), 2u) << "levels 2 and 3 were reached, 4 never";
  EXPECT_GE(k.surplus_keepalive_ms[0], 30'000);
  EXPECT_LE(k.surplus_keepalive_ms[0], 2 * 60'000);
  EXPECT_EQ(k.surplus_keepalive_ms[1], 0);
  // Reloads, if any, are each level's own (level 2 may reload after its keep-alive for
  // the prior's longer idle times).
  for (const PrefetchWindow& w : k.windows) EXPECT_EQ(w.source, kSurplusWindowSource + w.target);
}

TEST(LearnedKeepAlive, ASurplusLevelThatReturnsOnTheHourIsReloadedAsAWindowOfThatMany) {
  // One instance serves all the time; every hour a burst needs three for a minute.
  LearnedKeepAliveConfig c;
  c.surplus_cold_s = 3'600;
  LearnedKeepAlive l(c, 0);
  l.Arrival(0);
  int64_t t = 0;
  for (int hour = 0; hour < 30; ++hour, t += 3'600'000) {
    l.Busy(t, 3, c, 1.0, 2.7);
    l.Busy(t + 60'000, 1, c, 1.0, 2.7);
  }
  // Now 00:01 after the last burst: levels 2 and 3 are idle.
  ViewKey k;
  l.Apply(k, kLearnedWindowSource);
  ASSERT_EQ(k.surplus_keepalive_ms.size(), 2u);
  EXPECT_EQ(k.surplus_keepalive_ms[0], 0) << "unloaded at once, reloaded";
  ASSERT_EQ(k.windows.size(), 2u);
  for (const PrefetchWindow& w : k.windows) {
    EXPECT_EQ(w.source, kSurplusWindowSource + w.target);
    EXPECT_GE(w.target, 2u);
    const int64_t idle_since = t - 3'600'000 + 60'000;
    EXPECT_GT(w.start_ms, idle_since + 45 * 60'000);
    EXPECT_LT(w.start_ms, idle_since + 59 * 60'000);
    EXPECT_GT(w.end_ms, idle_since + 59 * 60'000);
  }
  // The burst begins: its windows go.
  l.Busy(t, 3, c, 1.0, 2.7);
  l.Apply(k, kLearnedWindowSource);
  EXPECT_TRUE(k.windows.empty());
}

}  // namespace
}  // namespace prewarm::orchestrator
