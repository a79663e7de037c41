#include "orchestrator/event_feed.h"

#include <gtest/gtest.h>

#include "orchestrator/test_util.h"

namespace prewarm::orchestrator {
namespace {

class EventFeedTest : public ::testing::Test {
 protected:
  EventFeedTest() : config_(testing::ThreeRegionConfig()), feed_(config_, clock_) {}
  ManualClock clock_{1'700'000'000'000};
  OrchestratorConfig config_;
  EventFeed feed_;
};

TEST_F(EventFeedTest, CountsAreCutIntoOneEventPerRegionTemplateAndColdness) {
  auto sub = feed_.Subscribe(0);
  int sin = feed_.RegionIndex("singapore");
  int st = feed_.TemplateIndex("static");
  ASSERT_GE(sin, 0);
  ASSERT_GE(st, 0);
  EXPECT_EQ(feed_.RegionIndex("atlantis"), -1);
  for (int i = 0; i < 5; ++i) feed_.Record(sin, st, false);
  feed_.Record(sin, st, true);
  feed_.Record(-1, st, false);  // unknown region: ignored, not a crash
  clock_.Advance(1000);
  feed_.CutNow();
  auto batch = sub->Next(0);
  ASSERT_TRUE(batch.has_value());
  ASSERT_EQ(batch->events_size(), 2);
  EXPECT_EQ(batch->events(0).region(), "singapore");
  EXPECT_EQ(batch->events(0).template_name(), "static");
  EXPECT_EQ(batch->events(0).count(), 5u);
  EXPECT_FALSE(batch->events(0).cold());
  EXPECT_EQ(batch->events(1).count(), 1u);
  EXPECT_TRUE(batch->events(1).cold());
  EXPECT_EQ(batch->events(0).service_tier(), "standard");
  EXPECT_GT(batch->events(0).service_time_s(), 0);
  EXPECT_EQ(feed_.events_total(), 6u);
  // Nothing new: no empty batch.
  clock_.Advance(1000);
  feed_.CutNow();
  EXPECT_FALSE(sub->Next(0).has_value());
}

TEST_F(EventFeedTest, EventsCarryTheMeasuredServiceTimeOnceAWindowHasEnoughAnswers) {
  ServiceTimeMeter meter({.window_ms = 10'000, .min_answers = 20, .alpha = 0.3});
  feed_.SetServiceTimes(&meter);
  auto sub = feed_.Subscribe(0);
  int fra = feed_.RegionIndex("frankfurt");
  int st = feed_.TemplateIndex("static");
  const double configured = config_.templates.at("static").service_time_s;
  feed_.CutNow();  // opens the meter's window
  // 10 s: 4 answers a second, 2 connections open throughout (as the agents report them).
  for (int s = 0; s < 10; ++s) {
    for (int i = 0; i < 4; ++i) feed_.Record(fra, st, false);
    meter.AddConnectionSeconds("static", 2.0);
    clock_.Advance(1000);
    feed_.CutNow();
    auto batch = sub->Next(0);
    ASSERT_TRUE(batch.has_value());
    EXPECT_DOUBLE_EQ(batch->events(0).service_time_s(), configured) << "second " << s;
  }
  // Little's law: 20 connection-seconds / 40 answers = 0.5 s, sent from now on.
  ASSERT_TRUE(meter.Get("static"));
  EXPECT_DOUBLE_EQ(*meter.Get("static"), 0.5);
  feed_.Record(fra, st, false);
  clock_.Advance(1000);
  feed_.CutNow();
  auto batch = sub->Next(0);
  ASSERT_TRUE(batch.has_value());
  EXPECT_DOUBLE_EQ(batch->events(0).service_time_s(), 0.5);
}

TEST_F(EventFeedTest, ALateSubscriberGetsTheRetainedBacklogFirst) {
  int fra = feed_.RegionIndex("frankfurt");
  int st = feed_.TemplateIndex("static");
  int64_t t0 = clock_.NowMs();
  for (int s = 0; s < 3; ++s) {
    feed_.Record(fra, st, false);
    clock_.Advance(1000);
    feed_.CutNow();
  }
  auto all = feed_.Subscribe(t0 - 1);
  int got = 0;
  while (all->Next(0)) ++got;
  EXPECT_EQ(got, 3);
  auto recent = feed_.Subscribe(t0 + 1500);
  got = 0;
  while (recent->Next(0)) ++got;
  EXPECT_EQ(got, 2);
  feed_.Unsubscribe(all);
  feed_.Unsubscribe(recent);
  EXPECT_EQ(feed_.subscribers(), 0u);
}

}  // namespace
}  // namespace prewarm::orchestrator
