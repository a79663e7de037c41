#include "sim/baselines.h"

#include <gtest/gtest.h>

#include "sim/factory.h"
#include "sim/policies.h"

namespace prewarm::sim {
namespace {

constexpr double kMin = 60e6;  // µs

// One key in one region; `counts` arrivals per minute; constant 0.1 s service.
Workload OneKey(std::vector<uint32_t> counts, uint32_t concurrency = 1, double mem_mb = 100) {
  Workload w;
  w.name = "test";
  w.step_ms = 60'000;
  w.regions = {"eu-west"};
  KeySpec k;
  k.region = "eu-west";
  k.tmpl = "api";
  k.memory_mb = mem_mb;
  k.concurrency = concurrency;
  k.service.knots = {{0, 0.1}, {1, 0.1}};
  k.service.mean_s = 0.1;
  w.keys.push_back(k);
  w.counts.push_back(std::move(counts));
  return w;
}

// One arrival in each of `minutes`, `steps` minutes long.
Workload Arrivals(size_t steps, std::vector<size_t> minutes) {
  std::vector<uint32_t> counts(steps, 0);
  for (size_t m : minutes) counts[m] = 1;
  return OneKey(counts);
}

SimConfig Config() {
  SimConfig c;
  c.start = StartTime{1.0, 1.0};  // exactly 1 s
  return c;
}

SimResult Simulate(const Workload& w, Policy& p, SimConfig c = Config()) {
  Simulator sim(w, c);
  return sim.Run(p);
}

SimResult RunHybrid(const Workload& w, Params params, SimConfig c = Config()) {
  auto p = MakeHybridHistogram(params);
  EXPECT_TRUE(p.ok()) << p.status();
  return Simulate(w, **p, c);
}

SimResult RunOracle(const Workload& w, Params params, SimConfig c = Config()) {
  auto p = MakeOracle(params);
  EXPECT_TRUE(p.ok()) << p.status();
  return Simulate(w, **p, c);
}

SimResult RunFixed(const Workload& w, const std::string& keepalive, SimConfig c = Config()) {
  auto opts = ParseReconcilerPolicy("fixed-keepalive", {{"keepalive_s", keepalive}});
  EXPECT_TRUE(opts.ok()) << opts.status();
  ReconcilerPolicy p(*opts);
  return Simulate(w, p, c);
}

TEST(HybridHistogram, PeriodicKeyIsPrewarmedWithLittleIdleMemory) {
  // One arrival every 10 minutes for a day. Idle times lie in (9, 11) min (each arrival is
  // uniform in its minute): head bin 9, tail bin 10. Pre-warm = 9 min - 10% = 8.1 min,
  // rounded down to 8; keep-alive until 11 min + 10% = 12.1 min, rounded down to 12, i.e.
  // 4 min after the pre-warm.
  std::vector<size_t> minutes;
  for (size_t m = 0; m < 1440; m += 10) minutes.push_back(m);
  Workload w = Arrivals(1440, minutes);
  SimConfig c = Config();
  c.measure_from_ms = 6 * 3'600'000;  // warm-up: the first ten idle times are learnt
  auto opts = ParseHybridHistogram({});
  ASSERT_TRUE(opts.ok());
  HybridHistogramPolicy hybrid(*opts, {});
  SimResult h = Simulate(w, hybrid, c);
  HybridWindows win = hybrid.Windows(0);
  EXPECT_EQ(win.mode, HybridWindows::Mode::kHistogram);
  EXPECT_NEAR(win.prewarm_ms * 1000 / kMin, 8.0, 1e-6);
  EXPECT_NEAR(win.keepalive_ms * 1000 / kMin, 4.0, 1e-6);
  EXPECT_EQ(h.arrivals, 108u);
  EXPECT_EQ(h.cold, 0u);
  EXPECT_GT(h.decisions["hybrid:prewarms"], 100u);

  // A 10-minute keep-alive misses the gaps longer than 10 min (about half) and idles ~10
  // min a gap; the histogram idles ~2 min before each arrival plus the drained
  // instance's DNS TTL (30 s) after it.
  SimResult f = RunFixed(w, "10m", c);
  EXPECT_GT(f.cold_rate, 0.2);
  EXPECT_LT(h.wasted_mb_s, 0.4 * f.wasted_mb_s);
  double per_gap_min = h.wasted_mb_s / 100 / 60 / 108;
  EXPECT_GT(per_gap_min, 2.0 + 0.5 - 0.4);
  EXPECT_LT(per_gap_min, 2.0 + 0.5 + 0.4);
}

TEST(HybridHistogram, TooFewSamplesUseTheStandardKeepAlive) {
  // Minutes 0, 5, 30, 300: three idle times, fewer than min_samples. Standard keep-alive
  // 4 h: 5 and 25 min are warm, 270 min is cold: 2 cold starts (the first and the last).
  SimResult r = RunHybrid(Arrivals(400, {0, 5, 30, 300}), {});
  EXPECT_EQ(r.arrivals, 4u);
  EXPECT_EQ(r.cold, 2u);
  EXPECT_EQ(r.starts, 2u);
  EXPECT_EQ(r.decisions["hybrid:standard"], 4u);
  EXPECT_EQ(r.decisions["hybrid:histogram"], 0u);
  // Idle: 5 + 25 min, 4 h after minute 30, then minute 300 to the end (100 min); the
  // arrivals' places in their minutes move this by less than 2 min.
  double idle_min = r.wasted_mb_s / 100 / 60;
  EXPECT_GT(idle_min, 370.0 - 2.1);
  EXPECT_LT(idle_min, 370.0 + 1.1);

  // The same rule with a 10-minute standard keep-alive is fixed keep-alive: minutes
  // 0, 5, 30, 31 give 2 cold starts.
  r = RunHybrid(Arrivals(60, {0, 5, 30, 31}), {{"hybrid_standard_keepalive_s", "10m"}});
  EXPECT_EQ(r.cold, 2u);
}

TEST(HybridHistogram, OutOfRangeIdleTimesAreForecast) {
  // An arrival every 6 h for 3 days: every idle time is beyond the 4 h range. The first
  // arrival is cold, and so is the second (no idle time known yet: the standard 4 h
  // keep-alive); from then on the forecast (~6 h) pre-warms at 85% of it and keeps the
  // instance to 115%.
  std::vector<size_t> minutes;
  for (size_t m = 0; m < 3 * 1440; m += 360) minutes.push_back(m);
  Workload w = Arrivals(3 * 1440, minutes);
  auto opts = ParseHybridHistogram({});
  ASSERT_TRUE(opts.ok());
  HybridHistogramPolicy hybrid(*opts, {});
  SimResult r = Simulate(w, hybrid);
  EXPECT_EQ(r.arrivals, 12u);
  EXPECT_EQ(r.cold, 2u);
  HybridWindows win = hybrid.Windows(0);
  EXPECT_EQ(win.mode, HybridWindows::Mode::kForecast);
  EXPECT_NEAR(win.prewarm_ms * 1000 / kMin, 0.85 * 360, 3);
  EXPECT_NEAR((win.prewarm_ms + win.keepalive_ms) * 1000 / kMin, 1.15 * 360, 3);
  EXPECT_GT(r.decisions["hybrid:forecast-fits"], 0u);  // ETS from the 4th idle time on
  // Without the forecast every 6 h gap outlives the standard keep-alive.
  r = RunHybrid(w, {{"hybrid_oob_model", "off"}});
  EXPECT_EQ(r.cold, 12u);
}

TEST(HybridHistogram, ExtraInstancesKeepTheirRanksWindows) {
  // A 10-minute burst (5 a second at 0.1 s each, one request per instance) makes the cold
  // path start several instances. Rank 1 serves nearly all the time (idle times in bin 0:
  // no pre-warm, a short keep-alive); the higher ranks serve rarely, and those with fewer
  // than 5 idle times keep the standard 4 h. 5 quiet hours later every one is drained.
  std::vector<uint32_t> counts(310, 0);
  for (int m = 0; m < 10; ++m) counts[m] = 300;
  auto opts = ParseHybridHistogram({});
  ASSERT_TRUE(opts.ok());
  HybridHistogramPolicy p(*opts, {});
  SimResult r = Simulate(OneKey(counts), p);
  EXPECT_GT(r.starts, 1u);
  EXPECT_EQ(p.ranks(0), r.starts);  // one instance per rank reached
  EXPECT_EQ(r.decisions["drain:idle"], r.starts);
  EXPECT_GT(r.decisions["hybrid:histogram"], 0u);
  EXPECT_GT(r.decisions["hybrid:standard"], 0u);
  EXPECT_EQ(r.decisions["hybrid:prewarms"], 0u);
  EXPECT_EQ(p.Windows(0, 1).mode, HybridWindows::Mode::kHistogram);
  EXPECT_EQ(p.Windows(0, 1).prewarm_ms, 0);
  EXPECT_EQ(p.Windows(0, static_cast<uint32_t>(p.ranks(0))).mode, HybridWindows::Mode::kStandard);
}

TEST(Oracle, NoColdStartsAndOnlyTheLeadIsWasted) {
  // Constant 1 s starts: each arrival finds the instance started 1 s before it. With a
  // zero DNS TTL a drained instance goes at once: idle memory is exactly 1 s x 100 MB per
  // arrival.
  Workload w = Arrivals(60, {2, 7, 30, 45, 50});
  SimConfig c = Config();
  c.answers = orchestrator::AnswerHold::None();
  SimResult r = RunOracle(w, {}, c);
  EXPECT_EQ(r.arrivals, 5u);
  EXPECT_EQ(r.cold, 0u);
  EXPECT_EQ(r.starts, 5u);
  EXPECT_NEAR(r.wasted_mb_s, 5 * 1.0 * 100, 1.0);
  // The slack knob starts 2 s earlier: 2 s more per arrival.
  r = RunOracle(w, {{"slack", "2s"}}, c);
  EXPECT_EQ(r.cold, 0u);
  EXPECT_NEAR(r.wasted_mb_s, 5 * 3.0 * 100, 1.0);
  // With the default 30 s TTL and 2 s slack a drained instance stays until its answer
  // expires, 31.9 s after its request ended: 1 + 31.9 s per arrival (the gaps exceed
  // 1 + 32 s, so it never pays to keep one across them).
  r = RunOracle(w, {});
  EXPECT_EQ(r.cold, 0u);
  EXPECT_NEAR(r.wasted_mb_s, 5 * 32.9 * 100, 5 * 0.1 * 100);
}

TEST(Oracle, KeepsAnInstanceAcrossGapsShorterThanAReload) {
  // Arrivals in consecutive minutes: gaps under 2 min. With a 5-minute TTL a reload would
  // cost 1 s + 5 min of idle memory, more than any gap: one instance, started once.
  std::vector<size_t> minutes;
  for (size_t m = 1; m < 20; ++m) minutes.push_back(m);
  SimConfig c = Config();
  c.answers.ttl_ms = 300'000;
  SimResult r = RunOracle(Arrivals(30, minutes), {}, c);
  EXPECT_EQ(r.cold, 0u);
  EXPECT_EQ(r.starts, 1u);
  EXPECT_EQ(r.decisions["oracle:bridged-gaps"], 18u);
}

TEST(Oracle, PrestartsWhatConcurrentArrivalsNeed) {
  // 600 arrivals a minute at 0.1 s: ~1 in flight on average, bursts of several. Every
  // arrival still finds a ready instance with a free slot, whatever the concurrency.
  for (uint32_t conc : {1u, 2u}) {
    for (int64_t ttl : {0, 30'000}) {
      std::vector<uint32_t> counts(20, 600);
      counts[0] = counts[5] = counts[6] = 0;  // nothing can be warm in the trace's first second
      SimConfig c = Config();
      c.answers.ttl_ms = ttl;
      SimResult r = RunOracle(OneKey(counts, conc), {}, c);
      EXPECT_EQ(r.arrivals, 17u * 600) << conc << " " << ttl;
      EXPECT_EQ(r.cold, 0u) << conc << " " << ttl;
      EXPECT_GT(r.starts, 2u) << conc << " " << ttl;
    }
  }
}

TEST(Oracle, SlackCoversTheStartTimeTail) {
  std::vector<size_t> minutes;
  for (size_t m = 1; m < 600; m += 3) minutes.push_back(m);
  Workload w = Arrivals(600, minutes);
  SimConfig c = Config();
  c.start = StartTime{1.0, 3.0};
  SimResult p99 = RunOracle(w, {}, c);
  SimResult slack = RunOracle(w, {{"slack", "10s"}}, c);
  EXPECT_LE(p99.cold, 5u);  // ~1% of 200 arrivals start later than the p99
  EXPECT_EQ(slack.cold, 0u);
  EXPECT_GT(slack.wasted_mb_s, p99.wasted_mb_s);
}

TEST(Baselines, DeterministicForASeed) {
  std::vector<uint32_t> counts;
  for (int m = 0; m < 900; ++m) counts.push_back((m * 7919) % 13 < 4 ? (m % 5) : 0);
  Workload w = OneKey(counts, 2);
  SimConfig c = Config();
  c.start = StartTime{0.5, 2.0};
  for (auto make : {&MakeHybridHistogram, &MakeOracle}) {
    auto p1 = make({}), p2 = make({});
    ASSERT_TRUE(p1.ok() && p2.ok());
    SimResult r1 = Simulate(w, **p1, c), r2 = Simulate(w, **p2, c);
    EXPECT_EQ(r1.cold, r2.cold);
    EXPECT_EQ(r1.starts, r2.starts);
    EXPECT_DOUBLE_EQ(r1.wasted_mb_s, r2.wasted_mb_s);
    EXPECT_DOUBLE_EQ(r1.latency_p99_s, r2.latency_p99_s);
  }
}

TEST(Baselines, KnobsAreChecked) {
  auto bad = MakeHybridHistogram({{"keepalive", "10m"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("hybrid_standard_keepalive_s"), absl::string_view::npos);
  // The old names are refused, and the error names the table's.
  auto old = MakeHybridHistogram({{"tail", "95"}});
  ASSERT_FALSE(old.ok());
  EXPECT_NE(old.status().message().find("hybrid_tail"), absl::string_view::npos);
  // Settings of other policies are not the hybrid histogram's.
  EXPECT_FALSE(MakeHybridHistogram({{"cold_start_cost_s", "1h"}}).ok());
  EXPECT_FALSE(MakeHybridHistogram({{"hybrid_head", "150"}}).ok());
  EXPECT_FALSE(MakeHybridHistogram({{"hybrid_head", "50"}, {"hybrid_tail", "40"}}).ok());
  EXPECT_FALSE(MakeHybridHistogram({{"hybrid_bin_s", "0"}}).ok());
  EXPECT_FALSE(MakeHybridHistogram({{"hybrid_range_s", "2m"}, {"hybrid_bin_s", "5m"}}).ok());
  EXPECT_FALSE(MakeHybridHistogram({{"hybrid_oob_model", "arima"}}).ok());
  EXPECT_TRUE(MakeHybridHistogram({{"hybrid_head", "1"},
                                   {"hybrid_tail", "95"},
                                   {"hybrid_range_s", "2h"},
                                   {"hybrid_cv", "1.5"},
                                   {"hybrid_margin", "0.2"},
                                   {"hybrid_bin_s", "30s"},
                                   {"hybrid_oob_model", "off"}})
                  .ok());
  auto o = ParseHybridHistogram({{"hybrid_range_s", "2h"}});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->standard_keepalive_ms, 2 * 3'600'000);  // follows the range
  o = ParseHybridHistogram({{"hybrid_range_s", "2h"}, {"hybrid_standard_keepalive_s", "10m"}});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->standard_keepalive_ms, 600'000);
  EXPECT_FALSE(MakePolicy("hybrid-histogram", {{"engine", "paper"}}).ok());
  EXPECT_TRUE(MakePolicy("hybrid-histogram", {{"engine", "published"}}).ok());
  EXPECT_FALSE(MakeOracle({{"lead", "1s"}}).ok());
  EXPECT_FALSE(MakeOracle({{"slack", "soon"}}).ok());
  EXPECT_TRUE(MakeOracle({{"slack", "500ms"}}).ok());
}

}  // namespace

// ---- hand-computed fixtures in the minute model ---------------------------------------------
// Arrivals at the start of their minute, busy for the whole minute, instant loads, no DNS
// TTL: an invocation in minute m ends at m + 1, and the idle time before an invocation in
// minute n is n - m - 1 minutes (the reference simulator's model, bench/sim/README.md).

SimConfig MinuteConfig() {
  SimConfig c;
  c.start = StartTime{0, 0};
  c.answers = orchestrator::AnswerHold::None();
  return c;
}

// One key with `per` invocations of `mean_s` seconds in each of `minutes`.
Workload Minutes(size_t steps, std::vector<size_t> minutes, MinuteModel m, uint32_t per = 1,
                 double mean_s = 0.1) {
  std::vector<uint32_t> counts(steps, 0);
  for (size_t i : minutes) counts[i] = per;
  Workload w = OneKey(counts);
  w.keys[0].service.mean_s = mean_s;
  auto out = AtStepResolution(w, m);
  EXPECT_TRUE(out.ok()) << out.status();
  return *out;
}

TEST(FixedKeepAlive, MinuteFixture) {
  // keep-alive 10 min, invocations in minutes 0, 5, 20, 31 of 50:
  //   0: cold; idle 1..5 (4 min, warm: 4 < 10)
  //   5: warm; idle 6..20 (14 min >= 10): unloaded at 16 -> 20 cold, 10 min wasted
  //  20: cold; idle 21..31 (10 min, not < 10): unloaded at 31 -> 31 cold, 10 min wasted
  //  31: cold; idle 32..42, unloaded: 10 min wasted
  // cold 3 of 4, wasted 4 + 10 + 10 + 10 = 34 min x 100 MB.
  SimResult r =
      RunFixed(Minutes(50, {0, 5, 20, 31}, MinuteModel::kOneInstance), "10m", MinuteConfig());
  EXPECT_EQ(r.arrivals, 4u);
  EXPECT_EQ(r.cold, 3u);
  EXPECT_NEAR(r.wasted_mb_s, 34 * 60 * 100.0, 1e-6);
}

TEST(HybridHistogram, MinuteFixtureOneInstance) {
  // min_samples 3; invocations in minutes 0, 10, 20, 30, 40 of 50: idle times of 9 min.
  // End of 0, 10, 20 (at 1, 11, 21): 0, 1, 2 idle times -> standard keep-alive (4 h): 10,
  //   20, 30 warm, 9 min wasted each.
  // End of 30 (at 31): 3 idle times, all in bin 9 (CV of 240 bins = sqrt(239) > 2):
  //   head = 9 min (its bin's lower edge), pre-warm 9 x 0.9 = 8.1, rounded down to 8 min;
  //   tail = 10 min (upper edge) x 1.1 = 11 min, keep-alive 11 - 8 = 3 min. Unloaded at 31,
  //   loaded at 39: 40 is warm, 1 min wasted.
  // End of 40 (at 41): the same; loaded at 49, 1 min wasted up to the end (50).
  // cold 1 (minute 0), wasted 27 + 1 + 1 = 29 min x 100 MB, 2 pre-warms.
  SimResult r = RunHybrid(Minutes(50, {0, 10, 20, 30, 40}, MinuteModel::kOneInstance),
                          {{"hybrid_min_samples", "3"}}, MinuteConfig());
  EXPECT_EQ(r.arrivals, 5u);
  EXPECT_EQ(r.cold, 1u);
  EXPECT_EQ(r.decisions["hybrid:prewarms"], 2u);
  EXPECT_NEAR(r.wasted_mb_s, 29 * 60 * 100, 1e-3);
}

TEST(HybridHistogram, MinuteFixtureConcurrencyTwoRanksAlike) {
  // As above, with 2 invocations of 60 s a minute: ceil(2 x 60 / 60) = 2 instances, both
  // busy each of those minutes. Ranks 1 and 2 have the same idle times and so the same
  // windows: minute 0 starts 2 (cold 2), and every later minute finds both loaded. 4
  // pre-warms, twice the waste.
  SimResult r = RunHybrid(Minutes(50, {0, 10, 20, 30, 40}, MinuteModel::kConcurrency, 2, 60),
                          {{"hybrid_min_samples", "3"}}, MinuteConfig());
  EXPECT_EQ(r.arrivals, 10u);
  EXPECT_EQ(r.cold, 2u);
  EXPECT_EQ(r.decisions["hybrid:prewarms"], 4u);
  EXPECT_NEAR(r.wasted_mb_s, 2 * 29 * 60 * 100, 1e-3);
}

// One key, invocations of 60 s: 1 in each of minutes 0-9, 2 in minute 10, 1 in each of
// minutes 11-19, then nothing until 40.
Workload SecondInstanceInMinuteTen() {
  std::vector<uint32_t> counts(40, 0);
  for (int m = 0; m < 20; ++m) counts[m] = m == 10 ? 2 : 1;
  Workload w = OneKey(counts);
  w.keys[0].service.mean_s = 60;
  auto out = AtStepResolution(w, MinuteModel::kConcurrency);
  EXPECT_TRUE(out.ok()) << out.status();
  return *out;
}

TEST(HybridHistogram, MinuteFixtureConcurrencyEachRankHasItsOwnHistogram) {
  // min_samples 3. Rank 1 (one instance serving) is busy in minutes 0-19: idle times of 0
  // (each minute's invocation starts as the last one ends); from the end of minute 3 its
  // histogram holds 3, all in bin 0: no pre-warm, keep-alive 1 min x 1.1 = 1.1, rounded
  // down to 1 min. Rank 2 is busy in minute 10 only: A serves rank 1 (warm), B starts cold.
  // At 11 rank 2 goes idle with no idle time known: the standard keep-alive, 4 h, so B
  // stays loaded to the end (40): 29 min. Rank 1 goes idle at 20 and keeps A for 1 min.
  // Waste 29 + 1 = 30 min.
  SimResult r =
      RunHybrid(SecondInstanceInMinuteTen(), {{"hybrid_min_samples", "3"}}, MinuteConfig());
  EXPECT_EQ(r.arrivals, 21u);
  EXPECT_EQ(r.cold, 2u);
  EXPECT_EQ(r.decisions["hybrid:prewarms"], 0u);
  EXPECT_NEAR(r.wasted_mb_s, 30 * 60 * 100, 1e-3);
}

// Invocations of 60 s: 2 in minutes 0, 2, 4, 6, 10, 12 and 1 in minutes 20, 30, 40.
Workload RanksDecideApartWorkload() {
  std::vector<uint32_t> counts(50, 0);
  for (int m : {0, 10, 20, 30, 40}) counts[m] = 1;
  for (int m : {0, 2, 4, 6, 10, 12}) counts[m] = 2;
  Workload w = OneKey(counts);
  w.keys[0].service.mean_s = 60;
  return w;
}

TEST(HybridHistogram, MinuteFixtureConcurrencyRanksDecideApart) {
  // min_samples 3, invocations of 60 s: 2 in minutes 0, 2, 4, 6, 10, 12 (two instances) and
  // 1 in minutes 20, 30, 40. Rank 2 is busy in 0-12's six minutes, rank 1 in all nine.
  // Windows are [pre-warm, end) after the idle period began, in whole minutes.
  //   Both ranks, at 1, 3, 5: fewer than 3 idle times, the standard 4 h: 2, 4, 6 warm, 1 min
  //     wasted each. At 7: idle times {1, 1, 1}: head bin 1 x 0.9 -> 0, end 2 x 1.1 -> 2:
  //     [0, 2); 10 is cold for both (idle 3 min), 2 min wasted each. At 11: {1, 1, 1, 3}:
  //     end 4 x 1.1 -> 4; 12 warm, 1 min each.
  //   Rank 2 at 13: {1, 1, 1, 3, 1}: [0, 4), nothing follows: 4 min. Rank 2: 10 min.
  //   Rank 1 at 13: the same [0, 4); 20 cold (idle 7), 4 min. At 21: {.., 7}: end 8 x 1.1
  //     -> 8; 30 cold (idle 9), 8 min. At 31: {.., 9}: end 10 x 1.1 -> 11; 40 warm, 9 min.
  //     At 41: the same, 9 min to the end (50). Rank 1: 1 + 1 + 1 + 2 + 1 + 4 + 8 + 9 + 9.
  // Cold: 2 at minute 0, 2 at 10, 1 at 20 and 30 = 6. Waste: 10 + 36 = 46 min.
  auto out = AtStepResolution(RanksDecideApartWorkload(), MinuteModel::kConcurrency);
  ASSERT_TRUE(out.ok()) << out.status();
  auto opts = ParseHybridHistogram({{"hybrid_min_samples", "3"}});
  ASSERT_TRUE(opts.ok());
  HybridHistogramPolicy p(*opts, {});
  SimResult r = Simulate(*out, p, MinuteConfig());
  EXPECT_EQ(r.arrivals, 15u);
  EXPECT_EQ(r.cold, 6u);
  EXPECT_EQ(p.ranks(0), 2u);
  EXPECT_EQ(p.histogram(0, 2).in_range(), 5u);
  EXPECT_EQ(p.histogram(0, 1).in_range(), 8u);
  EXPECT_NEAR(r.wasted_mb_s, 46 * 60 * 100, 1e-3);
}

// The orchestrator's implementation (engine=orchestrator: KeyAutoscaler and the
// reconciler, as `policy: hybrid-histogram` runs live) on the same fixtures.
SimResult RunHybridOrchestrator(const Workload& w, Params params, SimConfig c) {
  params["engine"] = "orchestrator";
  auto p = MakePolicy("hybrid-histogram", params);
  EXPECT_TRUE(p.ok()) << p.status();
  return Simulate(w, **p, c);
}

TEST(HybridHistogram, MinuteFixtureOneInstanceAsTheOrchestratorRunsIt) {
  SimResult r = RunHybridOrchestrator(Minutes(50, {0, 10, 20, 30, 40}, MinuteModel::kOneInstance),
                                      {{"hybrid_min_samples", "3"}}, MinuteConfig());
  EXPECT_EQ(r.arrivals, 5u);
  EXPECT_EQ(r.cold, 1u);
  EXPECT_NEAR(r.wasted_mb_s, 29 * 60 * 100, 60 * 100);
}

TEST(HybridHistogram, MinuteFixtureConcurrencyAsTheOrchestratorRunsIt) {
  // Both ranks go idle together with the same windows: level 1's reload window of 1 and
  // surplus level 2's of 2 load both again.
  SimResult r =
      RunHybridOrchestrator(Minutes(50, {0, 10, 20, 30, 40}, MinuteModel::kConcurrency, 2, 60),
                            {{"hybrid_min_samples", "3"}}, MinuteConfig());
  EXPECT_EQ(r.arrivals, 10u);
  EXPECT_EQ(r.cold, 2u);
  EXPECT_NEAR(r.wasted_mb_s, 2 * 29 * 60 * 100, 2 * 60 * 100);
}

TEST(HybridHistogram, MinuteFixtureSurplusRankAsTheOrchestratorRunsIt) {
  // Rank 2 (surplus level 2) goes idle at 11 with no idle time known: the standard 4 h, so
  // one idle instance stays loaded to the end (40) whichever instance it is; rank 1 goes
  // idle at 20 and keeps one more for 1 min. Waste 29 + 1 = 30 min, as the published
  // policy's (MinuteFixtureConcurrencyEachRankHasItsOwnHistogram). Ranking instances by
  // recency instead lost it: once rank 1's instance drained, rank 2's was the most recently
  // busy left and got level 1's 1 min (11 min in all).
  SimResult r = RunHybridOrchestrator(SecondInstanceInMinuteTen(), {{"hybrid_min_samples", "3"}},
                                      MinuteConfig());
  EXPECT_EQ(r.arrivals, 21u);
  EXPECT_EQ(r.cold, 2u);
  EXPECT_NEAR(r.wasted_mb_s, 30 * 60 * 100, 60 * 100);
}

TEST(HybridHistogram, MinuteFixtureConcurrencyRanksDecideApartAsTheOrchestratorRunsIt) {
  // MinuteFixtureConcurrencyRanksDecideApart's workload: the same 6 cold starts and 46 min
  // of waste (within a minute: the reconciler acts on its ticks, not on window edges).
  auto out = AtStepResolution(RanksDecideApartWorkload(), MinuteModel::kConcurrency);
  ASSERT_TRUE(out.ok()) << out.status();
  SimResult r = RunHybridOrchestrator(*out, {{"hybrid_min_samples", "3"}}, MinuteConfig());
  EXPECT_EQ(r.arrivals, 15u);
  EXPECT_EQ(r.cold, 6u);
  EXPECT_NEAR(r.wasted_mb_s, 46 * 60 * 100, 60 * 100);
}

TEST(HybridHistogram, OverlappingInvocationsRecordNoIdleTime) {
  // Invocations of 200 s in minutes 0, 10, 11 and 30. Those of 10 and 11 overlap (the first
  // ends after 800 s, the second starts before 720 s). Idle times: before 10 (340-460 s, bins
  // 5-7) and before 30; none for the overlap, so no idle time of 0.
  std::vector<uint32_t> counts(40, 0);
  for (size_t m : {0, 10, 11, 30}) counts[m] = 1;
  Workload w = OneKey(counts);
  w.keys[0].service.knots = {{0, 200}, {1, 200}};
  HybridHistogramPolicy p(*ParseHybridHistogram({}), {});
  Simulate(w, p);
  EXPECT_EQ(p.histogram(0).in_range() + p.histogram(0).oob(), 2u);
  EXPECT_GE(p.histogram(0).PercentileBin(0), 5u);
}

}  // namespace prewarm::sim
