// KvStore: the cluster store's contract, an etcd v3-shaped key-value store with
// revisions, transactions, leases and watches. Two implementations sit behind it:
// MemoryKv (memory_kv.h: one process, today's single-orchestrator default, also the fake
// for unit tests) and EtcdKv (etcd_kv.h: etcd's own v3 gRPC API). Both pass one
// conformance suite (kv_conformance_test.cc), so code above this interface cannot tell
// them apart except by latency and failures.
//
// Semantics (as etcd's, see https://etcd.io/docs/v3.4/learning/api/):
// - Every change (a Put, a Delete that removed something, a Txn whose puts or deletes
//   changed something) makes the store's revision one larger; all of a Txn's writes share
//   that one revision. A key keeps create_revision (the revision that created
//   it), mod_revision (last change) and version (1 on creation, +1 per Put; a Delete
//   removes the key, and a later Put starts again at version 1).
// - A key put with a lease is deleted when the lease expires or is revoked; the deletion
//   of all of a lease's keys is one ordinary change that watches see.
// - A watch delivers every change under its prefix with revision >= its start, in
//   revision order, once each, across reconnects to other members.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace prewarm::store {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;  // 0: none
};

struct RangeResult {
  std::vector<KeyValue> kvs;  // sorted by key
  int64_t revision = 0;       // the store's revision the read saw
};

// One condition of a transaction, compared against the key's current state. A missing
// key has version, create_revision, mod_revision and lease 0; a kValue comparison against
// a missing key is false whatever the op (etcd's rule: even kNotEqual fails).
struct Compare {
  enum class Target { kVersion, kCreateRevision, kModRevision, kValue, kLease };
  enum class Op { kEqual, kNotEqual, kGreater, kLess };
  std::string key;
  Target target = Target::kVersion;
  Op op = Op::kEqual;
  int64_t number = 0;  // for kVersion, kCreateRevision, kModRevision, kLease
  std::string value;   // for kValue

  static Compare VersionIs(std::string key, int64_t v) {
    return {std::move(key), Target::kVersion, Op::kEqual, v, {}};
  }
  static Compare Exists(std::string key) {
    return {std::move(key), Target::kVersion, Op::kGreater, 0, {}};
  }
  static Compare Missing(std::string key) { return VersionIs(std::move(key), 0); }
  static Compare ModRevisionIs(std::string key, int64_t rev) {
    return {std::move(key), Target::kModRevision, Op::kEqual, rev, {}};
  }
  static Compare CreateRevisionIs(std::string key, int64_t rev) {
    return {std::move(key), Target::kCreateRevision, Op::kEqual, rev, {}};
  }
  static Compare ValueIs(std::string key, std::string value) {
    return {std::move(key), Target::kValue, Op::kEqual, 0, std::move(value)};
  }
};

// One operation of a transaction.
struct Op {
  enum class Kind { kPut, kDelete, kGet };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;    // kPut
  int64_t lease = 0;    // kPut: 0 for none
  bool prefix = false;  // kDelete, kGet: every key starting with `key`

  static Op Put(std::string key, std::string value, int64_t lease = 0) {
    return {Kind::kPut, std::move(key), std::move(value), lease, false};
  }
  static Op Delete(std::string key) { return {Kind::kDelete, std::move(key), {}, 0, false}; }
  static Op DeletePrefix(std::string prefix) {
    return {Kind::kDelete, std::move(prefix), {}, 0, true};
  }
  static Op Get(std::string key, bool prefix = false) {
    return {Kind::kGet, std::move(key), {}, 0, prefix};
  }
};

struct TxnRequest {
  std::vector<Compare> compare;  // all must hold ...
  std::vector<Op> success;       // ... then these run, atomically ...
  std::vector<Op> failure;       // ... else these.
};

struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;                     // the store's revision after the transaction
  std::vector<std::vector<KeyValue>> gets;  // one entry per kGet of the branch that ran, in order
};

struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  // for kDelete: key and mod_revision (the deletion's revision) only
};

// What a watch delivers. Normally `events` (all of one or more revisions, in order, a
// revision never split across batches) and `revision` the last event's revision.
// When the watch cannot resume where it stopped (the store compacted that history), it
// delivers one batch with `resync` true: `events` then holds a kPut for every key under
// the prefix as of `revision` (a fresh listing) and the receiver must drop every key it
// holds that the listing lacks. Either way, after a batch the receiver has seen every
// change up to `revision`.
struct WatchBatch {
  std::vector<WatchEvent> events;
  int64_t revision = 0;
  bool resync = false;
};

using WatchSink = std::function<void(const WatchBatch&)>;

// A running watch; destroying it cancels the watch and waits until its sink is no longer
// running.
class WatchHandle {
 public:
  virtual ~WatchHandle() = default;
};

class KvStore {
 public:
  virtual ~KvStore() = default;

  // Linearizable reads and writes. Every call gives up after the store's request timeout
  // (Unavailable or DeadlineExceeded) unless `timeout_ms` > 0 sets another.
  //
  // Failed writes (Put, Delete, a Txn with a put or delete): Unavailable means the store
  // did not apply it and it may simply be sent again; Unknown or DeadlineExceeded means
  // it may have been applied (the request went out and the answer was lost; with etcd,
  // e.g. a write in the second after the leader died), so read before retrying anything
  // that must not happen twice. Validation errors (InvalidArgument: an empty key, a key
  // put twice or put inside a delete of the same Txn branch; NotFound: a put with an
  // unknown lease) apply nothing.
  virtual absl::StatusOr<RangeResult> Get(std::string_view key, bool prefix = false,
                                          int64_t timeout_ms = 0) = 0;
  // Returns the revision of the change.
  virtual absl::StatusOr<int64_t> Put(std::string_view key, std::string_view value,
                                      int64_t lease = 0, int64_t timeout_ms = 0) = 0;
  // Returns how many keys it deleted.
  virtual absl::StatusOr<int64_t> Delete(std::string_view key, bool prefix = false,
                                         int64_t timeout_ms = 0) = 0;
  virtual absl::StatusOr<TxnResult> Txn(const TxnRequest& txn, int64_t timeout_ms = 0) = 0;

  // Leases. `ttl_ms` is rounded up to whole seconds (etcd's unit); the store may grant a
  // longer TTL than asked (etcd's minimum is 1.5 x its election timeout). Returns the id.
  virtual absl::StatusOr<int64_t> GrantLease(int64_t ttl_ms, int64_t timeout_ms = 0) = 0;
  // Refreshes the lease to its full TTL; NotFound when it has expired or was revoked.
  // Returns the TTL granted, in ms.
  virtual absl::StatusOr<int64_t> KeepAlive(int64_t lease, int64_t timeout_ms = 0) = 0;
  // Revokes the lease and deletes its keys. Revoking an unknown lease is OK.
  virtual absl::Status Revoke(int64_t lease, int64_t timeout_ms = 0) = 0;

  // Watches every key starting with `prefix`, from `from_revision` (0: from now). The sink
  // runs on a thread the store owns, one batch at a time, and must not call Watch or
  // destroy a WatchHandle from inside. Fails (Unavailable) only when the store cannot be
  // reached at the call; after that it reconnects and resumes by itself: the caller never
  // sees a gap, only (after compaction) a resync batch.
  virtual absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(std::string prefix,
                                                             int64_t from_revision,
                                                             WatchSink sink) = 0;

  // "memory" or "etcd https://127.0.0.1:2379,..." — for logs and /healthz.
  virtual std::string Describe() const = 0;
};

// The first key after every key that starts with `prefix` (etcd's range_end for a prefix).
std::string PrefixEnd(std::string_view prefix);

}  // namespace prewarm::store
