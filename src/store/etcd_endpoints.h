// EtcdEndpoints: one gRPC channel per etcd member, which member to talk to, and the retry
// policy of every unary call (etcd_kv.h describes it). Internal to src/store.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "store/etcd_kv.h"

namespace prewarm::store {

using Deadline = std::chrono::steady_clock::time_point;

// May a failed call be sent again, to this or another member?
enum class Retry {
  kAlways,    // reads and idempotent writes
  kIfUnsent,  // other writes: only when etcd surely did not apply the first attempt
};

class EtcdEndpoints {
 public:
  // Fails on an empty list or an empty endpoint.
  static absl::StatusOr<std::unique_ptr<EtcdEndpoints>> Create(const EtcdKvOptions& options);

  size_t size() const { return members_.size(); }
  const std::string& name(size_t i) const { return members_[i].name; }
  etcdserverpb::KV::Stub& kv(size_t i) const { return *members_[i].kv; }
  etcdserverpb::Lease::Stub& lease(size_t i) const { return *members_[i].lease; }
  etcdserverpb::Watch::Stub& watch(size_t i) const { return *members_[i].watch; }
  bool tls() const { return tls_; }
  int64_t dial_timeout_ms() const { return dial_timeout_ms_; }
  // Now plus `timeout_ms`, or plus the request timeout when `timeout_ms` <= 0.
  Deadline DeadlineFor(int64_t timeout_ms) const;

  // A member whose channel is connected, the preferred one if it is. Otherwise waits, at
  // most the dial timeout and never past `deadline`, for one to connect; Unavailable when
  // none does. `stop` (optional) ends the wait early.
  absl::StatusOr<size_t> Pick(Deadline deadline, const std::atomic<bool>* stop = nullptr);
  // Moves the preference off member `i` after it failed.
  void Demote(size_t i);

  // A context with etcd's require-leader metadata and, if given, a deadline.
  static void Prepare(grpc::ClientContext& ctx, std::optional<Deadline> deadline);

  using Call = std::function<grpc::Status(size_t member, grpc::ClientContext& ctx)>;
  // Runs `call` on a connected member until it succeeds, fails for good, or `timeout_ms`
  // runs out, moving to the next member as `retry` allows. Errors name `what` and the
  // member. `stop` (optional) gives up early (Cancelled).
  absl::Status Invoke(std::string_view what, Retry retry, int64_t timeout_ms, const Call& call,
                      const std::atomic<bool>* stop = nullptr);

 private:
  struct Member {
    std::string name;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<etcdserverpb::KV::Stub> kv;
    std::unique_ptr<etcdserverpb::Lease::Stub> lease;
    std::unique_ptr<etcdserverpb::Watch::Stub> watch;
  };
  EtcdEndpoints() = default;
  std::optional<size_t> FirstReady();
  bool StillReady(size_t i);
  std::string States();

  std::vector<Member> members_;
  bool tls_ = false;
  int64_t request_timeout_ms_ = 0;
  int64_t dial_timeout_ms_ = 0;
  std::atomic<size_t> preferred_{0};
};

// grpc::Status -> absl::Status (the codes are the same numbers), naming what failed where.
absl::Status FromGrpc(const grpc::Status& s, std::string_view what, std::string_view member);

// Sleeps min(`attempt`-th step of 50 ms doubling up to 1 s, until `deadline`), or less
// when `stop` is set. Used between attempts that all failed.
void BackoffSleep(int attempt, Deadline deadline, const std::atomic<bool>* stop);

}  // namespace prewarm::store
