#include "autoscale/timer_detector.h"

#include <gtest/gtest.h>

#include "autoscale/reconciler.h"

namespace prewarm::orchestrator {
namespace {

constexpr int64_t kMin = 60'000;
constexpr int64_t kHour = 60 * kMin;

TimerDetectorOptions Periods(std::vector<int64_t> p, int64_t jitter = 0) {
  TimerDetectorOptions o;
  o.periods_ms = std::move(p);
  o.jitter_slots = jitter;
  return o;
}

// The start of the next expected firing, or -1.
int64_t Next(TimerDetector& t, int64_t now_ms) {
  auto f = t.NextFiring(now_ms);
  return f ? f->start_ms : -1;
}

TEST(TimerDetectorTest, OneArrivalPredictsEveryCandidateInTurn) {
  TimerDetector t(Periods({kHour, 12 * kHour, 24 * kHour}), 0);
  EXPECT_EQ(Next(t, 0), -1);  // nothing seen: no timer
  t.Arrival(20'000);          // 00:00:20
  EXPECT_EQ(Next(t, kMin), kHour);
  EXPECT_EQ(t.NextFiring(kMin)->end_ms, kHour + kMin);  // one slot
  // 01:00 passes without an arrival: the hourly hypothesis dies, 12 h is next.
  EXPECT_EQ(Next(t, kHour + 30'000), kHour);  // still inside the slot
  EXPECT_EQ(Next(t, kHour + kMin), 12 * kHour);
  EXPECT_EQ(t.alive(), 2u);
  t.Arrival(12 * kHour + 45'000);  // fired: 12 h lives on, 24 h dies (off its grid)
  EXPECT_EQ(t.alive(), 1u);
  EXPECT_EQ(Next(t, 13 * kHour), 24 * kHour);
  // Missed 24:00: not a timer any more.
  EXPECT_EQ(Next(t, 24 * kHour + kMin), -1);
  EXPECT_EQ(t.alive(), 0u);
}

TEST(TimerDetectorTest, ArrivalsOffTheGridEndEveryHypothesis) {
  TimerDetector t(TimerDetectorOptions{}, 0);
  t.Arrival(0);
  EXPECT_GT(t.alive(), 10u);
  // 23 min: within 2 min of no candidate's firing (20 was due at 18..22, 30 at 28..32).
  t.Arrival(23 * kMin);
  EXPECT_EQ(t.alive(), 0u);
  EXPECT_EQ(Next(t, 24 * kMin), -1);
}

TEST(TimerDetectorTest, AnHourStepThatDoesNotDivideADayIsFollowedThroughTheDay) {
  // `0 */10 * * *` fires at 00:00, 10:00 and 20:00 (Azure's keys 84 and 167): with the
  // default candidates one firing predicts each hour step in turn, 10:00 among them.
  TimerDetector t(TimerDetectorOptions{}, 0);
  t.Arrival(20'000);
  for (int64_t h = 1; h <= 10; ++h) {
    EXPECT_EQ(Next(t, h * kHour - 5 * kMin), h * kHour - 2 * kMin) << h;  // the h-hour candidate
  }
  t.Arrival(10 * kHour + 30'000);
  t.Arrival(10 * kHour + 90'000);  // a burst over the next minutes is the same firing
  EXPECT_EQ(t.alive(), 1u);        // 11, 12 and 24 h die: 10:00 is off their grids
  EXPECT_EQ(Next(t, 11 * kHour), 20 * kHour - 2 * kMin);
  t.Arrival(20 * kHour);
  EXPECT_EQ(Next(t, 21 * kHour), 30 * kHour - 2 * kMin);
  // Midnight restarts cron's hour steps: off the 10-hour grid, so no timer any more.
  t.Arrival(24 * kHour);
  EXPECT_EQ(t.alive(), 0u);
}

TEST(TimerDetectorTest, SeveralArrivalsInOneSlotCountOnce) {
  TimerDetector t(Periods({5 * kMin}), 0);
  t.Arrival(1'000);
  t.Arrival(59'000);  // same slot
  EXPECT_EQ(t.alive(), 1u);
  t.Arrival(5 * kMin + 10'000);
  t.Arrival(10 * kMin + 50'000);
  EXPECT_EQ(Next(t, 11 * kMin), 15 * kMin);
}

TEST(TimerDetectorTest, JitterAroundTheGridIsOneFiringAndDoesNotDrift) {
  // An hourly timer logged at :59, :00 or :01 (Azure's key 49 looks like this).
  TimerDetector t(Periods({kHour}, /*jitter=*/2), 0);
  t.Arrival(0);
  t.Arrival(59 * kMin);
  t.Arrival(60 * kMin + 5'000);  // the same firing, logged in two minutes
  t.Arrival(118 * kMin);         // 2 slots early
  t.Arrival(119 * kMin);
  t.Arrival(120 * kMin);
  EXPECT_EQ(t.alive(), 1u);
  // The grid stays at the hour: the window covers 02:58 .. 03:03.
  auto f = t.NextFiring(121 * kMin);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->start_ms, 178 * kMin);
  EXPECT_EQ(f->end_ms, 183 * kMin);
  t.Arrival(150 * kMin);  // between firings: not a timer
  EXPECT_EQ(t.alive(), 0u);
}

TEST(TimerDetectorTest, AKeyWatchedLongerThanAPeriodMissedItsEarlierFirings) {
  // Watched since 00:00, first arrival at 06:00: an hourly timer would have fired at
  // 05:00 already; a 12-hourly one (phase 06:00) would not.
  TimerDetector t(Periods({kHour, 12 * kHour}), 0);
  t.Arrival(6 * kHour);
  EXPECT_EQ(t.alive(), 1u);
  EXPECT_EQ(Next(t, 6 * kHour + kMin), 18 * kHour);
}

TEST(TimerDetectorTest, ApplyKeepsOneWindowOverTheNextFiring) {
  TimerDetector t(Periods({30 * kMin}, /*jitter=*/1), 0);
  ViewKey k;
  PrefetchWindow other;
  other.source = 0;
  other.end_ms = kHour;
  k.windows.push_back(other);
  t.Apply(k, 0, 1e9, 1);
  EXPECT_EQ(k.windows.size(), 1u);  // no hypothesis yet: only the forecaster's window
  t.Arrival(2 * kMin);
  t.Apply(k, 2 * kMin, 1e9, 1);
  t.Apply(k, 3 * kMin, 1e9, 1);
  ASSERT_EQ(k.windows.size(), 2u);
  const PrefetchWindow& w = k.windows.back();
  EXPECT_EQ(w.source, kTimerWindowSource);
  EXPECT_EQ(w.start_ms, 31 * kMin);
  EXPECT_EQ(w.end_ms, 34 * kMin);
  EXPECT_EQ(w.target, 1u);
  // A cold start cheaper than the window (3 min + a 1-s start): no window.
  t.Apply(k, 3 * kMin, 180, 1);
  EXPECT_EQ(k.windows.size(), 1u);
  t.Apply(k, 3 * kMin, 181, 1);
  EXPECT_EQ(k.windows.size(), 2u);
  t.Apply(k, 34 * kMin, 1e9, 1);  // missed: the window goes
  EXPECT_EQ(k.windows.size(), 1u);
}

}  // namespace
}  // namespace prewarm::orchestrator
