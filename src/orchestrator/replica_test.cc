// The replica's autoscaling over time, on a manual clock and the memory store: cold path,
// keep-alive drains and destroys, prefetch windows, spill, learned keep-alives. What the
// store itself must guarantee (claims, leases, leadership, failover) is tested against
// both stores in cluster_test.cc.
#include "orchestrator/replica.h"

#include <gtest/gtest.h>

#include "orchestrator/autoscaler.h"
#include "orchestrator/keys.h"
#include "orchestrator/test_util.h"
#include "store/memory_kv.h"

namespace prewarm::orchestrator {
namespace {

using testing::TestReplica;

const ClientPlace kFrankfurt{"frankfurt", {50.11, 8.68}};
const ClientPlace kSingapore{"singapore", {1.35, 103.82}};

class ReplicaTest : public ::testing::Test {
 protected:
  explicit ReplicaTest(
      OrchestratorConfig config = testing::WithLongLeases(testing::ThreeRegionConfig()))
      : config_(std::move(config)), kv_(clock_), replica_(config_, clock_, kv_) {
    EXPECT_TRUE(replica_.Start().ok());
  }

  std::shared_ptr<testing::RecordingLink> Fra(std::vector<std::string> standby = {"127.77.1.1"}) {
    return replica_.Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", std::move(standby));
  }
  std::shared_ptr<testing::RecordingLink> Iad(std::vector<std::string> standby = {"127.77.2.1"}) {
    return replica_.Connect("iad-1", "virginia", 38.95, -77.45, "127.77.2.0/24",
                            std::move(standby));
  }
  // Advances the clock, keeps every node reporting, runs a pass.
  uint32_t Step(int64_t ms, std::initializer_list<const char*> nodes = {"fra-1"}) {
    clock_.Advance(ms);
    for (const char* n : nodes) (void)replica_.Send(n);
    return replica_.Pass();
  }
  ControlCounters counters() { return replica_.r().control().counters(); }
  uint64_t Creates(ScaleReason r) {
    return replica_.r().autoscaler().counters().creates[static_cast<int>(r)];
  }

  ManualClock clock_;
  OrchestratorConfig config_;
  store::MemoryKv kv_;
  TestReplica replica_;
};

TEST_F(ReplicaTest, ColdPathReservesAStandbyAddressAndOrdersTheInstance) {
  auto sin = replica_.Connect("sin-1", "singapore", 1.35, 103.82, "127.77.3.0/24", {"127.77.3.1"});
  auto addr = replica_.r().cold().Reserve("static", kSingapore);
  ASSERT_TRUE(addr.has_value());
  EXPECT_EQ(addr->address.ToString(), "127.77.3.1");
  auto cmds = sin->Take();
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].create().address(), "127.77.3.1");
  EXPECT_EQ(cmds[0].create().template_name(), "static");
  // A second cold query finds the reservation in the snapshot: no second instance.
  auto again = replica_.r().cold().Reserve("static", kSingapore);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->address.ToString(), "127.77.3.1");
  EXPECT_TRUE(sin->Take().empty());
  EXPECT_EQ(replica_.Answerable(), 1);
}

TEST_F(ReplicaTest, AnAgentsContentCountsGoToTheEventFeedWithItsRegionNotToItsRecord) {
  EventFeed feed(config_, clock_);
  replica_.r().sessions().SetContentFeed(&feed);
  auto sub = feed.Subscribe(0);
  auto fra = Fra();
  auto add = [&](const std::string& tmpl, const std::string& id, uint64_t n, uint64_t bytes) {
    v1::ContentServed* c = replica_.status("fra-1").add_content();
    c->set_template_name(tmpl);
    c->set_content_id(id);
    c->set_requests(n);
    c->set_size_bytes(bytes);
  };
  add("static", "video/seg1.ts", 3, 5120);
  add("static", "../../etc/passwd", 9, 1);  // refused: escapes
  add("no-such-template", "a.css", 2, 10);  // refused: not served here
  add("static", "zero.css", 0, 10);         // refused: no requests
  ASSERT_TRUE(replica_.Send("fra-1").ok());
  replica_.status("fra-1").clear_content();
  clock_.Advance(1000);
  feed.CutNow();
  auto batch = sub->Next(0);
  ASSERT_TRUE(batch.has_value());
  ASSERT_EQ(batch->contents_size(), 1);
  EXPECT_EQ(batch->contents(0).region(), "frankfurt");
  EXPECT_EQ(batch->contents(0).template_name(), "static");
  EXPECT_EQ(batch->contents(0).content_id(), "video/seg1.ts");
  EXPECT_EQ(batch->contents(0).requests(), 3u);
  EXPECT_EQ(batch->contents(0).size_bytes(), 5120u);
  EXPECT_EQ(feed.content_refused_total(), 3u);
  // Demand, not node state: the node's record never holds it.
  auto node = replica_.r().cache().Data()->nodes.at("fra-1");
  EXPECT_EQ(node->rec.status().content_size(), 0);
  // Counted once: the next cut has none.
  ASSERT_TRUE(replica_.Send("fra-1").ok());
  clock_.Advance(1000);
  feed.CutNow();
  EXPECT_FALSE(sub->Next(0).has_value());
}

TEST_F(ReplicaTest, InstancesFollowAgentReportsAndLeaveDnsWhenGone) {
  auto fra = Fra();
  ASSERT_TRUE(replica_.r().cold().Reserve("static", kFrankfurt));
  std::string id = fra->Take()[0].create().instance_id();
  replica_.Report("fra-1", id, v1::INSTANCE_STATE_READY, "127.77.1.1");
  EXPECT_EQ(replica_.Answerable("static", /*ready_only=*/true), 1);
  // The agent stops reporting it (process died and was reaped): it leaves DNS.
  replica_.Unreport("fra-1", id);
  EXPECT_EQ(replica_.Answerable(), 0);
  EXPECT_TRUE(replica_.r().ListInstances("", "").empty());
}

TEST_F(ReplicaTest, AFailedStartBacksOffThatNodeSoTheNextIsUsed) {
  auto fra = Fra();
  auto iad = Iad();
  ASSERT_TRUE(replica_.r().cold().Reserve("static", kFrankfurt));
  std::string id = fra->Take()[0].create().instance_id();
  replica_.Report("fra-1", id, v1::INSTANCE_STATE_FAILED, "127.77.1.1");
  auto addr = replica_.r().cold().Reserve("static", kFrankfurt);
  ASSERT_TRUE(addr);
  EXPECT_EQ(addr->address.ToString(), "127.77.2.1");
  EXPECT_EQ(iad->Take().size(), 1u);
  EXPECT_EQ(replica_.r().sessions().counters().start_failures, 1u);
}

TEST_F(ReplicaTest, ACrashAfterServingDoesNotBackTheNodeOff) {
  auto fra = Fra({"127.77.1.1", "127.77.1.2"});
  ASSERT_TRUE(replica_.r().cold().Reserve("static", kFrankfurt));
  std::string id = fra->Take()[0].create().instance_id();
  replica_.Report("fra-1", id, v1::INSTANCE_STATE_READY, "127.77.1.1");
  replica_.status("fra-1").mutable_instances(0)->set_failure(v1::FAILURE_KIND_CRASH);
  replica_.Report("fra-1", id, v1::INSTANCE_STATE_FAILED, "127.77.1.1");
  EXPECT_EQ(replica_.r().sessions().counters().crashes, 1u);
  EXPECT_EQ(replica_.r().sessions().counters().start_failures, 0u);
  replica_.Unreport("fra-1", id);
  replica_.SetStandby("fra-1", {"127.77.1.2"});
  auto addr = replica_.r().cold().Reserve("static", kFrankfurt);
  ASSERT_TRUE(addr) << "the node still takes new instances of the template";
  EXPECT_EQ(addr->address.ToString(), "127.77.1.2");
}

// Drained ten minutes after its last answer, which no cache holds any more: it goes once
// the drain has settled (every DNS server's answers before it are known), not a TTL later.
TEST_F(ReplicaTest, IdleInstancesDrainThenDestroyOnceTheDrainHasSettled) {
  auto fra = Fra();
  ASSERT_TRUE(replica_.r().cold().Reserve("static", kFrankfurt));
  std::string id = fra->Take()[0].create().instance_id();
  replica_.Report("fra-1", id, v1::INSTANCE_STATE_READY, "127.77.1.1");
  Step(0);  // the first pass of this replica's lead (a gap in the heat: see below)
  Step(config_.autoscaler.keepalive_ms + 1);
  EXPECT_EQ(replica_.Answerable(), 0) << "draining leaves DNS at once";
  EXPECT_TRUE(fra->Take().empty()) << "no destroy before the drain has settled";
  Step(AnswerHold{}.settle_ms - 1);
  EXPECT_TRUE(fra->Take().empty()) << "a DNS server may not have seen the drain yet";
  Step(1);
  auto cmds = fra->Take();
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].destroy().instance_id(), id);
  replica_.Unreport("fra-1", id);
  EXPECT_TRUE(replica_.r().ListInstances("", "").empty());
}

TEST_F(ReplicaTest, AColdPathInstanceIsUsedByItsAnswerAndKeepsItsKeepAlive) {
  // The client that caused the cold start connects only after it is ready: the DNS answer
  // alone counts as use, so it is not drained as an unused prefetch would be.
  auto fra = Fra();
  ASSERT_TRUE(replica_.r().cold().Reserve("static", kFrankfurt));
  std::string id = fra->Take()[0].create().instance_id();
  clock_.Advance(3'000);
  replica_.Report("fra-1", id, v1::INSTANCE_STATE_READY, "127.77.1.1");
  for (int i = 0; i < 10; ++i) Step(1'000);
  EXPECT_EQ(counters().drains, 0u);
  EXPECT_EQ(replica_.Answerable(), 1);
}

TEST_F(ReplicaTest, AnAdoptedInstanceKeepsAKeepAliveFromItsAdoption) {
  // After an orchestrator restart the agents report instances it never ordered; their
  // history is unknown, so they are not dropped as unused prefetches.
  Fra({"127.77.1.2"});
  replica_.Report("fra-1", "fra-1-static-77", v1::INSTANCE_STATE_READY, "127.77.1.1");
  ASSERT_EQ(replica_.r().sessions().counters().adopted, 1u);
  for (int i = 0; i < 10; ++i) Step(1'000);
  EXPECT_EQ(counters().drains, 0u);
  Step(config_.autoscaler.keepalive_ms);
  EXPECT_EQ(counters().drains, 1u);
}

v1::SubmitPrefetchRequest Window(const std::string& region, int64_t start, int64_t end,
                                 uint32_t target, std::vector<std::string> content = {}) {
  v1::SubmitPrefetchRequest req;
  auto* r = req.add_requests();
  r->set_region(region);
  r->set_template_name("static");
  r->set_window_start_unix_ms(start);
  r->set_window_end_unix_ms(end);
  r->set_target_concurrency(target);
  r->set_quantile(0.9);
  for (auto& c : content) r->add_content_ids(c);
  return req;
}

TEST_F(ReplicaTest, PrefetchWindowsAreMetInTheirRegionAndKeptUntilTheyEnd) {
  auto fra = Fra({"127.77.1.1", "127.77.1.2", "127.77.1.3"});
  auto iad = Iad();
  int64_t now = clock_.NowMs();
  ASSERT_TRUE(replica_.r()
                  .prefetch()
                  .Accept(Window("frankfurt", now, now + config_.autoscaler.keepalive_ms * 3, 2,
                                 {"index.html"}))
                  .ok());
  EXPECT_EQ(replica_.Pass(), 2u);
  auto cmds = fra->Take();
  ASSERT_EQ(cmds.size(), 2u);
  EXPECT_EQ(cmds[0].create().preload_content_ids(0), "index.html");
  EXPECT_NE(cmds[0].create().address(), cmds[1].create().address());
  EXPECT_TRUE(iad->Take().empty());
  // Idempotent: reserved instances count.
  EXPECT_EQ(replica_.Pass(), 0u);
  EXPECT_TRUE(fra->Take().empty());
  for (const auto& c : cmds) {
    replica_.Report("fra-1", c.create().instance_id(), v1::INSTANCE_STATE_READY,
                    c.create().address());
  }
  EXPECT_EQ(Creates(ScaleReason::kPrefetch), 2u);
  // Idle past keep-alive but inside the window: kept.
  Step(config_.autoscaler.keepalive_ms + 1, {"fra-1", "iad-1"});
  EXPECT_EQ(counters().drains, 0u);
  // The window over: both drained, and the window forgotten.
  Step(config_.autoscaler.keepalive_ms * 2, {"fra-1", "iad-1"});
  EXPECT_EQ(counters().drains, 2u);
  replica_.Pass();
  EXPECT_TRUE(replica_.r().cache().Data()->prefetch.empty());
}

std::vector<std::string> Ids(const google::protobuf::RepeatedPtrField<std::string>& ids) {
  return {ids.begin(), ids.end()};
}

// Trending content (issue 17): a ready instance is sent what a changed window lists that it
// was not given, once per change, with the whole list; a new stream sends it its list once.
TEST_F(ReplicaTest, AReadyInstanceIsSentOnlyTheNewContentOfAChangedWindowOncePerChange) {
  auto fra = Fra();
  const int64_t end = clock_.NowMs() + config_.autoscaler.keepalive_ms * 3;
  auto accept = [&](std::vector<std::string> content) {
    clock_.Advance(1000);  // received later: it supersedes the windows before it
    ASSERT_TRUE(replica_.r()
                    .prefetch()
                    .Accept(Window("frankfurt", clock_.NowMs(), end, 1, std::move(content)))
                    .ok());
  };
  accept({"a", "b"});
  EXPECT_EQ(replica_.Pass(), 1u);
  auto cmds = fra->Take();
  ASSERT_EQ(cmds.size(), 1u);
  const std::string id = cmds[0].create().instance_id();
  EXPECT_EQ(Ids(cmds[0].create().preload_content_ids()), (std::vector<std::string>{"a", "b"}));
  // Starting: a changed window waits until it is ready.
  replica_.Report("fra-1", id, v1::INSTANCE_STATE_STARTING, "127.77.1.1");
  accept({"b", "c", "d"});
  EXPECT_EQ(replica_.Pass(), 0u);
  EXPECT_TRUE(fra->Take().empty());
  EXPECT_EQ(counters().refreshes, 0u);
  replica_.Report("fra-1", id, v1::INSTANCE_STATE_READY, "127.77.1.1");
  EXPECT_EQ(replica_.Pass(), 0u);
  cmds = fra->Take();
  ASSERT_EQ(cmds.size(), 1u);
  ASSERT_TRUE(cmds[0].has_preload());
  EXPECT_EQ(cmds[0].preload().instance_id(), id);
  EXPECT_EQ(Ids(cmds[0].preload().content_ids()), (std::vector<std::string>{"c", "d"}));
  EXPECT_EQ(Ids(cmds[0].preload().current_content_ids()),
            (std::vector<std::string>{"b", "c", "d"}));
  EXPECT_EQ(Ids(replica_.r().cache().Data()->instances.at(id)->rec.preload_content_ids()),
            (std::vector<std::string>{"b", "c", "d"}));
  // Passes and reports with nothing changed send nothing more.
  Step(1000);
  Step(1000);
  EXPECT_TRUE(fra->Take().empty());
  EXPECT_EQ(counters().refreshes, 1u);
  // Fewer ids: nothing to fetch, nothing written or sent.
  accept({"b", "c"});
  Step(1000);
  EXPECT_TRUE(fra->Take().empty());
  EXPECT_EQ(counters().refreshes, 1u);
  // "a" left the list with the last change (the agent may have evicted it): sent again.
  accept({"a", "b", "c"});
  Step(1000);
  cmds = fra->Take();
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(Ids(cmds[0].preload().content_ids()), (std::vector<std::string>{"a"}));
  EXPECT_EQ(Ids(cmds[0].preload().current_content_ids()),
            (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(counters().refreshes, 2u);
  SessionCounters sc = replica_.r().sessions().counters();
  EXPECT_EQ(sc.preloads_sent["static"], 2u);
  EXPECT_EQ(sc.preload_ids_sent["static"], 3u);
  // The agent reconnects: the new stream sends it its whole list once (it may have missed
  // a change meanwhile), then nothing.
  replica_.Disconnect("fra-1");
  fra = Fra();
  cmds = fra->Take();
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(Ids(cmds[0].preload().content_ids()), (std::vector<std::string>{"a", "b", "c"}));
  Step(1000);
  EXPECT_TRUE(fra->Take().empty());
}

TEST_F(ReplicaTest, ADrainedInstanceGetsNoNewContent) {
  auto fra = Fra();
  const int64_t now = clock_.NowMs();
  ASSERT_TRUE(replica_.r().prefetch().Accept(Window("frankfurt", now, now + 5000, 1, {"a"})).ok());
  EXPECT_EQ(replica_.Pass(), 1u);
  const std::string id = fra->Take().at(0).create().instance_id();
  replica_.Report("fra-1", id, v1::INSTANCE_STATE_READY, "127.77.1.1");
  // The window ends, the instance idles past its keep-alive and is drained.
  Step(config_.autoscaler.keepalive_ms + 6000);
  EXPECT_EQ(counters().drains, 1u);
  fra->Take();
  clock_.Advance(1000);
  const int64_t later = clock_.NowMs();
  ASSERT_TRUE(
      replica_.r().prefetch().Accept(Window("frankfurt", later, later + 60000, 1, {"b"})).ok());
  Step(1000);
  for (const auto& c : fra->Take()) {
    EXPECT_FALSE(c.has_preload() && c.preload().instance_id() == id) << c.DebugString();
  }
  EXPECT_EQ(counters().refreshes, 0u);
}

// The live orchestrator runs each policy the simulator does, by the same preset.
OrchestratorConfig WithPolicy(const std::string& policy) {
  OrchestratorConfig cfg = testing::WithLongLeases(testing::ThreeRegionConfig());
  cfg.autoscaler = *PolicySettings(policy);
  return cfg;
}

class FixedKeepAliveReplicaTest : public ReplicaTest {
 protected:
  FixedKeepAliveReplicaTest() : ReplicaTest(WithPolicy("fixed-keepalive")) {}
};

TEST_F(FixedKeepAliveReplicaTest, IgnoresForecastWindowsAndScalesOnTheColdPathOnly) {
  auto fra = Fra({"127.77.1.1", "127.77.1.2", "127.77.1.3"});
  int64_t now = clock_.NowMs();
  ASSERT_TRUE(replica_.r().prefetch().Accept(Window("frankfurt", now, now + 600'000, 2, {})).ok());
  EXPECT_EQ(replica_.Pass(), 0u);
  EXPECT_TRUE(fra->Take().empty());
  EXPECT_EQ(Creates(ScaleReason::kPrefetch), 0u);
  ASSERT_TRUE(replica_.r().cold().Reserve("static", kFrankfurt).has_value());
  auto cmds = fra->Take();
  ASSERT_EQ(cmds.size(), 1u);
  replica_.Report("fra-1", cmds[0].create().instance_id(), v1::INSTANCE_STATE_READY,
                  cmds[0].create().address());
  // Kept for the providers' 10 minutes of idle, then drained.
  Step(9 * 60'000);
  EXPECT_EQ(counters().drains, 0u);
  Step(2 * 60'000);
  EXPECT_EQ(counters().drains, 1u);
}

class PredictiveReplicaTest : public ReplicaTest {
 protected:
  PredictiveReplicaTest() : ReplicaTest(WithPolicy("predictive")) {}
};

TEST_F(PredictiveReplicaTest, MeetsForecastWindows) {
  auto fra = Fra({"127.77.1.1", "127.77.1.2", "127.77.1.3"});
  int64_t now = clock_.NowMs();
  ASSERT_TRUE(replica_.r().prefetch().Accept(Window("frankfurt", now, now + 600'000, 2, {})).ok());
  EXPECT_EQ(replica_.Pass(), 2u);
  EXPECT_EQ(fra->Take().size(), 2u);
  EXPECT_EQ(Creates(ScaleReason::kPrefetch), 2u);
}

class HybridHistogramReplicaTest : public ReplicaTest {
 protected:
  HybridHistogramReplicaTest() : ReplicaTest(WithPolicy("hybrid-histogram")) {}
};

TEST_F(HybridHistogramReplicaTest, IgnoresWindowsAndKeepsANewKeyForTheHistogramsRange) {
  auto fra = Fra({"127.77.1.1", "127.77.1.2", "127.77.1.3"});
  int64_t now = clock_.NowMs();
  ASSERT_TRUE(replica_.r().prefetch().Accept(Window("frankfurt", now, now + 600'000, 2, {})).ok());
  EXPECT_EQ(replica_.Pass(), 0u);
  EXPECT_EQ(Creates(ScaleReason::kPrefetch), 0u);
  ASSERT_TRUE(replica_.r().cold().Reserve("static", kFrankfurt).has_value());
  auto cmds = fra->Take();
  ASSERT_EQ(cmds.size(), 1u);
  replica_.Report("fra-1", cmds[0].create().instance_id(), v1::INSTANCE_STATE_READY,
                  cmds[0].create().address());
  // No idle time known: the standard keep-alive, the histogram's range (4 h), where fixed
  // keep-alive drains after 10 minutes.
  for (int h = 0; h < 3; ++h) Step(3'600'000);
  Step(50 * 60'000);
  EXPECT_EQ(counters().drains, 0u);
  Step(12 * 60'000);
  EXPECT_EQ(counters().drains, 1u);
}

// The video template only arrives with a SIGHUP reload (config_reload.h): until the live
// config names it, its instances get the default keep-alive; then its own.
OrchestratorConfig WithoutVideo() {
  OrchestratorConfig c = testing::WithLongLeases(testing::ThreeRegionConfig());
  c.services.erase("video");
  c.templates.erase("video");
  return c;
}

class ReloadedTemplateTest : public ReplicaTest {
 protected:
  ReloadedTemplateTest() : ReplicaTest(WithoutVideo()) {
    live_ = std::make_shared<OrchestratorConfig>(config_);
    replica_.r().SetLiveConfig([this] { return std::shared_ptr<const OrchestratorConfig>(live_); });
  }
  // A ready video instance on fra-1, from the cold path.
  std::string ReadyVideo(const std::shared_ptr<testing::RecordingLink>& fra,
                         const std::string& address) {
    EXPECT_TRUE(replica_.r().cold().Reserve("video", kFrankfurt));
    std::vector<v1::OrchestratorCommand> cmds = fra->Take();
    EXPECT_EQ(cmds.size(), 1u);
    if (cmds.empty()) return "";
    const std::string id = cmds[0].create().instance_id();
    replica_.Report("fra-1", id, v1::INSTANCE_STATE_READY, address);
    return id;
  }
  std::shared_ptr<OrchestratorConfig> live_;
};

TEST_F(ReloadedTemplateTest, ATemplateAReloadAddsKeepsItsOwnKeepAlive) {
  auto fra = Fra({"127.77.1.1", "127.77.1.2"});
  const int64_t keepalive = config_.autoscaler.keepalive_ms;
  ReadyVideo(fra, "127.77.1.1");
  Step(keepalive + 1);
  EXPECT_EQ(counters().drains, 1u) << "not named by the live config: the default keep-alive";

  auto next = std::make_shared<OrchestratorConfig>(config_);
  next->services["video"] = "video";
  next->templates["video"].keepalive_ms = 4 * keepalive;
  live_ = next;
  ReadyVideo(fra, "127.77.1.2");
  Step(keepalive + 1);
  EXPECT_EQ(counters().drains, 1u) << "the reloaded template's own keep-alive holds it";
  Step(3 * keepalive);
  EXPECT_EQ(counters().drains, 2u);
}

TEST_F(ReplicaTest, FullRegionSpillsToTheNearestOther) {
  auto fra = Fra();
  auto iad = Iad();
  auto sin = replica_.Connect("sin-1", "singapore", 1.35, 103.82, "127.77.3.0/24", {"127.77.3.1"});
  int64_t now = clock_.NowMs();
  ASSERT_TRUE(replica_.r().prefetch().Accept(Window("frankfurt", now, now + 60'000, 2)).ok());
  replica_.Pass();
  EXPECT_EQ(fra->Take().size(), 1u);
  EXPECT_EQ(iad->Take().size(), 1u) << "Virginia is nearer to Frankfurt than Singapore";
  EXPECT_TRUE(sin->Take().empty());
  EXPECT_EQ(Creates(ScaleReason::kCapacity), 1u);
  // The spilled instance still counts for Frankfurt's demand: nothing more is ordered.
  replica_.Pass();
  EXPECT_TRUE(fra->Take().empty());
  EXPECT_TRUE(iad->Take().empty());
  EXPECT_TRUE(sin->Take().empty());
}

// Frankfurt's node serves a ready instance for a 10-minute prefetch window and leaves (the
// replica held first when `hold`); a second later Virginia's node has had a pass. Returns
// Virginia's link.
std::shared_ptr<testing::RecordingLink> FrankfurtLeavesDuringItsWindow(TestReplica& replica,
                                                                       ManualClock& clock,
                                                                       bool hold) {
  auto fra = replica.Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", {"127.77.1.1"});
  auto iad = replica.Connect("iad-1", "virginia", 38.95, -77.45, "127.77.2.0/24", {"127.77.2.1"});
  int64_t now = clock.NowMs();
  EXPECT_TRUE(replica.r().prefetch().Accept(Window("frankfurt", now, now + 600'000, 1)).ok());
  replica.Pass();
  auto cmds = fra->Take();
  EXPECT_EQ(cmds.size(), 1u);
  if (!cmds.empty()) {
    replica.Report("fra-1", cmds[0].create().instance_id(), v1::INSTANCE_STATE_READY, "127.77.1.1");
  }
  if (hold) replica.r().control().Hold();
  replica.Disconnect("fra-1");
  clock.Advance(1000);
  EXPECT_TRUE(replica.Send("iad-1").ok());
  replica.Pass();
  return iad;
}

// `prewarm up` stops its agents one by one: a held replica does not start the stopped
// agent's instances again on the next agent to stop (a replay's shutdown showed 31 such
// creates), but it still hears the reports and republishes the answers.
TEST_F(ReplicaTest, AHeldReplicaOrdersNothingWhenANodeLeaves) {
  auto iad = FrankfurtLeavesDuringItsWindow(replica_, clock_, /*hold=*/true);
  EXPECT_TRUE(replica_.r().control().holding());
  EXPECT_TRUE(iad->Take().empty()) << "held: nothing ordered for Frankfurt's window";
  EXPECT_EQ(replica_.Answerable(), 0) << "the gone node's instance left the answers";
}

TEST_F(ReplicaTest, AReplicaNotHeldReplacesALeavingNodesInstancesElsewhere) {
  auto iad = FrankfurtLeavesDuringItsWindow(replica_, clock_, /*hold=*/false);
  EXPECT_EQ(iad->Take().size(), 1u) << "a node lost while running: its demand moves";
}

TEST_F(ReplicaTest, DestroyWaitsForTheLastDnsAnswer) {
  auto fra = Fra();
  ASSERT_TRUE(replica_.r().cold().Reserve("static", kFrankfurt));
  std::string id = fra->Take()[0].create().instance_id();
  replica_.Report("fra-1", id, v1::INSTANCE_STATE_READY, "127.77.1.1");
  auto heat = replica_.snaps().Load()->instances.at("static")[0].heat;
  Step(config_.autoscaler.keepalive_ms + 1);
  ASSERT_EQ(counters().drains, 1u);
  // A DNS thread still on the old snapshot answers with it 20 s after the drain.
  clock_.Advance(20'000);
  heat->last_answer_ms.store(clock_.NowMs());
  Step(int64_t{config_.stable_ttl_s} * 1000 - 10'000);  // 31 s after the drain
  EXPECT_TRUE(fra->Take().empty()) << "that answer is still live";
  Step(23'000);
  auto cmds = fra->Take();
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].destroy().instance_id(), id);
}

// A replica's heat record went (it stopped, or its lease lapsed): the answers it gave in
// its last second were never published, so nothing drained goes until those have expired.
TEST_F(ReplicaTest, DestroysWaitOutTheAnswersOfAReplicaWhoseHeatWent) {
  auto fra = Fra();
  ASSERT_TRUE(replica_.r().cold().Reserve("static", kFrankfurt));
  std::string id = fra->Take()[0].create().instance_id();
  replica_.Report("fra-1", id, v1::INSTANCE_STATE_READY, "127.77.1.1");
  const Keys keys;
  v1::HeatRecord other;  // another replica's heat, with nothing of this instance in it
  (*other.mutable_last_answer_unix_ms())["someone-else"] = clock_.NowMs();
  ASSERT_TRUE(kv_.Put(keys.Heat("dns-2"), other.SerializeAsString()).ok());
  Step(config_.autoscaler.keepalive_ms + 1);
  ASSERT_EQ(counters().drains, 1u);
  ASSERT_TRUE(kv_.Delete(keys.Heat("dns-2")).ok());
  Step(1000);  // the pass that finds dns-2's heat gone
  const int64_t gone = clock_.NowMs();
  Step(AnswerHold{}.settle_ms);
  EXPECT_TRUE(fra->Take().empty()) << "dns-2 may have answered with it in its last second";
  clock_.Set(gone + int64_t{config_.stable_ttl_s} * 1000 + AnswerHold{}.slack_ms - 1);
  Step(0);
  EXPECT_TRUE(fra->Take().empty());
  Step(1);
  auto cmds = fra->Take();
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].destroy().instance_id(), id);
}

// The hold over the live view alone: the last answer's TTL and slack, the drain's
// settling, and a gap in the heat (a new leadership term, a replica's heat gone).
TEST(LiveAutoscalerHold, AnswersThenTheDrainThenGapsInTheHeat) {
  ManualClock clock;
  const OrchestratorConfig config = testing::ThreeRegionConfig();
  InstanceTracker tracker(clock);
  HeatBoard heat;
  LiveAutoscaler a(config, clock, tracker, heat);
  const int64_t ttl = int64_t{std::max(config.stable_ttl_s, config.short_ttl_s)} * 1000;
  const int64_t slack = AnswerHold{}.slack_ms, settle = AnswerHold{}.settle_ms;
  ClusterData d;
  const int64_t t0 = clock.NowMs();
  (void)a.Decide(d, t0, 10);  // a first term: answers before this replica led are unknown
  v1::InstanceRecord rec;
  rec.set_instance_id("i-1");
  rec.set_drained_unix_ms(t0 + 1);
  EXPECT_EQ(a.AnsweredUntilMs(d, rec), t0 + ttl + slack);
  // Past the gap: answered 60 s before its drain, it goes when the drain has settled.
  const int64_t t1 = t0 + 100'000;
  (void)a.Decide(d, t1, 10);
  v1::HeatRecord h;
  (*h.mutable_last_answer_unix_ms())["i-1"] = t1 - 60'000;
  d.heat["dns-2"] = std::make_shared<const Stored<v1::HeatRecord>>(Stored<v1::HeatRecord>{h});
  rec.set_drained_unix_ms(t1);
  EXPECT_EQ(a.AnsweredUntilMs(d, rec), t1 + settle);
  // Answered 10 s before its drain: that answer's TTL.
  (*h.mutable_last_answer_unix_ms())["i-1"] = t1 - 10'000;
  d.heat["dns-2"] = std::make_shared<const Stored<v1::HeatRecord>>(Stored<v1::HeatRecord>{h});
  EXPECT_EQ(a.AnsweredUntilMs(d, rec), t1 - 10'000 + ttl + slack);
  (void)a.Decide(d, t1, 10);
  // dns-2's heat goes: its answers are lost, and the last ones expire a TTL from now.
  d.heat.clear();
  const int64_t t2 = t1 + 1'000;
  (void)a.Decide(d, t2, 10);
  EXPECT_EQ(a.AnsweredUntilMs(d, rec), t2 + ttl + slack);
  // A new term (another leader came between): the same.
  const int64_t t3 = t2 + 100'000;
  (void)a.Decide(d, t3, 10);
  EXPECT_LE(a.AnsweredUntilMs(d, rec), t3) << "the gap has passed";
  (void)a.Decide(d, t3, 20);
  EXPECT_EQ(a.AnsweredUntilMs(d, rec), t3 + ttl + slack);
}

TEST_F(ReplicaTest, ADrainedNodeTakesNothingNewUntilUndrained) {
  auto fra = Fra({"127.77.1.1", "127.77.1.2"});
  ASSERT_TRUE(replica_.r().cold().Reserve("static", kFrankfurt));
  std::string id = fra->Take()[0].create().instance_id();
  replica_.Report("fra-1", id, v1::INSTANCE_STATE_READY, "127.77.1.1");
  auto drained = replica_.r().Drain("fra-1");
  ASSERT_TRUE(drained.ok());
  EXPECT_EQ(*drained, 1u);
  replica_.Pass();
  EXPECT_EQ(replica_.Answerable(), 0);
  EXPECT_FALSE(replica_.r().cold().Reserve("static", kFrankfurt)) << "nothing may serve: origin";
  auto undrained = replica_.r().Undrain("fra-1");
  ASSERT_TRUE(undrained.ok());
  EXPECT_TRUE(*undrained);
  replica_.Pass();
  auto addr = replica_.r().cold().Reserve("static", kFrankfurt);
  ASSERT_TRUE(addr) << "undrained: it takes new instances again";
  EXPECT_EQ(addr->address.ToString(), "127.77.1.2");
  EXPECT_EQ(replica_.r().Undrain("nowhere").status().code(), absl::StatusCode::kNotFound);
}

TEST(ReplicaServiceTimeTest, AgentsOpenConnectionsAreIntegratedForTheServiceTime) {
  ManualClock clock;
  OrchestratorConfig config = testing::WithLongLeases(testing::ThreeRegionConfig());
  store::MemoryKv kv(clock);
  SnapshotHolder snaps;
  ServiceTimeMeter meter({.window_ms = 10'000, .min_answers = 20, .alpha = 1});
  meter.Roll(clock.NowMs());
  Replica replica(config, clock, kv, snaps, &meter, TestReplica::NoThreads());
  ASSERT_TRUE(replica.Start().ok());
  auto link = std::make_shared<testing::RecordingLink>();
  v1::NodeStatus st;
  st.set_node_id("fra-1");
  auto s = replica.sessions().Open(
      testing::MakeRegister("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24"), st,
      security::Peer{}, link);
  ASSERT_TRUE(s.ok());
  auto* i = st.add_instances();
  i->set_instance_id("fra-1-static-1");
  i->set_template_name("static");
  i->set_address("127.77.1.1");
  i->set_state(v1::INSTANCE_STATE_READY);
  i->set_active_connections(3);
  // Five reports a second apart, 3 connections open: 15 connection-seconds (the first
  // report after a long silence counts at most 5 s).
  ASSERT_TRUE(replica.sessions().Report(**s, st).ok());
  for (int n = 0; n < 5; ++n) {
    clock.Advance(1000);
    ASSERT_TRUE(replica.sessions().Report(**s, st).ok());
  }
  meter.AddAnswers("static", 30);
  clock.Advance(10'000);
  meter.Roll(clock.NowMs());
  ASSERT_TRUE(meter.Get("static"));
  EXPECT_DOUBLE_EQ(*meter.Get("static"), 15.0 / 30);
}

// One node, fra-1, with 8 standby addresses, whose agent starts instances at once:
// creates become READY instances, destroys remove them.
class InstantAgent {
 public:
  explicit InstantAgent(TestReplica& replica) : replica_(replica) {
    std::vector<std::string> standby;
    for (int i = 1; i <= 8; ++i) standby.push_back("127.77.1." + std::to_string(i));
    link_ = replica_.Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", standby, 8);
  }
  // Carries out the orchestrator's commands and reports back.
  void Step() {
    for (const auto& cmd : link_->Take()) {
      if (cmd.has_create()) {
        replica_.Report("fra-1", cmd.create().instance_id(), v1::INSTANCE_STATE_READY,
                        cmd.create().address(), cmd.create().template_name());
      } else if (cmd.has_destroy()) {
        replica_.Unreport("fra-1", cmd.destroy().instance_id());
      }
    }
    (void)replica_.Send("fra-1");
  }
  int instances() { return replica_.status("fra-1").instances_size(); }

 private:
  TestReplica& replica_;
  std::shared_ptr<testing::RecordingLink> link_;
};

// The learned keep-alive on, the reactive floor off, every cold start worth `cold_s`.
OrchestratorConfig LearnedConfig(double cold_s) {
  OrchestratorConfig cfg = testing::WithLongLeases(testing::ThreeRegionConfig());
  cfg.autoscaler.reactive = false;
  cfg.autoscaler.learned_keepalive = true;
  cfg.autoscaler.learned.cold_s = cold_s;
  cfg.autoscaler.learned.weight = "start";
  return cfg;
}

class LearnedKeepAliveTest : public ::testing::Test {
 protected:
  void Begin(OrchestratorConfig cfg) {
    config_ = std::make_unique<OrchestratorConfig>(std::move(cfg));
    kv_ = std::make_unique<store::MemoryKv>(clock_);
    replica_ = std::make_unique<TestReplica>(*config_, clock_, *kv_);
    ASSERT_TRUE(replica_->Start().ok());
    agent_ = std::make_unique<InstantAgent>(*replica_);
  }
  // A DNS answer (cold path when nothing is loaded); true when it found one loaded.
  bool Resolve() {
    bool warm = replica_->Answerable("static", true) > 0;
    if (!warm) {
      EXPECT_TRUE(replica_->r().cold().Reserve("static", kFrankfurt));
    }
    agent_->Step();
    replica_->snaps().Load()->instances.at("static")[0].heat->last_answer_ms.store(clock_.NowMs());
    return warm;
  }
  void Run(int ticks) {  // 10 s each
    for (int t = 0; t < ticks; ++t) {
      clock_.Advance(10'000);
      agent_->Step();
      replica_->Pass();
      agent_->Step();
    }
  }
  uint64_t PrefetchCreates() {
    return replica_->r().autoscaler().counters().creates[static_cast<int>(ScaleReason::kPrefetch)];
  }
  uint64_t Drains() { return replica_->r().control().counters().drains; }

  ManualClock clock_;
  std::unique_ptr<OrchestratorConfig> config_;
  std::unique_ptr<store::MemoryKv> kv_;
  std::unique_ptr<TestReplica> replica_;
  std::unique_ptr<InstantAgent> agent_;
};

TEST_F(LearnedKeepAliveTest, UnloadsATimerAndReloadsItBeforeItFires) {
  // A key that a client resolves every 30 minutes. The orchestrator learns the idle times
  // from its own DNS answers; once they dominate, it unloads the instance after each use
  // and creates one again before the next.
  Begin(LearnedConfig(3600));
  int warm = 0, fired = 0;
  for (int period = 0; period < 16; ++period) {
    bool was_warm = Resolve();
    if (period >= 10) {
      ++fired;
      warm += was_warm;
    }
    Run(180);  // 30 minutes
  }
  EXPECT_EQ(warm, fired) << "after learning, every firing finds a loaded instance";
  EXPECT_GE(PrefetchCreates(), 5u) << "reloaded by the learned window";
  EXPECT_GE(Drains(), 5u) << "unloaded between firings";
}

TEST_F(LearnedKeepAliveTest, KeepsThroughTheShortGapAndReloadsForTheLongOne) {
  // A client resolves the key twice, 30 s apart, every 10.5 minutes. Once 30 idle periods
  // are learned, the orchestrator keeps the instance after each use for about a minute
  // (the second resolution finds it), unloads it, and loads one again before the next pair.
  OrchestratorConfig cfg = LearnedConfig(3600);
  cfg.autoscaler.learned.timers = false;
  Begin(cfg);
  int warm = 0, resolved = 0;
  uint64_t drains_before = 0, prefetch_before = 0;
  for (int period = 0; period < 40; ++period) {
    if (period == 25) {
      drains_before = Drains();
      prefetch_before = PrefetchCreates();
    }
    bool first = Resolve();
    Run(3);
    bool second = Resolve();
    Run(60);
    if (period >= 25) {
      resolved += 2;
      warm += first + second;
    }
  }
  EXPECT_EQ(warm, resolved) << "after learning, both resolutions of a pair find a loaded instance";
  EXPECT_GE(Drains() - drains_before, 14u) << "unloaded after each pair's first stretch";
  EXPECT_GE(PrefetchCreates() - prefetch_before, 14u) << "reloaded before each pair";
}

TEST_F(LearnedKeepAliveTest, AKeySeenOnceIsLoadedAheadOfEachCronPeriodUntilItsLastHasPassed) {
  // One DNS answer at 00:00 for a key nothing else asks for: it may be a timer of any
  // common period, so the orchestrator loads an instance ahead of 01:00, 02:00, ... (the
  // TimerDetector's windows, +-2 min) and unloads each unused one when its window ends.
  clock_.Set(1'790'000'000'000 - 1'790'000'000'000 % 86'400'000);  // a midnight
  Begin(LearnedConfig(600));  // worth a 5-min window; the keep-alive is short
  const int64_t midnight = clock_.NowMs();
  ASSERT_TRUE(replica_->r().cold().Reserve("static", kFrankfurt));
  agent_->Step();
  replica_->snaps().Load()->instances.at("static")[0].heat->last_answer_ms.store(clock_.NowMs());
  // Minute by minute for 2.5 h, passes every 10 s: note the minutes with a live instance.
  std::vector<int> loaded;
  for (int minute = 1; minute <= 150; ++minute) {
    bool any = false;
    for (int t = 0; t < 6; ++t) {
      Run(1);
      any = any || agent_->instances() > 0;
    }
    if (any) loaded.push_back(minute);
  }
  ASSERT_EQ(clock_.NowMs() - midnight, 150 * 60'000);
  auto has = [&](int m) { return std::find(loaded.begin(), loaded.end(), m) != loaded.end(); };
  // Around each candidate firing (10, 15, 20, 30 min, 1 h, 2 h; 5 min is no longer than
  // the +-2 min tolerance, so no candidate) and not long after.
  for (int m : {10, 15, 20, 30, 60, 120})
    EXPECT_TRUE(has(m)) << "loaded for a firing at minute " << m;
  for (int m : {5, 40, 50, 70, 90, 110, 130, 150})
    EXPECT_FALSE(has(m)) << "nothing loaded at minute " << m;
  EXPECT_LT(loaded.size(), 45u) << "windows, not a keep-alive";
  EXPECT_GE(PrefetchCreates(), 4u);
  EXPECT_GE(Drains(), 4u) << "each unloaded when its window ended unused";
}

}  // namespace
}  // namespace prewarm::orchestrator
