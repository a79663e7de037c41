#include "orchestrator/state.h"

#include <gtest/gtest.h>

#include "orchestrator/test_util.h"

namespace prewarm::orchestrator {
namespace {

using testing::MakeRegister;
using testing::RecordingLink;

class ClusterStateTest : public ::testing::Test {
 protected:
  ClusterStateTest() : config_(testing::ThreeRegionConfig()), state_(config_, clock_, snaps_) {}

  std::shared_ptr<RecordingLink> Connect(const std::string& id, const std::string& region,
                                         double lat, double lon, const std::string& range,
                                         std::vector<std::string> standby) {
    auto link = std::make_shared<RecordingLink>();
    EXPECT_TRUE(state_.RegisterNode(MakeRegister(id, region, lat, lon, range), link).ok());
    v1::NodeStatus st;
    st.set_node_id(id);
    for (auto& a : standby) st.add_standby_addresses(a);
    EXPECT_TRUE(state_.ApplyStatus(st).ok());
    statuses_[id] = st;
    return link;
  }

  void Report(const std::string& node, const std::string& id, v1::InstanceState s,
              const std::string& addr) {
    v1::NodeStatus& st = statuses_[node];
    v1::InstanceStatus* found = nullptr;
    for (auto& i : *st.mutable_instances()) {
      if (i.instance_id() == id) found = &i;
    }
    if (found == nullptr) found = st.add_instances();
    found->set_instance_id(id);
    found->set_template_name("static");
    found->set_address(addr);
    found->set_state(s);
    found->set_probe_ok(true);
    ASSERT_TRUE(state_.ApplyStatus(st).ok());
  }

  // The learned keep-alive on, the reactive floor off, every cold start worth `cold_s`.
  static OrchestratorConfig LearnedConfig(double cold_s) {
    OrchestratorConfig cfg = testing::ThreeRegionConfig();
    cfg.autoscaler.reactive = false;
    cfg.autoscaler.learned_keepalive = true;
    cfg.autoscaler.learned.cold_s = cold_s;
    cfg.autoscaler.learned.weight = "start";
    return cfg;
  }

  // Ready "static" instances in the latest routing snapshot.
  static int Ready(SnapshotHolder& snaps) {
    auto snap = snaps.Load();
    if (!snap->instances.contains("static")) return 0;
    int n = 0;
    for (const auto& r : snap->instances.at("static")) n += r.ready;
    return n;
  }

  ManualClock clock_;
  OrchestratorConfig config_;
  SnapshotHolder snaps_;
  ClusterState state_;
  std::map<std::string, v1::NodeStatus> statuses_;
};

TEST_F(ClusterStateTest, RejectsInvalidRegistrations) {
  auto link = std::make_shared<RecordingLink>();
  auto bad = MakeRegister("", "frankfurt", 50, 8, "127.77.1.0/24");
  EXPECT_EQ(state_.RegisterNode(bad, link).code(), absl::StatusCode::kInvalidArgument);
  bad = MakeRegister("fra", "frankfurt", 95, 8, "127.77.1.0/24");
  EXPECT_FALSE(state_.RegisterNode(bad, link).ok());
  bad = MakeRegister("fra", "frankfurt", 50, 8, "not-a-cidr");
  EXPECT_FALSE(state_.RegisterNode(bad, link).ok());
  v1::NodeStatus st;
  st.set_node_id("ghost");
  EXPECT_EQ(state_.ApplyStatus(st).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ClusterStateTest, ColdPathReservesAStandbyAddressAndOrdersTheInstance) {
  auto sin = Connect("sin-1", "singapore", 1.35, 103.82, "127.77.3.0/24", {"127.77.3.1"});
  auto addr = state_.ReserveCold("static", {"singapore", {1.35, 103.82}});
  ASSERT_TRUE(addr.has_value());
  EXPECT_EQ(addr->ToString(), "127.77.3.1");
  auto cmds = sin->Take();
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].create().address(), "127.77.3.1");
  EXPECT_EQ(cmds[0].create().template_name(), "static");
  // A second cold query finds the reservation in the snapshot: no second instance.
  auto again = state_.ReserveCold("static", {"singapore", {1.35, 103.82}});
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->ToString(), "127.77.3.1");
  EXPECT_TRUE(sin->Take().empty());
  EXPECT_EQ(snaps_.Load()->instances.at("static").size(), 1u);
}

TEST_F(ClusterStateTest, InstancesFollowAgentReportsAndLeaveDnsWhenGone) {
  auto fra = Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", {"127.77.1.1"});
  auto addr = state_.ReserveCold("static", {"frankfurt", {50.11, 8.68}});
  ASSERT_TRUE(addr);
  std::string id = fra->Take()[0].create().instance_id();
  Report("fra-1", id, v1::INSTANCE_STATE_READY, "127.77.1.1");
  auto snap = snaps_.Load();
  ASSERT_EQ(snap->instances.at("static").size(), 1u);
  EXPECT_TRUE(snap->instances.at("static")[0].ready);
  // The agent stops reporting it (process died and was reaped): it leaves DNS.
  statuses_["fra-1"].clear_instances();
  ASSERT_TRUE(state_.ApplyStatus(statuses_["fra-1"]).ok());
  EXPECT_FALSE(snaps_.Load()->instances.contains("static"));
}

TEST_F(ClusterStateTest, AFailedStartBacksOffThatNodeSoTheNextIsUsed) {
  auto fra = Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", {"127.77.1.1"});
  auto iad = Connect("iad-1", "virginia", 38.95, -77.45, "127.77.2.0/24", {"127.77.2.1"});
  ASSERT_TRUE(state_.ReserveCold("static", {"frankfurt", {50.11, 8.68}}));
  std::string id = fra->Take()[0].create().instance_id();
  Report("fra-1", id, v1::INSTANCE_STATE_FAILED, "127.77.1.1");
  auto addr = state_.ReserveCold("static", {"frankfurt", {50.11, 8.68}});
  ASSERT_TRUE(addr);
  EXPECT_EQ(addr->ToString(), "127.77.2.1");
  EXPECT_EQ(iad->Take().size(), 1u);
  EXPECT_EQ(state_.counters().start_failures, 1u);
}

TEST_F(ClusterStateTest, SilentNodesExpireAndIdleInstancesDrainThenDestroyAfterTheTtl) {
  auto fra = Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", {"127.77.1.1"});
  ASSERT_TRUE(state_.ReserveCold("static", {"frankfurt", {50.11, 8.68}}));
  std::string id = fra->Take()[0].create().instance_id();
  Report("fra-1", id, v1::INSTANCE_STATE_READY, "127.77.1.1");
  clock_.Advance(config_.keepalive_ms + 1);
  ASSERT_TRUE(state_.ApplyStatus(statuses_["fra-1"]).ok());  // keep the node alive
  state_.Tick();
  EXPECT_FALSE(snaps_.Load()->instances.contains("static")) << "draining leaves DNS at once";
  EXPECT_TRUE(fra->Take().empty()) << "no destroy while an answer may still point at it";
  clock_.Advance(int64_t{config_.stable_ttl_s} * 1000 + 1001);
  ASSERT_TRUE(state_.ApplyStatus(statuses_["fra-1"]).ok());
  state_.Tick();
  auto cmds = fra->Take();
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].destroy().instance_id(), id);
  clock_.Advance(config_.node_timeout_ms + 1);
  state_.Tick();
  EXPECT_EQ(state_.ConnectedNodes(), 0);
  EXPECT_TRUE(state_.ListInstances("", "").empty());
}

TEST_F(ClusterStateTest, AColdPathInstanceIsUsedByItsAnswerAndKeepsItsKeepAlive) {
  // The client that caused the cold start connects only after it is ready: the DNS answer
  // alone counts as use, so it is not drained as an unused prefetch would be.
  auto fra = Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", {"127.77.1.1"});
  ASSERT_TRUE(state_.ReserveCold("static", {"frankfurt", {50.11, 8.68}}));
  std::string id = fra->Take()[0].create().instance_id();
  clock_.Advance(3'000);
  Report("fra-1", id, v1::INSTANCE_STATE_READY, "127.77.1.1");
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(1'000);
    ASSERT_TRUE(state_.ApplyStatus(statuses_["fra-1"]).ok());
    state_.Tick();
  }
  EXPECT_EQ(state_.counters().drains, 0u);
  EXPECT_TRUE(snaps_.Load()->instances.contains("static"));
}

TEST_F(ClusterStateTest, AnAdoptedInstanceKeepsAKeepAliveFromItsAdoption) {
  // After an orchestrator restart the agents report instances it never ordered; their
  // history is unknown, so they are not dropped as unused prefetches.
  Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", {"127.77.1.2"});
  Report("fra-1", "fra-1-static-77", v1::INSTANCE_STATE_READY, "127.77.1.1");
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(1'000);
    ASSERT_TRUE(state_.ApplyStatus(statuses_["fra-1"]).ok());
    state_.Tick();
  }
  EXPECT_EQ(state_.counters().drains, 0u);
  clock_.Advance(config_.keepalive_ms);
  ASSERT_TRUE(state_.ApplyStatus(statuses_["fra-1"]).ok());
  state_.Tick();
  EXPECT_EQ(state_.counters().drains, 1u);
}

v1::PrefetchEntry Window(const std::string& region, const std::string& tmpl, int64_t start,
                         int64_t end, uint32_t target, std::vector<std::string> content = {}) {
  v1::PrefetchEntry e;
  auto* r = e.mutable_request();
  r->set_region(region);
  r->set_template_name(tmpl);
  r->set_window_start_unix_ms(start);
  r->set_window_end_unix_ms(end);
  r->set_target_concurrency(target);
  for (auto& c : content) r->add_content_ids(c);
  return e;
}

TEST_F(ClusterStateTest, PrefetchWindowsAreMetInTheirRegionAndKeptUntilTheyEnd) {
  auto fra = Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24",
                     {"127.77.1.1", "127.77.1.2", "127.77.1.3"});
  auto iad = Connect("iad-1", "virginia", 38.95, -77.45, "127.77.2.0/24", {"127.77.2.1"});
  int64_t now = clock_.NowMs();
  std::vector<v1::PrefetchEntry> windows = {
      Window("frankfurt", "static", now, now + config_.keepalive_ms * 3, 2, {"index.html"})};
  state_.Tick(windows);
  auto cmds = fra->Take();
  ASSERT_EQ(cmds.size(), 2u);
  EXPECT_EQ(cmds[0].create().preload_content_ids(0), "index.html");
  EXPECT_NE(cmds[0].create().address(), cmds[1].create().address());
  EXPECT_TRUE(iad->Take().empty());
  // Idempotent: reserved instances count.
  state_.Tick(windows);
  EXPECT_TRUE(fra->Take().empty());
  for (const auto& c : cmds) Report("fra-1", c.create().instance_id(), v1::INSTANCE_STATE_READY, c.create().address());
  EXPECT_EQ(state_.reconciler_counters().creates[static_cast<int>(ScaleReason::kPrefetch)], 2u);
  // Idle past keep-alive but inside the window: kept.
  clock_.Advance(config_.keepalive_ms + 1);
  ASSERT_TRUE(state_.ApplyStatus(statuses_["fra-1"]).ok());
  ASSERT_TRUE(state_.ApplyStatus(statuses_["iad-1"]).ok());
  state_.Tick(windows);
  EXPECT_EQ(state_.counters().drains, 0u);
  // The window over: both drained.
  clock_.Advance(config_.keepalive_ms * 2);
  ASSERT_TRUE(state_.ApplyStatus(statuses_["fra-1"]).ok());
  ASSERT_TRUE(state_.ApplyStatus(statuses_["iad-1"]).ok());
  state_.Tick(windows);
  EXPECT_EQ(state_.counters().drains, 2u);
}

TEST_F(ClusterStateTest, FullRegionSpillsToTheNearestOther) {
  auto fra = Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", {"127.77.1.1"});
  auto iad = Connect("iad-1", "virginia", 38.95, -77.45, "127.77.2.0/24", {"127.77.2.1"});
  auto sin = Connect("sin-1", "singapore", 1.35, 103.82, "127.77.3.0/24", {"127.77.3.1"});
  int64_t now = clock_.NowMs();
  std::vector<v1::PrefetchEntry> windows = {Window("frankfurt", "static", now, now + 60'000, 2)};
  state_.Tick(windows);
  EXPECT_EQ(fra->Take().size(), 1u);
  EXPECT_EQ(iad->Take().size(), 1u) << "Virginia is nearer to Frankfurt than Singapore";
  EXPECT_TRUE(sin->Take().empty());
  EXPECT_EQ(state_.reconciler_counters().creates[static_cast<int>(ScaleReason::kCapacity)], 1u);
  // The spilled instance still counts for Frankfurt's demand: nothing more is ordered.
  state_.Tick(windows);
  EXPECT_TRUE(fra->Take().empty());
  EXPECT_TRUE(iad->Take().empty());
  EXPECT_TRUE(sin->Take().empty());
}

TEST_F(ClusterStateTest, DestroyWaitsForTheLastDnsAnswer) {
  auto fra = Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", {"127.77.1.1"});
  ASSERT_TRUE(state_.ReserveCold("static", {"frankfurt", {50.11, 8.68}}));
  std::string id = fra->Take()[0].create().instance_id();
  Report("fra-1", id, v1::INSTANCE_STATE_READY, "127.77.1.1");
  auto heat = snaps_.Load()->instances.at("static")[0].heat;
  clock_.Advance(config_.keepalive_ms + 1);
  ASSERT_TRUE(state_.ApplyStatus(statuses_["fra-1"]).ok());
  state_.Tick();
  ASSERT_EQ(state_.counters().drains, 1u);
  // A DNS thread still on the old snapshot answers with it 20 s after the drain.
  clock_.Advance(20'000);
  heat->last_answer_ms.store(clock_.NowMs());
  clock_.Advance(int64_t{config_.stable_ttl_s} * 1000 - 10'000);  // 31 s after the drain
  ASSERT_TRUE(state_.ApplyStatus(statuses_["fra-1"]).ok());
  state_.Tick();
  EXPECT_TRUE(fra->Take().empty()) << "that answer is still live";
  clock_.Advance(21'000);
  ASSERT_TRUE(state_.ApplyStatus(statuses_["fra-1"]).ok());
  state_.Tick();
  auto cmds = fra->Take();
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].destroy().instance_id(), id);
}

TEST_F(ClusterStateTest, AgentsOpenConnectionsAreIntegratedForTheServiceTime) {
  ServiceTimeMeter meter({.window_ms = 10'000, .min_answers = 20, .alpha = 1});
  state_.SetServiceTimes(&meter);
  meter.Roll(clock_.NowMs());
  auto fra = Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", {"127.77.1.1"});
  ASSERT_TRUE(state_.ReserveCold("static", {"frankfurt", {50.11, 8.68}}));
  std::string id = fra->Take()[0].create().instance_id();
  Report("fra-1", id, v1::INSTANCE_STATE_READY, "127.77.1.1");
  statuses_["fra-1"].mutable_instances(0)->set_active_connections(3);
  // Five reports a second apart, 3 connections open: 15 connection-seconds (the first
  // report after a long silence counts at most 5 s).
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(1000);
    ASSERT_TRUE(state_.ApplyStatus(statuses_["fra-1"]).ok());
  }
  meter.AddAnswers("static", 30);
  clock_.Advance(10'000);
  meter.Roll(clock_.NowMs());
  ASSERT_TRUE(meter.Get("static"));
  EXPECT_DOUBLE_EQ(*meter.Get("static"), 15.0 / 30);
}

// One node, fra-1, with 8 standby addresses, whose agent starts instances at once:
// creates become READY instances, destroys remove them.
class InstantAgent {
 public:
  explicit InstantAgent(ClusterState& state) : state_(state), link_(std::make_shared<RecordingLink>()) {
    EXPECT_TRUE(state_.RegisterNode(MakeRegister("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24"), link_).ok());
    st_.set_node_id("fra-1");
    for (int i = 1; i <= 8; ++i) st_.add_standby_addresses("127.77.1." + std::to_string(i));
    EXPECT_TRUE(state_.ApplyStatus(st_).ok());
  }
  // Carries out the orchestrator's commands and reports back.
  void Step() {
    for (const auto& cmd : link_->Take()) {
      if (cmd.has_create()) {
        auto* i = st_.add_instances();
        i->set_instance_id(cmd.create().instance_id());
        i->set_template_name(cmd.create().template_name());
        i->set_address(cmd.create().address());
        i->set_state(v1::INSTANCE_STATE_READY);
        i->set_probe_ok(true);
      } else if (cmd.has_destroy()) {
        auto* list = st_.mutable_instances();
        for (int j = 0; j < list->size(); ++j) {
          if (list->Get(j).instance_id() == cmd.destroy().instance_id()) {
            list->DeleteSubrange(j, 1);
            break;
          }
        }
      }
    }
    EXPECT_TRUE(state_.ApplyStatus(st_).ok());
  }
  int instances() const { return st_.instances_size(); }

 private:
  ClusterState& state_;
  std::shared_ptr<RecordingLink> link_;
  v1::NodeStatus st_;
};

TEST_F(ClusterStateTest, LearnedKeepAliveUnloadsATimerAndReloadsItBeforeItFires) {
  // autoscaler.learned_keepalive on a key that a client resolves every 30 minutes. The
  // orchestrator learns the idle times from its own DNS answers; once they dominate, it
  // unloads the instance after each use and creates one again before the next.
  OrchestratorConfig cfg = LearnedConfig(3600);
  SnapshotHolder snaps;
  ClusterState state(cfg, clock_, snaps);
  InstantAgent agent(state);
  int warm = 0, fired = 0;
  for (int period = 0; period < 16; ++period) {
    // The timer fires: a DNS answer (cold path when nothing is loaded).
    bool was_warm = Ready(snaps) > 0;
    if (!was_warm) {
      ASSERT_TRUE(state.ReserveCold("static", {"frankfurt", {50.11, 8.68}}));
    }
    agent.Step();
    snaps.Load()->instances.at("static")[0].heat->last_answer_ms.store(clock_.NowMs());
    if (period >= 10) {
      ++fired;
      warm += was_warm;
    }
    // 30 minutes of ticks, one every 10 s.
    for (int t = 0; t < 180; ++t) {
      clock_.Advance(10'000);
      agent.Step();
      state.Tick();
      agent.Step();
    }
  }
  EXPECT_EQ(warm, fired) << "after learning, every firing finds a loaded instance";
  EXPECT_GE(state.reconciler_counters().creates[static_cast<int>(ScaleReason::kPrefetch)], 5u)
      << "reloaded by the learned window";
  EXPECT_GE(state.counters().drains, 5u) << "unloaded between firings";
}

TEST_F(ClusterStateTest, LearnedKeepAliveKeepsThroughTheShortGapAndReloadsForTheLongOne) {
  // A client resolves the key twice, 30 s apart, every 10.5 minutes. Once 30 idle periods
  // are learned, the orchestrator keeps the instance after each use for about a minute
  // (the second resolution finds it), unloads it, and loads one again before the next pair.
  OrchestratorConfig cfg = LearnedConfig(3600);
  cfg.autoscaler.learned.timers = false;
  SnapshotHolder snaps;
  ClusterState state(cfg, clock_, snaps);
  InstantAgent agent(state);
  auto resolve = [&] {  // a DNS answer (cold path when nothing is loaded); true: warm
    bool warm = Ready(snaps) > 0;
    if (!warm) {
      EXPECT_TRUE(state.ReserveCold("static", {"frankfurt", {50.11, 8.68}}));
    }
    agent.Step();
    snaps.Load()->instances.at("static")[0].heat->last_answer_ms.store(clock_.NowMs());
    return warm;
  };
  auto run = [&](int ticks) {  // 10 s each
    for (int t = 0; t < ticks; ++t) {
      clock_.Advance(10'000);
      agent.Step();
      state.Tick();
      agent.Step();
    }
  };
  int warm = 0, resolved = 0;
  uint64_t drains_before = 0, prefetch_before = 0;
  for (int period = 0; period < 40; ++period) {
    if (period == 25) {
      drains_before = state.counters().drains;
      prefetch_before =
          state.reconciler_counters().creates[static_cast<int>(ScaleReason::kPrefetch)];
    }
    bool first = resolve();
    run(3);
    bool second = resolve();
    run(60);
    if (period >= 25) {
      resolved += 2;
      warm += first + second;
    }
  }
  EXPECT_EQ(warm, resolved) << "after learning, both resolutions of a pair find a loaded instance";
  EXPECT_GE(state.counters().drains - drains_before, 14u)
      << "unloaded after each pair's first stretch";
  EXPECT_GE(state.reconciler_counters().creates[static_cast<int>(ScaleReason::kPrefetch)] -
                prefetch_before,
            14u)
      << "reloaded before each pair";
}

TEST_F(ClusterStateTest, AKeySeenOnceIsLoadedAheadOfEachCronPeriodUntilItsLastHasPassed) {
  // One DNS answer at 00:00 for a key nothing else asks for: it may be a timer of any
  // common period, so the orchestrator loads an instance ahead of 01:00, 02:00, ... (the
  // TimerDetector's windows, +-2 min) and unloads each unused one when its window ends.
  OrchestratorConfig cfg = LearnedConfig(600);  // worth a 5-min window; the keep-alive is short
  SnapshotHolder snaps;
  clock_.Set(1'790'000'000'000 - 1'790'000'000'000 % 86'400'000);  // a midnight
  ClusterState state(cfg, clock_, snaps);
  InstantAgent agent(state);
  const int64_t midnight = clock_.NowMs();
  ASSERT_TRUE(state.ReserveCold("static", {"frankfurt", {50.11, 8.68}}));
  agent.Step();
  snaps.Load()->instances.at("static")[0].heat->last_answer_ms.store(clock_.NowMs());
  // Minute by minute for 2.5 h, ticks every 10 s: note the minutes with a live instance.
  std::vector<int> loaded;
  for (int minute = 1; minute <= 150; ++minute) {
    bool any = false;
    for (int t = 0; t < 6; ++t) {
      clock_.Advance(10'000);
      agent.Step();
      state.Tick();
      agent.Step();
      any = any || agent.instances() > 0;
    }
    if (any) loaded.push_back(minute);
  }
  ASSERT_EQ(clock_.NowMs() - midnight, 150 * 60'000);
  auto has = [&](int m) { return std::find(loaded.begin(), loaded.end(), m) != loaded.end(); };
  // Around each candidate firing (10, 15, 20, 30 min, 1 h, 2 h; 5 min is no longer than
  // the +-2 min tolerance, so no candidate) and not long after.
  for (int m : {10, 15, 20, 30, 60, 120}) EXPECT_TRUE(has(m)) << "loaded for a firing at minute " << m;
  for (int m : {5, 40, 50, 70, 90, 110, 130, 150}) EXPECT_FALSE(has(m)) << "nothing loaded at minute " << m;
  EXPECT_LT(loaded.size(), 45u) << "windows, not a keep-alive";
  // 8..24 min is one instance (the 10, 15 and 20 min windows touch), then 30, 60, 120.
  EXPECT_GE(state.reconciler_counters().creates[static_cast<int>(ScaleReason::kPrefetch)], 4u);
  EXPECT_GE(state.counters().drains, 4u) << "each unloaded when its window ended unused";
}

}  // namespace
}  // namespace prewarm::orchestrator
