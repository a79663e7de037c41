// The KvStore contract (kv.h), run against MemoryKv and against a real 3-member etcd
// cluster started by each test, so code above the interface cannot tell them apart.
// Timeouts here are upper bounds against hangs, never measurements.
#include <latch>
#include <thread>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "store/etcd_kv.h"
#include "store/kv_test_backends.h"

namespace prewarm::store {
namespace {

using std::chrono::milliseconds;
using testkit::Backend;
using testkit::Eventually;
using testkit::Show;
using testkit::WatchRecorder;

std::vector<std::string> Keys(const std::vector<KeyValue>& kvs) {
  std::vector<std::string> out;
  out.reserve(kvs.size());
  for (const KeyValue& kv : kvs) {
    out.push_back(kv.key);
  }
  return out;
}

bool Failed(const absl::Status& s) { return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s); }

class KvConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "memory") {
      backend_ = testkit::MakeMemoryBackend();
      return;
    }
    if (!testkit::HaveEtcd()) {
      GTEST_SKIP() << testkit::kNoEtcd;
    }
    auto backend = testkit::MakeEtcdBackend();
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = std::move(*backend);
  }

  KvStore& kv() { return backend_->kv(); }

  int64_t Revision() {
    auto r = kv().Get("any");
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->revision : -1;
  }

  int64_t PutEventually(const std::string& key) {
    int64_t revision = testkit::PutEventually(kv(), key, "v");
    EXPECT_GT(revision, 0) << "could not put " << key;
    return revision;
  }

  bool Holds(const Compare& c) {
    auto r = kv().Txn(TxnRequest{{c}, {}, {}});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() && r->succeeded;
  }

  std::unique_ptr<Backend> backend_;
};

TEST_P(KvConformanceTest, RevisionsStartAtOneAndEveryChangeAddsOne) {
  EXPECT_EQ(Revision(), 1);
  EXPECT_EQ(*kv().Put("a", "1"), 2);
  EXPECT_EQ(*kv().Put("a", "2"), 3);
  auto got = kv().Get("a");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].value, "2");
  EXPECT_EQ(got->kvs[0].create_revision, 2);
  EXPECT_EQ(got->kvs[0].mod_revision, 3);
  EXPECT_EQ(got->kvs[0].version, 2);
  EXPECT_EQ(got->revision, 3);
  EXPECT_EQ(*kv().Delete("a"), 1);
  EXPECT_EQ(*kv().Delete("a"), 0);
  EXPECT_EQ(Revision(), 4) << "deleting nothing is no change";
  EXPECT_EQ(*kv().Put("a", "3"), 5);
  got = kv().Get("a");
  EXPECT_EQ(got->kvs[0].version, 1) << "a deleted key starts again";
  EXPECT_EQ(got->kvs[0].create_revision, 5);
}

TEST_P(KvConformanceTest, PrefixReadsAreSortedAndStayInsideThePrefix) {
  for (const char* k : {"b/2", "b/1", "a", "b", "c", "b/0/x"}) {
    ASSERT_TRUE(kv().Put(k, "v").ok());
  }
  EXPECT_EQ(Keys(kv().Get("b/", true)->kvs), (std::vector<std::string>{"b/0/x", "b/1", "b/2"}));
  EXPECT_EQ(Keys(kv().Get("", true)->kvs),
            (std::vector<std::string>{"a", "b", "b/0/x", "b/1", "b/2", "c"}));
  EXPECT_EQ(*kv().Delete("b/", true), 3);
  EXPECT_EQ(Keys(kv().Get("", true)->kvs), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(kv().Get("missing")->kvs.empty());
}

TEST_P(KvConformanceTest, EmptyKeysAreRejected) {
  EXPECT_TRUE(absl::IsInvalidArgument(kv().Put("", "v").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(kv().Get("").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(kv().Txn({{Compare::Missing("")}, {}, {}}).status()));
}

TEST_P(KvConformanceTest, TxnComparesVersionsAndRevisionsWithAMissingKeyAtZero) {
  int64_t r = *kv().Put("k", "v");
  using T = Compare::Target;
  using O = Compare::Op;
  EXPECT_TRUE(Holds(Compare::VersionIs("k", 1)));
  EXPECT_FALSE(Holds(Compare::VersionIs("k", 2)));
  EXPECT_FALSE(Holds(Compare::Missing("k")));
  EXPECT_TRUE(Holds(Compare::Missing("none")));
  EXPECT_FALSE(Holds(Compare::Exists("none")));
  EXPECT_TRUE(Holds(Compare::CreateRevisionIs("k", r)));
  EXPECT_TRUE(Holds(Compare::ModRevisionIs("k", r)));
  EXPECT_TRUE(Holds(Compare::CreateRevisionIs("none", 0)));
  EXPECT_TRUE(Holds(Compare::ModRevisionIs("none", 0)));
  EXPECT_TRUE(Holds({"k", T::kModRevision, O::kLess, r + 1, {}}));
  EXPECT_FALSE(Holds({"k", T::kModRevision, O::kNotEqual, r, {}}));
  EXPECT_TRUE(Holds({"k", T::kVersion, O::kGreater, 0, {}}));
  EXPECT_TRUE(Holds({"k", T::kLease, O::kEqual, 0, {}}));
  EXPECT_TRUE(Holds({"none", T::kLease, O::kEqual, 0, {}}));
}

TEST_P(KvConformanceTest, ValuesCompareAsBytesAndAMissingKeysValueNeverMatches) {
  ASSERT_TRUE(kv().Put("k", "b").ok());
  using T = Compare::Target;
  using O = Compare::Op;
  EXPECT_TRUE(Holds(Compare::ValueIs("k", "b")));
  EXPECT_TRUE(Holds({"k", T::kValue, O::kGreater, 0, "a"}));
  EXPECT_TRUE(Holds({"k", T::kValue, O::kLess, 0, "c"}));
  EXPECT_FALSE(Holds({"k", T::kValue, O::kNotEqual, 0, "b"}));
  EXPECT_FALSE(Holds(Compare::ValueIs("none", "")));
  EXPECT_FALSE(Holds({"none", T::kValue, O::kNotEqual, 0, "x"}));
}

TEST_P(KvConformanceTest, ATxnRunsOneBranchAsOneChangeAndItsGetsSeeItsOwnWrites) {
  int64_t r = *kv().Put("t/x", "1");
  TxnRequest txn;
  txn.compare = {Compare::ValueIs("t/x", "0")};
  txn.success = {Op::Put("t/y", "s")};
  txn.failure = {Op::Put("t/z", "f"), Op::Get("t/", true), Op::Delete("t/x"), Op::Get("t/x")};
  auto result = kv().Txn(txn);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->succeeded);
  EXPECT_EQ(result->revision, r + 1);
  ASSERT_EQ(result->gets.size(), 2u);
  EXPECT_EQ(Keys(result->gets[0]), (std::vector<std::string>{"t/x", "t/z"}));
  EXPECT_TRUE(result->gets[1].empty());
  EXPECT_TRUE(kv().Get("t/y")->kvs.empty());
  EXPECT_EQ(kv().Get("t/z")->kvs[0].mod_revision, r + 1);
}

TEST_P(KvConformanceTest, ATxnThatChangesNothingKeepsTheRevision) {
  int64_t r = *kv().Put("k", "v");
  auto read = kv().Txn({{Compare::Exists("k")}, {Op::Get("k")}, {}});
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->revision, r);
  ASSERT_EQ(read->gets.size(), 1u);
  EXPECT_EQ(read->gets[0].size(), 1u);
  EXPECT_EQ(kv().Txn({{}, {Op::Delete("nothing")}, {}})->revision, r);
}

TEST_P(KvConformanceTest, ATxnThatPutsAKeyTwiceOrInsideItsOwnDeleteIsRejected) {
  EXPECT_TRUE(
      absl::IsInvalidArgument(kv().Txn({{}, {Op::Put("a", "1"), Op::Put("a", "2")}, {}}).status()));
  // Checked for the branch that would not run, too.
  EXPECT_TRUE(absl::IsInvalidArgument(
      kv().Txn({{}, {}, {Op::DeletePrefix("p/"), Op::Put("p/x", "1")}}).status()));
  EXPECT_EQ(Revision(), 1);
}

TEST_P(KvConformanceTest, APutWithAnUnknownLeaseFailsAndChangesNothing) {
  EXPECT_TRUE(absl::IsNotFound(kv().Put("k", "v", 12345).status()));
  auto txn = kv().Txn({{}, {Op::Put("a", "1"), Op::Put("b", "2", 12345)}, {}});
  EXPECT_TRUE(absl::IsNotFound(txn.status())) << txn.status();
  EXPECT_TRUE(kv().Get("a")->kvs.empty());
  EXPECT_EQ(Revision(), 1);
}

TEST_P(KvConformanceTest, OnlyOneOfTwoRacingCreateIfMissingTxnsWins) {
  const int rounds = GetParam() == "memory" ? 200 : 25;
  for (int round = 0; round < rounds; ++round) {
    std::string key = fmt::format("race/{}", round);
    std::latch start(2);
    absl::StatusOr<TxnResult> results[2];
    auto contender = [&](int id) {
      start.arrive_and_wait();
      results[id] =
          kv().Txn({{Compare::Missing(key)}, {Op::Put(key, std::to_string(id))}, {Op::Get(key)}});
    };
    std::thread a(contender, 0), b(contender, 1);
    a.join();
    b.join();
    ASSERT_TRUE(results[0].ok() && results[1].ok()) << results[0].status() << results[1].status();
    ASSERT_NE(results[0]->succeeded, results[1]->succeeded) << "round " << round;
    int winner = results[0]->succeeded ? 0 : 1;
    const TxnResult& loser = *results[1 - winner];
    ASSERT_EQ(loser.gets.size(), 1u);
    ASSERT_EQ(loser.gets[0].size(), 1u);
    EXPECT_EQ(loser.gets[0][0].value, std::to_string(winner));
    EXPECT_EQ(kv().Get(key)->kvs[0].version, 1);
  }
}

TEST_P(KvConformanceTest, AnExpiredLeaseDeletesItsKeysAsOneChangeThatTheWatchSees) {
  auto lease = kv().GrantLease(backend_->min_lease_ttl_ms());
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(kv().Put("lease/a", "1", *lease).ok());
  int64_t last = *kv().Put("lease/b", "2", *lease);
  EXPECT_EQ(kv().Get("lease/a")->kvs[0].lease, *lease);
  WatchRecorder rec;
  auto handle = kv().Watch("lease/", last + 1, rec.Sink());
  ASSERT_TRUE(handle.ok()) << handle.status();
  EXPECT_TRUE(Eventually([&] {
    backend_->LetTimePass(250);
    return kv().Get("lease/", true)->kvs.empty();
  }));
  ASSERT_TRUE(rec.WaitForEvents(2));
  std::vector<WatchEvent> events = rec.events();
  EXPECT_EQ(Show(events), (std::vector<std::string>{fmt::format("del lease/a@{}", last + 1),
                                                    fmt::format("del lease/b@{}", last + 1)}));
  EXPECT_TRUE(absl::IsNotFound(kv().KeepAlive(*lease).status()));
}

TEST_P(KvConformanceTest, KeepAliveHoldsALeasePastItsTtl) {
  const int64_t ttl = 2000;
  auto lease = kv().GrantLease(ttl);
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(kv().Put("ka/k", "v", *lease).ok());
  for (int i = 0; i < 8; ++i) {  // twice the TTL in all
    backend_->LetTimePass(ttl / 4);
    auto granted = kv().KeepAlive(*lease);
    ASSERT_TRUE(granted.ok()) << granted.status();
    EXPECT_EQ(*granted, ttl);
  }
  EXPECT_EQ(kv().Get("ka/k")->kvs.size(), 1u);
  EXPECT_TRUE(Eventually([&] {
    backend_->LetTimePass(250);
    return kv().Get("ka/k")->kvs.empty();
  })) << "without keepalives the lease expires";
}

TEST_P(KvConformanceTest, RevokeDeletesTheLeasesKeysInOneChangeAndForgetsTheLease) {
  auto lease = kv().GrantLease(30000);
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(kv().Put("r/a", "1", *lease).ok());
  int64_t last = *kv().Put("r/b", "1", *lease);
  WatchRecorder rec;
  auto handle = kv().Watch("r/", 0, rec.Sink());
  ASSERT_TRUE(handle.ok()) << handle.status();
  ASSERT_TRUE(kv().Revoke(*lease).ok());
  EXPECT_TRUE(kv().Get("r/", true)->kvs.empty());
  ASSERT_TRUE(rec.WaitForEvents(2));
  ASSERT_EQ(rec.batches().size(), 1u);
  EXPECT_EQ(rec.batches()[0].revision, last + 1);
  EXPECT_EQ(Show(rec.events()), (std::vector<std::string>{fmt::format("del r/a@{}", last + 1),
                                                          fmt::format("del r/b@{}", last + 1)}));
  EXPECT_TRUE(absl::IsNotFound(kv().KeepAlive(*lease).status()));
  EXPECT_TRUE(kv().Revoke(*lease).ok()) << "revoking an unknown lease is OK";
}

TEST_P(KvConformanceTest, LeaseTtlsAreWholeSecondsAndNeverBelowTheFloor) {
  auto tiny = kv().GrantLease(1);
  auto odd = kv().GrantLease(1500);
  ASSERT_TRUE(tiny.ok() && odd.ok());
  EXPECT_EQ(*kv().KeepAlive(*tiny), backend_->min_lease_ttl_ms());
  EXPECT_EQ(*kv().KeepAlive(*odd), 2000);
}

TEST_P(KvConformanceTest, AWatchFromAnOldRevisionReplaysHistoryInOrder) {
  int64_t first = *kv().Put("h/a", "1");
  ASSERT_TRUE(kv().Put("h/b", "1").ok());
  ASSERT_TRUE(kv().Put("other", "x").ok());
  ASSERT_TRUE(kv().Put("h/a", "2").ok());
  ASSERT_TRUE(kv().Delete("h/b").ok());
  ASSERT_TRUE(kv().Txn({{}, {Op::Put("h/c", "1"), Op::Put("h/d", "1")}, {}}).ok());
  WatchRecorder rec;
  auto handle = kv().Watch("h/", first, rec.Sink());
  ASSERT_TRUE(handle.ok()) << handle.status();
  int64_t later = *kv().Put("h/e", "1");
  ASSERT_TRUE(rec.WaitForEvents(7));
  auto at = [&](const char* what, int64_t rev) { return fmt::format("{}@{}", what, rev); };
  EXPECT_EQ(Show(rec.events()),
            (std::vector<std::string>{at("put h/a=1", first), at("put h/b=1", first + 1),
                                      at("put h/a=2", first + 3), at("del h/b", first + 4),
                                      at("put h/c=1", first + 5), at("put h/d=1", first + 5),
                                      at("put h/e=1", later)}));
  EXPECT_EQ(rec.events()[2].kv.version, 2);
  EXPECT_EQ(rec.events()[2].kv.create_revision, first);
  for (const WatchBatch& b : rec.batches()) {
    EXPECT_FALSE(b.resync);
    EXPECT_EQ(b.revision, b.events.back().kv.mod_revision);
  }
}

TEST_P(KvConformanceTest, AWatchFromNowSeesOnlyWhatComesAfter) {
  ASSERT_TRUE(kv().Put("n/old", "1").ok());
  WatchRecorder rec;
  auto handle = kv().Watch("n/", 0, rec.Sink());
  ASSERT_TRUE(handle.ok()) << handle.status();
  int64_t a = *kv().Put("n/new", "1");
  int64_t b = *kv().Put("n/later", "1");
  ASSERT_TRUE(rec.WaitForEvents(2));
  EXPECT_EQ(Show(rec.events()), (std::vector<std::string>{fmt::format("put n/new=1@{}", a),
                                                          fmt::format("put n/later=1@{}", b)}));
}

TEST_P(KvConformanceTest, AWatchFromACompactedRevisionGetsAResyncBatch) {
  int64_t start = *kv().Put("c/a", "1");
  ASSERT_TRUE(kv().Put("c/b", "1").ok());
  ASSERT_TRUE(kv().Put("c/c", "1").ok());
  ASSERT_TRUE(kv().Delete("c/b").ok());
  int64_t now = *kv().Put("c/a", "2");
  ASSERT_TRUE(backend_->Compact(now).ok());
  WatchRecorder rec;
  auto handle = kv().Watch("c/", start, rec.Sink());
  ASSERT_TRUE(handle.ok()) << handle.status();
  ASSERT_TRUE(rec.WaitForBatches(1));
  WatchBatch resync = rec.batches()[0];
  EXPECT_TRUE(resync.resync);
  EXPECT_EQ(resync.revision, now);
  EXPECT_EQ(Show(resync.events),
            (std::vector<std::string>{fmt::format("put c/a=2@{}", now),
                                      fmt::format("put c/c=1@{}", start + 2)}));
  int64_t next = *kv().Put("c/d", "1");
  ASSERT_TRUE(rec.WaitForBatches(2));
  EXPECT_FALSE(rec.batches()[1].resync);
  EXPECT_EQ(Show(rec.batches()[1].events),
            std::vector<std::string>{fmt::format("put c/d=1@{}", next)});
}

TEST_P(KvConformanceTest, AWatchSurvivesLosingTheMemberItStreamsFromWithoutGapsOrRepeats) {
  if (!backend_->has_members()) {
    GTEST_SKIP() << "one process: no member to lose";
  }
  WatchRecorder rec;
  auto handle = kv().Watch("s/", 0, rec.Sink());
  ASSERT_TRUE(handle.ok()) << handle.status();
  std::vector<std::string> want;
  auto put = [&](int i) {
    std::string key = fmt::format("s/{:02}", i);
    want.push_back(fmt::format("put {}=v@{}", key, PutEventually(key)));
  };
  for (int i = 0; i < 10; ++i) {
    put(i);
  }
  ASSERT_TRUE(rec.WaitForEvents(10));
  std::vector<std::string> streaming = dynamic_cast<EtcdKv&>(kv()).WatchEndpoints();
  ASSERT_EQ(streaming.size(), 1u);
  ASSERT_TRUE(backend_->KillMember(streaming[0]).ok()) << streaming[0];
  for (int i = 10; i < 20; ++i) {
    put(i);
  }
  ASSERT_TRUE(backend_->RestartKilledMembers().ok());
  for (int i = 20; i < 30; ++i) {
    put(i);
  }
  ASSERT_TRUE(rec.WaitForEvents(30));
  EXPECT_EQ(Show(rec.events()), want);
  for (const WatchBatch& b : rec.batches()) {
    EXPECT_FALSE(b.resync);
  }
}

TEST_P(KvConformanceTest,
       WithEveryMemberDownCallsFailInTimeAndAfterwardsTheWatchResumesWithoutAGap) {
  WatchRecorder rec, abandoned;
  auto handle = kv().Watch("o/", 0, rec.Sink());
  auto doomed = kv().Watch("o/", 0, abandoned.Sink());
  ASSERT_TRUE(handle.ok() && doomed.ok());
  int64_t before = *kv().Put("o/before", "1");
  ASSERT_TRUE(rec.WaitForEvents(1));
  ASSERT_TRUE(backend_->Outage().ok());
  const int64_t t = 1000;
  auto bounded = [&](const char* what, const std::function<absl::Status()>& call) {
    auto start = std::chrono::steady_clock::now();
    absl::Status s = call();
    EXPECT_TRUE(Failed(s)) << what << ": " << s;
    EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(t + 5000)) << what;
  };
  bounded("Get", [&] { return kv().Get("o/before", false, t).status(); });
  bounded("Put", [&] { return kv().Put("o/during", "x", 0, t).status(); });
  bounded("Delete", [&] { return kv().Delete("o/before", false, t).status(); });
  bounded("Txn", [&] { return kv().Txn({{}, {Op::Put("o/during", "x")}, {}}, t).status(); });
  bounded("GrantLease", [&] { return kv().GrantLease(5000, t).status(); });
  bounded("KeepAlive", [&] { return kv().KeepAlive(12345, t).status(); });
  bounded("Revoke", [&] { return kv().Revoke(12345, t); });
  bounded("Watch", [&] { return kv().Watch("x/", 0, [](const WatchBatch&) {}).status(); });
  bounded("destroying a WatchHandle", [&] {
    doomed->reset();
    return absl::UnavailableError("destroyed");
  });
  ASSERT_TRUE(backend_->Recover().ok());
  int64_t after = PutEventually("o/after");
  ASSERT_TRUE(rec.WaitForEvents(2));
  EXPECT_EQ(Show(rec.events()), (std::vector<std::string>{fmt::format("put o/before=1@{}", before),
                                                          fmt::format("put o/after=v@{}", after)}));
}

TEST_P(KvConformanceTest, DescribeNamesTheStore) {
  EXPECT_TRUE(kv().Describe().starts_with(GetParam())) << kv().Describe();
}

INSTANTIATE_TEST_SUITE_P(Stores, KvConformanceTest, ::testing::Values("memory", "etcd"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace prewarm::store
