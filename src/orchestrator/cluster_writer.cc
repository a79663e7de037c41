#include "orchestrator/cluster_writer.h"

#include <atomic>
#include <random>

#include "fmt/format.h"

namespace prewarm::orchestrator {
namespace {

using store::Compare;
using store::Op;

std::string ClaimValue(const std::string& instance) {
  v1::ClaimRecord c;
  c.set_instance_id(instance);
  return c.SerializeAsString();
}

Compare LeaseIs(std::string key, int64_t lease) {
  return {std::move(key), Compare::Target::kLease, Compare::Op::kEqual, lease, {}};
}

}  // namespace

std::string MakeInstanceId(const std::string& node, const std::string& tmpl) {
  static std::atomic<uint64_t> counter{0};
  // Replicas that restart or run side by side must not reuse ids: a random tag per process.
  static const uint32_t tag = [] { return std::random_device{}() & 0xffff; }();
  return fmt::format("{}-{}-{:04x}{}", node, tmpl, tag, ++counter);
}

absl::StatusOr<int64_t> ClusterWriter::Run(store::TxnRequest txn, const std::optional<Fence>& fence,
                                           std::string_view what, int64_t timeout_ms) {
  if (fence)
    txn.compare.push_back(Compare::CreateRevisionIs(keys_.Leader(), fence->leader_create_revision));
  ASSIGN_OR_RETURN(store::TxnResult r, kv_.Txn(txn, timeout_ms));
  if (!r.succeeded) {
    return absl::FailedPreconditionError(fmt::format("{}: the store changed meanwhile", what));
  }
  return r.revision;
}

absl::StatusOr<int64_t> ClusterWriter::Claim(const v1::InstanceRecord& rec,
                                             const std::optional<Fence>& fence,
                                             int64_t timeout_ms) {
  const std::string claim = keys_.Claim(rec.node_id(), rec.address());
  store::TxnRequest txn;
  txn.compare = {Compare::Missing(claim), Compare::Missing(keys_.Instance(rec.instance_id())),
                 Compare::Exists(keys_.Node(rec.node_id())),
                 Compare::Missing(keys_.Drain(rec.node_id()))};
  txn.success = {Op::Put(claim, ClaimValue(rec.instance_id())),
                 Op::Put(keys_.Instance(rec.instance_id()), rec.SerializeAsString())};
  return Run(std::move(txn), fence,
             fmt::format("claim {} on {} for {}", rec.address(), rec.node_id(), rec.instance_id()),
             timeout_ms);
}

absl::StatusOr<int64_t> ClusterWriter::Forget(const v1::InstanceRecord& rec,
                                              const std::optional<Fence>& fence) {
  const std::string claim = keys_.Claim(rec.node_id(), rec.address());
  const std::string key = keys_.Instance(rec.instance_id());
  store::TxnRequest both;
  both.compare = {Compare::ValueIs(claim, ClaimValue(rec.instance_id()))};
  both.success = {Op::Delete(key), Op::Delete(claim)};
  auto done = Run(std::move(both), fence, fmt::format("forget {}", rec.instance_id()));
  if (done.ok() || done.status().code() != absl::StatusCode::kFailedPrecondition) return done;
  // The claim is not (or no longer) this instance's, or the fence failed: delete only the
  // record, still under the fence.
  store::TxnRequest record;
  record.success = {Op::Delete(key)};
  return Run(std::move(record), fence, fmt::format("forget {}", rec.instance_id()));
}

absl::StatusOr<int64_t> ClusterWriter::Update(const v1::InstanceRecord& rec, int64_t mod_revision,
                                              const std::optional<Fence>& fence) {
  const std::string key = keys_.Instance(rec.instance_id());
  store::TxnRequest txn;
  txn.compare = {Compare::ModRevisionIs(key, mod_revision)};
  txn.success = {Op::Put(key, rec.SerializeAsString())};
  return Run(std::move(txn), fence, fmt::format("update {}", rec.instance_id()));
}

absl::StatusOr<ClusterWriter::Registered> ClusterWriter::RegisterNode(const v1::NodeRecord& rec,
                                                                       int64_t lease,
                                                                       bool take_over) {
  const std::string key = keys_.Node(rec.registration().node_id());
  store::TxnRequest txn;
  txn.compare = {Compare::Missing(key)};
  txn.success = {Op::Put(key, rec.SerializeAsString(), lease)};
  txn.failure = {Op::Get(key)};
  if (take_over) txn.failure.push_back(Op::Put(key, rec.SerializeAsString(), lease));
  ASSIGN_OR_RETURN(store::TxnResult r, kv_.Txn(txn));
  if (r.succeeded) return Registered{r.revision, ""};
  std::string holder = "another stream";
  if (!r.gets.empty() && !r.gets[0].empty()) {
    v1::NodeRecord existing;
    if (existing.ParseFromString(r.gets[0][0].value)) {
      holder = fmt::format("a stream from {} on replica {}", existing.peer(), existing.replica_id());
    }
  }
  if (take_over) return Registered{r.revision, holder};
  return absl::FailedPreconditionError(
      fmt::format("node {} is already connected ({}); refusing a second registration until "
                  "that stream ends or its lease expires",
                  rec.registration().node_id(), holder));
}

absl::StatusOr<int64_t> ClusterWriter::UpdateNode(const v1::NodeRecord& rec, int64_t lease) {
  const std::string key = keys_.Node(rec.registration().node_id());
  store::TxnRequest txn;
  txn.compare = {LeaseIs(key, lease)};
  txn.success = {Op::Put(key, rec.SerializeAsString(), lease)};
  return Run(std::move(txn), std::nullopt,
             fmt::format("status of {}: the node record is no longer this stream's",
                         rec.registration().node_id()));
}

absl::StatusOr<int64_t> ClusterWriter::PutDrain(const std::string& node,
                                                const v1::DrainRecord& rec) {
  return kv_.Put(keys_.Drain(node), rec.SerializeAsString());
}

absl::StatusOr<bool> ClusterWriter::DeleteDrain(const std::string& node) {
  ASSIGN_OR_RETURN(int64_t n, kv_.Delete(keys_.Drain(node)));
  return n > 0;
}

absl::StatusOr<int64_t> ClusterWriter::PutBackoff(const std::string& node, const std::string& tmpl,
                                                  const v1::BackoffRecord& rec, int64_t ttl_ms) {
  ASSIGN_OR_RETURN(int64_t lease, kv_.GrantLease(ttl_ms));
  return kv_.Put(keys_.Backoff(node, tmpl), rec.SerializeAsString(), lease);
}

absl::StatusOr<int64_t> ClusterWriter::PutPrefetch(const std::vector<v1::PrefetchEntry>& entries) {
  store::TxnRequest txn;
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    std::string entry = fmt::format("{:013d}-{}-{}", e.received_unix_ms(), e.forecaster_id(), i);
    txn.success.push_back(
        Op::Put(keys_.Prefetch(e.request().region(), e.request().template_name(), entry),
                e.SerializeAsString()));
  }
  return Run(std::move(txn), std::nullopt, "prefetch");
}

absl::StatusOr<int64_t> ClusterWriter::DeleteKeys(const std::vector<std::string>& keys,
                                                  const std::optional<Fence>& fence) {
  store::TxnRequest txn;
  for (const auto& k : keys) txn.success.push_back(Op::Delete(k));
  return Run(std::move(txn), fence, "delete");
}

absl::StatusOr<int64_t> ClusterWriter::PutLeased(const std::string& key, const std::string& value,
                                                 int64_t lease) {
  return kv_.Put(key, value, lease);
}

absl::StatusOr<std::optional<Fence>> ClusterWriter::Campaign(const v1::LeaderRecord& rec,
                                                             int64_t lease) {
  store::TxnRequest txn;
  txn.compare = {Compare::Missing(keys_.Leader())};
  txn.success = {Op::Put(keys_.Leader(), rec.SerializeAsString(), lease)};
  ASSIGN_OR_RETURN(store::TxnResult r, kv_.Txn(txn));
  if (!r.succeeded) return std::optional<Fence>();
  // The key was created by this transaction: its create revision is the txn's revision.
  return std::optional<Fence>(Fence{r.revision});
}

absl::Status ClusterWriter::Resign(const Fence& fence) {
  store::TxnRequest txn;
  txn.compare = {Compare::CreateRevisionIs(keys_.Leader(), fence.leader_create_revision)};
  txn.success = {Op::Delete(keys_.Leader())};
  return kv_.Txn(txn).status();
}

}  // namespace prewarm::orchestrator
