#include "autoscale/hybrid_histogram.h"

#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "autoscale/key_autoscaler.h"
#include "autoscale/reconciler.h"
#include "autoscale/settings.h"

namespace prewarm::orchestrator {
namespace {

constexpr int64_t kMin = 60'000;

TEST(IdleHistogram, PercentilesAndCoefficientOfVariation) {
  IdleHistogram h(240, kMin);
  EXPECT_EQ(h.Cv(), 0);
  for (int i = 0; i < 95; ++i) h.Add(static_cast<int64_t>(9.5 * kMin));
  for (int i = 0; i < 5; ++i) h.Add(static_cast<int64_t>(30.2 * kMin));
  h.Add(300 * kMin);  // beyond 4 h
  EXPECT_EQ(h.in_range(), 100u);
  EXPECT_EQ(h.oob(), 1u);
  EXPECT_EQ(h.PercentileBin(5), 9u);
  EXPECT_EQ(h.PercentileBin(95), 9u);  // the 95th smallest is still 9.5 min
  EXPECT_EQ(h.PercentileBin(99), 30u);
  // Counts 95 and 5 in 240 bins: mean 100/240, population sd from the sum of squares.
  double mean = 100.0 / 240, var = (95.0 * 95 + 25) / 240 - mean * mean;
  EXPECT_NEAR(h.Cv(), std::sqrt(var) / mean, 1e-9);
  // Uniform over the range: CV 0, not representative.
  IdleHistogram u(240, kMin);
  for (int b = 0; b < 240; ++b) u.Add(static_cast<int64_t>((b + 0.5) * kMin));
  EXPECT_NEAR(u.Cv(), 0, 1e-9);
}

TEST(HybridHistogramCore, WindowsByMode) {
  HybridHistogramOptions o;
  o.min_samples = 3;
  HybridHistogram h(o);
  // Nothing known: the standard keep-alive, the range.
  HybridWindows w = h.Windows();
  EXPECT_EQ(w.mode, HybridWindows::Mode::kStandard);
  EXPECT_EQ(w.prewarm_ms, 0);
  EXPECT_EQ(w.keepalive_ms, 4 * 60 * kMin);
  // Three idle times of 9.5 min (bin 9): head 9 min - 10 % = 8.1 min, rounded down to a
  // whole bin: 8 min; tail to 10 min + 10 % = 11 min, so 3 min of keep-alive after the
  // pre-warm.
  for (int i = 0; i < 3; ++i) h.AddIdle(static_cast<int64_t>(9.5 * kMin));
  w = h.Windows();
  EXPECT_EQ(w.mode, HybridWindows::Mode::kHistogram);
  EXPECT_EQ(w.prewarm_ms, 8 * kMin);
  EXPECT_EQ(w.keepalive_ms, 3 * kMin);
  // Four more beyond the range: 4 of 7 out of bounds, the forecast of the next one (the
  // last idle time, with `snaive`), +-15 %: 306 and 414 min, whole minutes already.
  o.oob_model = "snaive";
  for (int i = 0; i < 4; ++i) h.AddIdle(6 * 60 * kMin);
  w = h.Windows();
  EXPECT_EQ(w.mode, HybridWindows::Mode::kForecast);
  EXPECT_EQ(w.prewarm_ms, 306 * kMin);
  EXPECT_EQ(w.prewarm_ms + w.keepalive_ms, 414 * kMin);
  EXPECT_EQ(h.forecast_fits(), 1u);
  o.oob_model = "off";  // never forecast: the histogram of the in-range ones is too few
  w = h.Windows();
  EXPECT_EQ(w.mode, HybridWindows::Mode::kHistogram);
}

// The orchestrator's hybrid histogram: the preset's LearnedKeepAlive, fed through
// KeyAutoscaler as LiveAutoscaler feeds it, writes the published windows into the view.
TEST(HybridHistogramCore, KeyAutoscalerWritesThePublishedWindows) {
  auto s = PolicySettings("hybrid-histogram");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(ApplySetting(*s, "hybrid_min_samples", "3").ok());
  KeyAutoscaler ka(s->learned, 0);
  KeyInputs in;
  ViewKey key;
  // Invocations of 1 min every 10.5 min: idle times of 9.5 min. Before 3 are known, each
  // idle period keeps the instance for the standard 4 h: a window of one instance from the
  // start of the idle period (the key has no keep-alive of its own: windows say it all).
  int64_t t = 0;
  for (int i = 0; i < 3; ++i, t += static_cast<int64_t>(10.5 * kMin)) {
    ka.Arrival(t, i == 0, in);
    ka.Serving(t, 1, in);
    ka.Serving(t + kMin, 0, in);
    ka.Apply(key, t + kMin, in);
    EXPECT_EQ(key.keepalive_ms, 0) << i;
    ASSERT_EQ(key.windows.size(), 1u) << i;
    EXPECT_EQ(key.windows[0].target, 1u) << i;
    EXPECT_EQ(key.windows[0].start_ms, t + kMin) << i;
    EXPECT_EQ(key.windows[0].end_ms, t + kMin + 4 * 60 * kMin) << i;
  }
  // An overlapping arrival while one runs records no idle time.
  ka.Arrival(t, false, in);
  ka.Serving(t, 1, in);
  ka.Arrival(t + 1000, false, in);
  ka.Serving(t + 1000, 2, in);
  ka.Serving(t + kMin, 1, in);
  ka.Serving(t + kMin + 1000, 0, in);
  const int64_t idle = t + kMin + 1000;
  ka.Apply(key, idle, in);
  // Idle times 9.5, 9.5, 9.5 min: level 1 unloads at once and loads one instance again at
  // 8 min, to 11 min. Level 2 went idle at t + 1 min with no idle time yet: the standard
  // 4 h from then. While both are inside their windows, two instances; otherwise one.
  EXPECT_EQ(key.keepalive_ms, 0);
  EXPECT_TRUE(key.surplus_keepalive_ms.empty());
  ASSERT_EQ(key.windows.size(), 3u);
  const std::vector<std::tuple<int64_t, int64_t, uint32_t>> want = {
      {t + kMin, idle + 8 * kMin, 1},
      {idle + 8 * kMin, idle + 11 * kMin, 2},
      {idle + 11 * kMin, t + kMin + 4 * 60 * kMin, 1}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(key.windows[i].start_ms, std::get<0>(want[i])) << i;
    EXPECT_EQ(key.windows[i].end_ms, std::get<1>(want[i])) << i;
    EXPECT_EQ(key.windows[i].target, std::get<2>(want[i])) << i;
  }
  EXPECT_TRUE(ka.Pending(idle + kMin));
  // The next arrival ends level 1's idle period: its reload window goes, level 2's stays
  // (one serving, one idle: two instances), and the serving one is kept whatever the
  // windows say (a window of 1 without end).
  ka.Arrival(idle + 9 * kMin, false, in);
  ka.Serving(idle + 9 * kMin, 1, in);
  ka.Apply(key, idle + 9 * kMin, in);
  ASSERT_EQ(key.windows.size(), 2u);
  EXPECT_EQ(key.windows[0].end_ms, INT64_MAX);
  EXPECT_EQ(key.windows[0].target, 1u);
  EXPECT_EQ(key.windows[1].start_ms, t + kMin);
  EXPECT_EQ(key.windows[1].end_ms, t + kMin + 4 * 60 * kMin);
  EXPECT_EQ(key.windows[1].target, 2u);
  // Two serving: no level is idle; both are kept.
  ka.Serving(idle + 9 * kMin + 1000, 2, in);
  ka.Apply(key, idle + 9 * kMin + 1000, in);
  ASSERT_EQ(key.windows.size(), 1u);
  EXPECT_EQ(key.windows[0].target, 2u);
  EXPECT_EQ(key.windows[0].end_ms, INT64_MAX);
}

// Live, a key is serving (a client was answered) before its instance sees a connection, and
// before its first idle period planned anything: the reconciler must not take that
// instance for an idle one past its keep-alive (the hybrid's key keep-alive is 0).
TEST(HybridHistogramCore, AServingKeyKeepsItsInstanceBeforeItsFirstIdlePeriod) {
  auto s = PolicySettings("hybrid-histogram");
  ASSERT_TRUE(s.ok());
  ReconcilerConfig rc = MakeReconcilerConfig(*s);
  Reconciler r(rc);
  ClusterView v;
  v.regions = {ViewRegion{"r", {}}};
  ViewNode node;
  node.id = "n";
  node.free_slots = 3;
  v.nodes = {node};
  ViewKey key;
  key.tmpl = "t";
  ViewInstance inst;
  inst.id = "i";
  inst.state = ViewState::kReady;
  inst.used = true;
  key.instances = {inst};
  v.keys = {key};
  KeyAutoscaler ka(s->learned, 0);
  KeyInputs in;
  ka.Arrival(1000, true, in);
  ka.Serving(1000, 1, in);  // answered; the connection is not in the view yet
  ka.Apply(v.keys[0], 1000, in);
  EXPECT_TRUE(r.Reconcile(v, 2000).empty()) << "the answered key's instance is kept";
  // Idle: the first idle period's standard window keeps it too.
  ka.Serving(3000, 0, in);
  ka.Apply(v.keys[0], 3000, in);
  EXPECT_TRUE(r.Reconcile(v, 60'000).empty());
  // Live, a connection can be seen a poll before the DNS answer that ends the idle period:
  // serving from then on, the instance is the first level's, not one more.
  ka.Serving(10'000, 1, in);
  ka.Apply(v.keys[0], 10'000, in);
  EXPECT_TRUE(r.Reconcile(v, 10'000).empty()) << "no second instance for a serving key";
  ka.Arrival(10'500, false, in);
  ka.Serving(10'500, 1, in);
  ka.Serving(11'000, 0, in);
  ka.Apply(v.keys[0], 11'000, in);
  // ... and no longer than the standard 4 h.
  auto d = r.Reconcile(v, 11'000 + 4 * 60 * kMin);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].kind, Decision::kDrain);
}

}  // namespace
}  // namespace prewarm::orchestrator
