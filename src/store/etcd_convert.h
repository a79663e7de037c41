// Between kv.h's types and etcd's protos. Internal to src/store.
#pragma once

#include <string>
#include <string_view>

#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "etcd/mvcc/mvccpb/kv.pb.h"
#include "store/kv.h"

namespace prewarm::store::etcd_internal {

// etcd's [key, range_end): one key, or every key with a prefix. The empty prefix is
// ["\0", "\0"), etcd's spelling of the whole keyspace (a range may not start empty).
struct KeyRange {
  std::string key;
  std::string range_end;
};
KeyRange RangeOf(std::string_view key, bool prefix);

etcdserverpb::RangeRequest RangeRequestFor(std::string_view key, bool prefix);
etcdserverpb::PutRequest PutRequestFor(std::string_view key, std::string_view value, int64_t lease);
etcdserverpb::DeleteRangeRequest DeleteRequestFor(std::string_view key, bool prefix);
etcdserverpb::TxnRequest ToProto(const TxnRequest& txn);

KeyValue FromProto(const mvccpb::KeyValue& kv);
// DELETE events keep only the key and the deletion's revision, as kv.h promises.
WatchEvent FromProto(const mvccpb::Event& event);
TxnResult FromProto(const etcdserverpb::TxnResponse& response);

// No puts or deletes in either branch: etcd serves it as a read, and it may be retried.
bool IsReadOnly(const TxnRequest& txn);

}  // namespace prewarm::store::etcd_internal
