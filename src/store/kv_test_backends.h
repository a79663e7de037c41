// What kv_conformance_test.cc needs from each store under test: the store, a way to let
// lease time pass, compaction, and the faults (members killed, every member down). Also
// the helpers the store's tests share: a recording watch sink, bounded polling, and
// addresses for test clusters.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "store/etcd_cluster.h"
#include "store/kv.h"

namespace prewarm::store::testkit {

using std::chrono::milliseconds;

class Backend {
 public:
  virtual ~Backend() = default;
  virtual KvStore& kv() = 0;
  virtual std::string name() const = 0;
  // etcd's floor for lease TTLs (both backends use 1 s).
  virtual int64_t min_lease_ttl_ms() const = 0;
  // Lets `ms` of lease time pass: a ManualClock jumps and due leases expire at once; a
  // real cluster is slept on.
  virtual void LetTimePass(int64_t ms) = 0;
  // etcd's Compact at `revision`.
  virtual absl::Status Compact(int64_t revision) = 0;
  // Every member down (memory: unavailable), then back.
  virtual absl::Status Outage() = 0;
  virtual absl::Status Recover() = 0;
  // Kills the member serving `endpoint` and starts it again (etcd only).
  virtual absl::Status KillMember(const std::string& endpoint) = 0;
  virtual absl::Status RestartKilledMembers() = 0;
  virtual bool has_members() const = 0;
};

std::unique_ptr<Backend> MakeMemoryBackend();
// A fresh 3-member EtcdCluster and an EtcdKv on it.
absl::StatusOr<std::unique_ptr<Backend>> MakeEtcdBackend();

bool HaveEtcd();
constexpr const char* kNoEtcd =
    "/usr/bin/etcd is not installed (Debian's etcd-server; tools/install-deps installs it)";

// ProcessLocalClusterOptions (etcd_cluster.h): addresses no other test process uses.
EtcdClusterOptions TestClusterOptions(int members = 3, int first_host = 11);

// Polls `done` every 20 ms until it holds or `timeout` passes (a bound against hangs,
// not a measurement).
bool Eventually(const std::function<bool()>& done, milliseconds timeout = milliseconds(20000));

// Puts until it is applied exactly once: sends again what surely was not applied
// (Unavailable), and reads back what may have been (Unknown, DeadlineExceeded: e.g. a
// write to a member whose leader just died waits out etcd's request timeout). Returns
// the revision of the change, -1 if it never got through within `timeout`.
int64_t PutEventually(KvStore& kv, const std::string& key, const std::string& value,
                      milliseconds timeout = milliseconds(60000));

// A watch sink that keeps every batch.
class WatchRecorder {
 public:
  WatchSink Sink();
  std::vector<WatchBatch> batches() const;
  std::vector<WatchEvent> events() const;  // of every batch, in order
  // Waits (bounded) until at least `n` events arrived.
  bool WaitForEvents(size_t n, milliseconds timeout = milliseconds(20000)) const;
  bool WaitForBatches(size_t n, milliseconds timeout = milliseconds(20000)) const;

 private:
  mutable absl::Mutex mu_;
  std::vector<WatchBatch> batches_ ABSL_GUARDED_BY(mu_);
};

// "put k=v@rev" / "del k@rev": events in a form that reads well in a failed EXPECT.
std::string Show(const WatchEvent& e);
std::vector<std::string> Show(const std::vector<WatchEvent>& events);

}  // namespace prewarm::store::testkit
