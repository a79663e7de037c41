// ClusterWriter: every write the orchestrator makes to the cluster store, each one
// transaction whose compares make it safe against the other replicas:
// - a claim creates an instance and takes its address in one transaction, only if the
//   address is unclaimed, the instance id unused and the node connected and not drained,
//   so two replicas never hand out one address twice and one claim is one instance;
// - the leader's writes carry a fence (the leader key's create revision), so a replica
//   that lost its leadership without noticing cannot write as leader;
// - updates of a record compare its mod revision (no lost updates);
// - an agent stream writes its node's record only while its lease still holds the key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/status.h"
#include "orchestrator/cluster_cache.h"
#include "orchestrator/keys.h"
#include "store/kv.h"

namespace prewarm::orchestrator {

// A cluster-wide unique instance id: "<node>-<template>-<process tag><counter>".
std::string MakeInstanceId(const std::string& node, const std::string& tmpl);

// Proof of leadership: the leader key as this replica's campaign created it.
struct Fence {
  int64_t leader_create_revision = 0;
};

class ClusterWriter {
 public:
  ClusterWriter(store::KvStore& kv, const Keys& keys) : kv_(kv), keys_(keys) {}

  // Claims rec.address() on rec.node_id() and creates the instance record. Returns the
  // store revision; FailedPrecondition when a compare failed (the address was taken, the
  // node left or was drained, or the fence no longer holds).
  absl::StatusOr<int64_t> Claim(const v1::InstanceRecord& rec, const std::optional<Fence>& fence,
                                int64_t timeout_ms = 0);
  // Deletes the instance record, and its address claim if it still names it.
  absl::StatusOr<int64_t> Forget(const v1::InstanceRecord& rec, const std::optional<Fence>& fence);
  // Replaces the record if it is still at `mod_revision`.
  absl::StatusOr<int64_t> Update(const v1::InstanceRecord& rec, int64_t mod_revision,
                                 const std::optional<Fence>& fence);

  // Agent streams. Register: creates the node record under `lease` if no stream holds it;
  // otherwise, with `take_over` (an agent that proved its identity: it has one stream at a
  // time, so a new registration means its old stream is dead) replaces it, and
  // `*previous` names the stream it replaced; without, FailedPrecondition naming the holder.
  struct Registered {
    int64_t revision = 0;
    std::string replaced;  // "" when the node had no record
  };
  absl::StatusOr<Registered> RegisterNode(const v1::NodeRecord& rec, int64_t lease, bool take_over);
  // The stream's latest status; FailedPrecondition when the key is no longer under `lease`.
  absl::StatusOr<int64_t> UpdateNode(const v1::NodeRecord& rec, int64_t lease);

  absl::StatusOr<int64_t> PutDrain(const std::string& node, const v1::DrainRecord& rec);
  absl::StatusOr<bool> DeleteDrain(const std::string& node);
  absl::StatusOr<int64_t> PutBackoff(const std::string& node, const std::string& tmpl,
                                     const v1::BackoffRecord& rec, int64_t ttl_ms);
  // All-or-nothing: every entry under its own key.
  absl::StatusOr<int64_t> PutPrefetch(const std::vector<v1::PrefetchEntry>& entries);
  absl::StatusOr<int64_t> DeleteKeys(const std::vector<std::string>& keys,
                                     const std::optional<Fence>& fence);
  absl::StatusOr<int64_t> PutLeased(const std::string& key, const std::string& value,
                                    int64_t lease);

  // Leadership: creates the leader key under `lease` if missing. Returns the fence, or
  // nullopt when another replica leads.
  absl::StatusOr<std::optional<Fence>> Campaign(const v1::LeaderRecord& rec, int64_t lease);
  // Deletes the leader key if it is still ours.
  absl::Status Resign(const Fence& fence);

  store::KvStore& kv() { return kv_; }
  const Keys& keys() const { return keys_; }

 private:
  absl::StatusOr<int64_t> Run(store::TxnRequest txn, const std::optional<Fence>& fence,
                              std::string_view what, int64_t timeout_ms = 0);

  store::KvStore& kv_;
  const Keys& keys_;
};

}  // namespace prewarm::orchestrator
