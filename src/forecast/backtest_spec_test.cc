#include "forecast/backtest_spec.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include "forecast/series.h"
#include "gtest/gtest.h"

namespace prewarm::forecast {
namespace {

constexpr char kSpec[] = R"(
version: 1
series:
  - name: a
    source: data/a.csv
    format: csv
    time_column: t
    value_column: "y"
    time_format: "%Y-%m-%d %H:%M:%S"
    native_step_s: 60
    aggregate: 10
    step_s: 600
    periods: [144, 1008]
    horizon: 144
    origins: 20
    train: 4032
    origin_span: 4032
    r_skip: [auto.arima]   # unknown to us: ignored
  - name: b
    source: b.csv
    format: azure_wide
    value_prefix: minute_
    start: "1970-01-01 00:00:00"
    combine: each
    top: 2
    native_step_s: 60
    periods: [60]
    horizon: 10
    train: all
    origin_span: 720
)";

TEST(BacktestSpecTest, ParsesEveryKey) {
  absl::StatusOr<std::vector<SeriesSpec>> specs = ParseSpec(kSpec, "spec.yaml");
  ASSERT_TRUE(specs.ok()) << specs.status();
  ASSERT_EQ(specs->size(), 2u);
  const SeriesSpec& a = (*specs)[0];
  EXPECT_EQ(a.value_column, "y");
  EXPECT_EQ(a.time_format, "%Y-%m-%d %H:%M:%S");
  EXPECT_EQ(a.step_s, 600);
  EXPECT_EQ(a.periods, (std::vector<int>{144, 1008}));
  EXPECT_EQ(a.train, 4032);
  const SeriesSpec& b = (*specs)[1];
  EXPECT_EQ(b.combine, "each");
  EXPECT_EQ(b.top, 2);
  EXPECT_FALSE(b.train.has_value());
  EXPECT_EQ(b.origins, 20);
  EXPECT_EQ(b.step_s, 60);
}

TEST(BacktestSpecTest, ErrorsNameFileAndLine) {
  std::string bad = kSpec;
  bad.replace(bad.find("step_s: 600"), 11, "step_s: 601");
  absl::StatusOr<std::vector<SeriesSpec>> specs = ParseSpec(bad, "spec.yaml");
  ASSERT_FALSE(specs.ok());
  EXPECT_NE(specs.status().message().find("spec.yaml:"), std::string::npos) << specs.status();
  EXPECT_NE(specs.status().message().find("step_s 601"), std::string::npos);

  std::string no_horizon = kSpec;
  no_horizon.replace(no_horizon.find("horizon: 10\n"), 12, "");
  EXPECT_FALSE(ParseSpec(no_horizon, "spec.yaml").ok());
  EXPECT_FALSE(ParseSpec("version: 1\nseries: [", "x").ok());
  EXPECT_EQ(ReadSpecFile("/nonexistent/spec.yaml").status().code(), absl::StatusCode::kNotFound);
}

TEST(BacktestSpecTest, FindSeriesListsNames) {
  auto specs = ParseSpec(kSpec, "spec.yaml");
  ASSERT_TRUE(specs.ok());
  EXPECT_TRUE(FindSeries(*specs, "b").ok());
  absl::StatusOr<SeriesSpec> missing = FindSeries(*specs, "zz");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("a, b"), std::string::npos);
}

TEST(BacktestSpecTest, OriginFormula) {
  EXPECT_EQ(OriginIndices(100, 10, 30, 1), std::vector<int>{90});
  EXPECT_EQ(OriginIndices(100, 10, 30, 3), (std::vector<int>{70, 80, 90}));
  // floor(i * 20 / 3): 0, 6, 13, 20
  EXPECT_EQ(OriginIndices(100, 10, 30, 4), (std::vector<int>{70, 76, 83, 90}));
}

TEST(BacktestSpecTest, ParseTimeUtc) {
  EXPECT_EQ(*ParseTimeUtc("1970-01-02 00:00:01", "%Y-%m-%d %H:%M:%S"), 86401);
  EXPECT_EQ(*ParseTimeUtc("1970-01-03", "%Y-%m-%d"), 2 * 86400);
  EXPECT_FALSE(ParseTimeUtc("1970-01-03 junk", "%Y-%m-%d").ok());
  EXPECT_EQ(*ParseTimeUtc("1970-01-01T00:01:00Z", "auto"), 60);
  EXPECT_EQ(*ParseTimeUtc("120", ""), 120);
}

class TempDir {
 public:
  TempDir()
      : path_(std::filesystem::temp_directory_path() /
              ::testing::UnitTest::GetInstance()->current_test_info()->name()) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name) << text;
    return (path_ / name).string();
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

SeriesSpec CsvSpec(int aggregate) {
  SeriesSpec s;
  s.name = "t";
  s.source = "t.csv";
  s.format = "csv";
  s.time_column = "ts";
  s.value_column = "v";
  s.time_format = "%Y-%m-%d %H:%M:%S";
  s.native_step_s = 60;
  s.aggregate = aggregate;
  s.step_s = 60 * aggregate;
  s.periods = {2};
  s.horizon = 1;
  s.origin_span = 1;
  return s;
}

TEST(BacktestSpecTest, CsvDropsPartialEndBucketsAndKeepsGapsMissing) {
  TempDir dir;
  // Minutes 00:08..00:31 except 00:15..00:19 (a whole bucket with no rows), one bad line.
  std::string text = "ts,v\n";
  for (int m = 8; m <= 31; ++m) {
    if (m >= 15 && m < 20) continue;
    text += fmt::format("1970-01-01 00:{:02}:00,1\n", m);
  }
  text += "garbage,1\n1970-01-01 00:40:00,NA\n";
  dir.Write("t.csv", text);
  absl::StatusOr<BuiltSeries> b = BuildSeries(CsvSpec(5), dir.path());
  ASSERT_TRUE(b.ok()) << b.status();
  // Buckets of 5 min: 00:10 (first whole one) .. 00:25 (00:30 ends after 00:31 + 1 min).
  // The NA row at 00:40 is a bad line, not a time: the span ends at 00:31.
  EXPECT_EQ(b->start_s, 600);
  ASSERT_EQ(b->n(), 4);
  EXPECT_EQ(b->ys[0][0], 5);
  EXPECT_TRUE(IsMissing(b->ys[0][1]));
  EXPECT_EQ(b->ys[0][2], 5);
  EXPECT_EQ(b->ys[0][3], 5);
  EXPECT_EQ(b->missing, 1);
  ASSERT_FALSE(b->notes.empty());
  EXPECT_NE(b->notes[0].find("2 unparsable lines"), std::string::npos) << b->notes[0];
}

// Ten minutes of 1s, with `bad` on line `line` (the header is line 1).
std::string MinutesWith(int line, const std::string& bad) {
  std::string text = "ts,v\n";
  for (int m = 0; m < 10; ++m) {
    text += fmt::format("1970-01-01 00:{:02}:00,{}\n", m, m + 2 == line ? bad : "1");
  }
  return text;
}

TEST(BacktestSpecTest, CsvSkipsNegativeAndNonFiniteCountsNamingTheirLine) {
  for (const std::string bad : {"-7", "-0.5", "inf", "-inf", "nan", "1e400"}) {
    TempDir dir;
    dir.Write("t.csv", MinutesWith(4, bad));
    absl::StatusOr<BuiltSeries> b = BuildSeries(CsvSpec(1), dir.path());
    ASSERT_TRUE(b.ok()) << bad << ": " << b.status();
    ASSERT_EQ(b->n(), 10) << bad;
    EXPECT_TRUE(IsMissing(b->ys[0][2])) << bad;  // a missing minute, never data
    for (int i : {0, 1, 3, 4, 5, 6, 7, 8, 9}) EXPECT_EQ(b->ys[0][i], 1) << bad << " " << i;
    ASSERT_FALSE(b->notes.empty()) << bad;
    EXPECT_NE(b->notes[0].find("1 unparsable lines"), std::string::npos) << b->notes[0];
    EXPECT_NE(b->notes[0].find(":4:"), std::string::npos) << b->notes[0];
    EXPECT_NE(b->notes[0].find(bad), std::string::npos) << b->notes[0];
  }
}

TEST(BacktestSpecTest, CsvFailsOnAnAbsurdCountWithItsLine) {
  for (const std::string bad : {"1e308", "1.5e12"}) {
    TempDir dir;
    dir.Write("t.csv", MinutesWith(7, bad));
    absl::StatusOr<BuiltSeries> b = BuildSeries(CsvSpec(1), dir.path());
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_EQ(b.status().code(), absl::StatusCode::kOutOfRange);
    EXPECT_NE(b.status().message().find("t.csv:7:"), std::string::npos) << b.status();
    EXPECT_NE(b.status().message().find(bad), std::string::npos) << b.status();
  }
}

TEST(BacktestSpecTest, CsvAcceptsCountsUpToTheBound) {
  TempDir dir;
  dir.Write("t.csv", MinutesWith(7, "1e12"));
  absl::StatusOr<BuiltSeries> b = BuildSeries(CsvSpec(1), dir.path());
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->ys[0][5], 1e12);
  EXPECT_TRUE(b->notes.empty() || b->notes[0].find("unparsable") == std::string::npos);
}

TEST(BacktestSpecTest, AzureWideSumAndTop) {
  TempDir dir;
  dir.Write("w.csv",
            "HashFunction,HashOwner,minute_1,minute_2,minute_3\n"
            "f1,o,1,0,0\nf2,o,5,5,5\nf3,o,0,0,1\nf4,o,x,1,1\n");
  SeriesSpec s;
  s.name = "w";
  s.source = "w.csv";
  s.format = "azure_wide";
  s.value_prefix = "minute_";
  s.start = "1970-01-01 00:00:00";
  s.combine = "sum";
  s.periods = {2};
  s.origin_span = 1;
  absl::StatusOr<BuiltSeries> sum = BuildSeries(s, dir.path());
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(sum->ys, (std::vector<std::vector<double>>{{6, 5, 6}}));
  s.combine = "each";
  s.top = 2;
  absl::StatusOr<BuiltSeries> each = BuildSeries(s, dir.path());
  ASSERT_TRUE(each.ok());
  EXPECT_EQ(each->names, (std::vector<std::string>{"f2", "f1"}));  // f1 ties f3: file order
}

TEST(BacktestSpecTest, MissingSourceIsAnError) {
  SeriesSpec s = CsvSpec(1);
  s.source = "/nonexistent/file.csv";
  EXPECT_FALSE(BuildSeries(s).ok());
}

// The README's table, on the real traces.
struct Expected {
  const char* name;
  int n;
  int missing;
  int first_origin;
  int last_origin;
  int subseries;
};

class RealSeriesTest : public ::testing::TestWithParam<Expected> {};

TEST_P(RealSeriesTest, MatchesTheReadme) {
  const Expected& e = GetParam();
  if (!std::filesystem::exists(PREWARM_TRACES_DIR)) GTEST_SKIP() << "no traces";
  absl::StatusOr<std::vector<SeriesSpec>> specs = ReadSpecFile(PREWARM_SPEC_FILE);
  ASSERT_TRUE(specs.ok()) << specs.status();
  absl::StatusOr<SeriesSpec> s = FindSeries(*specs, e.name);
  ASSERT_TRUE(s.ok()) << s.status();
  absl::StatusOr<BuiltSeries> b = BuildSeries(*s, PREWARM_SOURCE_DIR);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->n(), e.n);
  EXPECT_EQ(b->missing, e.missing);
  EXPECT_EQ(static_cast<int>(b->ys.size()), e.subseries);
  std::vector<int> o = OriginIndices(b->n(), s->horizon, s->origin_span, s->origins);
  ASSERT_EQ(o.size(), 20u);
  EXPECT_EQ(o.front(), e.first_origin);
  EXPECT_EQ(o.back(), e.last_origin);
}

INSTANTIATE_TEST_SUITE_P(Readme, RealSeriesTest,
                         ::testing::Values(Expected{"wc98_10min", 12531, 0, 8499, 12387, 1},
                                           Expected{"wc98_1h", 2088, 0, 1416, 2064, 1},
                                           Expected{"peyton_daily", 2964, 59, 2599, 2950, 1},
                                           Expected{"azure200_sum", 1440, 0, 720, 1430, 1},
                                           Expected{"azure200_fn", 1440, 0, 720, 1430, 20},
                                           Expected{"wc98_1min", 125310, 10, 84990, 125300, 1}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(RealSeriesStartTest, Wc98HourlyStartsAt22h) {
  if (!std::filesystem::exists(PREWARM_TRACES_DIR)) GTEST_SKIP() << "no traces";
  auto specs = ReadSpecFile(PREWARM_SPEC_FILE);
  ASSERT_TRUE(specs.ok());
  auto b = BuildSeries(*FindSeries(*specs, "wc98_1h"), PREWARM_SOURCE_DIR);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->start_s, *ParseTimeUtc("1998-04-30 22:00:00", "%Y-%m-%d %H:%M:%S"));
}

}  // namespace
}  // namespace prewarm::forecast
