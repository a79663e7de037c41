// MemoryKv's leases: TTLs in whole seconds with etcd's floor, expiry on every call, on
// ExpireLeases() and (RealClock) from a background thread.
#include <algorithm>
#include <utility>
#include <vector>

#include "common/status.h"
#include "store/memory_kv.h"

namespace prewarm::store {
namespace {

constexpr int64_t kMaxLeaseTtlSeconds = 9'000'000'000;  // etcd's MaxLeaseTTL

int64_t CeilSeconds(int64_t ms) { return ms <= 0 ? 0 : (ms + 999) / 1000; }

}  // namespace

absl::StatusOr<int64_t> MemoryKv::GrantLease(int64_t ttl_ms, int64_t timeout_ms) {
  if (CeilSeconds(ttl_ms) > kMaxLeaseTtlSeconds) {
    return absl::OutOfRangeError("etcdserver: too large lease TTL");
  }
  RETURN_IF_ERROR(Delay(timeout_ms));
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(EnterLocked());
  int64_t ttl = 1000 * std::max(CeilSeconds(ttl_ms), CeilSeconds(options_.min_lease_ttl_ms));
  int64_t id = next_lease_id_++;
  leases_[id] = Lease{ttl, clock_.NowMs() + ttl, {}};
  return id;
}

absl::StatusOr<int64_t> MemoryKv::KeepAlive(int64_t lease, int64_t timeout_ms) {
  RETURN_IF_ERROR(Delay(timeout_ms));
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(EnterLocked());  // a lease already past its deadline is gone first
  auto it = leases_.find(lease);
  if (it == leases_.end()) {
    return absl::NotFoundError("etcdserver: requested lease not found");
  }
  it->second.deadline_ms = clock_.NowMs() + it->second.ttl_ms;
  return it->second.ttl_ms;
}

absl::Status MemoryKv::Revoke(int64_t lease, int64_t timeout_ms) {
  RETURN_IF_ERROR(Delay(timeout_ms));
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(EnterLocked());
  RevokeLocked(lease);
  return absl::OkStatus();
}

void MemoryKv::ExpireLeases() {
  absl::MutexLock lock(&mu_);
  ExpireLeasesLocked();
}

void MemoryKv::ExpireLeasesLocked() {
  int64_t now = clock_.NowMs();
  std::vector<std::pair<int64_t, int64_t>> due;  // (deadline, id): earliest first
  for (const auto& [id, lease] : leases_) {
    if (lease.deadline_ms <= now) {
      due.emplace_back(lease.deadline_ms, id);
    }
  }
  std::sort(due.begin(), due.end());
  for (const auto& [deadline, id] : due) {
    RevokeLocked(id);
  }
}

void MemoryKv::ExpiryLoop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(100));
    if (!stopping_) {
      ExpireLeasesLocked();
    }
  }
}

}  // namespace prewarm::store
