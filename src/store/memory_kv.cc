#include "store/memory_kv.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <utility>

#include "common/status.h"
#include "fmt/format.h"
#include "store/memory_kv_internal.h"

namespace prewarm::store {

using memory_internal::Matches;

namespace {

constexpr size_t kMaxTxnOps = 128;  // etcd's --max-txn-ops default

absl::Status CheckKey(std::string_view key, bool prefix) {
  if (key.empty() && !prefix) {
    return absl::InvalidArgumentError("etcdserver: key is not provided");
  }
  return absl::OkStatus();
}

// etcd's checkIntervals for one branch: no key is put twice or put inside a delete.
absl::Status CheckOverlaps(const std::vector<Op>& ops) {
  std::set<std::string_view> puts;
  for (const Op& op : ops) {
    if (op.kind == Op::Kind::kPut && !puts.insert(op.key).second) {
      return absl::InvalidArgumentError("etcdserver: duplicate key given in txn request");
    }
  }
  for (const Op& op : ops) {
    if (op.kind != Op::Kind::kDelete) {
      continue;
    }
    for (std::string_view put : puts) {
      if (Matches(put, op.key, op.prefix)) {
        return absl::InvalidArgumentError("etcdserver: duplicate key given in txn request");
      }
    }
  }
  return absl::OkStatus();
}

// What etcd's kvServer checks before a Txn reaches the store.
absl::Status CheckTxn(const TxnRequest& txn) {
  if (std::max({txn.compare.size(), txn.success.size(), txn.failure.size()}) > kMaxTxnOps) {
    return absl::InvalidArgumentError("etcdserver: too many operations in txn request");
  }
  for (const Compare& c : txn.compare) {
    RETURN_IF_ERROR(CheckKey(c.key, false));
  }
  for (const auto* ops : {&txn.success, &txn.failure}) {
    for (const Op& op : *ops) {
      RETURN_IF_ERROR(CheckKey(op.key, op.prefix && op.kind != Op::Kind::kPut));
    }
    RETURN_IF_ERROR(CheckOverlaps(*ops));
  }
  return absl::OkStatus();
}

int Sign(int64_t d) { return d < 0 ? -1 : (d > 0 ? 1 : 0); }

}  // namespace

// The changes of one revision, applied in op order; Finish() commits them.
class MemoryKv::Writer {
 public:
  // The caller holds kv.mu_ for the Writer's whole life (AssertHeld tells the
  // thread-safety analysis, which cannot see through the reference).
  explicit Writer(MemoryKv& kv) : kv_(kv), revision_(Next(kv)) {}

  void Put(const Op& op) {
    kv_.mu_.AssertHeld();
    auto [it, created] = kv_.data_.try_emplace(op.key);
    Entry& e = it->second;
    if (created) {
      e.create_revision = revision_;
    } else if (e.lease != op.lease) {
      Detach(op.key, e.lease);
    }
    e.version = created ? 1 : e.version + 1;
    e.mod_revision = revision_;
    e.value = op.value;
    e.lease = op.lease;
    if (e.lease != 0) {
      kv_.leases_[e.lease].keys.insert(op.key);
    }
    events_.push_back({WatchEvent::Type::kPut, memory_internal::ToKeyValue(op.key, e)});
  }

  int64_t Delete(std::string_view key, bool prefix) {
    kv_.mu_.AssertHeld();
    std::vector<std::string> doomed;
    for (const KeyValue& kv : kv_.RangeLocked(key, prefix)) {
      doomed.push_back(kv.key);
    }
    for (const std::string& k : doomed) {
      auto it = kv_.data_.find(k);
      Detach(k, it->second.lease);
      kv_.data_.erase(it);
      WatchEvent ev{WatchEvent::Type::kDelete, {}};
      ev.kv.key = k;
      ev.kv.mod_revision = revision_;
      events_.push_back(std::move(ev));
    }
    return static_cast<int64_t>(doomed.size());
  }

  // Returns the store's revision afterwards (unchanged when nothing changed).
  int64_t Finish() {
    kv_.mu_.AssertHeld();
    kv_.CommitLocked(std::move(events_));
    return kv_.revision_;
  }

 private:
  static int64_t Next(MemoryKv& kv) {
    kv.mu_.AssertHeld();
    return kv.revision_ + 1;
  }

  void Detach(const std::string& key, int64_t lease) {
    kv_.mu_.AssertHeld();
    auto it = kv_.leases_.find(lease);
    if (it != kv_.leases_.end()) {
      it->second.keys.erase(key);
    }
  }

  MemoryKv& kv_;
  const int64_t revision_;
  std::vector<WatchEvent> events_;
};

MemoryKv::MemoryKv(const Clock& clock, const MemoryKvOptions& options)
    : clock_(clock), options_(options) {
  bool background =
      options_.expire_in_background.value_or(dynamic_cast<const RealClock*>(&clock_) != nullptr);
  if (background) {
    expiry_thread_ = std::thread(&MemoryKv::ExpiryLoop, this);
  }
}

MemoryKv::~MemoryKv() {
  watches_.StopAll();
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (expiry_thread_.joinable()) {
    expiry_thread_.join();
  }
}

absl::Status MemoryKv::Delay(int64_t timeout_ms) const {
  int64_t delay = call_delay_ms_.load();
  if (delay <= 0) {
    return absl::OkStatus();
  }
  int64_t timeout = timeout_ms > 0 ? timeout_ms : options_.request_timeout_ms;
  std::this_thread::sleep_for(std::chrono::milliseconds(std::min(delay, timeout)));
  if (delay > timeout) {
    return absl::DeadlineExceededError(fmt::format(
        "memory store: no answer within the {} ms timeout (injected delay {} ms)", timeout, delay));
  }
  return absl::OkStatus();
}

absl::Status MemoryKv::EnterLocked() {
  if (!available_) {
    return absl::UnavailableError("memory store: unavailable (injected fault)");
  }
  ExpireLeasesLocked();
  return absl::OkStatus();
}

std::vector<KeyValue> MemoryKv::RangeLocked(std::string_view key, bool prefix) const {
  std::vector<KeyValue> out;
  for (auto it = data_.lower_bound(key); it != data_.end(); ++it) {
    if (!Matches(it->first, key, prefix)) {
      break;
    }
    out.push_back(memory_internal::ToKeyValue(it->first, it->second));
  }
  return out;
}

absl::StatusOr<RangeResult> MemoryKv::Get(std::string_view key, bool prefix, int64_t timeout_ms) {
  RETURN_IF_ERROR(CheckKey(key, prefix));
  RETURN_IF_ERROR(Delay(timeout_ms));
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(EnterLocked());
  return RangeResult{RangeLocked(key, prefix), revision_};
}

absl::StatusOr<int64_t> MemoryKv::Put(std::string_view key, std::string_view value, int64_t lease,
                                      int64_t timeout_ms) {
  TxnRequest txn;
  txn.success.push_back(Op::Put(std::string(key), std::string(value), lease));
  ASSIGN_OR_RETURN(TxnResult result, Txn(txn, timeout_ms));
  return result.revision;
}

absl::StatusOr<int64_t> MemoryKv::Delete(std::string_view key, bool prefix, int64_t timeout_ms) {
  RETURN_IF_ERROR(CheckKey(key, prefix));
  RETURN_IF_ERROR(Delay(timeout_ms));
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(EnterLocked());
  Writer writer(*this);
  int64_t deleted = writer.Delete(key, prefix);
  writer.Finish();
  return deleted;
}

bool MemoryKv::HoldsLocked(const Compare& c) const {
  auto it = data_.find(c.key);
  // etcd: comparing the value of a missing key is false whatever the operator.
  if (it == data_.end() && c.target == Compare::Target::kValue) {
    return false;
  }
  Entry e = it == data_.end() ? Entry{} : it->second;
  int cmp = 0;
  switch (c.target) {
    case Compare::Target::kVersion:
      cmp = Sign(e.version - c.number);
      break;
    case Compare::Target::kCreateRevision:
      cmp = Sign(e.create_revision - c.number);
      break;
    case Compare::Target::kModRevision:
      cmp = Sign(e.mod_revision - c.number);
      break;
    case Compare::Target::kLease:
      cmp = Sign(e.lease - c.number);
      break;
    case Compare::Target::kValue:
      cmp = Sign(e.value.compare(c.value));
      break;
  }
  switch (c.op) {
    case Compare::Op::kEqual:
      return cmp == 0;
    case Compare::Op::kNotEqual:
      return cmp != 0;
    case Compare::Op::kGreater:
      return cmp > 0;
    case Compare::Op::kLess:
      return cmp < 0;
  }
  return false;
}

absl::Status MemoryKv::CheckLeasesLocked(const std::vector<Op>& ops) const {
  for (const Op& op : ops) {
    if (op.kind == Op::Kind::kPut && op.lease != 0 && !leases_.contains(op.lease)) {
      return absl::NotFoundError("etcdserver: requested lease not found");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<TxnResult> MemoryKv::Txn(const TxnRequest& txn, int64_t timeout_ms) {
  RETURN_IF_ERROR(CheckTxn(txn));
  RETURN_IF_ERROR(Delay(timeout_ms));
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(EnterLocked());
  TxnResult result;
  result.succeeded = true;
  for (const Compare& c : txn.compare) {
    result.succeeded = result.succeeded && HoldsLocked(c);
  }
  const std::vector<Op>& ops = result.succeeded ? txn.success : txn.failure;
  RETURN_IF_ERROR(CheckLeasesLocked(ops));  // before anything is applied, as etcd does
  Writer writer(*this);
  for (const Op& op : ops) {
    switch (op.kind) {
      case Op::Kind::kPut:
        writer.Put(op);
        break;
      case Op::Kind::kDelete:
        writer.Delete(op.key, op.prefix);
        break;
      case Op::Kind::kGet:
        result.gets.push_back(RangeLocked(op.key, op.prefix));
        break;
    }
  }
  result.revision = writer.Finish();
  return result;
}

void MemoryKv::CommitLocked(std::vector<WatchEvent> events) {
  if (events.empty()) {
    return;  // etcd: a write that changed nothing keeps the revision
  }
  ++revision_;
  history_.push_back(Change{revision_, std::move(events)});
  while (static_cast<int64_t>(history_.size()) > std::max<int64_t>(options_.history_revisions, 1)) {
    first_watchable_ = history_.front().revision + 1;
    history_.pop_front();
  }
}

absl::Status MemoryKv::Compact(int64_t revision) {
  absl::MutexLock lock(&mu_);
  if (revision > revision_) {
    return absl::OutOfRangeError("etcdserver: mvcc: required revision is a future revision");
  }
  if (revision <= compacted_) {
    return absl::OutOfRangeError("etcdserver: mvcc: required revision has been compacted");
  }
  compacted_ = revision;
  first_watchable_ = std::max(first_watchable_, revision);
  while (!history_.empty() && history_.front().revision < revision) {
    history_.pop_front();
  }
  return absl::OkStatus();
}

int64_t MemoryKv::Revision() const {
  absl::MutexLock lock(&mu_);
  return revision_;
}

void MemoryKv::RevokeLocked(int64_t lease) {
  auto it = leases_.find(lease);
  if (it == leases_.end()) {
    return;
  }
  std::set<std::string> keys = std::move(it->second.keys);  // sorted, as etcd deletes them
  leases_.erase(it);
  Writer writer(*this);
  for (const std::string& key : keys) {
    writer.Delete(key, false);
  }
  writer.Finish();
}

void MemoryKv::SetAvailable(bool available) {
  absl::MutexLock lock(&mu_);
  available_ = available;
}

}  // namespace prewarm::store
