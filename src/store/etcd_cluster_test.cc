// EtcdCluster's own promises: clear errors, restarts that rejoin, and nothing left behind.
#include "store/etcd_cluster.h"

#include <filesystem>

#include "common/net.h"
#include "gtest/gtest.h"
#include "store/etcd_kv.h"
#include "store/kv_test_backends.h"

namespace prewarm::store {
namespace {

using testkit::HaveEtcd;
using testkit::kNoEtcd;
using testkit::TestClusterOptions;

std::unique_ptr<EtcdKv> ClientOf(std::vector<std::string> endpoints) {
  EtcdKvOptions options;
  options.endpoints = std::move(endpoints);
  options.request_timeout_ms = 5000;
  return std::move(EtcdKv::Create(options)).value();
}

TEST(EtcdClusterTest, StartSaysWhichPackageToInstallWhenEtcdIsMissing) {
  EtcdClusterOptions options = TestClusterOptions(1);
  options.etcd_binary = "/nonexistent/etcd";
  EtcdCluster cluster(options);
  absl::Status s = cluster.Start();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_NE(s.message().find("etcd-server"), std::string::npos) << s;
  EXPECT_TRUE(cluster.dir().empty());
}

TEST(EtcdClusterTest, StartNamesAnAddressAlreadyInUse) {
  if (!HaveEtcd()) {
    GTEST_SKIP() << kNoEtcd;
  }
  EtcdClusterOptions options = TestClusterOptions(3);
  auto taken = ListenTcp(*IpAddr::Parse(options.ips[1]), options.client_port);
  ASSERT_TRUE(taken.ok()) << taken.status();
  EtcdCluster cluster(options);
  absl::Status s = cluster.Start();
  EXPECT_TRUE(absl::IsAlreadyExists(s)) << s;
  EXPECT_NE(s.message().find(fmt::format("{}:{}", options.ips[1], options.client_port)),
            std::string::npos)
      << s;
}

TEST(EtcdClusterTest, AMemberThatExitsAtStartIsReportedWithTheEndOfItsLog) {
  if (!HaveEtcd()) {
    GTEST_SKIP() << kNoEtcd;
  }
  EtcdClusterOptions options = TestClusterOptions(1);
  options.heartbeat_ms = 100;
  options.election_ms = 200;  // etcd wants at least 5 heartbeats
  EtcdCluster cluster(options);
  absl::Status s = cluster.Start();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("exited"), std::string::npos) << s;
  EXPECT_NE(s.message().find("--election-timeout"), std::string::npos) << "the log's tail: " << s;
  EXPECT_TRUE(cluster.dir().empty()) << "a failed start leaves nothing behind";
}

TEST(EtcdClusterTest, AKilledMemberRejoinsFromItsDataAndStopLeavesNothingBehind) {
  if (!HaveEtcd()) {
    GTEST_SKIP() << kNoEtcd;
  }
  EtcdClusterOptions options = TestClusterOptions(3);
  EtcdCluster cluster(options);
  absl::Status started = cluster.Start();
  ASSERT_TRUE(started.ok()) << started;
  std::string dir = cluster.dir();
  EXPECT_TRUE(dir.starts_with("/dev/shm/prewarm-etcd-")) << dir;
  auto kv = ClientOf(cluster.ClientEndpoints());
  ASSERT_TRUE(kv->Put("before", "1").ok());
  ASSERT_TRUE(cluster.Kill(0).ok());
  EXPECT_FALSE(cluster.Running(0));
  // Two of three members are a quorum (once they have elected a leader, if m0 was it).
  ASSERT_GT(testkit::PutEventually(*kv, "while-down", "1"), 0);
  ASSERT_TRUE(cluster.Restart(0).ok());
  auto only_m0 = ClientOf({cluster.ClientEndpoint(0)});
  auto got = only_m0->Get("while-down");  // linearizable: m0 has rejoined and caught up
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->kvs.size(), 1u);
  EXPECT_FALSE(cluster.LogTail(0).empty());

  cluster.Stop();
  EXPECT_FALSE(std::filesystem::exists(dir));
  for (size_t i = 0; i < cluster.size(); ++i) {
    EXPECT_FALSE(cluster.Running(i));
    EXPECT_TRUE(ListenTcp(*IpAddr::Parse(options.ips[i]), options.client_port).ok())
        << "m" << i << "'s port is free again";
  }
}

TEST(EtcdClusterTest, TheLeaseFloorFollowsTheElectionTimeout) {
  EtcdClusterOptions options;
  EXPECT_EQ(EtcdCluster(options).MinLeaseTtlMs(), 1000);  // 1.5 x 500 ms, rounded up
  options.heartbeat_ms = 100;
  options.election_ms = 1000;
  EXPECT_EQ(EtcdCluster(options).MinLeaseTtlMs(), 2000);  // etcd's own defaults
}

}  // namespace
}  // namespace prewarm::store
