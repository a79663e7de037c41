#include "autoscale/reconciler.h"

#include <gtest/gtest.h>

#include <random>

namespace prewarm::orchestrator {
namespace {

// Two regions 600 km apart (Frankfurt, Paris), two nodes in the first, one in the second.
ClusterView TwoRegions(uint32_t slots = 4) {
  ClusterView v;
  v.regions = {{"fra", {50.1, 8.7}}, {"par", {48.9, 2.35}}, {"syd", {-33.9, 151.2}}};
  v.nodes = {{"fra-1", 0, slots, true, {}},
             {"fra-2", 0, slots, true, {}},
             {"par-1", 1, slots, true, {}},
             {"syd-1", 2, slots, true, {}}};
  v.keys.push_back(ViewKey{0, "static", {}, 0, {}, -1, {}});
  v.Index();
  return v;
}

// Applies decisions the way a caller would: creates become starting instances, named from
// `*serial` (or a counter shared by every call).
void Apply(ClusterView& v, const std::vector<Decision>& ds, int64_t now, int* ids = nullptr) {
  static int shared = 0;
  int& serial = ids != nullptr ? *ids : shared;
  for (const Decision& d : ds) {
    auto& inst = v.keys[d.key].instances;
    if (d.kind == Decision::kCreate) {
      ViewInstance i;
      i.id = "i" + std::to_string(++serial);
      i.node = d.node;
      i.state = ViewState::kStarting;
      i.state_since_ms = now;
      i.last_busy_ms = now;
      inst.push_back(i);
    } else {
      for (auto& i : inst) {
        if (i.id != d.instance) continue;
        if (d.kind == Decision::kDrain) i.state = ViewState::kDraining;
        if (d.kind == Decision::kDestroy) i.destroy_ordered = true;
      }
    }
  }
}

// A ready instance that last served at `last_busy_ms`.
ViewInstance UsedReady(std::string id, int64_t last_busy_ms) {
  ViewInstance i;
  i.id = std::move(id);
  i.state = ViewState::kReady;
  i.used = true;
  i.last_busy_ms = last_busy_ms;
  return i;
}

int Count(const std::vector<Decision>& ds, Decision::Kind kind) {
  return static_cast<int>(
      std::count_if(ds.begin(), ds.end(), [&](const Decision& d) { return d.kind == kind; }));
}

// Two regions with two ready instances of the key, created by `r` for a prefetch window
// over 0..100 s and never used yet.
ClusterView TwoPrefetchedForAWindow(Reconciler& r) {
  ClusterView v = TwoRegions();
  v.keys[0].windows.push_back({0, 100'000, 2, {}});
  Apply(v, r.Reconcile(v, 0), 0);
  for (auto& i : v.keys[0].instances) i.state = ViewState::kReady;
  return v;
}

TEST(Reconciler, PrefetchWindowCreatesOneLeadTimeAhead) {
  ReconcilerConfig cfg;
  cfg.reactive = false;
  cfg.default_template.lead_ms = 3'000;
  Reconciler r(cfg);
  ClusterView v = TwoRegions();
  v.keys[0].windows.push_back({100'000, 160'000, 3, {"index.html"}});
  // Before window start - lead: nothing.
  EXPECT_TRUE(r.Reconcile(v, 96'999).empty());
  auto ds = r.Reconcile(v, 97'000);
  ASSERT_EQ(Count(ds, Decision::kCreate), 3);
  for (const auto& d : ds) {
    EXPECT_EQ(d.reason, ScaleReason::kPrefetch);
    EXPECT_EQ(d.content, std::vector<std::string>{"index.html"});
    EXPECT_EQ(v.nodes[d.node].region, 0u);
  }
  // Spread across the region's two nodes.
  EXPECT_NE(ds[0].node, ds[1].node);
  Apply(v, ds, 97'000);
  // Idempotent: the starting instances count.
  EXPECT_TRUE(r.Reconcile(v, 98'000).empty());
  EXPECT_EQ(r.counters().creates[static_cast<int>(ScaleReason::kPrefetch)], 3u);
}

TEST(Reconciler, RollingForecastTheNewestDueWindowDecides) {
  // A forecaster with a 10 s lead sends a fresh 6 s window every second; the instances'
  // start time (the reconciler's lead) is 2 s. At t the window that covers [t+2, t+8) is the
  // one sent at t-8, not the newest (which starts at t+10 and is not due yet).
  ReconcilerConfig cfg;
  cfg.reactive = false;
  cfg.default_template.lead_ms = 2'000;
  Reconciler r(cfg);
  ClusterView v = TwoRegions();
  auto send = [&](int64_t at, uint32_t target) {
    v.keys[0].windows.push_back({at + 10'000, at + 16'000, target, {}, at});
  };
  // Forecasts sent at 0..20 s: 1 instance, except the one sent at 12 s (for [22, 28) s) says 3.
  for (int64_t at = 0; at <= 20'000; at += 1'000) send(at, at == 12'000 ? 3 : 1);
  EXPECT_EQ(DueWindow(v.keys[0], cfg.default_template, 7'999), nullptr);
  ASSERT_NE(DueWindow(v.keys[0], cfg.default_template, 19'000), nullptr);
  EXPECT_EQ(DueWindow(v.keys[0], cfg.default_template, 19'000)->received_ms, 11'000);
  auto ds = r.Reconcile(v, 19'000);
  EXPECT_EQ(Count(ds, Decision::kCreate), 1);
  Apply(v, ds, 19'000);
  // At 20 s the window sent at 12 s becomes due (starts at 22 s, lead 2 s): two more.
  ds = r.Reconcile(v, 20'000);
  EXPECT_EQ(Count(ds, Decision::kCreate), 2);
  // A newer due forecast supersedes it: at 21 s the one sent at 13 s wants 1 again, so
  // nothing more is created (the surplus waits for its keep-alive).
  Apply(v, ds, 20'000);
  EXPECT_EQ(DueWindow(v.keys[0], cfg.default_template, 21'000)->target, 1u);
  EXPECT_EQ(Count(r.Reconcile(v, 21'000), Decision::kCreate), 0);
}

TEST(Reconciler, EachSourceSupersedesOnlyItsOwnWindows) {
  ReconcilerConfig cfg;
  cfg.reactive = false;
  Reconciler r(cfg);
  ClusterView v = TwoRegions();
  // Source 0 (the model forecaster) sent 3 then 1; source 1 (the idle-time learner) 2.
  v.keys[0].windows.push_back({0, 60'000, 3, {}, 0, 0});
  v.keys[0].windows.push_back({0, 60'000, 1, {}, 5'000, 0});
  v.keys[0].windows.push_back({0, 60'000, 2, {}, 1'000, 1});
  ASSERT_NE(DueWindow(v.keys[0], cfg.default_template, 10'000), nullptr);
  EXPECT_EQ(DueWindow(v.keys[0], cfg.default_template, 10'000)->target, 2u);
  EXPECT_EQ(Count(r.Reconcile(v, 10'000), Decision::kCreate), 2);
}

TEST(Reconciler, ALearnedKeepAliveOverridesTheTemplates) {
  ReconcilerConfig cfg;
  cfg.reactive = false;
  cfg.default_template.keepalive_ms = 600'000;
  Reconciler r(cfg);
  ClusterView v = TwoRegions();
  v.keys[0].instances.push_back(UsedReady("a", 0));
  EXPECT_EQ(Count(r.Reconcile(v, 120'000), Decision::kDrain), 0);
  v.keys[0].keepalive_ms = 90'000;
  EXPECT_EQ(Count(r.Reconcile(v, 89'000), Decision::kDrain), 0);
  EXPECT_EQ(Count(r.Reconcile(v, 120'000), Decision::kDrain), 1);
}

TEST(Reconciler, AKeepThenReloadPlanDrainsAfterItsFirstStretchAndReloadsBeforeTheSecond) {
  // A learned plan (IdlePlan::keep_first_ms): keep 66 s after use, reload for 432-594 s.
  ReconcilerConfig cfg;
  cfg.reactive = false;
  cfg.default_template.lead_ms = 3'000;
  Reconciler r(cfg);
  ClusterView v = TwoRegions();
  v.keys[0].instances.push_back(UsedReady("a", 0));
  v.keys[0].keepalive_ms = 66'000;
  v.keys[0].windows.push_back({432'000, 594'000, 1, {}});
  EXPECT_TRUE(r.Reconcile(v, 65'999).empty());
  auto ds = r.Reconcile(v, 66'000);
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].kind, Decision::kDrain);
  EXPECT_EQ(ds[0].reason, ScaleReason::kIdle);
  v.keys[0].instances.clear();  // destroyed once its answers expired
  EXPECT_TRUE(r.Reconcile(v, 428'999).empty());
  ds = r.Reconcile(v, 429'000);
  ASSERT_EQ(Count(ds, Decision::kCreate), 1);
  EXPECT_EQ(ds[0].reason, ScaleReason::kPrefetch);
  // A reload due before the first stretch ends keeps the instance through: no restart.
  ClusterView w = TwoRegions();
  w.keys[0].instances.push_back(UsedReady("a", 0));
  w.keys[0].keepalive_ms = 66'000;
  w.keys[0].windows.push_back({60'000, 200'000, 1, {}});
  EXPECT_TRUE(r.Reconcile(w, 66'000).empty());
  EXPECT_TRUE(r.Reconcile(w, 199'999).empty());
  EXPECT_EQ(Count(r.Reconcile(w, 200'000), Decision::kDrain), 1);
}

TEST(Reconciler, WindowKeepsInstancesUntilItEnds) {
  ReconcilerConfig cfg;
  cfg.reactive = false;
  cfg.default_template.keepalive_ms = 10'000;
  Reconciler r(cfg);
  ClusterView v = TwoPrefetchedForAWindow(r);
  ASSERT_EQ(v.keys[0].instances.size(), 2u);
  // Idle well past keep-alive but inside the window: kept.
  EXPECT_EQ(Count(r.Reconcile(v, 50'000), Decision::kDrain), 0);
  // After the window: drained, most idle first.
  v.keys[0].instances[1].last_busy_ms = 95'000;
  v.keys[0].instances[1].used = true;
  auto ds = r.Reconcile(v, 100'000);
  ASSERT_EQ(Count(ds, Decision::kDrain), 1);  // the other was busy within keep-alive
  EXPECT_EQ(ds[0].instance, v.keys[0].instances[0].id);
  EXPECT_EQ(ds[0].reason, ScaleReason::kIdle);
}

TEST(Reconciler, AnInstanceNoRequestUsedGoesWhenItsWindowEnds) {
  // A keep-alive is time kept after use: an instance prefetched for a window that brought
  // nothing is kept while the window lasts, not for a keep-alive after it.
  ReconcilerConfig cfg;
  cfg.reactive = false;
  cfg.default_template.keepalive_ms = 600'000;
  Reconciler r(cfg);
  ClusterView v = TwoPrefetchedForAWindow(r);
  ASSERT_EQ(v.keys[0].instances.size(), 2u);
  v.keys[0].instances[1].used = true;  // served at 50 s
  v.keys[0].instances[1].last_busy_ms = 50'000;
  EXPECT_EQ(Count(r.Reconcile(v, 99'999), Decision::kDrain), 0);
  auto ds = r.Reconcile(v, 100'000);
  ASSERT_EQ(Count(ds, Decision::kDrain), 1);
  EXPECT_EQ(ds[0].instance, v.keys[0].instances[0].id);
  Apply(v, ds, 100'000);
  // The one that served keeps its keep-alive from its last use.
  EXPECT_EQ(Count(r.Reconcile(v, 649'999), Decision::kDrain), 0);
  EXPECT_EQ(Count(r.Reconcile(v, 650'000), Decision::kDrain), 1);
}

TEST(Reconciler, SurplusInstancesKeepTheirLevelsKeepAlive) {
  // Learned per concurrency level: the most recently busy instance keeps the key's
  // keep-alive (10 min), the second 60 s, the third and later 30 s.
  ReconcilerConfig cfg;
  cfg.reactive = false;
  Reconciler r(cfg);
  ClusterView v = TwoRegions();
  v.keys[0].keepalive_ms = 600'000;
  v.keys[0].surplus_keepalive_ms = {60'000, 30'000};
  for (auto [id, busy] : {std::pair{"c", 0}, {"a", 100'000}, {"d", 5'000}, {"b", 90'000}}) {
    v.keys[0].instances.push_back(UsedReady(id, busy));
  }
  auto drained = [&](int64_t now) {
    std::vector<std::string> ids;
    for (const Decision& d : r.Reconcile(v, now)) {
      if (d.kind == Decision::kDrain) ids.push_back(d.instance);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  // At 34 s: c (3rd) is 34 s idle, d (4th) 29 s: only c.
  EXPECT_EQ(drained(34'000), std::vector<std::string>{"c"});
  EXPECT_EQ(drained(35'000), (std::vector<std::string>{"c", "d"}));
  // b (2nd) keeps 60 s from 90 s; a the key's 10 min.
  EXPECT_EQ(drained(149'999), (std::vector<std::string>{"c", "d"}));
  EXPECT_EQ(drained(150'000), (std::vector<std::string>{"b", "c", "d"}));
  EXPECT_EQ(drained(699'999), (std::vector<std::string>{"b", "c", "d"}));
  EXPECT_EQ(drained(700'000), (std::vector<std::string>{"a", "b", "c", "d"}));
}

TEST(Reconciler, PanicAtTwiceCapacity) {
  ReconcilerConfig cfg;
  cfg.proactive = false;
  cfg.default_template.concurrency = 10;
  cfg.default_template.target_utilisation = 1.0;
  Reconciler r(cfg);
  ClusterView v = TwoRegions(100);
  // One ready instance serving a steady 8 concurrent requests: no change.
  v.keys[0].instances.push_back({"a", 0, ViewState::kReady, 8, 0, true, 0, 0, false});
  int64_t t = 0;
  for (; t < 60'000; t += 2'000) {
    v.keys[0].demand = 8;
    EXPECT_TRUE(r.Reconcile(v, t).empty()) << t;
  }
  // Demand jumps to 19: below 2x capacity (20): no panic; the stable average moves slowly.
  v.keys[0].demand = 19;
  EXPECT_FALSE(r.WantFor(v, 0, t).panic);
  // Demand 30 for one tick (panic-window average >= 20 = 2x one ready instance): panic.
  for (int i = 0; i < 3; ++i, t += 2'000) {
    v.keys[0].demand = 40;
    auto ds = r.Reconcile(v, t);
    if (i == 2) {
      EXPECT_TRUE(r.WantFor(v, 0, t).panic);
      ASSERT_EQ(Count(ds, Decision::kCreate), 3);  // 4 wanted, 1 live
      EXPECT_EQ(ds[0].reason, ScaleReason::kPanic);
      Apply(v, ds, t);
    }
  }
  EXPECT_EQ(r.counters().panics, 1u);
  // In panic the target never drops, even when demand falls.
  for (auto& i : v.keys[0].instances) i.state = ViewState::kReady;
  v.keys[0].demand = 1;
  auto ds = r.Reconcile(v, t + 2'000);
  EXPECT_EQ(Count(ds, Decision::kDrain), 0);
  EXPECT_TRUE(r.WantFor(v, 0, t + 2'000).panic);
}

// A key with nothing (no instance, window or demand in its window) is skipped by a pass and
// its 0 samples are filled in when it is next recorded: it must want exactly what a key
// that is never skipped (it keeps one ready instance) wants, whatever the gaps.
TEST(Reconciler, AQuietKeyIsSkippedYetWantsWhatAVisitedKeyWants) {
  ReconcilerConfig cfg;
  cfg.proactive = false;
  cfg.default_template.concurrency = 10;
  cfg.default_template.target_utilisation = 1.0;
  Reconciler r(cfg);
  ClusterView v = TwoRegions(100);
  v.keys.push_back(ViewKey{1, "static", {}, 0, {}, -1, {}});
  v.keys[1].instances.push_back({"b", 2, ViewState::kReady, 0, 0, true, 0, 0, false});
  // Bursts after gaps shorter and longer than the stable (60 s) and panic (6 s) windows.
  const std::vector<std::pair<int64_t, double>> bursts = {
      {10'000, 150}, {14'000, 30}, {90'000, 150}, {96'000, 5}, {250'000, 150}, {252'000, 80}};
  bool panicked = false;
  for (int64_t t = 2'000; t <= 400'000; t += 2'000) {
    double demand = 0;
    for (const auto& [at, d] : bursts) demand = at == t ? d : demand;
    v.keys[0].demand = demand;
    v.keys[1].demand = demand;
    r.Reconcile(v, t);
    const Reconciler::Want a = r.WantFor(v, 0, t), b = r.WantFor(v, 1, t);
    EXPECT_EQ(a.reactive, b.reactive) << t;
    EXPECT_EQ(a.panic, b.panic) << t;
    panicked = panicked || a.panic;
    if (t == 250'000) {
      // 150 over the panic window's 3 samples, per instance of 10: 5 (had the skipped
      // passes' zeros been lost, 15).
      EXPECT_TRUE(a.panic);
      EXPECT_EQ(a.reactive, 5u);
    }
  }
  EXPECT_TRUE(panicked);
}

// The simulator's partial passes: a pass over only the keys that changed, have demand or are
// due (WakeMs) decides exactly what a full pass over every key decides. Checked over a
// random history of arrivals, completions, starts, windows from two sources and learned
// keep-alives, on nodes small enough that some creates cannot be placed.
TEST(Reconciler, APassOverChangedAndDueKeysDecidesAsAFullPass) {
  ReconcilerConfig cfg;
  cfg.stable_window_ms = 6'000;  // shorter than keep-alives and answers: wakes matter
  cfg.panic_window_ms = 2'000;
  cfg.default_template.concurrency = 2;
  cfg.default_template.keepalive_ms = 30'000;
  cfg.default_template.surplus_keepalive_ms = 10'000;
  cfg.default_template.lead_ms = 4'000;
  Reconciler full(cfg), partial(cfg);
  ClusterView a = TwoRegions(3);
  for (uint32_t k = 1; k < 12; ++k)
    a.keys.push_back(ViewKey{k % 3, "t" + std::to_string(k), {}, 0, {}, -1, {}});
  ClusterView b = a;
  const size_t n = a.keys.size();
  std::vector<bool> changed(n, true);
  std::mt19937_64 rng(7);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  int ids_a = 0, ids_b = 0;  // the same names on both views
  size_t visits = 0, passes = 0, decisions = 0, drains = 0;
  for (int64_t t = 2'000; t <= 1'800'000; t += 2'000) {
    // Requests end after a tick or two, the same on both views.
    for (uint32_t k = 0; k < n; ++k) {
      for (size_t i = 0; i < a.keys[k].instances.size(); ++i) {
        if (a.keys[k].instances[i].in_flight == 0 || uniform(0, 1) == 0) continue;
        for (ClusterView* v : {&a, &b}) {
          --v->keys[k].instances[i].in_flight;
          v->keys[k].instances[i].last_busy_ms = t;
        }
        changed[k] = true;
      }
    }
    // The same events on both views.
    for (uint32_t k = 0; k < n; ++k) {
      // Each key is busy one minute in four and nearly still the rest: quiet stretches in
      // which only its wake times bring it back.
      const bool busy = (t / 60'000 + k) % 4 == 0;
      if (uniform(0, 99) >= (busy ? 30 : 1)) continue;
      changed[k] = true;
      const int64_t what = uniform(0, 5);
      for (ClusterView* v : {&a, &b}) {
        ViewKey& key = v->keys[k];
        const size_t pick =
            key.instances.empty() ? 0 : static_cast<size_t>(t / 2'000) % key.instances.size();
        switch (what) {
          case 0:  // an arrival: on a live instance, else on one the cold path starts
            if (key.instances.empty() || key.instances[pick].state == ViewState::kDraining) {
              ViewNode& node = v->nodes[k % v->nodes.size()];
              if (node.free_slots == 0) break;
              --node.free_slots;
              ViewInstance i;
              i.id = "cold" + std::to_string(t) + "-" + std::to_string(k);
              i.node = k % v->nodes.size();
              key.instances.push_back(i);
            }
            {
              ViewInstance& i =
                  key.instances.empty() || key.instances[pick].state == ViewState::kDraining
                      ? key.instances.back()
                      : key.instances[pick];
              ++i.in_flight;
              i.used = true;
              i.last_busy_ms = t;
              i.answered_until_ms = std::max(i.answered_until_ms, t + 15'000);
            }
            break;
          case 1:  // a request ends
            for (ViewInstance& i : key.instances) {
              if (i.in_flight > 0) {
                --i.in_flight;
                i.last_busy_ms = t;
                break;
              }
            }
            break;
          case 2:  // an instance is ready; destroyed ones go
            for (ViewInstance& i : key.instances) {
              if (i.state == ViewState::kStarting) i.state = ViewState::kReady;
            }
            for (const ViewInstance& i : key.instances)
              v->nodes[i.node].free_slots += i.destroy_ordered;
            std::erase_if(key.instances, [](const ViewInstance& i) { return i.destroy_ordered; });
            break;
          case 3:  // a window from one of two sources; ended ones go
            std::erase_if(key.windows, [&](const PrefetchWindow& w) { return w.end_ms <= t; });
            break;
          case 4:
            key.keepalive_ms = (t / 2'000) % 3 == 0 ? -1 : 5'000 + (t % 7) * 5'000;
            key.surplus_keepalive_ms.assign((t / 2'000) % 2, 12'000);
            break;
          default:
            break;
        }
      }
      if (what == 3) {  // random figures drawn once, for both views
        PrefetchWindow w;
        w.start_ms = t + uniform(0, 40'000);
        w.end_ms = w.start_ms + uniform(2'000, 30'000);
        w.target = static_cast<uint32_t>(uniform(0, 3));
        w.received_ms = t;
        w.source = static_cast<uint32_t>(uniform(0, 1));
        a.keys[k].windows.push_back(w);
        b.keys[k].windows.push_back(w);
      }
    }
    std::vector<uint32_t> visit;
    for (uint32_t k = 0; k < n; ++k) {
      double demand = 0;
      for (const ViewInstance& i : a.keys[k].instances) demand += i.in_flight;
      a.keys[k].demand = demand;
      if (changed[k] || demand != 0 || partial.WakeMs(k) <= t) {
        b.keys[k].demand = demand;
        visit.push_back(k);
      }
      changed[k] = false;
    }
    const std::vector<Decision> da = full.Reconcile(a, t);
    const std::vector<Decision> db = partial.Reconcile(b, t, visit);
    ASSERT_EQ(da.size(), db.size()) << "t=" << t;
    for (size_t i = 0; i < da.size(); ++i) {
      EXPECT_EQ(da[i].kind, db[i].kind) << "t=" << t;
      EXPECT_EQ(da[i].key, db[i].key) << "t=" << t;
      EXPECT_EQ(da[i].node, db[i].node) << "t=" << t;
      EXPECT_EQ(da[i].instance, db[i].instance) << "t=" << t;
      EXPECT_EQ(da[i].reason, db[i].reason) << "t=" << t;
      changed[da[i].key] = true;
      drains += da[i].kind == Decision::kDrain;
    }
    Apply(a, da, t, &ids_a);
    Apply(b, db, t, &ids_b);
    visits += visit.size();
    passes += 1;
    decisions += da.size();
  }
  // The history exercised what it should, and the partial passes skipped most keys.
  EXPECT_GT(decisions, 100u);
  EXPECT_GT(drains, 20u);
  EXPECT_GT(full.counters().unplaceable, 0u);
  EXPECT_LT(visits, passes * n / 2);
}

TEST(Reconciler, StableWindowScalesToSustainedDemand) {
  ReconcilerConfig cfg;
  cfg.proactive = false;
  cfg.default_template.concurrency = 1;
  cfg.default_template.target_utilisation = 0.5;  // 2 instances per concurrent request
  Reconciler r(cfg);
  ClusterView v = TwoRegions(100);
  int creates = 0;
  for (int64_t t = 0; t <= 60'000; t += 1'000) {
    v.keys[0].demand = 1.5;
    auto ds = r.Reconcile(v, t);
    creates += Count(ds, Decision::kCreate);
    Apply(v, ds, t);
    for (auto& i : v.keys[0].instances) i.state = ViewState::kReady;
  }
  EXPECT_EQ(creates, 3);  // ceil(1.5 / 0.5)
}

TEST(Reconciler, ScaleDownWaitsForDnsTtlAndInFlight) {
  ReconcilerConfig cfg;
  cfg.proactive = false;
  cfg.reactive = false;
  cfg.default_template.keepalive_ms = 60'000;
  Reconciler r(cfg);
  ClusterView v = TwoRegions();
  // Answered in DNS at t=10 s with a 30 s TTL; idle since.
  v.keys[0].instances.push_back({"a", 0, ViewState::kReady, 0, 10'000, true, 40'000, 0, false});
  EXPECT_TRUE(r.Reconcile(v, 69'999).empty());  // inside keep-alive
  auto ds = r.Reconcile(v, 70'000);
  ASSERT_EQ(Count(ds, Decision::kDrain), 1);
  EXPECT_EQ(Count(ds, Decision::kDestroy), 0);
  // Answered again just before the drain took effect (a DNS thread raced it).
  v.keys[0].instances[0].state = ViewState::kDraining;
  v.keys[0].instances[0].answered_until_ms = 100'000;
  EXPECT_TRUE(r.Reconcile(v, 99'999).empty());
  // TTL over, but a request is still in flight: wait.
  v.keys[0].instances[0].in_flight = 1;
  EXPECT_TRUE(r.Reconcile(v, 100'000).empty());
  v.keys[0].instances[0].in_flight = 0;
  ds = r.Reconcile(v, 100'001);
  ASSERT_EQ(Count(ds, Decision::kDestroy), 1);
  Apply(v, ds, 100'001);
  EXPECT_TRUE(r.Reconcile(v, 200'000).empty());  // ordered once
}

TEST(Reconciler, SpillsToNearestRegionWhenFull) {
  ReconcilerConfig cfg;
  cfg.reactive = false;
  Reconciler r(cfg);
  ClusterView v = TwoRegions(1);  // fra has 2 slots in all
  v.keys[0].windows.push_back({0, 100'000, 4, {}});
  auto ds = r.Reconcile(v, 0);
  ASSERT_EQ(Count(ds, Decision::kCreate), 4);
  EXPECT_EQ(ds[0].reason, ScaleReason::kPrefetch);
  EXPECT_EQ(ds[1].reason, ScaleReason::kPrefetch);
  EXPECT_EQ(v.nodes[ds[2].node].id, "par-1");  // Paris before Sydney
  EXPECT_EQ(ds[2].reason, ScaleReason::kCapacity);
  EXPECT_EQ(v.nodes[ds[3].node].id, "syd-1");
  Apply(v, ds, 0);
  // Everything full: a bigger target is counted as unplaceable, not crashed on.
  v.keys[0].windows[0].target = 6;
  EXPECT_TRUE(r.Reconcile(v, 1'000).empty());
  EXPECT_GE(r.counters().unplaceable, 1u);
}

TEST(Reconciler, UnsupportedAndUnschedulableNodesAreSkipped) {
  ReconcilerConfig cfg;
  cfg.reactive = false;
  Reconciler r(cfg);
  ClusterView v = TwoRegions();
  v.nodes[0].templates = {"video"};
  v.nodes[1].schedulable = false;
  v.keys[0].windows.push_back({0, 100'000, 1, {}});
  auto ds = r.Reconcile(v, 0);
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(v.nodes[ds[0].node].id, "par-1");
}

TEST(Reconciler, HistoryFollowsKeysThatMove) {
  ReconcilerConfig cfg;
  cfg.proactive = false;
  Reconciler r(cfg);
  ClusterView v = TwoRegions(100);
  v.keys[0].demand = 5;
  for (int64_t t = 0; t < 10'000; t += 1'000) r.Reconcile(v, t);
  uint32_t before = r.WantFor(v, 0, 10'000).reactive;
  // A new key is inserted in front: the old key's history must follow it.
  v.keys.insert(v.keys.begin(), ViewKey{1, "api", {}, 0, {}, -1, {}});
  EXPECT_EQ(r.WantFor(v, 1, 10'000).reactive, before);
  EXPECT_EQ(r.WantFor(v, 0, 10'000).reactive, 0u);
}

}  // namespace
}  // namespace prewarm::orchestrator
