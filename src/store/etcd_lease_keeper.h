// LeaseKeeper: EtcdKv's KeepAlive over one LeaseKeepAlive stream shared by every call.
// Internal to src/store.
//
// A keeper thread opens the stream when a KeepAlive is waiting (and keeps it while it
// works), reads its answers and hands each to the oldest caller waiting on that lease.
// Callers write their own request (serialised by write_mu_). When the stream breaks, the
// keeper opens another on the next member and every caller still waiting sends again:
// a keepalive is idempotent. A caller that gets no answer within its timeout ends the
// stream, since a member that stops answering should not keep the next callers waiting.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "store/etcd_endpoints.h"

namespace prewarm::store {

class LeaseKeeper {
 public:
  explicit LeaseKeeper(EtcdEndpoints& endpoints);
  ~LeaseKeeper();  // ends the stream; waiting callers get Cancelled
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // One keepalive round trip for `lease`. Returns etcd's TTL in seconds; <= 0 means the
  // lease is gone (expired or revoked).
  absl::StatusOr<int64_t> KeepAlive(int64_t lease, Deadline deadline);

 private:
  using Stream = grpc::ClientReaderWriter<etcdserverpb::LeaseKeepAliveRequest,
                                          etcdserverpb::LeaseKeepAliveResponse>;
  struct Waiter {
    int64_t lease = 0;
    uint64_t sent_on = 0;  // the stream generation its request went out on (0: none)
    bool done = false;
    int64_t ttl = 0;
  };

  void Run();
  // Opens a stream on `member` and reads it until it ends; true if it answered anything.
  bool Serve(size_t member);
  void Dispatch(const etcdserverpb::LeaseKeepAliveResponse& response);
  // Waits for `w`'s answer, sending its request on every new stream.
  absl::Status Await(Waiter& w, Deadline deadline);
  void Send(Waiter& w) ABSL_LOCKS_EXCLUDED(mu_, write_mu_);

  EtcdEndpoints& endpoints_;
  std::atomic<bool> stop_{false};
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // one Write at a time; Finish after
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::list<Waiter*> waiters_ ABSL_GUARDED_BY(mu_);
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;  // of the open stream
  Stream* stream_ ABSL_GUARDED_BY(mu_) = nullptr;                // set while open
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;                 // streams opened so far
  // When the open stream last answered anything: a caller that times out ends the stream
  // only if it has been silent that long too (under load one answer may be late while the
  // stream is fine, and ending it would make every other caller send again).
  std::chrono::steady_clock::time_point last_answer_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace prewarm::store
