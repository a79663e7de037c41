#include "common/parallel.h"

#include <gtest/gtest.h>

#include <vector>

namespace prewarm {
namespace {

TEST(ParallelFor, RunsEachJobOnceAndReportsProgressInOrder) {
  for (int threads : {0, 1, 3, 64}) {
    std::vector<int> runs(17, 0);
    std::vector<std::pair<size_t, size_t>> calls;
    ParallelFor(
        runs.size(), threads, [&](size_t i) { ++runs[i]; },
        [&](size_t done, size_t total) { calls.emplace_back(done, total); });
    EXPECT_EQ(runs, std::vector<int>(17, 1)) << threads;
    ASSERT_EQ(calls.size(), 17u) << threads;
    for (size_t i = 0; i < calls.size(); ++i)
      EXPECT_EQ(calls[i], std::make_pair(i + 1, size_t{17}));
  }
  ParallelFor(0, 4, [](size_t) { ADD_FAILURE() << "no job to run"; });
}

}  // namespace
}  // namespace prewarm
