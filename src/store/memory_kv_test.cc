// What only MemoryKv has: injected faults, a bounded history, deterministic expiry on a
// ManualClock and on-its-own expiry on the RealClock. The shared contract is tested in
// kv_conformance_test.cc.
#include "store/memory_kv.h"

#include <latch>

#include "gtest/gtest.h"
#include "store/kv_test_backends.h"

namespace prewarm::store {
namespace {

using testkit::Show;
using testkit::WatchRecorder;

TEST(MemoryKvTest, ACallSlowerThanItsTimeoutFailsWithDeadlineExceededAndAppliesNothing) {
  ManualClock clock;
  MemoryKv kv(clock);
  kv.SetCallDelay(200);
  EXPECT_TRUE(absl::IsDeadlineExceeded(kv.Put("k", "v", 0, 50).status()));
  kv.SetCallDelay(5);
  EXPECT_TRUE(kv.Get("k", false, 1000)->kvs.empty());
  EXPECT_TRUE(kv.Put("k", "v", 0, 1000).ok()) << "a delay within the timeout only slows";
}

TEST(MemoryKvTest, WhileUnavailableLeasesStillExpireAndTheWatchCatchesUpAfterwards) {
  ManualClock clock;
  MemoryKv kv(clock);
  int64_t lease = *kv.GrantLease(1000);
  int64_t put = *kv.Put("u/k", "v", lease);
  WatchRecorder rec;
  auto handle = kv.Watch("u/", put, rec.Sink());
  ASSERT_TRUE(rec.WaitForEvents(1));
  kv.SetAvailable(false);
  EXPECT_TRUE(absl::IsUnavailable(kv.Get("u/k").status()));
  EXPECT_TRUE(absl::IsUnavailable(kv.Watch("u/", 0, rec.Sink()).status()));
  clock.Advance(1001);
  kv.ExpireLeases();  // the store lives on; only this client is cut off
  kv.SetAvailable(true);
  ASSERT_TRUE(rec.WaitForEvents(2));
  EXPECT_EQ(Show(rec.events()), (std::vector<std::string>{fmt::format("put u/k=v@{}", put),
                                                          fmt::format("del u/k@{}", put + 1)}));
}

TEST(MemoryKvTest, ExpiryIsCheckedOnEveryCall) {
  ManualClock clock;
  MemoryKvOptions options;
  options.expire_in_background = false;
  MemoryKv kv(clock, options);
  int64_t lease = *kv.GrantLease(3000);
  ASSERT_TRUE(kv.Put("k", "v", lease).ok());
  clock.Advance(2999);
  EXPECT_EQ(kv.Get("k")->kvs.size(), 1u);
  clock.Advance(1);
  EXPECT_TRUE(kv.Get("k")->kvs.empty()) << "due at its deadline, without ExpireLeases()";
}

int64_t step_wall_us = 1'700'000'000'000'000;
int64_t step_mono_us = 0;

// A lease kept alive every second outlives a step of the machine's wall clock: on the live
// replay a +17 s step expired every node's and the replica's 3-second lease at once, and
// the reconciler placed replacements for one region's instances in another.
TEST(MemoryKvTest, AKeptLeaseOutlivesAStepOfTheWallClock) {
  SlewedClock clock([] { return step_wall_us; }, [] { return step_mono_us; });
  MemoryKvOptions options;
  options.expire_in_background = false;
  MemoryKv kv(clock, options);
  int64_t lease = *kv.GrantLease(3000);
  ASSERT_TRUE(kv.Put("node", "up", lease).ok());
  for (int s = 0; s < 10; ++s) {
    if (s == 4) step_wall_us += 17'000'000;
    for (int i = 0; i < 10; ++i) {
      step_wall_us += 100'000;
      step_mono_us += 100'000;
      kv.ExpireLeases();
    }
    ASSERT_TRUE(kv.KeepAlive(lease).ok()) << "second " << s;
  }
  EXPECT_EQ(kv.Get("node")->kvs.size(), 1u);
  step_mono_us += 3'100'000;  // and it still expires when it is not kept
  step_wall_us += 3'100'000;
  kv.ExpireLeases();
  EXPECT_TRUE(kv.Get("node")->kvs.empty());
}

TEST(MemoryKvTest, OnTheRealClockLeasesExpireWithoutAnyCall) {
  MemoryKv kv(RealClock::Get());
  int64_t lease = *kv.GrantLease(1000);
  int64_t put = *kv.Put("r/k", "v", lease);
  WatchRecorder rec;
  auto handle = kv.Watch("r/", put + 1, rec.Sink());
  ASSERT_TRUE(rec.WaitForEvents(1));
  EXPECT_EQ(Show(rec.events()), std::vector<std::string>{fmt::format("del r/k@{}", put + 1)});
}

TEST(MemoryKvTest, AWatchThatFallsBehindTheKeptHistoryGetsAResyncBatch) {
  ManualClock clock;
  MemoryKvOptions options;
  options.history_revisions = 3;
  MemoryKv kv(clock, options);
  std::latch release(1);
  WatchRecorder rec;
  WatchSink record = rec.Sink();
  auto handle = kv.Watch("h/", 0, [&](const WatchBatch& b) {
    record(b);
    release.wait();  // a slow sink: stuck on its first batch
  });
  ASSERT_TRUE(kv.Put("h/0", "v").ok());
  ASSERT_TRUE(rec.WaitForBatches(1));
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(kv.Put(fmt::format("h/{}", i), "v").ok());
  }
  ASSERT_TRUE(kv.Delete("h/0").ok());
  release.count_down();
  ASSERT_TRUE(rec.WaitForBatches(2));
  WatchBatch resync = rec.batches()[1];
  EXPECT_TRUE(resync.resync);
  EXPECT_EQ(resync.revision, kv.Revision());
  EXPECT_EQ(resync.events.size(), 5u) << "h/1..h/5; the receiver drops h/0 itself";
}

TEST(MemoryKvTest, CompactRefusesRevisionsAlreadyCompactedOrInTheFuture) {
  ManualClock clock;
  MemoryKv kv(clock);
  int64_t r = *kv.Put("k", "1");
  ASSERT_TRUE(kv.Put("k", "2").ok());
  EXPECT_TRUE(absl::IsOutOfRange(kv.Compact(r + 5)));
  EXPECT_TRUE(kv.Compact(r).ok());
  EXPECT_TRUE(absl::IsOutOfRange(kv.Compact(r)));
}

TEST(MemoryKvTest, TheLeaseFloorIsAnOption) {
  ManualClock clock;
  MemoryKvOptions options;
  options.min_lease_ttl_ms = 5000;
  MemoryKv kv(clock, options);
  EXPECT_EQ(*kv.KeepAlive(*kv.GrantLease(1000)), 5000);
}

TEST(MemoryKvTest, AWatchHandleMayOutliveItsStore) {
  ManualClock clock;
  auto kv = std::make_unique<MemoryKv>(clock);
  auto handle = kv->Watch("x/", 0, [](const WatchBatch&) {});
  ASSERT_TRUE(handle.ok());
  kv.reset();
  handle->reset();  // does nothing, and does not crash
}

}  // namespace
}  // namespace prewarm::store
