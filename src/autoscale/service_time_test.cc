#include "autoscale/service_time.h"

#include <gtest/gtest.h>

namespace prewarm::orchestrator {
namespace {

TEST(ServiceTimeMeter, LittlesLawOverAWindowThenAnEwma) {
  ServiceTimeMeter m({.window_ms = 60'000, .min_answers = 20, .alpha = 0.5});
  m.Roll(0);
  // 60 answers in a minute (1/s) and on average 3 open connections: W = 180 / 60 = 3 s.
  m.AddAnswers("static", 60);
  for (int s = 0; s < 60; ++s) m.AddConnectionSeconds("static", 3.0);
  EXPECT_FALSE(m.Get("static")) << "nothing before the window closes";
  m.Roll(59'999);
  EXPECT_FALSE(m.Get("static"));
  m.Roll(60'000);
  ASSERT_TRUE(m.Get("static"));
  EXPECT_DOUBLE_EQ(*m.Get("static"), 3.0);
  // The next window: W = 60 / 60 = 1 s; EWMA with alpha 0.5 -> 2 s.
  m.AddAnswers("static", 60);
  m.AddConnectionSeconds("static", 60);
  m.Roll(120'000);
  EXPECT_DOUBLE_EQ(*m.Get("static"), 2.0);
  EXPECT_EQ(m.All().size(), 1u);
}

TEST(ServiceTimeMeter, AWindowWithTooFewAnswersLeavesTheEstimate) {
  ServiceTimeMeter m({.window_ms = 10'000, .min_answers = 20, .alpha = 0.3});
  m.Roll(0);
  m.AddAnswers("video", 5);
  m.AddConnectionSeconds("video", 500);
  m.Roll(10'000);
  EXPECT_FALSE(m.Get("video"));
  m.AddAnswers("video", 40);
  m.AddConnectionSeconds("video", 20);
  m.AddConnectionSeconds("video", -3);  // ignored
  m.Roll(20'000);
  EXPECT_DOUBLE_EQ(*m.Get("video"), 0.5);
  EXPECT_FALSE(m.Get("api"));
}

}  // namespace
}  // namespace prewarm::orchestrator
