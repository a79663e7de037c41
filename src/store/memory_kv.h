// MemoryKv: the KvStore of one process. It is the single-orchestrator default and the
// fake behind every unit test, so it follows etcd 3.4 rule for rule (kv.h): revisions
// start at 1 and grow by one per change, a Txn checks its puts and deletes for overlaps
// before it runs, a value comparison against a missing key is false, a lease's TTL is
// whole seconds and never below `min_lease_ttl_ms`, an expired or revoked lease deletes
// its keys (in key order) as one change, and a watch from before the kept history gets a
// resync batch. kv_conformance_test.cc runs the same tests against it and a real etcd.
//
// Time comes from a Clock. Leases expire when a call finds them past their deadline, from
// a background thread when the clock is the RealClock, and whenever ExpireLeases() is
// called (tests on a ManualClock).
//
// Threads: each Watch has one thread that reads the history and runs its sink; a
// RealClock store has one more for lease expiry. Everything else runs on the caller's.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "store/kv.h"
#include "store/watch_control.h"

namespace prewarm::store {

struct MemoryKvOptions {
  // Default for calls whose timeout_ms is 0; only the injected delay can exceed it.
  int64_t request_timeout_ms = 5000;
  // How many revisions of history are kept for watches that start in the past or fall
  // behind; older starts get a resync batch (etcd keeps history until compacted).
  int64_t history_revisions = 10000;
  // etcd's floor for lease TTLs: 1.5 x election timeout rounded up to seconds; 1 s for
  // EtcdCluster's loopback default (heartbeat 50 ms, election 500 ms).
  int64_t min_lease_ttl_ms = 1000;
  // Expire leases from a background thread every 100 ms. Default: only when the clock is
  // the RealClock (a ManualClock only moves when a test says so).
  std::optional<bool> expire_in_background;
};

class MemoryKv final : public KvStore {
 public:
  explicit MemoryKv(const Clock& clock, const MemoryKvOptions& options = {});
  ~MemoryKv() override;
  MemoryKv(const MemoryKv&) = delete;
  MemoryKv& operator=(const MemoryKv&) = delete;

  absl::StatusOr<RangeResult> Get(std::string_view key, bool prefix = false,
                                  int64_t timeout_ms = 0) override;
  absl::StatusOr<int64_t> Put(std::string_view key, std::string_view value, int64_t lease = 0,
                              int64_t timeout_ms = 0) override;
  absl::StatusOr<int64_t> Delete(std::string_view key, bool prefix = false,
                                 int64_t timeout_ms = 0) override;
  absl::StatusOr<TxnResult> Txn(const TxnRequest& txn, int64_t timeout_ms = 0) override;
  absl::StatusOr<int64_t> GrantLease(int64_t ttl_ms, int64_t timeout_ms = 0) override;
  absl::StatusOr<int64_t> KeepAlive(int64_t lease, int64_t timeout_ms = 0) override;
  absl::Status Revoke(int64_t lease, int64_t timeout_ms = 0) override;
  absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(std::string prefix, int64_t from_revision,
                                                     WatchSink sink) override;
  std::string Describe() const override { return "memory"; }

  // --- for tests and the simulator --------------------------------------------------------
  // Expires every lease whose deadline the clock has reached, now.
  void ExpireLeases();
  // false: every call fails with Unavailable and watches deliver nothing, as if this
  // process were cut off from its store; the store itself lives on (leases still expire).
  // true again: watches catch up from the history without a gap.
  void SetAvailable(bool available);
  // Every call first sleeps this long (real time); longer than the call's timeout, it
  // sleeps the timeout and fails with DeadlineExceeded without applying anything.
  void SetCallDelay(int64_t delay_ms) { call_delay_ms_.store(delay_ms); }
  // etcd's Compact: forgets the history before `revision`, so watches starting there
  // resync. OutOfRange for a revision already compacted or in the future, like etcd.
  absl::Status Compact(int64_t revision);
  int64_t Revision() const;

 private:
  struct Entry {
    std::string value;
    int64_t create_revision = 0;
    int64_t mod_revision = 0;
    int64_t version = 0;
    int64_t lease = 0;
  };
  struct Lease {
    int64_t ttl_ms = 0;
    int64_t deadline_ms = 0;
    std::set<std::string> keys;
  };
  struct Change {  // every event of one revision
    int64_t revision = 0;
    std::vector<WatchEvent> events;
  };
  struct Watcher {
    std::string prefix;
    int64_t next_revision = 0;  // guarded by mu_
    bool cancelled = false;     // guarded by mu_
    WatchSink sink;
    std::thread thread;
  };
  class Writer;

  // Sleeps the injected delay; DeadlineExceeded when it exceeds the call's timeout.
  absl::Status Delay(int64_t timeout_ms) const;
  // Unavailable when the fault is injected; otherwise expires due leases.
  absl::Status EnterLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireLeasesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RevokeLocked(int64_t lease) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<KeyValue> RangeLocked(std::string_view key, bool prefix) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  bool HoldsLocked(const Compare& c) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::Status CheckLeasesLocked(const std::vector<Op>& ops) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Appends one revision's events to the history and trims it.
  void CommitLocked(std::vector<WatchEvent> events) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpiryLoop();

  // memory_kv_watch.cc
  void WatchLoop(Watcher* w);
  WatchBatch NextBatchLocked(Watcher& w) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StopWatcher(Watcher* w);

  const Clock& clock_;
  const MemoryKvOptions options_;
  std::atomic<int64_t> call_delay_ms_{0};

  mutable absl::Mutex mu_;
  std::map<std::string, Entry, std::less<>> data_ ABSL_GUARDED_BY(mu_);
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 1;  // etcd's empty store is at revision 1
  std::map<int64_t, Lease> leases_ ABSL_GUARDED_BY(mu_);
  int64_t next_lease_id_ ABSL_GUARDED_BY(mu_) = 0x7e57'0000'0000'0001;  // any positive id does
  std::deque<Change> history_ ABSL_GUARDED_BY(mu_);
  // A watch may start at any revision >= this one without a resync.
  int64_t first_watchable_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t compacted_ ABSL_GUARDED_BY(mu_) = 0;  // the last Compact() revision
  bool available_ ABSL_GUARDED_BY(mu_) = true;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::unique_ptr<Watcher>> watchers_ ABSL_GUARDED_BY(mu_);

  WatchRegistry watches_;
  std::thread expiry_thread_;
};

}  // namespace prewarm::store
