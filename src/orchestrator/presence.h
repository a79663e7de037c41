// Presence: this replica in the cluster store. It holds the replica's session lease (its
// replica record and heat record live under it), the leader lease while it leads, and the
// store's health as seen from here. "orch-lease" calls RunOnce every 100 ms, so a slow
// reconcile pass never delays a keep-alive.
//
// Leadership is an etcd lease plus a campaign transaction (create the leader key if it is
// missing), as etcd's own election API does. A leader holds its fence only while its lease
// is provably alive: until the last acknowledged keep-alive's send time plus the granted
// TTL, minus a margin. Past that it steps down by itself, before the store expires the key
// and another replica can lead, and every leader write carries the fence anyway.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "orchestrator/cluster_writer.h"
#include "orchestrator/publisher.h"

namespace prewarm::orchestrator {

struct PresenceOptions {
  // Store calls must keep failing this long before the replica counts as cut off: an
  // etcd leader election (a member killed) stalls calls for about a second, and that is no
  // reason to stop reserving.
  int64_t degrade_after_ms = 2000;
  int64_t replica_lease_ms = 3000;
  int64_t leader_lease_ms = 1000;
  int64_t request_timeout_ms = 1000;
  int64_t heat_period_ms = 1000;
};

class Presence {
 public:
  Presence(ClusterWriter& writer, const Clock& clock, HeatBoard& heat, v1::ReplicaRecord me,
           PresenceOptions options);

  // Grants the session lease and writes the replica record.
  absl::Status Start();
  // Keep-alives (session, leader), the health probe, heat publishing.
  void RunOnce();
  // Resigns leadership and revokes the session lease (its records vanish at once).
  void Stop();

  // Campaigns if no replica leads (the caller saw no leader key). True when it now leads.
  bool TryLead();
  // The fence while this replica leads and its lease is provably alive.
  std::optional<Fence> fence() const;
  bool leading() const { return fence().has_value(); }
  // Gives up leadership (e.g. a leader write found the fence gone).
  void StepDown(const std::string& why);

  bool degraded() const;
  // "" when healthy, else why (the store call that failed and since when).
  std::string degraded_reason() const;
  // Any store call that failed for lack of the store reports here; a success clears.
  void ReportStoreResult(const absl::Status& st, std::string_view what);

  const std::string& replica_id() const { return me_.replica_id(); }
  int64_t session_lease() const;
  uint64_t elections_won() const;

 private:
  void KeepSession() ABSL_LOCKS_EXCLUDED(mu_);
  void KeepLeader() ABSL_LOCKS_EXCLUDED(mu_);
  void PublishHeat() ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Register() ABSL_LOCKS_EXCLUDED(mu_);

  ClusterWriter& writer_;
  const Clock& clock_;
  HeatBoard& heat_;
  const v1::ReplicaRecord me_;
  const PresenceOptions opts_;

  mutable absl::Mutex mu_;
  int64_t session_lease_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t session_kept_ms_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t leader_lease_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t leader_ttl_ms_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t leader_kept_ms_ ABSL_GUARDED_BY(mu_) =
      0;  // send time of the last acknowledged keep-alive
  std::optional<Fence> fence_ ABSL_GUARDED_BY(mu_);
  uint64_t elections_won_ ABSL_GUARDED_BY(mu_) = 0;
  std::string degraded_ ABSL_GUARDED_BY(mu_);  // set once failing long enough
  std::string last_failure_ ABSL_GUARDED_BY(mu_);
  int64_t failing_since_ms_ ABSL_GUARDED_BY(mu_) = 0;  // first failure since the last success
  int64_t heat_published_ms_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, int64_t> heat_sent_ ABSL_GUARDED_BY(mu_);
};

}  // namespace prewarm::orchestrator
