#include "sim/workload.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <tuple>

#include "fmt/format.h"
#include "forecast/ingest/azure.h"
#include "forecast/ingest/count_csv.h"
#include "forecast/ingest/test_traces.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace prewarm::sim {
namespace {

using forecast::ingest::traces::TracePath;
using ::testing::HasSubstr;

constexpr int64_t kStepUs = 60'000'000;

std::string Wc98Path() { return TracePath("worldcup98/wc98_requests_per_minute.csv"); }
std::string Azure200Path() { return TracePath("azure2019/200_inv.csv"); }

// Two keys over three one-minute steps, one of them idle in the middle.
Workload Small() {
  Workload w;
  w.name = "small";
  w.regions = {"a", "b"};
  w.keys.resize(2);
  w.keys[0].region = "a";
  w.keys[0].tmpl = "x";
  w.keys[1].region = "b";
  w.keys[1].tmpl = "y";
  w.keys[1].service = ServiceTime{{{0, 0.1}, {1, 0.2}}, 0.15};
  w.counts = {{5, 0, 40}, {7, 3, 1}};
  return w;
}

std::vector<Arrival> Drain(const Workload& w, uint64_t seed) {
  std::vector<Arrival> out;
  ArrivalStream stream(w, seed);
  Arrival a;
  while (stream.Next(a)) out.push_back(a);
  return out;
}

bool Same(const std::vector<Arrival>& a, const std::vector<Arrival>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const Arrival& x, const Arrival& y) {
    return x.t == y.t && x.key == y.key && x.service_us == y.service_us;
  });
}

double Quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// ---- ServiceTime ----

TEST(ServiceTime, SamplesFollowTheKnotsMedianNearTheHalfKnot) {
  ServiceTime s{{{0, 0.01}, {0.5, 0.1}, {0.99, 0.5}, {1, 1.0}}, 0.2};
  std::mt19937_64 rng(7);
  std::vector<double> v;
  for (int i = 0; i < 20'000; ++i) v.push_back(s.Sample(rng));
  EXPECT_NEAR(Quantile(v, 0.5), 0.1, 0.005);
  EXPECT_GE(*std::min_element(v.begin(), v.end()), 0.01);
  EXPECT_LE(*std::max_element(v.begin(), v.end()), 1.0);
}

TEST(ServiceTime, OneKnotIsAConstant) {
  ServiceTime s{{{0.5, 0.3}}, 1.0};
  std::mt19937_64 rng(1);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(s.Sample(rng), 0.3);
}

TEST(ServiceTime, NoKnotsIsExponentialWithTheMean) {
  ServiceTime s{{}, 0.2};
  std::mt19937_64 rng(3);
  std::vector<double> v;
  for (int i = 0; i < 50'000; ++i) v.push_back(s.Sample(rng));
  double mean = 0;
  for (double x : v) mean += x / static_cast<double>(v.size());
  EXPECT_NEAR(mean, 0.2, 0.01);
  EXPECT_NEAR(Quantile(v, 0.5), 0.2 * std::log(2.0), 0.01);
  EXPECT_GE(*std::min_element(v.begin(), v.end()), 0.0);
}

// ---- ArrivalStream ----

TEST(ArrivalStream, TheSameSeedGivesTheSameStreamAnotherSeedAnother) {
  Workload w = Small();
  EXPECT_TRUE(Same(Drain(w, 42), Drain(w, 42)));
  EXPECT_FALSE(Same(Drain(w, 42), Drain(w, 43)));
}

TEST(ArrivalStream, KeepsEveryStepsCountsInTimeOrderInsideTheStep) {
  Workload w = Small();
  std::vector<Arrival> arrivals = Drain(w, 5);
  ASSERT_EQ(arrivals.size(), w.total_arrivals());
  std::map<std::pair<uint32_t, size_t>, uint32_t> seen;  // (key, step) -> arrivals
  for (size_t i = 0; i < arrivals.size(); ++i) {
    const Arrival& a = arrivals[i];
    ASSERT_GE(a.t, 0);
    ++seen[{a.key, static_cast<size_t>(a.t / kStepUs)}];
    if (i > 0) {
      EXPECT_LE(std::tie(arrivals[i - 1].t, arrivals[i - 1].key), std::tie(a.t, a.key));
    }
    if (a.key == 1) {
      EXPECT_GE(a.service_us, 100'000);
      EXPECT_LE(a.service_us, 200'000);
    }
  }
  for (uint32_t k = 0; k < w.keys.size(); ++k) {
    for (size_t s = 0; s < w.steps(); ++s) {
      EXPECT_EQ((seen[{k, s}]), w.counts[k][s]) << "key " << k << " step " << s;
    }
  }
}

TEST(ArrivalStream, StepCountsTheStepsGeneratedAndAnEmptyWorkloadEndsAtOnce) {
  Workload w = Small();
  ArrivalStream stream(w, 1);
  Arrival a;
  ASSERT_TRUE(stream.Next(a));
  EXPECT_EQ(stream.step(), 1u);
  Workload none;
  ArrivalStream empty(none, 1);
  EXPECT_FALSE(empty.Next(a));
}

// ---- WorldCup98 ----

// The trace's minutes as the test reads them, gaps as 0.
std::vector<double> Wc98Trace(int64_t* start_ms) {
  auto table = forecast::ingest::ReadCountCsv(Wc98Path(), forecast::ingest::WorldCup98Options());
  EXPECT_TRUE(table.ok()) << table.status();
  const forecast::Series& s = table->series.begin()->second;
  *start_ms = s.start_ms;
  std::vector<double> v = s.values;
  for (double& x : v) x = forecast::IsMissing(x) ? 0 : x;
  return v;
}

TEST(LoadWc98, TotalIsTheWindowsTraceTotalTimesScale) {
  SKIP_IF_ABSENT(Wc98Path());
  int64_t start_ms = 0;
  std::vector<double> trace = Wc98Trace(&start_ms);
  Wc98Split split;  // last 14 days, shifted regions
  auto w = LoadWc98(Wc98Path(), split);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->keys.size(), 12u);
  EXPECT_EQ(w->steps(), 14u * 1440);
  EXPECT_EQ(w->counts[0].size(), w->steps());
  const int64_t from = (w->start_unix_ms - start_ms) / 60'000;
  // The default window leaves room for every region's shift.
  EXPECT_EQ(from + 480 + static_cast<int64_t>(w->steps()), static_cast<int64_t>(trace.size()));
  double expected = 0;
  for (size_t r = 0; r < split.regions.size(); ++r) {
    for (size_t m = 0; m < w->steps(); ++m) {
      expected += trace[static_cast<size_t>(from + split.shift_min[r]) + m] *
                  split.region_share[r] * split.scale;
    }
  }
  EXPECT_NEAR(static_cast<double>(w->total_arrivals()), expected, 0.01 * expected);
  EXPECT_NE(w->report.find("10 missing minutes read as 0"), std::string::npos) << w->report;
}

TEST(LoadWc98, UnshiftedTotalMatchesTheTraceOverAnExplicitWindow) {
  SKIP_IF_ABSENT(Wc98Path());
  int64_t start_ms = 0;
  std::vector<double> trace = Wc98Trace(&start_ms);
  Wc98Split split;
  split.shift_min = {0, 0, 0, 0};
  split.from_minute = 50 * 1440;
  split.days = 7;
  auto w = LoadWc98(Wc98Path(), split);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->start_unix_ms, start_ms + split.from_minute * 60'000);
  double expected = 0;
  for (size_t m = 0; m < w->steps(); ++m) expected += trace[50 * 1440 + m] * split.scale;
  EXPECT_NEAR(static_cast<double>(w->total_arrivals()), expected, 0.01 * expected);
}

TEST(LoadWc98, ARegionShiftedBySSeesTheTraceMovedByS) {
  SKIP_IF_ABSENT(Wc98Path());
  Wc98Split split;
  split.regions = {"here", "later"};
  split.shift_min = {0, 60};
  split.region_share = {0.5, 0.5};
  split.templates = {"all"};
  split.template_share = {1.0};
  split.shapes = {TemplateShape{}};
  split.scale = 2;  // 0.5 * 2: whole counts, so rounding draws nothing and the copy is exact
  split.from_minute = 40 * 1440;
  split.days = 1;
  auto w = LoadWc98(Wc98Path(), split);
  ASSERT_TRUE(w.ok()) << w.status();
  const auto& here = w->counts[0];
  const auto& later = w->counts[1];
  for (size_t m = 0; m + 60 < w->steps(); ++m) ASSERT_EQ(later[m], here[m + 60]) << m;
  EXPECT_NE(here, later);
}

TEST(LoadWc98, RoundingIsSeeded) {
  SKIP_IF_ABSENT(Wc98Path());
  Wc98Split split;
  split.days = 2;
  auto a = LoadWc98(Wc98Path(), split);
  auto b = LoadWc98(Wc98Path(), split);
  split.seed = 2;
  auto c = LoadWc98(Wc98Path(), split);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->counts, b->counts);
  EXPECT_NE(a->counts, c->counts);
}

TEST(LoadWc98, AMissingFileOrABadSplitIsAnErrorNamingIt) {
  auto missing = LoadWc98("/nonexistent/wc98.csv", Wc98Split{});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nonexistent/wc98.csv"));
  Wc98Split bad;
  bad.region_share = {1.0};
  auto mismatched = LoadWc98("/nonexistent/wc98.csv", bad);
  ASSERT_FALSE(mismatched.ok());
  EXPECT_THAT(std::string(mismatched.status().message()), HasSubstr("region_share"));
}

// ---- Azure ----

TEST(LoadAzure, The200SampleGivesOneKeyPerFunctionWithItsShapeAndEveryInvocation) {
  SKIP_IF_ABSENT(Azure200Path());
  AzureSplit split;
  auto w = LoadAzure(Azure200Path(), split);
  ASSERT_TRUE(w.ok()) << w.status();
  auto inv = forecast::ingest::ReadAzureInvocations(Azure200Path());
  ASSERT_TRUE(inv.ok());
  double file_total = 0;
  for (double v : inv->sum.values) file_total += v;

  EXPECT_EQ(w->name, "azure200");
  EXPECT_EQ(w->keys.size(), 200u);
  EXPECT_EQ(w->steps(), 1440u);
  EXPECT_EQ(w->start_unix_ms, 0);
  EXPECT_EQ(static_cast<double>(w->total_arrivals()), file_total);
  EXPECT_EQ(w->total_arrivals(), 155'469u);
  EXPECT_EQ(w->bad_lines, 0u);
  std::set<std::string> names, regions;
  size_t default_memory = 0;
  for (const KeySpec& k : w->keys) {
    names.insert(k.tmpl);
    regions.insert(k.region);
    EXPECT_TRUE(k.tmpl.starts_with("fn-")) << k.tmpl;
    ASSERT_EQ(k.service.knots.size(), 7u) << k.tmpl;
    EXPECT_GE(k.service.knots.front().second, 0.001);  // 0 ms read as 1 ms
    EXPECT_EQ(k.service.knots.back().first, 1.0);
    default_memory += k.memory_mb == 128;
  }
  EXPECT_EQ(names.size(), 200u);
  EXPECT_EQ(regions.size(), split.regions.size());
  EXPECT_LT(default_memory, 20u);  // every app has a memory row; few average exactly 128

  // The first function, checked against the raw readers.
  auto runs = forecast::ingest::ReadAzureDurations(TracePath("azure2019/200_run.csv"));
  auto mem = forecast::ingest::ReadAzureMemory(TracePath("azure2019/200_mem.csv"));
  ASSERT_TRUE(runs.ok() && mem.ok());
  const auto& fn = inv->functions[0];
  EXPECT_EQ(w->keys[0].tmpl, "fn-" + fn.function_hash.substr(0, 8));
  EXPECT_EQ(w->keys[0].memory_mb, mem->by_app.at(fn.app_hash).average_allocated_mb);
  const auto& d = runs->by_function.at(fn.function_hash);
  EXPECT_DOUBLE_EQ(w->keys[0].service.knots[3].second, std::max(d.percentile_ms[3], 1.0) / 1000);
  EXPECT_DOUBLE_EQ(w->keys[0].service.mean_s, std::max(d.average_ms, 1.0) / 1000);
}

TEST(LoadAzure, TopKeepsTheBusiestAndHomesDoNotDependOnIt) {
  SKIP_IF_ABSENT(Azure200Path());
  auto all = LoadAzure(Azure200Path(), AzureSplit{});
  AzureSplit split;
  split.top = 10;
  auto top = LoadAzure(Azure200Path(), split);
  ASSERT_TRUE(all.ok() && top.ok());
  ASSERT_EQ(top->keys.size(), 10u);
  std::vector<uint64_t> totals;
  std::map<std::string, std::string> home;
  for (size_t k = 0; k < all->keys.size(); ++k) {
    uint64_t sum = 0;
    for (uint32_t c : all->counts[k]) sum += c;
    totals.push_back(sum);
    home[all->keys[k].tmpl] = all->keys[k].region;
  }
  std::sort(totals.rbegin(), totals.rend());
  uint64_t top_sum = 0;
  for (size_t i = 0; i < 10; ++i) top_sum += totals[i];
  EXPECT_EQ(top->total_arrivals(), top_sum);
  for (const KeySpec& k : top->keys) EXPECT_EQ(k.region, home[k.tmpl]) << k.tmpl;
}

TEST(LoadAzure, WithoutCompanionFilesDefaultsAreUsedAndReported) {
  SKIP_IF_ABSENT(Azure200Path());
  std::filesystem::path dir = testing::TempDir() + "/azure_alone";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(Azure200Path(), dir / "200_inv.csv",
                             std::filesystem::copy_options::overwrite_existing);
  auto w = LoadAzure((dir / "200_inv.csv").string(), AzureSplit{});
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->keys[0].memory_mb, 128);
  EXPECT_TRUE(w->keys[0].service.knots.empty());
  EXPECT_EQ(w->keys[0].service.mean_s, 0.05);
  EXPECT_THAT(w->report, HasSubstr("200 functions without durations"));
  EXPECT_THAT(w->report, HasSubstr("200 functions without memory"));
}

// ---- Generic CSV ----

TEST(LoadCsv, GapsAreZeroAndABadLineIsReportedNotDropped) {
  std::string path = WriteTemp("counts.csv",
                               "timestamp,region,template,count\n"
                               "1700000000,eu,api,3\n"
                               "1700000060,eu,api,4\n"
                               "1700000060,us,web,1\n"
                               "not-a-time,eu,api,9\n"
                               "2023-11-14T22:17:20Z,eu,api,5\n");  // = 1700000240: a gap before
  auto w = LoadCsv(path, TemplateShape{256, 2, 0.5});
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->step_ms, 60'000);
  EXPECT_EQ(w->start_unix_ms, 1'700'000'000'000 - 1'700'000'000'000 % 60'000);
  EXPECT_EQ(w->regions, (std::vector<std::string>{"eu", "us"}));
  ASSERT_EQ(w->keys.size(), 2u);
  EXPECT_EQ(w->keys[0].tmpl, "api");
  EXPECT_EQ(w->keys[0].memory_mb, 256);
  EXPECT_EQ(w->keys[0].concurrency, 2u);
  EXPECT_EQ(w->counts[0], (std::vector<uint32_t>{3, 4, 0, 0, 5}));
  EXPECT_EQ(w->counts[1], (std::vector<uint32_t>{0, 1, 0, 0, 0}));
  EXPECT_EQ(w->bad_lines, 1u);
  EXPECT_THAT(w->report, HasSubstr("counts.csv:5"));
}

TEST(LoadCsv, AFileOfOnlyBadLinesIsAnErrorNamingFileAndLine) {
  std::string path = WriteTemp("bad.csv", "timestamp,region,template,count\nyesterday,eu,api,1\n");
  auto w = LoadCsv(path);
  ASSERT_FALSE(w.ok());
  EXPECT_THAT(std::string(w.status().message()), HasSubstr("bad.csv:2"));
}

TEST(LoadCsv, AMissingColumnIsAnError) {
  std::string path = WriteTemp("nocol.csv", "timestamp,count\n1700000000,1\n");
  auto w = LoadCsv(path);
  ASSERT_FALSE(w.ok());
  EXPECT_THAT(std::string(w.status().message()), HasSubstr("region"));
}

// ---- Replicate ----

TEST(Replicate, MakesCopiesTimesTheKeysWithTotalsPreservedAndRotatedSteps) {
  Workload w = Small();
  Workload r = Replicate(w, 50, 9);
  ASSERT_EQ(r.keys.size(), 100u);
  EXPECT_EQ(r.steps(), w.steps());
  EXPECT_EQ(r.total_arrivals(), 50 * w.total_arrivals());
  EXPECT_EQ(r.keys[0].tmpl, "x~0");
  EXPECT_EQ(r.keys[99].tmpl, "y~49");
  std::set<int> rotations;
  for (size_t k = 0; k < r.keys.size(); ++k) {
    const auto& src = w.counts[k % 2];
    bool is_rotation = false;
    for (size_t rot = 0; rot < src.size(); ++rot) {
      std::vector<uint32_t> rotated(src.size());
      std::rotate_copy(src.begin(), src.begin() + static_cast<long>(rot), src.end(),
                       rotated.begin());
      if (rotated == r.counts[k]) {
        is_rotation = true;
        if (k % 2 == 0) rotations.insert(static_cast<int>(rot));
      }
    }
    EXPECT_TRUE(is_rotation) << k;
  }
  EXPECT_EQ(rotations.size(), 3u);  // 50 seeded draws hit every rotation of 3 steps
  EXPECT_TRUE(Same(Drain(Replicate(w, 3, 1), 1), Drain(Replicate(w, 3, 1), 1)));
}

TEST(Replicate, TenThousandKeysFromTheAzureSample) {
  SKIP_IF_ABSENT(Azure200Path());
  auto w = LoadAzure(Azure200Path(), AzureSplit{});
  ASSERT_TRUE(w.ok()) << w.status();
  Workload r = Replicate(*w, 50, 1);
  EXPECT_EQ(r.keys.size(), 10'000u);
  EXPECT_EQ(r.total_arrivals(), 50 * w->total_arrivals());
  std::set<std::pair<std::string, std::string>> unique;
  for (const KeySpec& k : r.keys) unique.insert({k.region, k.tmpl});
  EXPECT_EQ(unique.size(), 10'000u);
}

}  // namespace

// ---- Counts that cannot be simulated ----

// 2,000,000,000 arrivals in one minute: far beyond kMaxStepArrivals. Each reader rejects it
// naming the file and line, before the arrival buffer is ever allocated.
TEST(Bounds, CsvCountBeyondAStepIsAnErrorNamingFileAndLine) {
  std::string path = WriteTemp("huge.csv",
                               "timestamp,region,template,count\n"
                               "1700000000,eu,api,3\n"
                               "1700000060,eu,api,2000000000\n");
  auto w = LoadCsv(path);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(w.status().message()), HasSubstr("huge.csv:3"));
  // At the bound it loads.
  path = WriteTemp(
      "edge.csv",
      fmt::format("timestamp,region,template,count\n1700000000,eu,api,{}\n", kMaxStepArrivals));
  EXPECT_TRUE(LoadCsv(path).ok());
}

TEST(Bounds, Wc98CountBeyondAStepAfterScalingIsAnErrorNamingFileAndLine) {
  // At scale 0.1, 2e9 x the largest share (eu-west 0.35 x static 0.6 x 0.1) = 4.2e7 does not
  // fit a step (11,184,810): an error at the line. At 0.005 every key fits (2.1e6), and so do
  // all twelve together (2e9 x 0.005 = 1e7), which the step total check requires too.
  std::string path = WriteTemp("wc98_huge.csv",
                               "period,count\n1998-05-01 00:00:00,10\n"
                               "1998-05-01 00:01:00,2000000000\n");
  Wc98Split split;
  split.scale = 0.1;
  split.shift_min = {0, 0, 0, 0};
  split.days = 0;
  auto w = LoadWc98(path, split);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(w.status().message()), HasSubstr("wc98_huge.csv:3"));
  split.scale = 0.005;
  auto fits = LoadWc98(path, split);
  EXPECT_TRUE(fits.ok()) << fits.status();
}

TEST(Bounds, AzureCountBeyondAStepIsAnErrorNamingFileAndLine) {
  std::filesystem::path dir = testing::TempDir() + "/azure_huge";
  std::filesystem::create_directories(dir);
  {
    std::ofstream f(dir / "1_inv.csv");
    f << "HashFunction,HashOwner,HashApp,minute_1,minute_2\n"
      << "aaaaaaaa11,o,a,1,0\n"
      << "bbbbbbbb22,o,b,0,2000000000\n";
  }
  auto w = LoadAzure((dir / "1_inv.csv").string(), AzureSplit{});
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(w.status().message()), HasSubstr("1_inv.csv:3"));
  EXPECT_THAT(std::string(w.status().message()), HasSubstr("minute_2"));
}

// ---- The minute model ----

TEST(MinuteModel, OneInstanceIsOneArrivalPerBusyMinuteCarryingItsInvocations) {
  Workload w = Small();
  w.counts = {{2, 0, 1}, {1, 1, 1}};
  w.keys[0].service.mean_s = 90;
  auto m = AtStepResolution(w, MinuteModel::kOneInstance);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->counts[0], (std::vector<uint32_t>{1, 0, 1}));
  EXPECT_EQ(m->invocations[0], w.counts[0]);
  EXPECT_EQ(m->total_arrivals(), w.total_arrivals());
  ArrivalStream s(*m, 1);
  Arrival a;
  ASSERT_TRUE(s.Next(a));
  EXPECT_EQ(a.t, 0);
  EXPECT_EQ(a.key, 0u);
  EXPECT_EQ(a.invocations, 2u);
  EXPECT_EQ(a.service_us, kStepUs);  // busy for the whole minute
}

TEST(MinuteModel, ConcurrencyNeedsInvocationsTimesMeanDurationOverAMinute) {
  Workload w = Small();
  w.counts = {{2, 0, 1}, {1, 1, 1}};
  w.keys[0].service.mean_s = 45;   // 2 x 45 s = 90 s: 2 instances; 1 x 45 s: 1
  w.keys[1].service.mean_s = 150;  // 150 s in one minute: 3 instances for one invocation
  auto m = AtStepResolution(w, MinuteModel::kConcurrency);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->counts[0], (std::vector<uint32_t>{2, 0, 1}));
  EXPECT_EQ(m->counts[1], (std::vector<uint32_t>{3, 3, 3}));
  ArrivalStream s(*m, 1);
  std::vector<uint32_t> inv;
  Arrival a;
  while (s.Next(a) && a.t == 0) inv.push_back(a.invocations);
  EXPECT_EQ(inv, (std::vector<uint32_t>{1, 1, 1, 0, 0}));  // x's 2 on 2; y's 1 on 3
  EXPECT_FALSE(ParseMinuteModel("minutes").ok());
}

}  // namespace prewarm::sim
