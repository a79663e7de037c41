#include "forecast/ingest/count_csv.h"

#include <chrono>
#include <cmath>
#include <numeric>

#include "forecast/ingest/test_traces.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace prewarm::forecast::ingest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using traces::TracePath;

constexpr int64_t kMinute = 60'000;
constexpr int64_t kDay = 86'400'000;

double Total(const Series& s) {
  double sum = 0;
  for (double v : s.values) sum += IsMissing(v) ? 0 : v;
  return sum;
}

absl::StatusOr<CountTable> Read(std::string text, const CsvOptions& options) {
  return ReadCountCsv(LineSource::FromString("inline.csv", std::move(text)), options);
}

CsvOptions Plain() { return CsvOptions{}; }  // timestamp,count at one minute

TEST(CountCsv, WorldCup98HasTenMissingMinutesAndTheLogTotal) {
  std::string path = TracePath("worldcup98/wc98_requests_per_minute.csv");
  SKIP_IF_ABSENT(path);
  auto begin = std::chrono::steady_clock::now();
  auto table = ReadCountCsv(path, WorldCup98Options());
  auto elapsed = std::chrono::steady_clock::now() - begin;
  ASSERT_TRUE(table.ok()) << table.status();
  // Printed, not asserted: this machine is shared and noisy.
  std::printf("WorldCup98 read in %.1f ms\n",
              std::chrono::duration<double, std::milli>(elapsed).count());

  EXPECT_EQ(table->report.rows, 125'300u);
  EXPECT_EQ(table->report.bad_lines, 0u);
  EXPECT_EQ(table->report.gaps, 10u);
  ASSERT_EQ(table->series.size(), 1u);
  const Series& s = table->series.begin()->second;
  EXPECT_EQ(s.name, "wc98_requests_per_minute");
  EXPECT_EQ(s.size(), 125'310u);
  EXPECT_EQ(s.step_ms, kMinute);
  EXPECT_EQ(FormatIsoUtc(s.start_ms), "1998-04-30T21:30:00Z");
  EXPECT_EQ(FormatIsoUtc(s.TimeAt(s.size() - 1)), "1998-07-26T21:59:00Z");
  EXPECT_EQ(Total(s), 1'352'804'107.0);
  // The first gap: 1998-05-08 03:22.
  size_t first_gap = 0;
  while (!IsMissing(s.values[first_gap])) ++first_gap;
  EXPECT_EQ(FormatIsoUtc(s.TimeAt(first_gap)), "1998-05-08T03:22:00Z");
}

TEST(CountCsv, WorldCup98AggregatesToTenMinutes) {
  std::string path = TracePath("worldcup98/wc98_requests_per_minute.csv");
  SKIP_IF_ABSENT(path);
  auto table = ReadCountCsv(path, WorldCup98Options());
  ASSERT_TRUE(table.ok()) << table.status();
  Series ten = table->series.begin()->second.Aggregate(10);
  EXPECT_EQ(ten.size(), 12'531u);
  EXPECT_EQ(ten.step_ms, 10 * kMinute);
  EXPECT_EQ(ten.values[0], 62.0);  // 21:30..21:39
  // Every 10-minute group has some observation, so no gap survives aggregation.
  EXPECT_EQ(CountGaps(ten), 0u);
  EXPECT_EQ(Total(ten), 1'352'804'107.0);
}

TEST(CountCsv, PeytonManningDailyWithQuotedHeader) {
  std::string path = TracePath("prophet/example_wp_peyton_manning_raw_counts.csv");
  SKIP_IF_ABSENT(path);
  auto table = ReadCountCsv(path, ProphetOptions(kDay));
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->report.rows, 2905u);
  EXPECT_EQ(table->report.bad_lines, 0u);
  const Series& s = table->series.begin()->second;
  EXPECT_EQ(FormatIsoUtc(s.start_ms), "2007-12-10T00:00:00Z");
  EXPECT_EQ(s.size(), 2964u);  // 2007-12-10 .. 2016-01-20: 59 days have no row
  EXPECT_EQ(table->report.gaps, 59u);
  EXPECT_EQ(s.values[0], 14629.0);
  EXPECT_EQ(Total(s), 16'833'697.0);
}

TEST(CountCsv, OtherProphetExamplesReadCleanly) {
  std::string yosemite = TracePath("prophet/example_yosemite_temps.csv");
  std::string pedestrians = TracePath("prophet/example_pedestrians_multivariate_hourly.csv");
  SKIP_IF_ABSENT(yosemite);
  CsvOptions temps = ProphetOptions(5 * kMinute);
  temps.allow_negative = true;  // temperatures, not counts
  auto t = ReadCountCsv(yosemite, temps);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->report.rows, 18'721u);
  EXPECT_EQ(t->report.bad_lines, 0u);
  EXPECT_EQ(t->report.missing_values, 12u);  // "NaN" cells in June 2017
  EXPECT_GE(t->report.gaps, 12u);

  CsvOptions hourly = ProphetOptions(60 * kMinute);
  hourly.count_column = "location_41";
  auto p = ReadCountCsv(pedestrians, hourly);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->report.rows, 720u);
  EXPECT_EQ(p->report.bad_lines, 0u);
  EXPECT_EQ(p->series.begin()->second.values[0], 975.0);
}

TEST(CountCsv, BadLinesAreCountedAndNamed) {
  auto table = Read(
      "timestamp,count\n"
      "2021-01-01 00:00,5\n"
      "2021-13-40 00:00,7\n"  // line 3: impossible date
      "2021-01-01 00:01,abc\n"
      "2021-01-01 00:02\n"
      "\n"  // blank lines are not data
      "2021-01-01 00:03,-4\n"
      "2021-01-01 00:04,\"3\n"
      "2021-01-01 00:05,6\n",
      Plain());
  ASSERT_TRUE(table.ok()) << table.status();
  const ReadReport& r = table->report;
  EXPECT_EQ(r.lines, 7u);
  EXPECT_EQ(r.rows, 2u);
  EXPECT_EQ(r.bad_lines, 5u);
  ASSERT_EQ(r.first_errors.size(), 5u);
  EXPECT_THAT(r.first_errors[0], HasSubstr("inline.csv:3: "));
  EXPECT_THAT(r.first_errors[0], HasSubstr("2021-13-40"));
  EXPECT_THAT(r.first_errors[1], HasSubstr("inline.csv:4: bad count 'abc'"));
  EXPECT_THAT(r.first_errors[2], HasSubstr("inline.csv:5: expected 2 fields, got 1"));
  EXPECT_THAT(r.first_errors[3], HasSubstr("inline.csv:7: bad count '-4'"));
  EXPECT_THAT(r.first_errors[4], HasSubstr("inline.csv:8: unterminated quote"));
  // The good rows still make their series, the rejected minutes in between are gaps.
  const Series& s = table->series.begin()->second;
  EXPECT_EQ(s.size(), 6u);
  EXPECT_EQ(r.gaps, 4u);
}

TEST(CountCsv, OnlyTenErrorsAreKept) {
  std::string text = "timestamp,count\n";
  for (int i = 0; i < 25; ++i) text += "garbage\n";
  auto table = Read(text, Plain());
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->report.bad_lines, 25u);
  EXPECT_EQ(table->report.first_errors.size(), ReadReport::kMaxErrors);
  EXPECT_TRUE(table->series.empty());
}

TEST(CountCsv, MissingStepsAreGapsNotZeros) {
  auto table = Read("timestamp,count\n0,1\n60,2\n240,5\n", Plain());
  ASSERT_TRUE(table.ok()) << table.status();
  const Series& s = table->series.begin()->second;
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s.values[0], 1.0);
  EXPECT_EQ(s.values[1], 2.0);
  EXPECT_TRUE(IsMissing(s.values[2]));
  EXPECT_TRUE(IsMissing(s.values[3]));
  EXPECT_EQ(s.values[4], 5.0);
  EXPECT_EQ(table->report.gaps, 2u);

  CsvOptions zero = Plain();
  zero.empty_step = EmptyStep::kZero;
  auto zeros = Read("timestamp,count\n0,1\n240,5\n", zero);
  ASSERT_TRUE(zeros.ok());
  EXPECT_THAT(zeros->series.begin()->second.values, ElementsAre(1, 0, 0, 0, 5));
  EXPECT_EQ(zeros->report.gaps, 0u);
}

TEST(CountCsv, ExplicitlyMissingValuesAreRowsThatLeaveGaps) {
  CsvOptions zero = Plain();
  zero.empty_step = EmptyStep::kZero;  // even so, a cell saying NaN is not a zero
  auto table = Read("timestamp,count\n0,1\n60,NaN\n120,\n120,\n180,2\n240,NA\n", zero);
  ASSERT_TRUE(table.ok()) << table.status();
  const Series& s = table->series.begin()->second;
  ASSERT_EQ(s.size(), 5u);  // the trailing NA still extends the span
  EXPECT_EQ(s.values[0], 1.0);
  EXPECT_TRUE(IsMissing(s.values[1]));
  EXPECT_TRUE(IsMissing(s.values[2]));
  EXPECT_EQ(s.values[3], 2.0);
  EXPECT_TRUE(IsMissing(s.values[4]));
  EXPECT_EQ(table->report.rows, 6u);
  EXPECT_EQ(table->report.bad_lines, 0u);
  EXPECT_EQ(table->report.missing_values, 4u);
  EXPECT_EQ(table->report.gaps, 3u);

  auto filled = Read("timestamp,count\n0,NaN\n30,4\n", Plain());  // same minute
  ASSERT_TRUE(filled.ok());
  EXPECT_THAT(filled->series.begin()->second.values, ElementsAre(4));
}

TEST(CountCsv, UnsortedDuplicateAndSubStepRowsAreSummed) {
  auto table = Read(
      "timestamp,count\n"
      "2021-01-01T00:02:00Z,1\n"
      "2021-01-01T00:00:10Z,2\n"
      "2021-01-01T00:00:50Z,3\n"   // same minute as the row above
      "2021-01-01T00:02:00Z,10\n"  // same timestamp as the first row
      "2021-01-01T00:01:00Z,4\n",
      Plain());
  ASSERT_TRUE(table.ok()) << table.status();
  const Series& s = table->series.begin()->second;
  EXPECT_EQ(FormatIsoUtc(s.start_ms), "2021-01-01T00:00:00Z");
  EXPECT_THAT(s.values, ElementsAre(5, 4, 11));
  EXPECT_EQ(table->report.rows, 5u);
}

TEST(CountCsv, RegionAndTemplateColumnsMakeOneSeriesEach) {
  CsvOptions o;
  o.timestamp_column = "ts";
  o.count_column = "requests";
  o.region_column = "region";
  o.template_column = "template";
  o.delimiter = ';';
  auto table = Read(
      "\"TS\";\"Region\";\"Template\";\"Requests\"\n"
      "0;eu;web;1\n"
      "0;us;web;2\n"
      "120;eu;web;3\n"
      "60;\"eu\";\"api; v2\";4\n",
      o);
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->series.size(), 3u);
  const Series& eu_web = table->series.at(Key{"eu", "web"});
  EXPECT_EQ(eu_web.name, "eu/web");
  EXPECT_EQ(eu_web.size(), 3u);
  EXPECT_TRUE(IsMissing(eu_web.values[1]));
  EXPECT_THAT(table->series.at(Key{"us", "web"}).values, ElementsAre(2));
  const Series& api = table->series.at(Key{"eu", "api; v2"});
  EXPECT_EQ(api.start_ms, kMinute);
  EXPECT_EQ(table->report.gaps, 1u);
}

TEST(CountCsv, HeaderProblemsAreErrors) {
  auto no_column = Read("time,count\n0,1\n", Plain());
  EXPECT_FALSE(no_column.ok());
  EXPECT_THAT(std::string(no_column.status().message()),
              HasSubstr("inline.csv:1: no column 'timestamp' in header ['time', 'count']"));
  EXPECT_FALSE(Read("", Plain()).ok());
  EXPECT_FALSE(Read("\n\n", Plain()).ok());
  EXPECT_FALSE(ReadCountCsv("/nonexistent/x.csv", Plain()).ok());
  CsvOptions zero_step = Plain();
  zero_step.step_ms = 0;
  EXPECT_FALSE(Read("timestamp,count\n0,1\n", zero_step).ok());
}

TEST(CountCsv, AnAbsurdSpanIsAnErrorNotAnAllocation) {
  auto table = Read("timestamp,count\n1970-01-01,1\n9999-12-31,1\n", Plain());
  EXPECT_FALSE(table.ok());
  EXPECT_THAT(std::string(table.status().message()), HasSubstr("more than the limit"));
}

}  // namespace
}  // namespace prewarm::forecast::ingest
