#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "forecast/models/snaive.h"
#include "forecast/registry.h"
#include "forecast/service/capacity.h"
#include "forecast/service/config.h"
#include "forecast/service/model_forecaster.h"
#include "forecast/service/planner.h"
#include "forecast/service/series_store.h"

namespace prewarm::forecast {
namespace {

TEST(CapacityTest, NewsvendorQuantileFromCosts) {
  EXPECT_DOUBLE_EQ(NewsvendorQuantile(9, 1), 0.9);
  EXPECT_DOUBLE_EQ(NewsvendorQuantile(1, 1), 0.5);
  EXPECT_NEAR(NewsvendorQuantile(1e9, 1), 0.999, 1e-12);  // clamped away from 1
  EXPECT_DOUBLE_EQ(NewsvendorQuantile(0, 1), 0.5);
}

TEST(CapacityTest, LittlesLawOverTheWindowPeak) {
  CapacityInputs in{10, 0.5, 2};
  // Peak 400 arrivals per 10 s = 40/s; x 0.5 s = 20 busy slots; / 2 per instance = 10.
  std::vector<double> window = {100, 400, 200};
  EXPECT_EQ(TargetInstances(window, in), 10u);
  std::vector<double> trickle = {0.01};
  EXPECT_EQ(TargetInstances(trickle, in), 1u) << "any expected arrival keeps one warm";
  std::vector<double> none = {0, 0};
  EXPECT_EQ(TargetInstances(none, in), 0u);
}

TEST(SeriesStoreTest, ObservedStepsAreZerosAndUnobservedAreGaps) {
  SeriesStore store(10'000, 1000);
  SeriesKey k{"frankfurt", "static"};
  // Connected for [0, 40 s): events at 5 s (x3) and 25 s (x2).
  store.MarkObserved(0, 40'000);
  store.Add(k, 5'000, 3);
  store.Add(k, 25'000, 2);
  // Disconnected for [40, 60 s); an event at 65 s after reconnecting at 60 s.
  store.MarkObserved(60'000, 80'000);
  store.Add(k, 65'000, 7);
  Series s = store.Snapshot(k, 80'000);
  ASSERT_EQ(s.size(), 8u);
  EXPECT_EQ(s.values[0], 3);
  EXPECT_EQ(s.values[1], 0) << "connected and silent is a real zero";
  EXPECT_EQ(s.values[2], 2);
  EXPECT_EQ(s.values[3], 0);
  EXPECT_TRUE(IsMissing(s.values[4])) << "disconnected is a gap, not a zero";
  EXPECT_TRUE(IsMissing(s.values[5]));
  EXPECT_EQ(s.values[6], 7);
  EXPECT_EQ(s.values[7], 0);
  // The step containing `now` is not complete yet and is left out.
  EXPECT_EQ(store.Snapshot(k, 75'000).size(), 7u);
}

TEST(SeriesStoreTest, CapacityKeepsTheNewestSteps) {
  SeriesStore store(1000, 5);
  SeriesKey k{"r", "t"};
  store.MarkObserved(0, 10'000);
  for (int i = 0; i < 10; ++i) store.Add(k, i * 1000, i);
  Series s = store.Snapshot(k, 10'000);
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s.values.front(), 5);
  EXPECT_EQ(s.start_ms, 5000);
}

TEST(SeriesStoreTest, AFarJumpAheadKeepsOnlyTheCapacityAndOldEventsOutsideItAreDropped) {
  SeriesStore store(1000, 5);
  SeriesKey k{"r", "t"};
  store.Add(k, 0, 1);
  // A year of steps ahead: the track restarts within the capacity, it does not grow a year.
  const int64_t far = 365LL * 86'400'000;
  store.Add(k, far, 4);
  store.MarkObserved(far - 10'000, far + 1000);
  Series s = store.Snapshot(k, far + 1000);
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s.start_ms, far - 4000);
  EXPECT_EQ(s.values.back(), 4);
  EXPECT_EQ(s.values.front(), 0) << "observed, nothing came";
  store.Add(k, far - 60'000, 9);  // older than the capacity behind the newest step
  EXPECT_EQ(store.Snapshot(k, far + 1000).values, s.values);
}

// A track keeps whole counts below 65,535 in two bytes a step; a count that does not fit
// (a fraction, a busy step, an absurd one) turns the whole track to float, and no step
// changes: before and after, in a snapshot, in the summary and through Export/Import.
TEST(SeriesStoreTest, ACountThatDoesNotFitTwoBytesKeepsEveryStepExact) {
  for (double odd : {0.5, 65'535.0, 65'534.0, 1e6, 1e300}) {
    SeriesStore store(1000, 50);
    SeriesKey k{"r", "t"};
    store.MarkObserved(0, 10'000);  // 10-19 are gaps, 20-29 observed
    store.MarkObserved(20'000, 30'000);
    std::vector<double> want(30, 0.0);
    for (int i = 10; i < 20; ++i) want[static_cast<size_t>(i)] = kMissing;
    store.Add(k, 0, 7);
    want[0] = 7;
    for (int i : {1, 4, 22}) {
      store.Add(k, i * 1000, 65'000 + i);
      want[static_cast<size_t>(i)] = 65'000 + i;
    }
    store.Add(k, 15'000, 3);  // unobserved, yet counted
    want[15] = 3;
    store.Add(k, 25'000, odd);
    want[25] = std::min(odd, static_cast<double>(std::numeric_limits<float>::max()));
    store.Add(k, 26'000, 2);
    store.Add(k, 26'000, 0.25);
    want[26] = 2.25;
    auto same = [&](const Series& s) {
      ASSERT_EQ(s.size(), want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        if (IsMissing(want[i])) {
          EXPECT_TRUE(IsMissing(s.values[i])) << odd << " step " << i;
        } else {
          EXPECT_EQ(s.values[i], want[i]) << odd << " step " << i;
        }
      }
    };
    same(store.Snapshot(k, 30'000));
    SeriesStore::Recent r = store.Summary(k, 30'000, 6, 100);
    EXPECT_EQ(r.observed, 21u) << odd;
    EXPECT_EQ(r.sum, want[24] + want[25] + want[26] + want[27] + want[28] + want[29]) << odd;
    SeriesStore copy(1000, 50);
    copy.Import(store.Export());
    same(copy.Snapshot(k, 30'000));
    // A late event before the first step grows the track at the front, as gaps.
    store.Add(k, -2'000, 1);
    Series grown = store.Snapshot(k, 30'000);
    ASSERT_EQ(grown.size(), 32u);
    EXPECT_EQ(grown.values[0], 1);
    EXPECT_TRUE(IsMissing(grown.values[1]));
    EXPECT_EQ(grown.values[2 + 25], want[25]);
  }
}

TEST(SeriesStoreTest, SummaryAndAPartialSnapshotAgreeWithTheWholeSnapshot) {
  SeriesStore store(1000, 100);
  SeriesKey k{"r", "t"};
  store.MarkObserved(0, 20'000);
  store.MarkObserved(30'000, 50'000);  // steps 20-29 are gaps
  for (int i = 0; i < 50; i += 3) store.Add(k, i * 1000, i);
  Series whole = store.Snapshot(k, 50'000);
  size_t observed = 0;
  double last5 = 0;
  size_t n5 = 0;
  for (size_t i = whole.size(); i > 0; --i) {
    if (IsMissing(whole.values[i - 1])) continue;
    ++observed;
    if (n5 < 5) last5 += whole.values[i - 1], ++n5;
  }
  SeriesStore::Recent r = store.Summary(k, 50'000, 5, 1000);
  EXPECT_EQ(r.observed, observed);
  EXPECT_EQ(r.n, 5u);
  EXPECT_DOUBLE_EQ(r.sum, last5);
  EXPECT_EQ(store.Summary(k, 50'000, 5, 7).observed, 7u) << "stops counting once enough";
  Series tail = store.Snapshot(k, 50'000, 42'500);
  EXPECT_EQ(tail.start_ms, 42'000);
  ASSERT_EQ(tail.size(), 8u);
  for (size_t i = 0; i < tail.size(); ++i) EXPECT_EQ(tail.values[i], whole.values[42 + i]);
  EXPECT_TRUE(store.Snapshot(k, 50'000, 60'000).values.empty());
  // Any `now` (inside the track, past its end, in the gap) and any bounds: as counted from
  // the whole snapshot.
  for (int64_t now = 1'000; now <= 70'000; now += 3'500) {
    const Series all = store.Snapshot(k, now);
    for (size_t recent : {1, 5, 60}) {
      for (size_t enough : {1, 7, 1000}) {
        SeriesStore::Recent want;
        for (size_t i = all.size(); i > 0; --i) {
          if (want.observed >= enough && want.n >= recent) break;
          if (IsMissing(all.values[i - 1])) continue;
          ++want.observed;
          if (want.n < recent) want.sum += all.values[i - 1], ++want.n;
        }
        SeriesStore::Recent got = store.Summary(k, now, recent, enough);
        EXPECT_EQ(got.observed, want.observed) << now << " " << recent << " " << enough;
        EXPECT_EQ(got.n, want.n) << now << " " << recent << " " << enough;
        EXPECT_EQ(got.sum, want.sum) << now << " " << recent << " " << enough;
      }
    }
  }
}

TEST(ForecasterConfigTest, ParsesCostsAndTemplatesAndNamesBadFields) {
  auto r = YamlReader::FromString(R"(
step_s: 10
horizon_s: 120
costs: {idle_instance_second: 1, cold_start: {standard: 9, premium: 99}}
templates:
  - {name: static, per_instance_concurrency: 50, start_time_s: 0.04, preload: [index.html]}
)",
                                  "f.yaml");
  ASSERT_TRUE(r.ok());
  auto c = ParseForecasterConfig(*r);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->step_ms, 10'000);
  EXPECT_EQ(c->horizon_ms, 120'000);
  EXPECT_DOUBLE_EQ(c->ColdCost("premium"), 99);
  EXPECT_DOUBLE_EQ(c->ColdCost("unknown-tier"), c->default_cold_cost);
  EXPECT_DOUBLE_EQ(c->Plan("static").per_instance_concurrency, 50);
  EXPECT_EQ(c->Plan("static").preload.at(0), "index.html");
  auto logs = YamlReader::FromString(
      "access_logs: [{path: /var/log/a.log, region: frankfurt, template: static}]\n", "l.yaml");
  auto lc = ParseForecasterConfig(*logs);
  ASSERT_TRUE(lc.ok()) << lc.status();
  ASSERT_EQ(lc->access_logs.size(), 1u);
  EXPECT_EQ(lc->access_logs[0].template_name, "static");
  auto bad = YamlReader::FromString("costs: {cold_start: {standard: lots}}\n", "b.yaml");
  auto bc = ParseForecasterConfig(*bad);
  ASSERT_FALSE(bc.ok());
  EXPECT_NE(std::string(bc.status().message()).find("b.yaml:1: costs.cold_start"),
            std::string::npos);
}

// Forecasts "the last observed value + 10 per step ahead" at the median, 20 x (q - 0.5)
// more at quantile q, and records what it was asked.
class RampForecaster final : public DemandForecaster {
 public:
  absl::StatusOr<std::vector<double>> Quantile(const SeriesKey&, const Series& history, int h,
                                               double q) override {
    asked_q.push_back(q);
    asked_h = h;
    std::vector<double> out;
    for (int i = 1; i <= h; ++i) out.push_back(history.values.back() + 10.0 * i + 20 * (q - 0.5));
    return out;
  }
  std::string model_name() const override { return "ramp"; }
  std::vector<double> asked_q;
  int asked_h = 0;
};

TEST(PlannerTest, WindowOneLeadAheadTargetFromThePeakAndQuantileFromCosts) {
  ForecasterConfig cfg;
  cfg.step_ms = 10'000;
  cfg.horizon_ms = 30'000;
  cfg.min_history_steps = 3;
  cfg.idle_cost_per_instance_s = 1;
  cfg.cold_cost["premium"] = 19;
  cfg.templates["static"] = TemplatePlan{2, 20.0, 0.5, {"index.html"}};  // 20 s start time
  RampForecaster fc;
  Planner planner(cfg, fc);
  v1::RequestEvent e;
  e.set_template_name("static");
  e.set_service_tier("premium");
  planner.Learn(e);
  SeriesStore store(10'000, 1000);
  SeriesKey k{"virginia", "static"};
  store.MarkObserved(0, 100'000);
  for (int i = 0; i < 10; ++i) store.Add(k, i * 10'000, 100);
  SeriesKey young{"frankfurt", "static"};
  store.Add(young, 90'000, 5);
  auto reqs = planner.Plan(store, 100'000);
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_TRUE(planner.skipped().count(young));
  const auto& r = reqs[0];
  EXPECT_EQ(r.region(), "virginia");
  EXPECT_DOUBLE_EQ(r.quantile(), 0.95);  // 19 / (19 + 1)
  // The target's quantile, the median and the band's edges.
  EXPECT_EQ(fc.asked_q, (std::vector<double>{0.95, 0.5, 0.1, 0.9}));
  EXPECT_EQ(r.window_start_unix_ms(), 120'000);  // now + 20 s start time
  EXPECT_EQ(r.window_end_unix_ms(), 150'000);
  // Series ends at 100 s; the window covers steps 3..5 ahead: 139, 149, 159 arrivals per
  // 10 s at q = 0.95. Peak 15.9/s x 0.5 s / 2 per instance = 3.975 -> 4 instances.
  EXPECT_EQ(fc.asked_h, 5);
  EXPECT_EQ(r.target_concurrency(), 4u);
  // At q = 0.95: 150 + 20 x 0.45 = 159 arrivals per 10 s at the peak.
  EXPECT_NEAR(r.forecast_rate_per_s(), 15.9, 1e-9);
  EXPECT_NEAR(r.median_rate_per_s(), 15.0, 1e-9);
  EXPECT_DOUBLE_EQ(r.band_lower_quantile(), 0.1);
  EXPECT_NEAR(r.band_lower_rate_per_s(), 14.2, 1e-9);
  EXPECT_DOUBLE_EQ(r.band_upper_quantile(), 0.9);
  EXPECT_NEAR(r.band_upper_rate_per_s(), 15.8, 1e-9);
  EXPECT_EQ(r.content_ids(0), "index.html");
  EXPECT_EQ(r.model(), "ramp");
}

TEST(PlannerTest, SparseKeysAreLeftToTheLearnedKeepAlive) {
  ForecasterConfig cfg;
  cfg.step_ms = 60'000;
  cfg.min_history_steps = 3;
  cfg.min_arrivals_per_min = 1.0;
  RampForecaster fc;
  Planner planner(cfg, fc);
  SeriesStore store(60'000, 10'000);
  store.MarkObserved(0, 120 * 60'000);
  SeriesKey busy{"virginia", "static"}, sparse{"frankfurt", "static"};
  for (int m = 0; m < 120; ++m) store.Add(busy, m * 60'000, 3);
  // 40 arrivals, all in the first hour: the last hour averages 0 per step.
  for (int m = 0; m < 40; ++m) store.Add(sparse, m * 60'000, 1);
  auto reqs = planner.Plan(store, 120 * 60'000);
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].region(), "virginia");
  ASSERT_TRUE(planner.skipped().count(sparse));
  EXPECT_NE(planner.skipped().at(sparse).find("sparse"), std::string::npos);
}

TEST(PlannerTest, TheSparseThresholdIsARatePerMinuteWhateverTheStep) {
  // At 10-s steps: 0.5 arrivals a step is 3 a minute (forecast); one arrival every 12
  // steps is 0.5 a minute (not forecast), though a per-step threshold would treat both
  // as below 1.
  ForecasterConfig cfg;
  cfg.step_ms = 10'000;
  cfg.min_history_steps = 3;
  ASSERT_DOUBLE_EQ(cfg.min_arrivals_per_min, 1.0);  // the daemon's default
  RampForecaster fc;
  Planner planner(cfg, fc);
  SeriesStore store(10'000, 10'000);
  store.MarkObserved(0, 720 * 10'000);
  SeriesKey three{"virginia", "static"}, half{"frankfurt", "static"};
  for (int s = 0; s < 720; s += 2) store.Add(three, s * 10'000LL, 1);
  for (int s = 0; s < 720; s += 12) store.Add(half, s * 10'000LL, 1);
  auto reqs = planner.Plan(store, 720 * 10'000);
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].region(), "virginia");
  ASSERT_TRUE(planner.skipped().count(half));
  EXPECT_NE(planner.skipped().at(half).find("0.5 arrivals a minute"), std::string::npos)
      << planner.skipped().at(half);

  cfg.min_arrivals_per_min = 0;  // every key
  Planner all(cfg, fc);
  EXPECT_EQ(all.Plan(store, 720 * 10'000).size(), 2u);
}

TEST(PlannerTest, TrendingContentFollowsTheConfiguredPreloadWithoutDuplicates) {
  ForecasterConfig cfg;
  cfg.step_ms = 10'000;
  cfg.min_history_steps = 3;
  cfg.trending_top_k = 2;
  cfg.templates["video"] = TemplatePlan{1, 0, 0.1, {"index.m3u8"}};
  RampForecaster fc;
  Planner planner(cfg, fc);
  SeriesKey k{"virginia", "video"};
  planner.SetTrending(k, {"index.m3u8", "seg7.ts", "seg8.ts", "seg9.ts"});
  SeriesStore store(10'000, 100);
  store.MarkObserved(0, 50'000);
  for (int i = 0; i < 5; ++i) store.Add(k, i * 10'000, 1);
  auto reqs = planner.Plan(store, 50'000);
  ASSERT_EQ(reqs.size(), 1u);
  ASSERT_EQ(reqs[0].content_ids_size(), 3);
  EXPECT_EQ(reqs[0].content_ids(0), "index.m3u8");
  EXPECT_EQ(reqs[0].content_ids(1), "seg7.ts");
  EXPECT_EQ(reqs[0].content_ids(2), "seg8.ts");
}

TEST(PlannerTest, TrendingContentIsKeptWithinTheScratchStorage) {
  ForecasterConfig cfg;
  cfg.step_ms = 10'000;
  cfg.min_history_steps = 3;
  cfg.trending_top_k = 10;
  // 1000-byte scratch; the configured playlist (100 bytes) always goes first.
  cfg.templates["video"] = TemplatePlan{1, 0, 0.1, {"index.m3u8"}, 1000};
  RampForecaster fc;
  Planner planner(cfg, fc);
  SeriesKey k{"virginia", "video"};
  planner.SetTrending(
      k, {"big.ts", "a.ts", "unknown.ts", "b.ts", "c.ts"},
      {{"index.m3u8", 100}, {"big.ts", 5000}, {"a.ts", 400}, {"b.ts", 400}, {"c.ts", 300}});
  SeriesStore store(10'000, 100);
  store.MarkObserved(0, 50'000);
  for (int i = 0; i < 5; ++i) store.Add(k, i * 10'000, 1);
  auto reqs = planner.Plan(store, 50'000);
  ASSERT_EQ(reqs.size(), 1u);
  std::vector<std::string> ids(reqs[0].content_ids().begin(), reqs[0].content_ids().end());
  // 100 + 400 + 400 = 900; big.ts never fits, unknown.ts has no size, c.ts would make 1200.
  EXPECT_EQ(ids, (std::vector<std::string>{"index.m3u8", "a.ts", "b.ts"}));
}

// A planning round on several threads fits each key's model on its own: the requests,
// their order and the skipped keys are those of one thread, round after round (refits,
// roll-forwards, a key that appears late).
TEST(PlannerTest, ThreadsPlanWhatOneThreadPlans) {
  auto round_trip = [](int threads) {
    ForecasterConfig cfg;
    cfg.step_ms = 60'000;
    cfg.horizon_ms = 120'000;
    cfg.min_history_steps = 30;
    cfg.plan_threads = threads;
    ManualClock clock;
    ModelForecasterOptions opts{"ets", Transform::Log1p(), 600'000, 10'000};
    ModelDemandForecaster fc([] { return MakeModel("ets"); }, opts, clock);
    Planner planner(cfg, fc);
    SeriesStore store(60'000, 10'000);
    std::vector<std::vector<std::string>> rounds;
    for (int m = 0; m < 100; ++m) {
      for (int k = 0; k < 24; ++k) {
        if (k == 23 && m < 60) continue;  // joins late: skipped until it has 30 steps
        double v = 5 + k + 4 * std::sin((m + k) / 7.0) + (m * 7 + k * 3) % 5;
        store.Add({"r" + std::to_string(k % 4), "t" + std::to_string(k)}, m * 60'000, v);
      }
      store.MarkObserved(m * 60'000, (m + 1) * 60'000);
      clock.Set((m + 1) * 60'000);
      std::vector<std::string> out;
      for (const auto& r : planner.Plan(store, (m + 1) * 60'000)) out.push_back(r.DebugString());
      for (const auto& [key, why] : planner.skipped())
        out.push_back(key.first + "/" + key.second + ": " + why);
      rounds.push_back(std::move(out));
    }
    return std::make_pair(rounds, fc.refits());
  };
  const auto one = round_trip(1);
  const auto four = round_trip(4);
  EXPECT_GT(one.second, 24u * 5);  // refitted every 10 steps
  EXPECT_EQ(one.second, four.second);
  ASSERT_EQ(one.first.size(), four.first.size());
  size_t planned = 0;
  for (size_t m = 0; m < one.first.size(); ++m) {
    EXPECT_EQ(one.first[m], four.first[m]) << "round " << m;
    planned += one.first[m].size();
  }
  EXPECT_GT(planned, 24u * 60);
}

TEST(ModelForecasterTest, PeriodsAreTheCyclesTheWindowHoldsTwiceOver) {
  // 10-min steps, 4 weeks: hourly (6), daily (144) and weekly (1008).
  EXPECT_EQ(ModelDemandForecaster::PeriodsFor(600'000, 4032), (std::vector<int>{6, 144, 1008}));
  // 10-s steps, 12 hours: hourly only (360); a day would need 2 x 8640 steps.
  EXPECT_EQ(ModelDemandForecaster::PeriodsFor(10'000, 4320), (std::vector<int>{360}));
  EXPECT_TRUE(ModelDemandForecaster::PeriodsFor(7'000, 100).empty());
}

TEST(ModelForecasterTest, FitsOnceThenRollsForwardUntilTheRefitInterval) {
  ManualClock clock;
  ModelForecasterOptions opts{"snaive", Transform::None(), 60'000, 10'000};
  ModelDemandForecaster f(
      [] { return absl::StatusOr<std::unique_ptr<Model>>(std::make_unique<SeasonalNaive>(4)); },
      opts, clock);
  Series s{"x", 0, 1000, {}};
  for (int i = 0; i < 40; ++i) s.values.push_back(i % 4 == 3 ? 100 : 10);  // peak every 4th
  SeriesKey k{"r", "t"};
  auto q = f.Quantile(k, s, 4, 0.5);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(f.refits(), 1u);
  EXPECT_NEAR((*q)[3], 100, 1e-6) << "the seasonal peak 4 steps ahead";
  // Two more steps arrive: the model rolls forward instead of refitting.
  s.values.push_back(10);
  s.values.push_back(10);
  q = f.Quantile(k, s, 4, 0.5);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(f.refits(), 1u);
  EXPECT_NEAR((*q)[1], 100, 1e-6) << "the peak is now 2 steps ahead";
  clock.Advance(60'000);
  ASSERT_TRUE(f.Quantile(k, s, 4, 0.5).ok());
  EXPECT_EQ(f.refits(), 2u);
  // /metrics: each fit timed once, none failed.
  FitStats stats = f.fit_stats();
  EXPECT_EQ(stats.refit_seconds.count(), 2u);
  EXPECT_EQ(stats.failures, 0u);
}

// A model that counts the fits of its selecting form and of its selected form.
struct FitCounts {
  int selecting = 0, selected = 0;
};
class CountingModel final : public Model {
 public:
  CountingModel(FitCounts& counts, bool selected) : counts_(counts), selected_(selected) {}
  std::string name() const override { return selected_ ? "count(selected)" : "count"; }
  absl::Status Fit(std::span<const double> y, const FitContext& ctx) override {
    ++(selected_ ? counts_.selected : counts_.selecting);
    return inner_.Fit(y, ctx);
  }
  absl::StatusOr<std::vector<double>> Predict(int h) const override { return inner_.Predict(h); }
  absl::Status Update(std::span<const double> y) override { return inner_.Update(y); }
  std::unique_ptr<Model> Clone() const override {
    return std::make_unique<CountingModel>(counts_, selected_);
  }
  std::unique_ptr<Model> CloneSelected() const override {
    return std::make_unique<CountingModel>(counts_, true);
  }

 private:
  FitCounts& counts_;
  bool selected_;
  SeasonalNaive inner_{4};
};

TEST(ModelForecasterTest, RefitsKeepTheSelectedStructureUntilTheWindowDoublesOrADayPasses) {
  ManualClock clock;
  FitCounts counts;
  ModelForecasterOptions opts{"count", Transform::None(), 60'000, 10'000, 3'600'000};
  ModelDemandForecaster f(
      [&] {
        return absl::StatusOr<std::unique_ptr<Model>>(
            std::make_unique<CountingModel>(counts, false));
      },
      opts, clock);
  Series s{"x", 0, 1000, {}};
  for (int i = 0; i < 40; ++i) s.values.push_back(i % 4 == 3 ? 100 : 10);
  SeriesKey k{"r", "t"};
  ASSERT_TRUE(f.Quantile(k, s, 4, 0.5).ok());
  EXPECT_EQ(f.selections(), 1u);
  // A refit a minute later on 10 more steps (not double): the selected structure only.
  for (int i = 0; i < 10; ++i) s.values.push_back(10);
  clock.Advance(60'000);
  int selecting = counts.selecting, selected = counts.selected;
  ASSERT_TRUE(f.Quantile(k, s, 4, 0.5).ok());
  EXPECT_EQ(f.refits(), 2u);
  EXPECT_EQ(f.selections(), 1u);
  EXPECT_EQ(counts.selecting, selecting) << "no candidate of the selecting form was fitted";
  EXPECT_EQ(counts.selected, selected + 1)
      << "one fit: the quantiles keep the calibration made with the selection";
  // The window doubles (40 -> 80 steps): select again, and calibrate again (a clone of the
  // selected structure fitted before the held-out span).
  for (int i = 0; i < 30; ++i) s.values.push_back(10);
  clock.Advance(60'000);
  selected = counts.selected;
  ASSERT_TRUE(f.Quantile(k, s, 4, 0.5).ok());
  EXPECT_EQ(f.selections(), 2u);
  EXPECT_EQ(counts.selected, selected + 1);
  // reselect_every (an hour) passes with little new data: select again.
  s.values.push_back(10);
  clock.Advance(3'600'000);
  ASSERT_TRUE(f.Quantile(k, s, 4, 0.5).ok());
  EXPECT_EQ(f.refits(), 4u);
  EXPECT_EQ(f.selections(), 3u);
  // Between refits the planner needs only the steps after the last absorbed one.
  EXPECT_EQ(f.HistoryFromMs(k, 4), s.start_ms + static_cast<int64_t>(s.size()) * 1000);
  EXPECT_EQ(f.HistoryFromMs(k, 8), std::numeric_limits<int64_t>::min())
      << "a longer horizon refits, on the whole history";
}

TEST(ModelForecasterTest, AutoSelectsOnceAndRefitsItsChoiceOnTheCountsWhateverTheTransform) {
  ManualClock clock;
  ModelForecasterOptions opts{"auto", Transform::Log1p(), 60'000, 10'000, 86'400'000};
  ModelDemandForecaster f([] { return MakeModel("auto"); }, opts, clock);
  Series s{"x", 0, 3'600'000, {}};  // hourly: a daily period of 24
  for (int i = 0; i < 24 * 14; ++i) s.values.push_back(50 + 40 * ((i % 24) >= 8 && (i % 24) < 20));
  SeriesKey k{"r", "t"};
  absl::StatusOr<std::vector<double>> q = f.Quantile(k, s, 24, 0.9);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(f.selections(), 1u);
  // A refit a minute later on a few more steps: the chosen weighted structure, no selection.
  for (int i = 0; i < 5; ++i) s.values.push_back(s.values[s.values.size() - 24]);
  clock.Advance(60'000);
  q = f.Quantile(k, s, 24, 0.9);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(f.refits(), 2u);
  EXPECT_EQ(f.selections(), 1u);
  for (double v : *q) {
    EXPECT_TRUE(std::isfinite(v));
    EXPECT_GE(v, 40.0);  // counts, not log1p values: the quiet hours are 50
  }
}

}  // namespace
}  // namespace prewarm::forecast
