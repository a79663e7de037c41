#include "sim/sim.h"

#include <gtest/gtest.h>

#include <set>

#include "sim/policies.h"

namespace prewarm::sim {
namespace {

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

SimConfig Config() {
  SimConfig c;
  c.start = StartTime{1.0, 1.0};  // exactly 1 s
  return c;
}

SimResult RunPolicy(const Workload& w, const std::string& name, Params params,
                    SimConfig c = Config()) {
  auto opts = ParseReconcilerPolicy(name, params);
  EXPECT_TRUE(opts.ok()) << opts.status();
  ReconcilerPolicy policy(*opts);
  Simulator sim(w, c);
  return sim.Run(policy);
}

TEST(Simulator, FixedKeepAliveOnKnownGaps) {
  // Arrivals in minutes 0, 5, 30, 31 of an hour; keep-alive 10 min: the 5-minute gap is
  // warm, the 25-minute gap is cold, the 1-minute gap warm: 2 cold starts.
  std::vector<uint32_t> counts(60, 0);
  counts[0] = counts[5] = counts[30] = counts[31] = 1;
  SimResult r = RunPolicy(OneKey(counts), "fixed-keepalive", {{"keepalive_s", "10m"}});
  EXPECT_EQ(r.arrivals, 4u);
  EXPECT_EQ(r.cold, 2u);
  EXPECT_EQ(r.starts, 2u);
  EXPECT_DOUBLE_EQ(r.cold_rate, 0.5);
  // Idle: ~5 min (0..5), 10 min after 5, ~1 min (30..31), 10 min after 31; the arrivals'
  // places inside their minutes move each gap by less than a minute; ticks add <= 2 s.
  double idle_min = r.wasted_mb_s / 100 / 60;
  EXPECT_GT(idle_min, 24.0);
  EXPECT_LT(idle_min, 28.2);
  // Loaded = idle + 1 s starts + 0.4 s serving.
  EXPECT_NEAR(r.loaded_mb_s - r.wasted_mb_s, 100 * (2 * 1.0 + 0.4), 1e-6 + 100 * 0.01);
  // Cold arrivals waited the 1 s start: p99 latency ~1.1 s, p50 between.
  EXPECT_NEAR(r.latency_p99_s, 1.1, 0.02);
}

TEST(Simulator, LiveRoutingNeverColdStartsForConcurrency) {
  // 600 requests of 10 s in one minute, one at a time per instance, fixed keep-alive (no
  // reactive scale-out). Packing gives each request beyond the busy instances' slots a cold
  // start: ~100 instances. Live routing answers with a ready (or starting) instance
  // whatever its load, as the orchestrator's DNS does: one cold start, one instance.
  Workload w = OneKey({600, 0, 0});
  w.keys[0].service.knots = {{0, 10}, {1, 10}};
  w.keys[0].service.mean_s = 10;
  SimResult pack = RunPolicy(w, "fixed-keepalive", {{"keepalive_s", "10m"}});
  EXPECT_GT(pack.starts, 50u);
  SimConfig c = Config();
  c.routing = Routing::kLive;
  SimResult live = RunPolicy(w, "fixed-keepalive", {{"keepalive_s", "10m"}}, c);
  EXPECT_EQ(live.starts, 1u);
  EXPECT_EQ(live.arrivals, 600u);
  EXPECT_LT(live.cold, 30u);  // those of its 1-s start (10 a second), cold on that one start
}

TEST(Simulator, LiveRoutingSpreadsLoadByPowerOfTwoChoices) {
  // KPA scale-out under the same burst, routed live: requests spread over the instances
  // it starts (the less loaded of two), and the run repeats exactly with the seed.
  Workload w = OneKey({600, 600, 0, 0});
  w.keys[0].service.knots = {{0, 10}, {1, 10}};
  w.keys[0].service.mean_s = 10;
  SimConfig c = Config();
  c.routing = Routing::kLive;
  SimResult a = RunPolicy(w, "reactive-kpa", {}, c), b = RunPolicy(w, "reactive-kpa", {}, c);
  EXPECT_GT(a.starts, 1u);
  EXPECT_EQ(a.starts, b.starts);
  EXPECT_EQ(a.cold, b.cold);
  EXPECT_DOUBLE_EQ(a.latency_p99_s, b.latency_p99_s);
}

TEST(Simulator, WastedMemoryIsSplitByKey) {
  // Key "api" (100 MB) runs in minutes 0 and 5; key "video" (300 MB) once in minute 0.
  // With a 10-minute keep-alive "video" idles ~10 min; "api" ~5 + 10 min.
  std::vector<uint32_t> api(60, 0), video(60, 0);
  api[0] = api[5] = video[0] = 1;
  Workload w = OneKey(api);
  KeySpec v = w.keys[0];
  v.tmpl = "video";
  v.memory_mb = 300;
  w.keys.push_back(v);
  w.counts.push_back(video);
  SimResult r = RunPolicy(w, "fixed-keepalive", {{"keepalive_s", "10m"}});
  ASSERT_EQ(r.keys.size(), 2u);
  EXPECT_DOUBLE_EQ(r.keys[0].wasted_mb_s + r.keys[1].wasted_mb_s, r.wasted_mb_s);
  // + the drain's 5-s settling (AnswerHold), + at most a 2-s tick
  EXPECT_NEAR(r.keys[1].wasted_mb_s / 300 / 60, 10.0 + 5.0 / 60, 0.04);
  EXPECT_GT(r.keys[0].wasted_mb_s / 100 / 60, 14.0);
  EXPECT_LT(r.keys[0].wasted_mb_s / 100 / 60, 16.1);
}

TEST(Simulator, DeterministicForASeed) {
  std::vector<uint32_t> counts;
  for (int m = 0; m < 600; ++m) counts.push_back((m * 7919) % 13 < 4 ? (m % 5) : 0);
  Workload w = OneKey(counts, 2);
  SimConfig a = Config();
  a.start = StartTime{0.5, 2.0};
  SimResult r1 = RunPolicy(w, "reactive-kpa", {}, a);
  SimResult r2 = RunPolicy(w, "reactive-kpa", {}, a);
  EXPECT_EQ(r1.cold, r2.cold);
  EXPECT_EQ(r1.starts, r2.starts);
  EXPECT_DOUBLE_EQ(r1.wasted_mb_s, r2.wasted_mb_s);
  EXPECT_DOUBLE_EQ(r1.latency_p99_s, r2.latency_p99_s);
  a.seed = 2;
  SimResult r3 = RunPolicy(w, "reactive-kpa", {}, a);
  EXPECT_NE(r1.wasted_mb_s, r3.wasted_mb_s);
}

TEST(Simulator, DrainedInstancesLiveUntilTheirDnsAnswersExpireAndTheDrainHasSettled) {
  // One arrival; keep-alive 1 s: drained at the next tick, but its DNS answer (30 s TTL,
  // 2 s slack: the live rule, AnswerHold) keeps it loaded until 32 s after the arrival.
  std::vector<uint32_t> counts(5, 0);
  counts[0] = 1;
  SimConfig c = Config();
  SimResult r = RunPolicy(OneKey(counts), "fixed-keepalive", {{"keepalive_s", "1s"}}, c);
  EXPECT_EQ(r.starts, 1u);
  // Loaded from the arrival to arrival + 32 s, give or take the service time.
  EXPECT_NEAR(r.loaded_mb_s / 100, 32.0, 0.2);
  auto loaded_s = [&](orchestrator::AnswerHold hold) {
    c.answers = hold;
    return RunPolicy(OneKey(counts), "fixed-keepalive", {{"keepalive_s", "1s"}}, c).loaded_mb_s /
           100;
  };
  const double drained = loaded_s(orchestrator::AnswerHold::None());  // gone at the drain
  EXPECT_GT(drained, 1.0);
  EXPECT_LT(drained, 4.0);  // the tick after 1 s idle
  // No TTL: the drain's settling alone.
  EXPECT_NEAR(loaded_s({0, 0, 5'000}), drained + 5, 0.01);
  // A 5-s TTL and 2-s slack from the arrival, or the settling, whichever ends later.
  EXPECT_NEAR(loaded_s({5'000, 2'000, 5'000}), std::max(7.0, drained + 5), 0.2);
}

TEST(Simulator, PredictivePrewarmsAPeriodicKey) {
  // One arrival every 10 minutes for two days: after the forecaster has seen an hour,
  // every arrival should find an instance started one lead time ahead.
  std::vector<uint32_t> counts(2 * 1440, 0);
  for (size_t m = 0; m < counts.size(); m += 10) counts[m] = 1;
  Workload w = OneKey(counts);
  SimConfig c = Config();
  c.measure_from_ms = 6 * 3'600'000;
  SimResult fixed = RunPolicy(w, "fixed-keepalive", {{"keepalive_s", "1m"}}, c);
  SimResult pred = RunPolicy(w, "predictive", {{"model", "snaive"}, {"keepalive_s", "1m"}}, c);
  EXPECT_GT(fixed.cold_rate, 0.9);
  EXPECT_LT(pred.cold_rate, 0.1) << "cold " << pred.cold << " of " << pred.arrivals;
  // ...without holding an instance all the time: well under the 42 h of the window.
  EXPECT_LT(pred.wasted_mb_s / 100 / 3600, 42.0 * 0.5);
  EXPECT_GT(pred.decisions["create:prefetch"], 0u);
}

TEST(Simulator, PredictiveLearnsToUnloadATimerAndReloadItInTime) {
  // A timer: one arrival every 30 minutes for a day, forecaster off. The learned keep-alive
  // first keeps the instance (the prior), then, once the 30-minute idle times dominate,
  // unloads it after each run and reloads it just before the next: warm arrivals at a
  // fraction of the memory a 40-minute keep-alive holds.
  std::vector<uint32_t> counts(1440, 0);
  for (size_t m = 0; m < counts.size(); m += 30) counts[m] = 1;
  Workload w = OneKey(counts);
  SimConfig c = Config();
  c.measure_from_ms = 4 * 3'600'000;
  SimResult keep = RunPolicy(w, "fixed-keepalive", {{"keepalive_s", "40m"}}, c);
  SimResult pred = RunPolicy(
      w, "predictive", {{"forecast", "off"}, {"cold_start_cost_s", "2h"}, {"weight", "start"}}, c);
  EXPECT_EQ(keep.cold, 0u);
  EXPECT_EQ(pred.cold, 0u) << "of " << pred.arrivals;
  EXPECT_LT(pred.wasted_mb_s, 0.25 * keep.wasted_mb_s);
  EXPECT_GT(pred.decisions["learned:reload-windows"], 20u);
  EXPECT_GT(pred.decisions["create:prefetch"], 20u);
  // A cold start priced at 1 s: nothing is worth keeping, every arrival is cold.
  SimResult cheap = RunPolicy(
      w, "predictive", {{"forecast", "off"}, {"cold_start_cost_s", "1s"}, {"weight", "start"}}, c);
  EXPECT_EQ(cheap.cold, cheap.arrivals);
}

TEST(Simulator, PredictiveCatchesATwelveHourTimerFromItsOneFiring) {
  // Fires at 00:00 and 12:00 (a dozen of Azure's 200 sample functions do). With one
  // arrival seen, no idle time is known; the timer detector loads an instance ahead of
  // each common cron period until one fires, and 12:00 is warm.
  std::vector<uint32_t> counts(1440, 0);
  counts[0] = counts[720] = 1;
  Workload w = OneKey(counts);
  SimConfig c = Config();
  c.measure_from_ms = 2 * 3'600'000;
  Params p = {{"forecast", "off"}, {"cold_start_cost_s", "30m"}};
  SimResult on = RunPolicy(w, "predictive", p, c);
  p["timers"] = "off";
  SimResult off = RunPolicy(w, "predictive", p, c);
  ASSERT_EQ(on.arrivals, 1u);
  EXPECT_EQ(on.cold, 0u);
  EXPECT_EQ(off.cold, 1u);
  // The windows (at every hour step from 3 to 12 h in the measured part) are a few minutes
  // each: the detector's cost is under an hour of instance time.
  EXPECT_LT(on.wasted_mb_s - off.wasted_mb_s, 3'600.0 * w.keys[0].memory_mb);
  EXPECT_GE(on.decisions["create:prefetch"], 4u);
}

TEST(Simulator, PredictiveKeepsThroughTheShortGapAndReloadsForTheLongOne) {
  // Two invocations a minute apart every ten minutes (Azure's function 129 does this):
  // idle times of about a minute and about nine. Keeping the instance for the first and
  // reloading it for the second serves as warm as keeping it throughout, for far less.
  std::vector<uint32_t> counts(1440, 0);
  for (size_t m = 0; m < counts.size(); m += 10) counts[m] = counts[m + 1] = 1;
  Workload w = OneKey(counts);
  SimConfig c = Config();
  c.measure_from_ms = 2 * 3'600'000;
  Params p = {{"forecast", "off"},
              {"cold_start_cost_s", "30m"},
              {"timers", "off"},
              {"surplus_levels", "0"}};
  SimResult on = RunPolicy(w, "predictive", p, c);
  p["keep_first_min_samples"] = "off";
  SimResult off = RunPolicy(w, "predictive", p, c);
  ASSERT_EQ(on.arrivals, off.arrivals);
  EXPECT_LE(on.cold, off.cold + 2);
  EXPECT_LT(on.wasted_mb_s, 0.6 * off.wasted_mb_s);  // measured: 0.52
  EXPECT_GT(on.decisions["create:prefetch"], 100u);  // one reload per ten minutes
}

TEST(Simulator, PredictiveScalesABurstOutToThePeakItsEarlierBurstsReached) {
  // Bursts of 60 invocations of 10 s within a minute (about 10 at once), 37 to 119 min
  // apart at no fixed period, nothing in between. Reactive scaling follows each burst up
  // from one instance, a cold start per instance; the burst scale-out starts the
  // instances earlier bursts reached on the burst's first invocation.
  std::vector<uint32_t> counts(1440, 0);
  uint32_t gap = 37;
  for (size_t m = 0; m < counts.size(); m += gap) {
    counts[m] = 60;
    gap = 37 + (gap * 29) % 83;
  }
  Workload w = OneKey(counts);
  w.keys[0].service.knots = {{0, 10}, {1, 10}};
  w.keys[0].service.mean_s = 10;
  SimConfig c = Config();
  c.measure_from_ms = 2 * 3'600'000;
  Params p = {{"forecast", "off"}, {"cold_start_cost_s", "30m"}, {"timers", "off"}};
  SimResult on = RunPolicy(w, "predictive", p, c);
  p["bursts"] = "off";
  SimResult off = RunPolicy(w, "predictive", p, c);
  ASSERT_EQ(on.arrivals, off.arrivals);
  EXPECT_LT(on.cold, off.cold / 3);                  // measured: 107 vs 469
  EXPECT_LT(on.wasted_mb_s, 1.3 * off.wasted_mb_s);  // measured: 1.15x
}

TEST(Simulator, ReactiveScalesWithLoadAndOriginServesWhenFull) {
  // 600 arrivals a minute at 0.1 s each = 1 concurrent on average; concurrency 1 per
  // instance: the stable window asks for ~2 instances at 70% target.
  std::vector<uint32_t> counts(30, 600);
  SimConfig c = Config();
  c.nodes = 1;
  c.slots_per_node = 3;
  SimResult r = RunPolicy(OneKey(counts), "reactive-kpa", {}, c);
  EXPECT_EQ(r.arrivals, 18'000u);
  EXPECT_GT(r.origin, 0u);       // bursts beyond 3 instances
  EXPECT_LT(r.cold_rate, 0.05);  // but most arrivals find a warm instance
  EXPECT_LE(r.starts, 3u + r.decisions["drain:idle"]);
}

TEST(Simulator, KnativeKpaScalesToZeroAfterItsStableWindowAndGrace) {
  // One 0.1-s request in minute 0 of 10. The 60-s stable window wants an instance while it
  // has seen the request, so the instance is drained 90 s (60 s + the 30-s grace) after
  // it last served and goes when the drain has settled, 5 s later (AnswerHold): ~95 s
  // idle, at most a 2-s tick more.
  std::vector<uint32_t> counts(10, 0);
  counts[0] = 1;
  SimResult r = RunPolicy(OneKey(counts), "reactive-kpa", {});
  EXPECT_EQ(r.starts, 1u);
  EXPECT_EQ(r.decisions["drain:idle"], 1u);
  EXPECT_GT(r.wasted_mb_s / 100, 95.0 - 0.2);
  EXPECT_LT(r.wasted_mb_s / 100, 97.0 + 0.2);
  // A burst of 600 requests of 10 s in minute 0 (concurrency 1: up to ~100 instances by
  // the cold path). Surplus instances go as soon as the window's average no longer wants
  // them (and some are started again within the burst); with every one kept 90 s
  // (surplus_keepalive_s same) more memory idles.
  Workload b = OneKey({600, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  b.keys[0].service.knots = {{0, 10}, {1, 10}};
  b.keys[0].service.mean_s = 10;
  SimResult kpa = RunPolicy(b, "reactive-kpa", {});
  SimResult same = RunPolicy(b, "reactive-kpa", {{"surplus_keepalive_s", "same"}});
  EXPECT_GE(kpa.starts, same.starts);
  EXPECT_LT(kpa.wasted_mb_s, same.wasted_mb_s);
}

TEST(Simulator, BadPolicyKnobsAreErrors) {
  EXPECT_FALSE(ParseReconcilerPolicy("fixed-keepalive", {{"q", "0.9"}}).ok());
  EXPECT_FALSE(ParseReconcilerPolicy("predictive", {{"q", "1.5"}}).ok());
  EXPECT_FALSE(ParseReconcilerPolicy("predictive", {{"model", "nope"}}).ok());
  EXPECT_FALSE(ParseReconcilerPolicy("nope", {}).ok());
  EXPECT_FALSE(ParseDurationMs("10x").ok());
  EXPECT_EQ(*ParseDurationMs("10m"), 600'000);
  EXPECT_EQ(*ParseDurationMs("1500ms"), 1'500);
  EXPECT_EQ(*ParseDurationMs("2"), 2'000);
}

TEST(Simulator, TheReportNamesEveryForecasterKnobThatIsNotTheDaemonsDefault) {
  // The simulator's defaults are the daemon's: nothing to name.
  absl::StatusOr<std::string> same = ForecasterDivergence({}, 60'000);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(*same, "");
  const ReconcilerPolicyOptions o = *ParseReconcilerPolicy("predictive", {});
  EXPECT_EQ(o.model, "combo");
  EXPECT_EQ(o.refit_every_ms, 3'600'000);
  EXPECT_DOUBLE_EQ(o.min_arrivals_per_min, 1.0);
  EXPECT_NEAR(o.quantile, 30.0 / 31.0, 1e-12);
  // A lighter forecaster given by --param: each knob named with the daemon's value.
  absl::StatusOr<std::string> light = ForecasterDivergence(
      {{"model", "ets"}, {"refit_every_s", "600"}, {"min_arrivals_per_min", "0"}, {"q", "0.9"}},
      60'000);
  ASSERT_TRUE(light.ok()) << light.status();
  EXPECT_NE(light->find("model ets (daemon: combo)"), std::string::npos) << *light;
  EXPECT_NE(light->find("refit_every_s 600 (daemon: 3600)"), std::string::npos) << *light;
  EXPECT_NE(light->find("min_arrivals_per_min 0 (daemon: 1)"), std::string::npos) << *light;
  EXPECT_NE(light->find("q 0.9 (daemon: 0.9677)"), std::string::npos) << *light;
  // A trace whose step is not the daemon's horizon: the simulated horizon is one step.
  EXPECT_NE(ForecasterDivergence({}, 10'000)->find("horizon_s 10 (daemon: 60)"), std::string::npos);
  EXPECT_NE(ForecasterDivergence({{"forecast", "off"}}, 60'000)->find("forecaster off"),
            std::string::npos);
  EXPECT_FALSE(ForecasterDivergence({{"model", "nope"}}, 60'000).ok());
  // The old per-step threshold is not a knob any more.
  EXPECT_FALSE(ParseReconcilerPolicy("predictive", {{"min_mean_per_step", "1"}}).ok());
}

TEST(StartTime, LognormalThroughMedianAndP99) {
  StartTime s{2.7, 3.5};
  std::mt19937_64 rng(7);
  std::vector<double> v;
  for (int i = 0; i < 20'000; ++i) v.push_back(static_cast<double>(s.Sample(rng)) / 1e6);
  std::sort(v.begin(), v.end());
  EXPECT_NEAR(v[10'000], 2.7, 0.03);
  EXPECT_NEAR(v[19'800], 3.5, 0.08);
  EXPECT_FALSE(StartTime::Named("firecracker").ok());
  EXPECT_NEAR(StartTime::Named("oci")->median_s, 0.045, 1e-9);
}

TEST(StartTime, MeasuredTakesAMedianAndAP99InSeconds) {
  auto s = StartTime::Named("measured:0.5,1.25");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->median_s, 0.5);
  EXPECT_EQ(s->p99_s, 1.25);
  for (const char* bad : {"measured:", "measured:0.5", "measured:2,1", "measured:0,1",
                          "measured:x,1", "measured:0.5,1s"}) {
    EXPECT_FALSE(StartTime::Named(bad).ok()) << bad;
  }
}

// Starts instances of key 0 at given times (and on given nodes), drains some, and reads
// when each became ready.
class ScriptedStarts : public Policy {
 public:
  struct Start {
    SimTimeUs at;
    uint32_t node;
  };
  ScriptedStarts(std::vector<Start> starts, std::vector<std::pair<SimTimeUs, size_t>> drains = {})
      : starts_(std::move(starts)), drains_(std::move(drains)) {}
  std::string name() const override { return "scripted"; }
  void Begin(PolicyContext& ctx) override {
    std::set<SimTimeUs> at;
    for (const Start& s : starts_) at.insert(s.at);
    for (const auto& d : drains_) at.insert(d.first);
    for (SimTimeUs t : at) ctx.WakeAt(0, t);  // once per time: OnWakeup does all that is due
  }
  void OnWakeup(PolicyContext& ctx, uint32_t key) override {
    for (const Start& s : starts_) {
      if (s.at == ctx.now()) {
        ASSERT_TRUE(ctx.Prewarm(key, orchestrator::ScaleReason::kPrefetch, s.node));
        ids_.push_back(ctx.view().keys[key].instances.back().id);
      }
    }
    for (const auto& [at, i] : drains_) {
      if (at == ctx.now()) ctx.Drain(ids_.at(i), orchestrator::ScaleReason::kIdle);
    }
  }
  void Finish(PolicyContext& ctx, SimResult&) override {
    for (const std::string& id : ids_) {
      ready_ms.push_back(-1);
      for (const auto& vi : ctx.view().keys[0].instances) {
        if (vi.id == id && vi.state == orchestrator::ViewState::kReady) {
          ready_ms.back() = vi.state_since_ms;
        }
      }
    }
  }
  std::vector<int64_t> ready_ms;  // per start, in order; -1: not ready (gone) at the end

 private:
  std::vector<Start> starts_;
  std::vector<std::pair<SimTimeUs, size_t>> drains_;
  std::vector<std::string> ids_;
};

std::vector<int64_t> ReadyTimes(const std::string& contention, std::vector<ScriptedStarts::Start> s,
                                std::vector<std::pair<SimTimeUs, size_t>> drains = {},
                                int nodes = 1) {
  SimConfig c = Config();  // every start 1 s alone
  c.nodes = nodes;
  c.answers = orchestrator::AnswerHold::None();
  auto parsed = StartContention::Parse(contention);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  c.contention = *parsed;
  ScriptedStarts policy(std::move(s), std::move(drains));
  Workload w = OneKey({0, 0, 0});  // the simulator keeps a reference
  Simulator sim(w, c);
  sim.Run(policy);
  return policy.ready_ms;
}

TEST(StartContention, StartsShareTheCoresOfTheirNode) {
  // Two 1-s starts, at 0 and 0.5 s, on one node.
  std::vector<ScriptedStarts::Start> two = {{0, 0}, {500'000, 0}};
  // Alone (none, or 2 cores for 2 starts): 1.0 and 1.5 s.
  EXPECT_EQ(ReadyTimes("none", two), (std::vector<int64_t>{1000, 1500}));
  EXPECT_EQ(ReadyTimes("node:2", two), (std::vector<int64_t>{1000, 1500}));
  // One core: the first runs alone for 0.5 s, then both at half speed; the first's last
  // 0.5 s of work takes 1 s (done at 1.5 s), by when the second has done 0.5 s; its rest
  // runs alone: 2.0 s.
  EXPECT_EQ(ReadyTimes("node:1", two), (std::vector<int64_t>{1500, 2000}));
  // Four at once on two cores: each at half speed, all done at 2 s.
  std::vector<ScriptedStarts::Start> four(4, {0, 0});
  EXPECT_EQ(ReadyTimes("node:2", four), (std::vector<int64_t>{2000, 2000, 2000, 2000}));
}

TEST(StartContention, NodeScopeIsPerNodeAndHostScopeSpansThem) {
  // One 1-s start on each of two nodes at 0, one core each (node) or one for both (host).
  std::vector<ScriptedStarts::Start> apart = {{0, 0}, {0, 1}};
  EXPECT_EQ(ReadyTimes("node:1", apart, {}, 2), (std::vector<int64_t>{1000, 1000}));
  EXPECT_EQ(ReadyTimes("host:1", apart, {}, 2), (std::vector<int64_t>{2000, 2000}));
}

TEST(StartContention, AStartDestroyedBeforeItIsDoneStopsTakingItsShare) {
  // Two 1-s starts at 0 on one core; the first is drained (and, no DNS answer naming it,
  // destroyed) at 0.5 s, when each has done 0.25 s: the second's other 0.75 s run alone.
  EXPECT_EQ(ReadyTimes("node:1", {{0, 0}, {0, 0}}, {{500'000, 0}}),
            (std::vector<int64_t>{-1, 1250}));
}

TEST(StartContention, ParsesItsSpecAndRefusesOthers) {
  EXPECT_EQ(StartContention::Parse("none")->cores, 0u);
  EXPECT_EQ(StartContention::Parse("host:2")->cores, 2u);
  EXPECT_TRUE(StartContention::Parse("host:2")->host);
  EXPECT_FALSE(StartContention::Parse("node:8")->host);
  EXPECT_EQ(StartContention::Parse("node:8")->ToString(), "node:8");
  for (const char* bad :
       {"", "node", "node:", "node:0", "rack:2", "host:-1", "host:2x", "host:5000"}) {
    EXPECT_FALSE(StartContention::Parse(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace prewarm::sim
