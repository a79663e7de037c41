#include "store/etcd_convert.h"

#include <algorithm>

namespace prewarm::store::etcd_internal {
namespace {

etcdserverpb::Compare ToProto(const Compare& c) {
  etcdserverpb::Compare out;
  out.set_key(c.key);
  switch (c.op) {
    case Compare::Op::kEqual:
      out.set_result(etcdserverpb::Compare::EQUAL);
      break;
    case Compare::Op::kNotEqual:
      out.set_result(etcdserverpb::Compare::NOT_EQUAL);
      break;
    case Compare::Op::kGreater:
      out.set_result(etcdserverpb::Compare::GREATER);
      break;
    case Compare::Op::kLess:
      out.set_result(etcdserverpb::Compare::LESS);
      break;
  }
  switch (c.target) {
    case Compare::Target::kVersion:
      out.set_target(etcdserverpb::Compare::VERSION);
      out.set_version(c.number);
      break;
    case Compare::Target::kCreateRevision:
      out.set_target(etcdserverpb::Compare::CREATE);
      out.set_create_revision(c.number);
      break;
    case Compare::Target::kModRevision:
      out.set_target(etcdserverpb::Compare::MOD);
      out.set_mod_revision(c.number);
      break;
    case Compare::Target::kValue:
      out.set_target(etcdserverpb::Compare::VALUE);
      out.set_value(c.value);
      break;
    case Compare::Target::kLease:
      out.set_target(etcdserverpb::Compare::LEASE);
      out.set_lease(c.number);
      break;
  }
  return out;
}

etcdserverpb::RequestOp ToProto(const Op& op) {
  etcdserverpb::RequestOp out;
  switch (op.kind) {
    case Op::Kind::kPut:
      *out.mutable_request_put() = PutRequestFor(op.key, op.value, op.lease);
      break;
    case Op::Kind::kDelete:
      *out.mutable_request_delete_range() = DeleteRequestFor(op.key, op.prefix);
      break;
    case Op::Kind::kGet:
      *out.mutable_request_range() = RangeRequestFor(op.key, op.prefix);
      break;
  }
  return out;
}

}  // namespace

KeyRange RangeOf(std::string_view key, bool prefix) {
  if (!prefix) {
    return {std::string(key), ""};
  }
  if (key.empty()) {
    return {std::string(1, '\0'), std::string(1, '\0')};
  }
  return {std::string(key), PrefixEnd(key)};
}

etcdserverpb::RangeRequest RangeRequestFor(std::string_view key, bool prefix) {
  KeyRange r = RangeOf(key, prefix);
  etcdserverpb::RangeRequest req;
  req.set_key(r.key);
  req.set_range_end(r.range_end);
  return req;  // sorted by key (etcd's default order) and linearizable
}

etcdserverpb::PutRequest PutRequestFor(std::string_view key, std::string_view value,
                                       int64_t lease) {
  etcdserverpb::PutRequest req;
  req.set_key(std::string(key));
  req.set_value(std::string(value));
  req.set_lease(lease);
  return req;
}

etcdserverpb::DeleteRangeRequest DeleteRequestFor(std::string_view key, bool prefix) {
  KeyRange r = RangeOf(key, prefix);
  etcdserverpb::DeleteRangeRequest req;
  req.set_key(r.key);
  req.set_range_end(r.range_end);
  return req;
}

etcdserverpb::TxnRequest ToProto(const TxnRequest& txn) {
  etcdserverpb::TxnRequest out;
  for (const Compare& c : txn.compare) {
    *out.add_compare() = ToProto(c);
  }
  for (const Op& op : txn.success) {
    *out.add_success() = ToProto(op);
  }
  for (const Op& op : txn.failure) {
    *out.add_failure() = ToProto(op);
  }
  return out;
}

KeyValue FromProto(const mvccpb::KeyValue& kv) {
  return KeyValue{kv.key(),          kv.value(),   kv.create_revision(),
                  kv.mod_revision(), kv.version(), kv.lease()};
}

WatchEvent FromProto(const mvccpb::Event& event) {
  WatchEvent out;
  if (event.type() == mvccpb::Event::DELETE) {
    out.type = WatchEvent::Type::kDelete;
    out.kv.key = event.kv().key();
    out.kv.mod_revision = event.kv().mod_revision();
  } else {
    out.type = WatchEvent::Type::kPut;
    out.kv = FromProto(event.kv());
  }
  return out;
}

TxnResult FromProto(const etcdserverpb::TxnResponse& response) {
  TxnResult out;
  out.succeeded = response.succeeded();
  out.revision = response.header().revision();
  for (const etcdserverpb::ResponseOp& op : response.responses()) {
    if (!op.has_response_range()) {
      continue;
    }
    std::vector<KeyValue>& kvs = out.gets.emplace_back();
    for (const mvccpb::KeyValue& kv : op.response_range().kvs()) {
      kvs.push_back(FromProto(kv));
    }
  }
  return out;
}

bool IsReadOnly(const TxnRequest& txn) {
  auto reads = [](const std::vector<Op>& ops) {
    return std::all_of(ops.begin(), ops.end(),
                       [](const Op& op) { return op.kind == Op::Kind::kGet; });
  };
  return reads(txn.success) && reads(txn.failure);
}

}  // namespace prewarm::store::etcd_internal
