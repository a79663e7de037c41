// EtcdWatcher: one EtcdKv watch, a Watch stream read by a thread of its own that also
// runs the sink. Internal to src/store (etcd_kv.h describes the behaviour).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "store/etcd_endpoints.h"
#include "store/kv.h"

namespace prewarm::store {

class EtcdWatcher {
 public:
  // Delivers every change under `prefix` from `start_revision` (> 0) on.
  EtcdWatcher(EtcdEndpoints& endpoints, std::string prefix, int64_t start_revision, WatchSink sink);
  ~EtcdWatcher();  // Stop()
  EtcdWatcher(const EtcdWatcher&) = delete;
  EtcdWatcher& operator=(const EtcdWatcher&) = delete;

  // Ends the stream and returns once the thread (and so the sink) has finished.
  void Stop();
  // The member the stream is on, "" while reconnecting.
  std::string endpoint() const;

 private:
  void Run();
  // One stream on `member`, from next_revision_, until it ends. OK when it ended because
  // a resync was delivered (reconnect at once); an error otherwise.
  absl::Status Stream(size_t member);
  // Handles one response; a status when the stream must end: OK to resync (compacted),
  // an error to reconnect (canceled).
  std::optional<absl::Status> Handle(const etcdserverpb::WatchResponse& response, size_t member);
  void Deliver(const etcdserverpb::WatchResponse& response);
  // Lists the prefix and delivers it as a resync batch.
  absl::Status Resync();
  // Registers the context of the current call so Stop can cancel it; false when stopping.
  bool Register(grpc::ClientContext* ctx);

  EtcdEndpoints& endpoints_;
  const std::string prefix_;
  const WatchSink sink_;
  int64_t next_revision_;  // the first revision not yet delivered; watch thread only
  std::atomic<bool> stop_{false};
  mutable absl::Mutex mu_;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::string endpoint_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // last: started once everything above is set
};

}  // namespace prewarm::store
