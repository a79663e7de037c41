// EtcdKv without any etcd: option checks, and calls to members that are all down.
#include "store/etcd_kv.h"

#include <chrono>

#include "gtest/gtest.h"
#include "store/kv_test_backends.h"

namespace prewarm::store {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Loopback addresses of this process's own block on which nothing listens.
std::vector<std::string> DeadEndpoints() {
  std::vector<std::string> out;
  for (const std::string& ip : testkit::TestClusterOptions(2, 201).ips) {
    out.push_back(ip + ":2379");
  }
  return out;
}

TEST(EtcdKvTest, CreateRefusesAnEmptyEndpointList) {
  EXPECT_TRUE(absl::IsInvalidArgument(EtcdKv::Create({}).status()));
}

TEST(EtcdKvTest, DescribeListsTheMembers) {
  EtcdKvOptions options;
  options.endpoints = {"127.0.0.11:2379", "http://127.0.0.12:2379"};
  auto kv = EtcdKv::Create(options);
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ((*kv)->Describe(), "etcd http://127.0.0.11:2379,http://127.0.0.12:2379");
}

TEST(EtcdKvTest, WithNoMemberUpEveryCallFailsUnavailableWithinItsTimeout) {
  EtcdKvOptions options;
  options.endpoints = DeadEndpoints();
  options.request_timeout_ms = 800;
  options.dial_timeout_ms = 300;
  auto kv = EtcdKv::Create(options);
  ASSERT_TRUE(kv.ok());
  auto start = steady_clock::now();
  // Unavailable, not Unknown: nothing was sent, so nothing can have been applied.
  EXPECT_TRUE(absl::IsUnavailable((*kv)->Put("k", "v").status()));
  EXPECT_TRUE(
      absl::IsUnavailable((*kv)->Txn({{Compare::Missing("k")}, {Op::Put("k", "v")}, {}}).status()));
  EXPECT_TRUE(absl::IsUnavailable((*kv)->Get("k").status()));
  EXPECT_TRUE(absl::IsUnavailable((*kv)->KeepAlive(1).status()));
  EXPECT_TRUE(absl::IsUnavailable((*kv)->Watch("w/", 5, [](const WatchBatch&) {}).status()));
  EXPECT_LT(steady_clock::now() - start, milliseconds(5 * 800 + 4000)) << "an upper bound only";
  kv->reset();  // and closing does not wait for anything
}

}  // namespace
}  // namespace prewarm::store
