// The parts of EtcdCluster that concern one member: its command line, the probe that
// tells it answers, its log, and the thread that spawns it. Internal to src/store.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/process.h"
#include "store/etcd_cluster.h"

namespace prewarm::store::cluster_internal {

// etcd's command line for member `i` of the cluster whose directory is `dir`.
std::vector<std::string> MemberArgs(const EtcdClusterOptions& o, size_t i, const std::string& dir,
                                    const std::string& token);

// One linearizable read through `endpoint` with require-leader: OK once the member has
// joined a cluster with a leader and caught up enough to serve.
absl::Status Probe(const std::string& endpoint,
                   const std::shared_ptr<grpc::ChannelCredentials>& credentials,
                   std::chrono::milliseconds timeout);

// The last `max_lines` lines of a text file ("" if unreadable).
std::string Tail(const std::string& path, size_t max_lines);

// AlreadyExists naming ip:port when something listens there.
absl::Status CheckPortFree(const std::string& ip, uint16_t port);

// A fresh directory "<parent>/prewarm-etcd-<pid>-XXXXXX" (parent "" picks /dev/shm or
// the temp dir), after removing those left by processes that no longer exist.
absl::StatusOr<std::string> MakeClusterDir(const std::string& parent);

// Runs ProcessRunner::Spawn on one thread that lives as long as the cluster: a child
// started with kill_with_parent dies when the thread that forked it exits, so it must not
// be whichever short-lived thread happened to call Restart().
class Spawner {
 public:
  explicit Spawner(ProcessRunner& runner);
  ~Spawner();
  absl::StatusOr<pid_t> Spawn(const SpawnOptions& options);

 private:
  void Run();

  ProcessRunner& runner_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace prewarm::store::cluster_internal
