#include "sim/slice.h"

#include <cstdlib>
#include <random>

#include "gtest/gtest.h"

namespace prewarm::sim {
namespace {

// Five keys over 4 steps; arrivals in steps 1..2: a=10, b=0, c=3, d=1, e=2.
Workload Five() {
  Workload w;
  w.name = "five";
  w.step_ms = 60'000;
  w.start_unix_ms = 1'000'000;
  w.regions = {"r"};
  for (const char* n : {"a", "b", "c", "d", "e"}) {
    KeySpec k;
    k.region = "r";
    k.tmpl = n;
    w.keys.push_back(k);
  }
  w.counts = {{9, 5, 5, 9}, {9, 0, 0, 9}, {0, 1, 2, 0}, {0, 1, 0, 0}, {0, 2, 0, 0}};
  return w;
}

std::vector<std::string> Names(const Workload& w) {
  std::vector<std::string> out;
  for (const auto& k : w.keys) out.push_back(k.tmpl);
  return out;
}

TEST(SliceTest, AWindowKeepsEveryKeyAndMovesTheClock) {
  auto s = Slice(Five(), {.from_step = 1, .steps = 2});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(Names(*s), (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(s->counts[0], (std::vector<uint32_t>{5, 5}));
  EXPECT_EQ(s->start_unix_ms, 1'060'000);
  EXPECT_NE(s->report.find("steps 1..2"), std::string::npos);
}

TEST(SliceTest, BusiestThenSparsestWithEnoughArrivals) {
  // Busiest 1: a (10). Sparse 2 of the rest with >= 2 arrivals, fewest first: e (2), c (3);
  // d (1) and b (0) are too sparse. Order stays the workload's.
  auto s = Slice(Five(), {.from_step = 1, .steps = 2, .busiest = 1, .sparse = 2});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(Names(*s), (std::vector<std::string>{"a", "c", "e"}));
  EXPECT_EQ(s->counts[2], (std::vector<uint32_t>{2, 0}));
}

TEST(SliceTest, AsksForMoreThanQualifyOrOutsideTheWorkload) {
  EXPECT_FALSE(Slice(Five(), {.from_step = 4}).ok());
  EXPECT_FALSE(Slice(Five(), {.from_step = 2, .steps = 3}).ok());
  EXPECT_FALSE(Slice(Five(), {.from_step = -1}).ok());
  // Only a, c, d, e have arrivals in steps 1..2.
  EXPECT_FALSE(Slice(Five(), {.from_step = 1, .steps = 2, .busiest = 5}).ok());
  // After a, only c and e have >= 2.
  auto s = Slice(Five(), {.from_step = 1, .steps = 2, .busiest = 1, .sparse = 3});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("only 2"), std::string::npos) << s.status();
}

std::vector<Arrival> Arrivals(const Workload& w, uint64_t seed) {
  std::vector<Arrival> out;
  ArrivalStream stream(w, seed);
  Arrival a;
  while (stream.Next(a)) out.push_back(a);
  return out;
}

TEST(CompressTest, OneArrivalLandsWhereTheSeedsFirstDrawPutsItDividedBySpeed) {
  // One key, one arrival in step 0 of a minute. The stream draws u = top 53 bits of the
  // seed's first output for the offset in the step, then one draw for the service time:
  // at 1x the arrival is at floor(u * 60e6) us, at 60x at floor(u * 1e6) us, served 2 ms.
  Workload w = Five();
  w.keys.resize(1);
  w.counts = {{1}};
  std::mt19937_64 rng(7);
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  auto c = Compress(w, {.speed = 60, .service_s = 0.002});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->step_ms, 1'000);
  EXPECT_EQ(c->speed, 60);
  const std::vector<Arrival> at1 = Arrivals(w, 7), at60 = Arrivals(*c, 7);
  ASSERT_EQ(at1.size(), 1u);
  ASSERT_EQ(at60.size(), 1u);
  EXPECT_EQ(at1[0].t, static_cast<SimTimeUs>(u * 60e6));
  EXPECT_EQ(at60[0].t, static_cast<SimTimeUs>(u * 1e6));
  EXPECT_EQ(at60[0].service_us, 2'000);
}

TEST(CompressTest, TheSameSeedGivesTheSameArrivalsAtTheirTimeOverSpeed) {
  // Keys a..e over 4 steps (28 + 18 + 3 + 1 + 2 = 52 arrivals): the same keys in the same order,
  // each at its 1x time / 20 to the microsecond (both are truncated to whole microseconds); every
  // instance at the live template's 32 MB and 10 requests at once.
  auto c = Compress(Five(), {.speed = 20, .service_s = 0.001, .memory_mb = 32, .concurrency = 10});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->step_ms, 3'000);
  EXPECT_EQ(c->start_unix_ms, Five().start_unix_ms);
  const std::vector<Arrival> at1 = Arrivals(Five(), 3), at20 = Arrivals(*c, 3);
  ASSERT_EQ(at1.size(), 52u);
  ASSERT_EQ(at20.size(), at1.size());
  for (size_t i = 0; i < at1.size(); ++i) {
    EXPECT_EQ(at20[i].key, at1[i].key) << i;
    EXPECT_LE(std::llabs(at20[i].t - at1[i].t / 20), 1) << i;
    EXPECT_EQ(at20[i].service_us, 1'000) << i;
  }
  for (const KeySpec& k : c->keys) {
    EXPECT_EQ(k.memory_mb, 32);
    EXPECT_EQ(k.concurrency, 10u);
  }
  EXPECT_NE(c->report.find("compressed 20x"), std::string::npos) << c->report;
}

TEST(CompressTest, SpeedOneIsTheWorkloadItself) {
  auto c = Compress(Five(), {.speed = 1});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->step_ms, 60'000);
  EXPECT_EQ(c->speed, 1);
  EXPECT_EQ(c->report, Five().report);
}

TEST(CompressTest, RefusesASpeedThatSplitsAMillisecondOrIsNotPositive) {
  EXPECT_FALSE(Compress(Five(), {.speed = 0}).ok());
  EXPECT_FALSE(Compress(Five(), {.speed = -2}).ok());
  auto odd = Compress(Five(), {.speed = 7});  // 60000 / 7 ms
  ASSERT_FALSE(odd.ok());
  EXPECT_NE(odd.status().message().find("whole milliseconds"), std::string::npos);
  EXPECT_FALSE(Compress(Five(), {.speed = 60, .service_s = -1}).ok());
  EXPECT_FALSE(Compress(Five(), {.speed = 60, .memory_mb = -1}).ok());
  Workload minute = Five();
  minute.invocations = minute.counts;
  EXPECT_FALSE(Compress(minute, {.speed = 60}).ok());
}

}  // namespace
}  // namespace prewarm::sim
