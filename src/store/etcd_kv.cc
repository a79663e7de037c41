#include "store/etcd_kv.h"

#include <algorithm>

#include "common/status.h"
#include "fmt/format.h"
#include "store/etcd_convert.h"
#include "store/etcd_endpoints.h"
#include "store/etcd_lease_keeper.h"
#include "store/etcd_watcher.h"

namespace prewarm::store {

using etcd_internal::FromProto;

absl::StatusOr<std::unique_ptr<EtcdKv>> EtcdKv::Create(const EtcdKvOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<EtcdEndpoints> endpoints, EtcdEndpoints::Create(options));
  return std::unique_ptr<EtcdKv>(new EtcdKv(std::move(endpoints)));
}

EtcdKv::EtcdKv(std::unique_ptr<EtcdEndpoints> endpoints)
    : endpoints_(std::move(endpoints)), keeper_(std::make_unique<LeaseKeeper>(*endpoints_)) {}

EtcdKv::~EtcdKv() {
  watches_.StopAll();
  keeper_.reset();
}

std::string EtcdKv::Describe() const {
  std::vector<std::string> urls;
  for (size_t i = 0; i < endpoints_->size(); ++i) {
    urls.push_back(
        fmt::format("{}://{}", endpoints_->tls() ? "https" : "http", endpoints_->name(i)));
  }
  return fmt::format("etcd {}", fmt::join(urls, ","));
}

absl::StatusOr<RangeResult> EtcdKv::Get(std::string_view key, bool prefix, int64_t timeout_ms) {
  etcdserverpb::RangeRequest request = etcd_internal::RangeRequestFor(key, prefix);
  etcdserverpb::RangeResponse response;
  RETURN_IF_ERROR(endpoints_->Invoke(
      "Get", Retry::kAlways, timeout_ms, [&](size_t member, grpc::ClientContext& ctx) {
        return endpoints_->kv(member).Range(&ctx, request, &response);
      }));
  RangeResult result;
  result.revision = response.header().revision();
  for (const mvccpb::KeyValue& kv : response.kvs()) {
    result.kvs.push_back(FromProto(kv));
  }
  return result;
}

absl::StatusOr<int64_t> EtcdKv::Put(std::string_view key, std::string_view value, int64_t lease,
                                    int64_t timeout_ms) {
  etcdserverpb::PutRequest request = etcd_internal::PutRequestFor(key, value, lease);
  etcdserverpb::PutResponse response;
  RETURN_IF_ERROR(endpoints_->Invoke("Put", Retry::kIfUnsent, timeout_ms,
                                     [&](size_t member, grpc::ClientContext& ctx) {
                                       return endpoints_->kv(member).Put(&ctx, request, &response);
                                     }));
  return response.header().revision();
}

absl::StatusOr<int64_t> EtcdKv::Delete(std::string_view key, bool prefix, int64_t timeout_ms) {
  etcdserverpb::DeleteRangeRequest request = etcd_internal::DeleteRequestFor(key, prefix);
  etcdserverpb::DeleteRangeResponse response;
  RETURN_IF_ERROR(endpoints_->Invoke(
      "Delete", Retry::kIfUnsent, timeout_ms, [&](size_t member, grpc::ClientContext& ctx) {
        return endpoints_->kv(member).DeleteRange(&ctx, request, &response);
      }));
  return response.deleted();
}

absl::StatusOr<TxnResult> EtcdKv::Txn(const TxnRequest& txn, int64_t timeout_ms) {
  etcdserverpb::TxnRequest request = etcd_internal::ToProto(txn);
  etcdserverpb::TxnResponse response;
  Retry retry = etcd_internal::IsReadOnly(txn) ? Retry::kAlways : Retry::kIfUnsent;
  RETURN_IF_ERROR(
      endpoints_->Invoke("Txn", retry, timeout_ms, [&](size_t member, grpc::ClientContext& ctx) {
        return endpoints_->kv(member).Txn(&ctx, request, &response);
      }));
  return FromProto(response);
}

absl::StatusOr<int64_t> EtcdKv::GrantLease(int64_t ttl_ms, int64_t timeout_ms) {
  etcdserverpb::LeaseGrantRequest request;
  request.set_ttl(std::max<int64_t>((ttl_ms + 999) / 1000, 1));  // etcd raises it to its floor
  etcdserverpb::LeaseGrantResponse response;
  RETURN_IF_ERROR(endpoints_->Invoke(
      "GrantLease", Retry::kAlways, timeout_ms, [&](size_t member, grpc::ClientContext& ctx) {
        return endpoints_->lease(member).LeaseGrant(&ctx, request, &response);
      }));
  if (!response.error().empty()) {
    return absl::InternalError(fmt::format("etcd GrantLease: {}", response.error()));
  }
  return response.id();
}

absl::StatusOr<int64_t> EtcdKv::KeepAlive(int64_t lease, int64_t timeout_ms) {
  ASSIGN_OR_RETURN(int64_t ttl_seconds,
                   keeper_->KeepAlive(lease, endpoints_->DeadlineFor(timeout_ms)));
  if (ttl_seconds <= 0) {
    return absl::NotFoundError("etcdserver: requested lease not found");
  }
  return ttl_seconds * 1000;
}

absl::Status EtcdKv::Revoke(int64_t lease, int64_t timeout_ms) {
  etcdserverpb::LeaseRevokeRequest request;
  request.set_id(lease);
  etcdserverpb::LeaseRevokeResponse response;
  absl::Status status = endpoints_->Invoke(
      "Revoke", Retry::kAlways, timeout_ms, [&](size_t member, grpc::ClientContext& ctx) {
        return endpoints_->lease(member).LeaseRevoke(&ctx, request, &response);
      });
  // kv.h: revoking an unknown lease is OK (so is a retry after a lost answer).
  return absl::IsNotFound(status) ? absl::OkStatus() : status;
}

absl::StatusOr<std::unique_ptr<WatchHandle>> EtcdKv::Watch(std::string prefix,
                                                           int64_t from_revision, WatchSink sink) {
  etcdserverpb::RangeRequest request = etcd_internal::RangeRequestFor(prefix, true);
  request.set_count_only(true);
  etcdserverpb::RangeResponse response;
  RETURN_IF_ERROR(
      endpoints_->Invoke("Watch", Retry::kAlways, 0, [&](size_t member, grpc::ClientContext& ctx) {
        return endpoints_->kv(member).Range(&ctx, request, &response);
      }));
  int64_t start = from_revision > 0 ? from_revision : response.header().revision() + 1;
  auto watcher =
      std::make_shared<EtcdWatcher>(*endpoints_, std::move(prefix), start, std::move(sink));
  {
    absl::MutexLock lock(&mu_);
    watchers_.push_back(watcher);
  }
  return watches_.Add([this, watcher] {
    watcher->Stop();
    absl::MutexLock lock(&mu_);
    std::erase(watchers_, watcher);
  });
}

std::vector<std::string> EtcdKv::WatchEndpoints() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& w : watchers_) {
    out.push_back(w->endpoint());
  }
  return out;
}

}  // namespace prewarm::store
