// What replicas sharing one cluster store must guarantee, run against both stores: the
// memory store and a 3-member etcd cluster that the test starts (Debian's etcd). Real time
// throughout (etcd's leases are), with short leases; every wait is bounded.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <thread>

#include "orchestrator/test_util.h"
#include "store/etcd_cluster.h"
#include "store/etcd_kv.h"
#include "store/memory_kv.h"

namespace prewarm::orchestrator {
namespace {

using testing::TestReplica;

enum class Store { kMemory, kEtcd };

const ClientPlace kFrankfurt{"frankfurt", {50.11, 8.68}};

// Polls `pred` every 50 ms for up to `ms`.
template <typename Pred>
bool Eventually(int64_t ms, Pred pred) {
  for (int64_t waited = 0; waited < ms; waited += 50) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

class ClusterTest : public ::testing::TestWithParam<Store> {
 protected:
  void SetUp() override {
    if (GetParam() == Store::kMemory) {
      auto mem = std::make_unique<store::MemoryKv>(RealClock::Get());
      memory_ = mem.get();
      kv_ = std::move(mem);
      return;
    }
    if (access("/usr/bin/etcd", X_OK) != 0) GTEST_SKIP() << "etcd is not installed (etcd-server)";
    // Addresses of this test process's own (tests may run side by side).
    store::EtcdClusterOptions opts = store::ProcessLocalClusterOptions(3, 21);
    etcd_ = std::make_unique<store::EtcdCluster>(opts);
    absl::Status st = etcd_->Start();
    ASSERT_TRUE(st.ok()) << st;
    store::EtcdKvOptions ko;
    ko.endpoints = etcd_->ClientEndpoints();
    ko.request_timeout_ms = 1000;
    ko.dial_timeout_ms = 300;
    auto kv = store::EtcdKv::Create(ko);
    ASSERT_TRUE(kv.ok()) << kv.status();
    kv_ = std::move(*kv);
  }
  void TearDown() override {
    replicas_.clear();
    kv_.reset();
    if (etcd_) etcd_->Stop();
  }

  OrchestratorConfig Config(const std::string& id) {
    OrchestratorConfig c = testing::ThreeRegionConfig();
    c.cluster.replica_id = id;
    c.node_timeout_ms = 1000;
    c.cluster.leader_lease_ms = 1000;
    c.cluster.replica_lease_ms = 2000;
    c.cluster.request_timeout_ms = 1000;
    c.cluster.claim_timeout_ms = 1000;
    return c;
  }
  TestReplica& Add(const std::string& id, bool threads = false) {
    configs_.push_back(std::make_unique<OrchestratorConfig>(Config(id)));
    replicas_.push_back(
        std::make_unique<TestReplica>(*configs_.back(), RealClock::Get(), *kv_, threads));
    absl::Status st = replicas_.back()->Start();
    EXPECT_TRUE(st.ok()) << st;
    return *replicas_.back();
  }
  static std::vector<std::string> Standby(int n) {
    std::vector<std::string> out;
    for (int i = 1; i <= n; ++i) out.push_back("127.77.1." + std::to_string(i));
    return out;
  }
  // Every claim in the store: address -> instance.
  std::map<std::string, std::string> Claims(TestReplica& r) {
    r.Sync();
    std::map<std::string, std::string> out;
    const auto data = r.r().cache().Data();
    for (const auto& [na, id] : data->claims) out[na.second] = id;
    return out;
  }

  std::unique_ptr<store::EtcdCluster> etcd_;
  std::unique_ptr<store::KvStore> kv_;
  store::MemoryKv* memory_ = nullptr;
  std::vector<std::unique_ptr<OrchestratorConfig>> configs_;
  std::vector<std::unique_ptr<TestReplica>> replicas_;  // destroyed before the store
};

TEST_P(ClusterTest, TwoReplicasAnsweringColdQueriesAtOnceNeverHandOutOneAddressTwice) {
  TestReplica& a = Add("a");
  TestReplica& b = Add("b");
  auto link = a.Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", Standby(4), 64);
  b.Sync();
  std::set<std::string> instances;
  for (int round = 0; round < 10; ++round) {
    ASSERT_TRUE(a.Send("fra-1").ok());
    std::optional<ColdAnswer> got[2];
    std::barrier start(2);
    std::thread ta([&] {
      start.arrive_and_wait();
      got[0] = a.r().cold().Reserve("static", kFrankfurt);
    });
    std::thread tb([&] {
      start.arrive_and_wait();
      got[1] = b.r().cold().Reserve("static", kFrankfurt);
    });
    ta.join();
    tb.join();
    ASSERT_TRUE(got[0] && got[1]);
    // Each claim is one instance on its own address; the agent is told once per instance.
    auto claims = Claims(a);
    std::set<std::string> ids;
    for (const auto& [addr, id] : claims)
      EXPECT_TRUE(ids.insert(id).second) << id << " holds two addresses";
    auto data = a.r().cache().Data();
    for (const auto& [id, inst] : data->instances) {
      EXPECT_EQ(claims[inst->rec.address()], id) << "the record and the claim agree";
      instances.insert(id);
    }
    std::map<std::string, int> creates;
    for (const auto& cmd : link->Take()) ++creates[cmd.create().instance_id()];
    for (const auto& [id, n] : creates) EXPECT_EQ(n, 1) << id << " ordered twice";
    // Make room: the agent reports nothing, so both are forgotten after the grace.
    for (const auto& [id, inst] : data->instances) {
      ASSERT_TRUE(a.r().writer().Forget(inst->rec, std::nullopt).ok());
    }
    a.Sync();
    b.Sync();
  }
  EXPECT_GE(instances.size(), 10u);
}

TEST_P(ClusterTest, ASecondRegistrationOfALiveNodeIsRefusedAndTheFirstKeepsItsAnswers) {
  TestReplica& a = Add("a");
  TestReplica& b = Add("b");
  auto real = a.Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", Standby(2));
  ASSERT_TRUE(a.r().cold().Reserve("static", kFrankfurt));
  std::string id = real->Take().at(0).create().instance_id();
  a.Report("fra-1", id, v1::INSTANCE_STATE_READY, "127.77.1.1");
  // An impostor registers as fra-1 with another address range, on the other replica.
  auto impostor = std::make_shared<testing::RecordingLink>();
  absl::Status st =
      b.TryConnect("fra-1", "frankfurt", 50.11, 8.68, "127.88.1.0/24", {"127.88.1.1"}, impostor);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_NE(st.message().find("already connected"), std::string::npos) << st;
  b.Sync();
  auto node = b.r().cache().Data()->nodes.at("fra-1");
  EXPECT_EQ(node->rec.registration().address_range(), "127.77.1.0/24");
  EXPECT_EQ(b.Answerable("static", true), 1);
}

TEST_P(ClusterTest, AnAgentWithACertificateTakesItsNodeOverFromTheStreamItLeft) {
  // Its replica died with the stream's lease still alive: the agent, which has one stream
  // at a time and proves its id, re-registers on another replica at once.
  TestReplica& a = Add("a");
  TestReplica& b = Add("b");
  security::Peer fra;
  fra.authenticated = true;
  fra.role = security::Role::kAgent;
  fra.name = "fra-1";
  fra.range = *Cidr::Parse("127.77.1.0/24");
  auto on_a = std::make_shared<testing::RecordingLink>();
  ASSERT_TRUE(
      a.TryConnect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", Standby(2), on_a, 4, fra)
          .ok());
  ASSERT_TRUE(a.r().cold().Reserve("static", kFrankfurt));
  std::string id = on_a->Take().at(0).create().instance_id();
  a.Report("fra-1", id, v1::INSTANCE_STATE_READY, "127.77.1.1");
  a.r().Abandon();
  *b.status("fra-1").add_instances() = a.status("fra-1").instances(0);
  auto on_b = std::make_shared<testing::RecordingLink>();
  absl::Status st =
      b.TryConnect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", Standby(2), on_b, 4, fra);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(b.r().cache().Data()->nodes.at("fra-1")->rec.replica_id(), "b");
  EXPECT_EQ(b.Answerable("static", true), 1) << "its instance never left the answers";
  // Without a certificate the same move waits for the old lease (the impostor case).
}

TEST_P(ClusterTest, ASilentAgentsInstancesLeaveEveryReplicasAnswersWithinItsLease) {
  TestReplica& a = Add("a");
  TestReplica& b = Add("b");
  auto link = a.Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", Standby(2));
  ASSERT_TRUE(a.r().cold().Reserve("static", kFrankfurt));
  std::string id = link->Take().at(0).create().instance_id();
  a.Report("fra-1", id, v1::INSTANCE_STATE_READY, "127.77.1.1");
  b.Sync();
  ASSERT_EQ(b.Answerable("static", true), 1);
  // The agent stops (SIGSTOP, or kill -9 with its stream half open): no more reports.
  // Its lease (node_timeout: 1 s) runs out; etcd expires leases on a 500 ms tick.
  EXPECT_TRUE(Eventually(5000, [&] {
    if (memory_) memory_->ExpireLeases();
    return a.Answerable() == 0 && b.Answerable() == 0;
  }));
  // Its instance record stays (an agent that comes back reports it and keeps it).
  EXPECT_TRUE(b.r().cache().Data()->instances.contains(id));
}

TEST_P(ClusterTest, AnAgentThatMovesToAnotherReplicaKeepsItsInstances) {
  TestReplica& a = Add("a");
  TestReplica& b = Add("b");
  auto on_a = a.Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", Standby(3));
  ASSERT_TRUE(a.r().cold().Reserve("static", kFrankfurt));
  std::string id = on_a->Take().at(0).create().instance_id();
  a.Report("fra-1", id, v1::INSTANCE_STATE_READY, "127.77.1.1");
  // Replica a dies (its stream lease is left to expire); the agent reconnects to b, which
  // refuses until that lease has expired, then takes it over.
  a.r().Abandon();
  // The agent's first status on the new stream carries its instances (as the agent sends
  // Register and its last status together).
  *b.status("fra-1").add_instances() = a.status("fra-1").instances(0);
  auto on_b = std::make_shared<testing::RecordingLink>();
  absl::Status st;
  ASSERT_TRUE(Eventually(6000, [&] {
    if (memory_) memory_->ExpireLeases();
    st = b.TryConnect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24",
                      {"127.77.1.2", "127.77.1.3"}, on_b);
    return st.ok();
  })) << st;
  EXPECT_TRUE(on_b->Take().empty()) << "no create for an instance the agent reports, no destroy";
  EXPECT_EQ(b.Answerable("static", true), 1);
  EXPECT_EQ(b.r().sessions().counters().adopted, 0u) << "its record survived: nothing to adopt";
  EXPECT_EQ(b.r().sessions().counters().forgotten, 0u);
}

TEST_P(ClusterTest, AReservationRunsOnceAnAgentThatRestartedIsNeverToldToStartItAgain) {
  TestReplica& a = Add("a");
  auto first = a.Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", Standby(3));
  ASSERT_TRUE(a.r().cold().Reserve("static", kFrankfurt));
  std::string id = first->Take().at(0).create().instance_id();
  a.Report("fra-1", id, v1::INSTANCE_STATE_READY, "127.77.1.1");
  // The agent restarts (found by chaos.sh): its workloads died with it, and it registers
  // again at once, well inside the reservation's grace period, reporting nothing.
  a.Disconnect("fra-1");
  a.status("fra-1").clear_instances();
  auto second = std::make_shared<testing::RecordingLink>();
  absl::Status st;
  ASSERT_TRUE(Eventually(6000, [&] {
    if (memory_) memory_->ExpireLeases();
    st = a.TryConnect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", Standby(3), second);
    return st.ok();
  })) << st;
  for (const auto& cmd : second->Take()) {
    EXPECT_FALSE(cmd.has_create() && cmd.create().instance_id() == id)
        << "the same reservation started twice: answers would name it across its end";
  }
  EXPECT_TRUE(Eventually(2000, [&] {
    a.Sync();
    return !a.r().cache().Data()->instances.contains(id);
  })) << "a lost instance is forgotten";
  EXPECT_EQ(a.Answerable("static"), 0);
}

TEST_P(ClusterTest, WhenTheLeaderDiesAnotherLeadsAndCreatesNothingTwice) {
  TestReplica& a = Add("a", /*threads=*/true);
  ASSERT_TRUE(Eventually(5000, [&] { return a.r().leading(); }));
  TestReplica& b = Add("b", /*threads=*/true);
  auto link = b.Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", Standby(4));
  // A forecast window for two instances: the leader (a) orders them.
  v1::SubmitPrefetchRequest req;
  auto* r = req.add_requests();
  r->set_region("frankfurt");
  r->set_template_name("static");
  r->set_window_start_unix_ms(RealClock::Get().NowMs());
  r->set_window_end_unix_ms(RealClock::Get().NowMs() + 600'000);
  r->set_target_concurrency(2);
  r->set_quantile(0.9);
  ASSERT_TRUE(b.r().prefetch().Accept(req).ok());
  std::vector<v1::OrchestratorCommand> cmds;
  ASSERT_TRUE(Eventually(5000, [&] {
    (void)b.Send("fra-1");  // the agent keeps reporting (its lease is 1 s)
    for (auto& c : link->Take()) cmds.push_back(c);
    return cmds.size() >= 2;
  }));
  for (const auto& c : cmds) {
    b.Report("fra-1", c.create().instance_id(), v1::INSTANCE_STATE_READY, c.create().address());
  }
  a.r().Abandon();  // kill -9
  EXPECT_TRUE(Eventually(6000, [&] {
    if (memory_) memory_->ExpireLeases();
    (void)b.Send("fra-1");  // the agent keeps reporting
    return b.r().leading();
  }));
  // The new leader sees the window met: nothing is created again, nothing destroyed.
  for (int i = 0; i < 10; ++i) {
    (void)b.Send("fra-1");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(link->Take().empty());
  EXPECT_EQ(b.r().control().counters().creates, 0u);
  EXPECT_EQ(b.Answerable("static", true), 2);
}

TEST_P(ClusterTest, CorruptOrForeignValuesUnderThePrefixAreSkipped) {
  TestReplica& a = Add("a");
  ASSERT_TRUE(kv_->Put("/prewarm/v1/nodes/ghost", "not a protobuf \xff\xfe").ok());
  ASSERT_TRUE(kv_->Put("/prewarm/v1/instances/x", std::string(300, '\x0a')).ok());
  ASSERT_TRUE(kv_->Put("/prewarm/v1/what/ever", "hello").ok());
  ASSERT_TRUE(kv_->Put("/prewarm/v1/leader", "\x08\x96\x01 junk").ok());
  a.Sync();
  TestReplica& b = Add("b");  // one that starts on top of them, too
  auto link = b.Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", Standby(1));
  EXPECT_TRUE(b.r().cold().Reserve("static", kFrankfurt));
  EXPECT_GE(a.r().cache().skipped_values(), 3u);
  EXPECT_GE(b.r().cache().skipped_values(), 3u);
  EXPECT_FALSE(b.r().cache().Data()->nodes.contains("ghost"));
}

TEST_P(ClusterTest, AnUnreachableStoreDegradesTheReplicaAndItRecovers) {
  TestReplica& a = Add("a", /*threads=*/true);
  auto link = a.Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", Standby(3));
  ASSERT_TRUE(a.r().cold().Reserve("static", kFrankfurt));
  std::string ready = link->Take().at(0).create().instance_id();
  a.Report("fra-1", ready, v1::INSTANCE_STATE_READY, "127.77.1.1");
  // Cut the store off.
  if (memory_) {
    memory_->SetAvailable(false);
  } else {
    for (size_t i = 0; i < etcd_->size(); ++i) ASSERT_TRUE(etcd_->Kill(i).ok());
  }
  ASSERT_TRUE(Eventually(8000, [&] { return a.r().presence().degraded(); }));
  EXPECT_EQ(a.r().Health().rfind("degraded", 0), 0u) << a.r().Health();
  a.r().control().RunOnce();  // republishes the degraded snapshot
  EXPECT_EQ(a.Answerable("static", true), 1) << "the ready instance still answers";
  EXPECT_FALSE(a.r().cold().Reserve("static", ClientPlace{"singapore", {1.35, 103.82}}))
      << "no reservation without the store: the caller answers the origin";
  // Back.
  if (memory_) {
    memory_->SetAvailable(true);
  } else {
    for (size_t i = 0; i < etcd_->size(); ++i) ASSERT_TRUE(etcd_->Restart(i).ok());
  }
  EXPECT_TRUE(Eventually(15000, [&] {
    (void)a.Send("fra-1");
    return !a.r().presence().degraded() && a.r().leading();
  })) << a.r().Health();
  EXPECT_EQ(a.r().Health().rfind("ok", 0), 0u) << a.r().Health();
}

INSTANTIATE_TEST_SUITE_P(BothStores, ClusterTest, ::testing::Values(Store::kMemory, Store::kEtcd),
                         [](const ::testing::TestParamInfo<Store>& p) {
                           return p.param == Store::kMemory ? "memory" : "etcd";
                         });

}  // namespace
}  // namespace prewarm::orchestrator
