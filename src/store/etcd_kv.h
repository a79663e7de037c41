// EtcdKv: the KvStore over etcd's own v3 gRPC API (KV, Lease and Watch services, C++
// generated from etcd 3.4's rpc.proto; see CMakeLists.txt), talking to any of a list of
// members.
//
// Failover. There is one channel per endpoint. A call goes to the member that answered
// last; when that one is down, unreachable or answers "etcdserver: no leader" (every call
// carries etcd's require-leader metadata, so a member cut off from quorum says so at once
// instead of stalling), the call moves on to the next member, always within its timeout.
// What is retried depends on whether etcd may already have applied the request:
//   - reads (Get, a Txn without puts or deletes), KeepAlive, Revoke and GrantLease are
//     retried after any failure (a retried GrantLease may leave an unused lease behind,
//     which expires after its TTL);
//   - writes (Put, Delete, a Txn that writes) are retried only when etcd cannot have
//     applied them: the member was not connected, had no leader, or refused before
//     proposing. When a write was sent and the answer lost (connection cut, etcd's
//     "request timed out"), the outcome is unknown and the call fails with Unknown (or
//     DeadlineExceeded when its time ran out): the caller must read before retrying,
//     since applying a Txn twice could, e.g., take a lock twice.
// So: Unavailable means "not applied"; Unknown and DeadlineExceeded on a write mean "maybe".
//
// Watches. Each Watch is one Watch stream (an HTTP/2 stream on the endpoint's connection)
// with require-leader metadata, so a member that loses quorum ends it. Its thread reads the
// stream and runs the sink. After any reconnect, on whatever member is up, the watch
// resumes at the revision after the last one it delivered; when etcd answers that this
// revision is compacted, it lists the prefix and delivers a resync batch instead.
//
// Leases. KeepAlive uses one LeaseKeepAlive stream shared by every call (see
// etcd_lease_keeper.h), reopened on another member when it breaks.
//
// No call blocks past its timeout, and destroying the store or a WatchHandle returns
// promptly even when every member is dead.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "store/kv.h"
#include "store/watch_control.h"

namespace grpc {
class ChannelCredentials;
}  // namespace grpc

namespace prewarm::store {

class EtcdEndpoints;
class EtcdWatcher;
class LeaseKeeper;

struct EtcdKvOptions {
  // Client URLs of the members: "127.0.0.11:2379" (an http:// or https:// prefix is
  // accepted and ignored: the credentials decide).
  std::vector<std::string> endpoints;
  // TLS (src/security builds them); nullptr means plaintext.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // Default bound on every call whose timeout_ms is 0.
  int64_t request_timeout_ms = 5000;
  // How long one attempt waits for a member's connection before trying the next.
  int64_t dial_timeout_ms = 2000;
};

class EtcdKv final : public KvStore {
 public:
  // Checks the options; connects lazily, so this succeeds with every member down.
  static absl::StatusOr<std::unique_ptr<EtcdKv>> Create(const EtcdKvOptions& options);
  ~EtcdKv() override;
  EtcdKv(const EtcdKv&) = delete;
  EtcdKv& operator=(const EtcdKv&) = delete;

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
  // Reads the store's revision first (so "from now" means from this call), and so fails
  // with Unavailable when no member answers; after that it reconnects by itself.
  absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(std::string prefix, int64_t from_revision,
                                                     WatchSink sink) override;
  std::string Describe() const override;

  // The members the running watches are streaming from ("" for one reconnecting), for
  // /healthz and for tests that kill exactly that member.
  std::vector<std::string> WatchEndpoints() const;

 private:
  explicit EtcdKv(std::unique_ptr<EtcdEndpoints> endpoints);

  std::unique_ptr<EtcdEndpoints> endpoints_;
  std::unique_ptr<LeaseKeeper> keeper_;
  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<EtcdWatcher>> watchers_ ABSL_GUARDED_BY(mu_);
  WatchRegistry watches_;
};

}  // namespace prewarm::store
