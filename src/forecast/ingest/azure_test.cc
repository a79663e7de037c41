#include "forecast/ingest/azure.h"

#include <filesystem>
#include <fstream>

#include "forecast/ingest/test_traces.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace prewarm::forecast::ingest {
namespace {

using ::testing::HasSubstr;
using traces::TracePath;

TEST(Azure, HundredFunctionsOfOneDayAndTheirSum) {
  std::string path = TracePath("azure2019/100_inv.csv");
  SKIP_IF_ABSENT(path);
  auto inv = ReadAzureInvocations(path);
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->report.rows, 100u);
  EXPECT_EQ(inv->report.bad_lines, 0u);
  EXPECT_EQ(inv->report.gaps, 0u);
  ASSERT_EQ(inv->functions.size(), 100u);
  double cells = 0;
  for (const AzureFunction& fn : inv->functions) {
    ASSERT_EQ(fn.invocations.size(), 1440u);
    EXPECT_EQ(fn.invocations.start_ms, 0);
    EXPECT_EQ(fn.invocations.step_ms, 60'000);
    EXPECT_EQ(fn.invocations.name, fn.function_hash.substr(0, 8));
    EXPECT_EQ(fn.function_hash.size(), 64u);
    for (double v : fn.invocations.values) cells += v;
  }
  EXPECT_EQ(inv->functions[0].invocations.name, "1779fd33");
  EXPECT_EQ(inv->sum.name, "Sum");
  ASSERT_EQ(inv->sum.size(), 1440u);
  double sum = 0;
  for (double v : inv->sum.values) sum += v;
  EXPECT_EQ(sum, cells);
  EXPECT_EQ(sum, 86'751.0);  // awk over the 100 x 1440 cells
}

TEST(Azure, TwoHundredSampleReadsCleanly) {
  std::string path = TracePath("azure2019/200_inv.csv");
  SKIP_IF_ABSENT(path);
  auto inv = ReadAzureInvocations(path);
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->functions.size(), 200u);
  EXPECT_EQ(inv->report.bad_lines, 0u);
  auto run = ReadAzureDurations(TracePath("azure2019/200_run.csv"));
  auto mem = ReadAzureMemory(TracePath("azure2019/200_mem.csv"));
  ASSERT_TRUE(run.ok() && mem.ok());
  EXPECT_EQ(run->report.bad_lines + mem->report.bad_lines, 0u);
}

TEST(Azure, DurationsAndMemoryOfTheSameSample) {
  std::string run = TracePath("azure2019/100_run.csv");
  std::string mem = TracePath("azure2019/100_mem.csv");
  SKIP_IF_ABSENT(run);
  auto durations = ReadAzureDurations(run);
  ASSERT_TRUE(durations.ok()) << durations.status();
  EXPECT_EQ(durations->report.rows, 100u);
  EXPECT_EQ(durations->report.bad_lines, 0u);
  const AzureDuration& first =
      durations->by_function.at("1779fd3337dd353e424d808d9190aff8f09e46a8cbbe6469079b2d7f0e246e37");
  EXPECT_EQ(first.average_ms, 224);
  EXPECT_EQ(first.count, 1u);
  EXPECT_EQ(first.percentile_ms[3], 224);  // p50

  auto memory = ReadAzureMemory(mem);
  ASSERT_TRUE(memory.ok()) << memory.status();
  EXPECT_EQ(memory->report.rows, 100u);
  EXPECT_EQ(memory->report.bad_lines, 0u);
  const AzureMemory& app =
      memory->by_app.at("bd28ee142ca5b46259f6e27fc3a4216f447bd5843c406e63219cff30e73b135b");
  EXPECT_EQ(app.sample_count, 20'356u);
  EXPECT_EQ(app.average_allocated_mb, 112);
  EXPECT_EQ(app.percentile_mb.back(), 142);  // pct100

  // Every invoked function has its duration statistics.
  auto inv = ReadAzureInvocations(TracePath("azure2019/100_inv.csv"));
  ASSERT_TRUE(inv.ok());
  for (const AzureFunction& fn : inv->functions) {
    EXPECT_TRUE(durations->by_function.contains(fn.function_hash)) << fn.function_hash;
    EXPECT_TRUE(memory->by_app.contains(fn.app_hash)) << fn.app_hash;
  }
}

class AzureInline : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    std::string path = ::testing::TempDir() + "/azure_inline_inv.csv";
    std::ofstream(path) << text;
    return path;
  }
};

TEST_F(AzureInline, BadCellsRejectTheRowAndNameTheMinute) {
  std::string path = Write(
      "HashFunction,HashOwner,HashApp,minute_1,minute_2,minute_3\n"
      "f1,o,a,1,2,3\n"
      "f2,o,a,1,x,3\n"
      "f3,o,a,1,2\n"
      "f4,o,a,0,0,5\n");
  auto inv = ReadAzureInvocations(path);
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->functions.size(), 2u);
  EXPECT_EQ(inv->report.bad_lines, 2u);
  EXPECT_THAT(inv->report.first_errors[0], HasSubstr(":3: bad minute_2 'x'"));
  EXPECT_THAT(inv->report.first_errors[1], HasSubstr(":4: expected 6 fields, got 5"));
  EXPECT_EQ(inv->sum.values, (std::vector<double>{1, 2, 8}));
}

TEST_F(AzureInline, MissingColumnsAreErrors) {
  EXPECT_FALSE(ReadAzureInvocations(Write("HashFunction,HashOwner,HashApp\nf,o,a\n")).ok());
  EXPECT_FALSE(ReadAzureInvocations(Write("HashFunction,HashApp,minute_1\nf,a,1\n")).ok());
  EXPECT_FALSE(ReadAzureDurations(Write("HashFunction,Average\nf,1\n")).ok());
  EXPECT_FALSE(ReadAzureMemory(Write("HashApp,SampleCount\na,1\n")).ok());
}

}  // namespace
}  // namespace prewarm::forecast::ingest
