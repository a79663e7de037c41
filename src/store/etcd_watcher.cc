#include "store/etcd_watcher.h"

#include <algorithm>
#include <cstdlib>
#include <optional>

#include "common/status.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"
#include "store/etcd_convert.h"

namespace prewarm::store {

using etcd_internal::FromProto;
using etcd_internal::RangeOf;

EtcdWatcher::EtcdWatcher(EtcdEndpoints& endpoints, std::string prefix, int64_t start_revision,
                         WatchSink sink)
    : endpoints_(endpoints),
      prefix_(std::move(prefix)),
      sink_(std::move(sink)),
      next_revision_(start_revision),
      thread_(&EtcdWatcher::Run, this) {}

EtcdWatcher::~EtcdWatcher() { Stop(); }

void EtcdWatcher::Stop() {
  if (thread_.get_id() == std::this_thread::get_id()) {
    spdlog::critical("store: a watch sink destroyed its own WatchHandle (kv.h forbids it)");
    std::abort();
  }
  stop_.store(true);
  {
    absl::MutexLock lock(&mu_);
    if (context_ != nullptr) {
      context_->TryCancel();
    }
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

std::string EtcdWatcher::endpoint() const {
  absl::MutexLock lock(&mu_);
  return endpoint_;
}

bool EtcdWatcher::Register(grpc::ClientContext* ctx) {
  absl::MutexLock lock(&mu_);
  // Checked under mu_: Stop sets stop_ before taking mu_, so it either sees this context
  // and cancels it, or this sees stop_ (and keeps no pointer Stop could use later).
  bool stopping = stop_.load();
  context_ = stopping ? nullptr : ctx;
  if (ctx == nullptr) {
    endpoint_.clear();
  }
  return !stopping;
}

void EtcdWatcher::Run() {
  int failures = 0;
  while (!stop_.load()) {
    absl::StatusOr<size_t> member =
        endpoints_.Pick(endpoints_.DeadlineFor(endpoints_.dial_timeout_ms()), &stop_);
    absl::Status status = member.ok() ? Stream(*member) : member.status();
    if (stop_.load()) {
      break;
    }
    if (status.ok()) {
      failures = 0;
      continue;
    }
    if (member.ok()) {
      endpoints_.Demote(*member);
    }
    if (failures == 0) {
      spdlog::info("etcd watch {}: reconnecting: {}", prefix_, status.message());
    }
    BackoffSleep(failures++, endpoints_.DeadlineFor(1000), &stop_);
  }
}

absl::Status EtcdWatcher::Stream(size_t member) {
  grpc::ClientContext ctx;
  EtcdEndpoints::Prepare(ctx, std::nullopt);
  if (!Register(&ctx)) {
    return absl::CancelledError("stopping");
  }
  auto stream = endpoints_.watch(member).Watch(&ctx);
  etcdserverpb::WatchRequest request;
  etcdserverpb::WatchCreateRequest* create = request.mutable_create_request();
  etcd_internal::KeyRange range = RangeOf(prefix_, true);
  create->set_key(range.key);
  create->set_range_end(range.range_end);
  create->set_start_revision(next_revision_);
  // Periodic empty responses from an up-to-date watcher let a quiet watch resume from a
  // recent revision rather than one that may be compacted by then.
  create->set_progress_notify(true);
  std::optional<absl::Status> end;
  if (stream->Write(request)) {
    etcdserverpb::WatchResponse response;
    while (!end.has_value() && stream->Read(&response)) {
      end = Handle(response, member);
    }
  }
  if (end.has_value()) {
    ctx.TryCancel();  // we end it; otherwise Finish says why it ended
  }
  grpc::Status finished = stream->Finish();
  Register(nullptr);
  if (!end.has_value()) {
    end = finished.ok() ? absl::UnavailableError("etcd watch: the stream ended")
                        : FromGrpc(finished, "watch", endpoints_.name(member));
  }
  return end->ok() ? Resync() : *end;
}

std::optional<absl::Status> EtcdWatcher::Handle(const etcdserverpb::WatchResponse& response,
                                                size_t member) {
  if (response.compact_revision() != 0) {
    spdlog::info("etcd watch {}: revision {} is compacted (oldest kept {}); resyncing", prefix_,
                 next_revision_, response.compact_revision());
    return absl::OkStatus();  // Stream resyncs
  }
  if (response.canceled()) {
    return absl::UnavailableError(fmt::format("etcd watch via {} canceled: {}",
                                              endpoints_.name(member), response.cancel_reason()));
  }
  if (response.created()) {
    absl::MutexLock lock(&mu_);
    endpoint_ = endpoints_.name(member);
  } else if (response.events_size() == 0) {
    // A progress notification: nothing under the prefix up to this revision is undelivered.
    next_revision_ = std::max(next_revision_, response.header().revision() + 1);
  } else {
    Deliver(response);
  }
  return std::nullopt;
}

void EtcdWatcher::Deliver(const etcdserverpb::WatchResponse& response) {
  WatchBatch batch;
  for (const mvccpb::Event& event : response.events()) {
    // Never twice: a resumed stream starts at next_revision_, this only guards it.
    if (event.kv().mod_revision() < next_revision_) {
      continue;
    }
    batch.events.push_back(FromProto(event));
  }
  if (batch.events.empty()) {
    return;
  }
  // The last event's revision, not the header's: while catching up, etcd may send a
  // header revision beyond events it has not sent yet.
  batch.revision = batch.events.back().kv.mod_revision;
  next_revision_ = batch.revision + 1;
  sink_(batch);
}

absl::Status EtcdWatcher::Resync() {
  etcdserverpb::RangeRequest request = etcd_internal::RangeRequestFor(prefix_, true);
  etcdserverpb::RangeResponse response;
  absl::Status status = endpoints_.Invoke(
      "watch resync", Retry::kAlways, 0,
      [&](size_t member, grpc::ClientContext& ctx) {
        if (!Register(&ctx)) {
          return grpc::Status(grpc::StatusCode::CANCELLED, "stopping");
        }
        grpc::Status s = endpoints_.kv(member).Range(&ctx, request, &response);
        Register(nullptr);
        return s;
      },
      &stop_);
  if (!status.ok()) {
    return status;  // Run reconnects; the new stream is compacted again
  }
  WatchBatch batch;
  batch.resync = true;
  batch.revision = response.header().revision();
  for (const mvccpb::KeyValue& kv : response.kvs()) {
    batch.events.push_back({WatchEvent::Type::kPut, FromProto(kv)});
  }
  next_revision_ = batch.revision + 1;
  sink_(batch);
  return absl::OkStatus();
}

}  // namespace prewarm::store
