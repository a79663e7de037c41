// PrefetchBook: accepted PrefetchRequests per (region, template), validated.
// Operators see the latest per key (ListPrefetch, /metrics). The reconciler reads every
// window that has not ended: a forecaster refreshes its window every step, each one
// starting `lead` ahead of the time it was sent, so the window that covers the coming
// seconds is an older one than the latest (see Reconciler::WantFor).
#pragma once

#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "orchestrator/config.h"
#include "prewarm/v1/orchestrator.pb.h"

namespace prewarm::orchestrator {

class PrefetchBook {
 public:
  PrefetchBook(const OrchestratorConfig& config, const Clock& clock)
      : config_(config), clock_(clock) {}

  // Why `r` cannot be accepted (InvalidArgument naming the field), or OK.
  absl::Status Validate(const v1::PrefetchRequest& r) const;
  // All-or-nothing: validates every request, then records them all.
  absl::Status Accept(const v1::SubmitPrefetchRequest& req);
  std::vector<v1::PrefetchEntry> List() const;
  // Every accepted entry whose window has not ended, oldest first per key (at most
  // kMaxWindowsPerKey per key: the oldest are forgotten first).
  std::vector<v1::PrefetchEntry> Active() const;

  static constexpr size_t kMaxWindowsPerKey = 1024;

 private:
  const OrchestratorConfig& config_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, v1::PrefetchEntry> latest_;  // guarded by mu_
  // Entries whose windows have not ended, in order of receipt; guarded by mu_.
  std::map<std::pair<std::string, std::string>, std::deque<v1::PrefetchEntry>> open_;
};

}  // namespace prewarm::orchestrator
