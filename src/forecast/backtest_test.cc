#include "forecast/backtest.h"

#include <algorithm>
#include <cmath>
#include <regex>
#include <string>

#include "forecast/series.h"
#include "gtest/gtest.h"

namespace prewarm::forecast {
namespace {

// A periodic series (period 24, 28 days) given as a built series of a spec; origins lie in
// the last week (t >= 504).
struct Fixture {
  SeriesSpec spec;
  BuiltSeries series;
};

Fixture Periodic(int n, int origins) {
  Fixture f;
  f.spec.name = "periodic";
  f.spec.format = "csv";
  f.spec.native_step_s = 3600;
  f.spec.step_s = 3600;
  f.spec.periods = {24};
  f.spec.horizon = 24;
  f.spec.origins = origins;
  f.spec.train = 24 * 14;
  f.spec.origin_span = 24 * 7;
  f.series.names = {"periodic"};
  f.series.step_s = 3600;
  std::vector<double>& y = f.series.ys.emplace_back();
  for (int t = 0; t < n; ++t) {
    y.push_back(100 + 40 * std::sin(2 * M_PI * (t % 24) / 24) + (t % 24 == 5 ? 30 : 0));
    // Noise inside every training window but a day before the first origin, so the
    // in-sample seasonal naive error (the MASE scale) is not 0 while the last cycle is clean.
    if (t >= 312 && t < 480) y.back() += (t * 7) % 5 - 2;
  }
  return f;
}

TEST(BacktestTest, AutoHasOneRowWhateverTheTransforms) {
  Fixture f = Periodic(24 * 28, 2);
  BacktestOptions options;
  options.models = {"snaive", "auto"};
  options.transforms = {"log1p", "boxcox"};  // auto picks its own: one row, on the counts
  absl::StatusOr<BacktestReport> r = RunBacktest(f.spec, f.series, options);
  ASSERT_TRUE(r.ok()) << r.status();
  std::vector<std::string> names;
  for (const ModelSummary& m : r->models) names.push_back(m.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"auto", "snaive_boxcox", "snaive_log1p"}));
  for (const ModelSummary& m : r->models) EXPECT_EQ(m.origins_ok, 2) << m.name << ": " << m.notes;
}

TEST(BacktestTest, AutosRowSaysWhatItChoseAtTheOrigins) {
  Fixture f = Periodic(24 * 28, 3);
  BacktestOptions options;
  options.models = {"snaive", "auto"};
  options.transforms = {"none"};
  absl::StatusOr<BacktestReport> r = RunBacktest(f.spec, f.series, options);
  ASSERT_TRUE(r.ok()) << r.status();
  for (const ModelSummary& m : r->models) {
    if (m.name != "auto") {
      EXPECT_EQ(m.notes.find("chose"), std::string::npos) << m.name << ": " << m.notes;
      continue;
    }
    // Structures without their weights, counted over the 3 fits.
    const size_t at = m.notes.find("chose ");
    ASSERT_NE(at, std::string::npos) << m.notes;
    EXPECT_EQ(m.notes.find("auto["), std::string::npos) << m.notes;
    EXPECT_EQ(m.notes.find("0."), std::string::npos) << m.notes;
    int total = 0;
    const std::regex count(" ([0-9]+)/([0-9]+)");
    for (std::sregex_iterator it(m.notes.begin() + at, m.notes.end(), count), e; it != e; ++it) {
      total += std::stoi((*it)[1]);
      EXPECT_EQ((*it)[2], "3") << m.notes;
    }
    EXPECT_EQ(total, 3) << m.notes;
  }
}

TEST(BacktestTest, SeasonalNaiveIsExactOnAPeriodicSeries) {
  Fixture f = Periodic(24 * 28, 4);
  BacktestOptions options;
  options.models = {"snaive"};
  options.transforms = {"none", "log1p"};
  absl::StatusOr<BacktestReport> r = RunBacktest(f.spec, f.series, options);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->models.size(), 2u);
  EXPECT_EQ(r->models[0].name, "snaive");
  EXPECT_EQ(r->models[1].name, "snaive_log1p");
  for (const ModelSummary& m : r->models) {
    EXPECT_EQ(m.origins_ok, 4) << m.name << ": " << m.notes;
    EXPECT_EQ(m.fits, 4);
    EXPECT_NEAR(m.mase, 0.0, 1e-9) << m.name;
    EXPECT_NEAR(m.smape, 0.0, 1e-9) << m.name;
    EXPECT_NEAR(m.pinball[0], 0.0, 1e-9) << m.name;
    EXPECT_GE(m.cpu_s, 0.0);
  }
  EXPECT_EQ(r->origin_index, OriginIndices(24 * 28, 24, 24 * 7, 4));
}

TEST(BacktestTest, ThreadsGiveTheSameFigures) {
  Fixture f = Periodic(24 * 28, 6);
  f.series.ys[0][24 * 25] = kMissing;  // one missing test point
  BacktestOptions options;
  options.models = {"snaive", "ets"};
  options.transforms = {"none"};
  auto one = RunBacktest(f.spec, f.series, options);
  options.jobs = 3;
  // Progress: one call per (sub-series, row, origin) fit (the rows run through the origins
  // in order, carrying their adaptive levels), one at a time, counting up to the total.
  std::vector<std::pair<size_t, size_t>> calls;
  options.on_task_done = [&](size_t done, size_t total) { calls.emplace_back(done, total); };
  auto three = RunBacktest(f.spec, f.series, options);
  ASSERT_TRUE(one.ok() && three.ok());
  ASSERT_EQ(calls.size(),
            f.series.ys.size() * options.models.size() * static_cast<size_t>(f.spec.origins));
  for (size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i], std::make_pair(i + 1, calls.size()));
  }
  for (size_t i = 0; i < one->models.size(); ++i) {
    EXPECT_EQ(one->models[i].mase, three->models[i].mase);
    EXPECT_EQ(one->models[i].coverage80, three->models[i].coverage80);
  }
  // Without adaptive levels: independent (sub-series, origin) tasks, one call each.
  calls.clear();
  options.quantiles.adaptive.enabled = false;
  auto fixed = RunBacktest(f.spec, f.series, options);
  ASSERT_TRUE(fixed.ok());
  ASSERT_EQ(calls.size(), f.series.ys.size() * static_cast<size_t>(f.spec.origins));
  EXPECT_EQ(fixed->models[0].mase, one->models[0].mase);  // the point forecast is the same
}

TEST(BacktestTest, FailuresAreCountedWithTheirReason) {
  Fixture f = Periodic(24 * 28, 3);
  f.spec.train = 3;  // too short for any calibration
  BacktestOptions options;
  options.models = {"ets"};
  options.transforms = {"none"};
  auto r = RunBacktest(f.spec, f.series, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->models[0].origins_ok, 0);
  EXPECT_EQ(r->models[0].fits, 3);
  EXPECT_TRUE(std::isnan(r->models[0].mase));
  EXPECT_NE(r->models[0].notes.find("3 failed: "), std::string::npos) << r->models[0].notes;
  EXPECT_NE(ReportJson(*r).find("\"mase\": null"), std::string::npos);
}

TEST(BacktestTest, ZeroScaleGetsNoMase) {
  Fixture f = Periodic(24 * 28, 2);
  for (double& v : f.series.ys[0]) v = 7;
  BacktestOptions options;
  options.models = {"snaive"};
  options.transforms = {"none"};
  auto r = RunBacktest(f.spec, f.series, options);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(std::isnan(r->models[0].mase));
  EXPECT_EQ(r->models[0].origins_ok, 2);
  EXPECT_NE(r->models[0].notes.find("MASE over 0 of 2"), std::string::npos);
}

TEST(BacktestTest, BadOptionsAndShortSeriesAreErrors) {
  Fixture f = Periodic(24 * 28, 2);
  BacktestOptions options;
  options.models = {"lstm"};
  EXPECT_EQ(RunBacktest(f.spec, f.series, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.models = {"snaive"};
  options.transforms = {"sqrt"};
  EXPECT_FALSE(RunBacktest(f.spec, f.series, options).ok());
  Fixture short_one = Periodic(24 * 5, 2);
  EXPECT_FALSE(RunBacktest(short_one.spec, short_one.series, BacktestOptions{}).ok());
}

TEST(BacktestTest, JsonHasTheReadmeShape) {
  Fixture f = Periodic(24 * 28, 3);
  f.spec.train.reset();
  BacktestOptions options;
  options.models = {"snaive"};
  auto r = RunBacktest(f.spec, f.series, options);
  ASSERT_TRUE(r.ok());
  std::string json = ReportJson(*r);
  for (const char* key : {"\"series\": \"periodic\"",
                          "\"tool\": \"prewarm\"",
                          "\"protocol\": {\"step_s\": 3600",
                          "\"periods\": [24]",
                          "\"horizon\": 24",
                          "\"origins\": 3",
                          "\"train\": \"all\"",
                          "\"origin_span\": 168",
                          "\"n\": 672",
                          "\"subseries\": 1",
                          "\"origin_index\": [504, 576, 648]",
                          "\"name\": \"snaive\"",
                          "\"name\": \"snaive_log1p\"",
                          "\"mase\": 0",
                          "\"smape\": ",
                          "\"pinball\": {\"0.5\": ",
                          "\"0.9\": ",
                          "\"0.95\": ",
                          "\"0.99\": ",
                          "\"coverage80\": ",
                          "\"coverage98\": ",
                          "\"cpu_s\": ",
                          "\"origins_ok\": 3",
                          "\"fits\": 3",
                          "\"notes\": \"\""}) {
    EXPECT_NE(json.find(key), std::string::npos) << key << "\n" << json;
  }
  std::string table = ReportTable(*r);
  EXPECT_NE(table.find("snaive_log1p"), std::string::npos) << table;
  EXPECT_NE(table.find("3/3"), std::string::npos) << table;
}

}  // namespace
}  // namespace prewarm::forecast
