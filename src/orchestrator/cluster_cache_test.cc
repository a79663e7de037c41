#include "orchestrator/cluster_cache.h"

#include <gtest/gtest.h>

#include "store/memory_kv.h"

namespace prewarm::orchestrator {
namespace {

class ClusterCacheTest : public ::testing::Test {
 protected:
  ClusterCacheTest() : kv_(clock_), cache_(kv_, keys_) {}

  static v1::InstanceRecord Instance(const std::string& id, const std::string& node) {
    v1::InstanceRecord r;
    r.set_instance_id(id);
    r.set_node_id(node);
    r.set_template_name("static");
    r.set_address("127.77.1.1");
    return r;
  }
  void Sync() {
    auto r = kv_.Get("/");
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(cache_.WaitForRevision(r->revision, 5000));
  }

  ManualClock clock_;
  store::MemoryKv kv_;
  Keys keys_;
  ClusterCache cache_;
};

TEST_F(ClusterCacheTest, CorruptAndForeignValuesAreSkippedNotFatal) {
  ASSERT_TRUE(kv_.Put(keys_.Instance("a"), Instance("a", "fra-1").SerializeAsString()).ok());
  ASSERT_TRUE(kv_.Put(keys_.Instance("b"), "\xff\xff not a protobuf").ok());
  ASSERT_TRUE(
      kv_.Put(keys_.Instance("c"), Instance("someone-else", "fra-1").SerializeAsString()).ok());
  ASSERT_TRUE(kv_.Put(keys_.prefix() + "surprise/x", "hello").ok());
  ASSERT_TRUE(cache_.Start(1000).ok());
  auto d = cache_.Data();
  EXPECT_EQ(d->instances.size(), 1u);
  EXPECT_TRUE(d->instances.contains("a"));
  EXPECT_EQ(cache_.skipped_values(), 3u);
  // The same through the watch.
  ASSERT_TRUE(kv_.Put(keys_.Node("fra-1"), "garbage that is no NodeRecord \x01\x02").ok());
  ASSERT_TRUE(kv_.Put(keys_.Claim("fra-1", "127.77.1.1"), "").ok());
  Sync();
  EXPECT_TRUE(cache_.Data()->nodes.empty());
  EXPECT_TRUE(cache_.Data()->claims.empty());
  EXPECT_EQ(cache_.skipped_values(), 5u);
}

TEST_F(ClusterCacheTest, DeletesAndListenersFollowTheWatch) {
  ASSERT_TRUE(cache_.Start(1000).ok());
  std::vector<ClusterChange> changes;
  std::mutex mu;
  // Listeners are added before Start in production; here a second cache shows the order.
  ClusterCache second(kv_, keys_);
  second.AddListener([&](const ClusterData&, const ClusterData& after, const ClusterChange& c) {
    std::lock_guard<std::mutex> l(mu);
    changes.push_back(c);
    EXPECT_GE(after.revision, 1);
  });
  ASSERT_TRUE(second.Start(1000).ok());
  auto rev = kv_.Put(keys_.Instance("a"), Instance("a", "fra-1").SerializeAsString());
  ASSERT_TRUE(rev.ok());
  ASSERT_TRUE(second.WaitForRevision(*rev, 5000));
  EXPECT_TRUE(second.Data()->instances.contains("a"));
  auto del = kv_.Delete(keys_.Instance("a"));
  ASSERT_TRUE(del.ok());
  Sync();
  auto now = kv_.Get("/");
  ASSERT_TRUE(second.WaitForRevision(now->revision, 5000));
  EXPECT_FALSE(second.Data()->instances.contains("a"));
  std::lock_guard<std::mutex> l(mu);
  ASSERT_GE(changes.size(), 3u);  // the initial listing, the put, the delete
  EXPECT_TRUE(changes.front().resync);
  EXPECT_TRUE(changes.back().instances.contains("a"));
}

TEST_F(ClusterCacheTest, AResyncDropsWhatTheListingLacks) {
  ClusterData base;
  store::WatchBatch first;
  first.revision = 5;
  store::KeyValue kv;
  kv.key = keys_.Instance("a");
  kv.value = Instance("a", "fra-1").SerializeAsString();
  kv.mod_revision = 5;
  first.events.push_back({store::WatchEvent::Type::kPut, kv});
  ClusterChange change;
  ClusterData d = cache_.Apply(base, first, change);
  ASSERT_TRUE(d.instances.contains("a"));
  store::WatchBatch resync;
  resync.resync = true;
  resync.revision = 9;
  ClusterChange c2;
  ClusterData after = cache_.Apply(d, resync, c2);
  EXPECT_TRUE(after.instances.empty());
  EXPECT_TRUE(c2.instances.contains("a"));
  EXPECT_EQ(after.revision, 9);
}

}  // namespace
}  // namespace prewarm::orchestrator
