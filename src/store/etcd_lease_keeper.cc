#include "store/etcd_lease_keeper.h"

#include <algorithm>

#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace prewarm::store {
namespace {

absl::Duration Until(Deadline deadline) {
  return absl::FromChrono(std::max(deadline - std::chrono::steady_clock::now(),
                                   std::chrono::steady_clock::duration::zero()));
}

}  // namespace

LeaseKeeper::LeaseKeeper(EtcdEndpoints& endpoints) : endpoints_(endpoints) {
  thread_ = std::thread(&LeaseKeeper::Run, this);
}

LeaseKeeper::~LeaseKeeper() {
  stop_.store(true);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (context_ != nullptr) {
      context_->TryCancel();
    }
  }
  thread_.join();
}

void LeaseKeeper::Run() {
  int failures = 0;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto wanted = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !waiters_.empty();
      };
      mu_.Await(absl::Condition(&wanted));
      if (stopping_) {
        return;
      }
    }
    absl::StatusOr<size_t> member =
        endpoints_.Pick(endpoints_.DeadlineFor(endpoints_.dial_timeout_ms()), &stop_);
    if (member.ok() && Serve(*member)) {
      failures = 0;
      continue;
    }
    if (member.ok()) {
      endpoints_.Demote(*member);
    }
    BackoffSleep(failures++, endpoints_.DeadlineFor(1000), &stop_);
  }
}

bool LeaseKeeper::Serve(size_t member) {
  grpc::ClientContext ctx;
  EtcdEndpoints::Prepare(ctx, std::nullopt);
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      return false;
    }
    context_ = &ctx;
  }
  std::unique_ptr<Stream> stream = endpoints_.lease(member).LeaseKeepAlive(&ctx);
  {
    absl::MutexLock lock(&mu_);
    stream_ = stream.get();
    ++generation_;  // wakes every waiter to send on this stream
  }
  bool answered = false;
  etcdserverpb::LeaseKeepAliveResponse response;
  while (stream->Read(&response)) {
    answered = true;
    Dispatch(response);
  }
  ctx.TryCancel();  // unblocks a Write stuck on a member that stopped reading
  {
    absl::MutexLock write_lock(&write_mu_);
    absl::MutexLock lock(&mu_);
    stream_ = nullptr;
    context_ = nullptr;
  }
  grpc::Status status = stream->Finish();
  if (!status.ok() && !stop_.load()) {
    spdlog::debug("etcd lease keepalive stream via {} ended: {}", endpoints_.name(member),
                  status.error_message());
  }
  return answered;
}

void LeaseKeeper::Dispatch(const etcdserverpb::LeaseKeepAliveResponse& response) {
  absl::MutexLock lock(&mu_);
  last_answer_ = std::chrono::steady_clock::now();
  for (Waiter* w : waiters_) {
    if (w->lease == response.id() && w->sent_on == generation_ && !w->done) {
      w->done = true;
      w->ttl = response.ttl();
      return;
    }
  }
}

absl::StatusOr<int64_t> LeaseKeeper::KeepAlive(int64_t lease, Deadline deadline) {
  Waiter w;
  w.lease = lease;
  {
    absl::MutexLock lock(&mu_);
    waiters_.push_back(&w);
  }
  absl::Status status = Await(w, deadline);
  absl::MutexLock lock(&mu_);
  waiters_.remove(&w);
  if (!status.ok()) {
    return status;
  }
  return w.ttl;
}

absl::Status LeaseKeeper::Await(Waiter& w, Deadline deadline) {
  const auto waiting_since = std::chrono::steady_clock::now();
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this, &w]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return w.done || stopping_ || (stream_ != nullptr && w.sent_on != generation_);
      };
      bool woke = mu_.AwaitWithTimeout(absl::Condition(&ready), Until(deadline));
      if (w.done) {
        return absl::OkStatus();
      }
      if (stopping_) {
        return absl::CancelledError("etcd KeepAlive: the store is closing");
      }
      if (!woke) {
        if (w.sent_on == 0) {
          return absl::UnavailableError("etcd KeepAlive: no member reachable in time");
        }
        // Sent and unanswered, and the stream silent all the while: that member is stuck;
        // have the keeper move on.
        if (context_ != nullptr && w.sent_on == generation_ && last_answer_ < waiting_since) {
          context_->TryCancel();
        }
        return absl::DeadlineExceededError("etcd KeepAlive: no answer in time");
      }
    }
    Send(w);
  }
}

void LeaseKeeper::Send(Waiter& w) {
  absl::MutexLock write_lock(&write_mu_);
  Stream* stream = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (stream_ == nullptr || w.sent_on == generation_) {
      return;
    }
    stream = stream_;
    w.sent_on = generation_;  // before writing: the answer may come back at once
  }
  etcdserverpb::LeaseKeepAliveRequest request;
  request.set_id(w.lease);
  stream->Write(request);  // a failed write ends the stream; Await then sends on the next
}

}  // namespace prewarm::store
