#include "sim/slice.h"

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

}  // namespace
}  // namespace prewarm::sim
