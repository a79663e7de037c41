// PrefetchBook: the latest accepted PrefetchRequest per (region, template), validated.
// The reconciler reads it; operators see it through ListPrefetch and /metrics.
#pragma once

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
  // Latest entry whose window has not ended, per (region, template).
  std::vector<v1::PrefetchEntry> Active() const;

 private:
  const OrchestratorConfig& config_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, v1::PrefetchEntry> latest_;  // guarded by mu_
};

}  // namespace prewarm::orchestrator
