// SlewedClock: the wall clock's time without its steps.
#include "common/clock.h"

#include "gtest/gtest.h"

namespace prewarm {
namespace {

// The two readings a SlewedClock takes, moved by the tests.
int64_t wall_us = 0;
int64_t mono_us = 0;
int64_t Wall() { return wall_us; }
int64_t Mono() { return mono_us; }

class SlewedClockTest : public ::testing::Test {
 protected:
  SlewedClockTest() { Reset(); }
  static void Reset() {
    wall_us = 1'700'000'000'000'000;
    mono_us = 5'000'000;
  }
  // Both clocks move by `us`, read every 100 ms as the daemons do.
  static void Run(const SlewedClock& c, int64_t us) {
    for (int64_t t = 0; t < us; t += 100'000) {
      wall_us += 100'000;
      mono_us += 100'000;
      c.NowUs();
    }
  }
};

TEST_F(SlewedClockTest, WithoutStepsItIsTheWallClock) {
  SlewedClock c(&Wall, &Mono);
  EXPECT_EQ(c.NowUs(), wall_us);
  Run(c, 60'000'000);
  EXPECT_EQ(c.NowUs(), wall_us);
  EXPECT_EQ(c.NowMs(), wall_us / 1000);
}

TEST_F(SlewedClockTest, AForwardStepIsAbsorbedAtFivePercentNotTakenAtOnce) {
  SlewedClock c(&Wall, &Mono);
  Run(c, 1'000'000);
  const int64_t before = c.NowUs();
  wall_us += 17'000'000;  // the step seen in a live replay: every 3 s lease would expire
  Run(c, 1'000'000);
  const int64_t after = c.NowUs();
  EXPECT_GE(after - before, 1'000'000);
  EXPECT_LE(after - before, 1'050'000) << "one second passed; the clock may gain 5 % of it";
  Run(c, 330'000'000);  // 17 s at 50 ms a second takes 340 s in all
  EXPECT_LT(c.NowUs(), wall_us);
  Run(c, 20'000'000);
  EXPECT_EQ(c.NowUs(), wall_us) << "caught up with the wall clock";
}

TEST_F(SlewedClockTest, ABackwardStepSlowsTheClockButNeverTurnsItBack) {
  SlewedClock c(&Wall, &Mono);
  Run(c, 1'000'000);
  wall_us -= 17'000'000;
  int64_t last = c.NowUs();
  for (int i = 0; i < 4000; ++i) {  // 400 s
    Run(c, 100'000);
    const int64_t now = c.NowUs();
    ASSERT_GE(now - last, 95'000) << "at " << i;
    last = now;
  }
  EXPECT_EQ(c.NowUs(), wall_us);
}

TEST_F(SlewedClockTest, AClockWrongByMoreThanTenMinutesIsSetAtOnce) {
  SlewedClock c(&Wall, &Mono);
  Run(c, 1'000'000);
  wall_us += 3'600'000'000;  // an hour: the machine started with its clock unset
  Run(c, 100'000);
  EXPECT_EQ(c.NowUs(), wall_us);
}

TEST_F(SlewedClockTest, TheRealClockIsTheSystemClockWithinASecond) {
  const int64_t sys = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  EXPECT_NEAR(static_cast<double>(RealClock::Get().NowMs()), static_cast<double>(sys), 1000.0);
}

}  // namespace
}  // namespace prewarm
