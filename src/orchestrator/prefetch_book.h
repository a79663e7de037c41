// PrefetchBook: accepted PrefetchRequests per (region, template), validated, kept in the
// cluster store (prefetch/<region>/<template>/<entry>) so that whichever replica leads sees
// the windows a forecaster sent to any replica. Operators see the latest per key
// (ListPrefetch, /metrics). The reconciler reads every window that has not ended: a
// forecaster refreshes its window every step, each one starting `lead` ahead of the time it
// was sent, so the window that covers the coming seconds is an older one than the latest
// (see Reconciler::WantFor). The leader deletes windows that ended.
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "orchestrator/cluster_cache.h"
#include "orchestrator/cluster_writer.h"
#include "orchestrator/config.h"
#include "prewarm/v1/orchestrator.pb.h"

namespace prewarm::orchestrator {

class PrefetchBook {
 public:
  PrefetchBook(const OrchestratorConfig& config, const Clock& clock, ClusterCache& cache,
               ClusterWriter& writer)
      : config_(config), clock_(clock), cache_(cache), writer_(writer) {}

  // Templates a SIGHUP reload added are accepted once `live` names them. Set before serving.
  void SetLiveConfig(LiveConfig live) { live_ = std::move(live); }
  // Why `r` cannot be accepted (InvalidArgument naming the field), or OK.
  absl::Status Validate(const v1::PrefetchRequest& r) const;
  // All-or-nothing: validates every request, then writes them all in one transaction and
  // waits until this replica's watch shows them. Returns the store revision.
  absl::StatusOr<int64_t> Accept(const v1::SubmitPrefetchRequest& req);
  // The latest entry per (region, template).
  std::vector<v1::PrefetchEntry> List() const;
  // Every entry whose window has not ended, in order of receipt.
  std::vector<v1::PrefetchEntry> Active() const;

  // A key holding more windows than this loses its oldest (the leader's collection).
  static constexpr size_t kMaxWindowsPerKey = 1024;

 private:
  const OrchestratorConfig& config_;
  const Clock& clock_;
  ClusterCache& cache_;
  ClusterWriter& writer_;
  LiveConfig live_;
};

}  // namespace prewarm::orchestrator
