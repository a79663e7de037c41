// What SIGHUP applies of a new orchestrator config to a running orchestrator: a pure
// decision over three configs (the one it started with, the one it answers from now, the
// new one), unit-tested in config_reload_test.cc. Orchestrator::Reload carries it out.
//
// Reloaded, into the resolver's view (resolver.h, ResolverView), from the next query on:
//  - `services`: added, removed, or pointed at another template. A template no running
//    service named before is answered at once (an instance is placed on a node that
//    offers it); a template no service names any more gets no answers, so its instances
//    go idle and the reconciler drains them after their keep-alive, as any idle instance.
//  - a template the start did not have, with all its settings (and again at each later
//    reload): the reconciler's policy for it (concurrency, keep-alive), the forecaster's
//    feed (its answers are counted and carry its tier and service time: EventFeed::
//    AddTemplate), the prefetch book (its prefetches are accepted) and the dashboard.
//  - `networks` (the client-network overrides) and `default_region`, over the regions the
//    orchestrator started with.
//  - `ttl`, at most the values it started with: the reconciler keeps an instance until
//    every answer naming it has expired, counted with the TTLs of the start.
// Not reloaded (named, and kept as they are; a restart applies them): the settings of a
// template the start had (tier, service_time_s, concurrency, keepalive_s: the reconciler
// and the forecaster's feed read them at start), and a TTL above the start's.
// Refused as a whole (nothing changes): a network or default region that names a region
// the orchestrator did not start with (regions are read at start).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "orchestrator/config.h"

namespace prewarm::orchestrator {

// The config's top-level keys that a reload applies (besides log_level, which every daemon
// applies); a change to any other key waits for a restart.
inline constexpr const char* kReloadedKeys[] = {"services", "template_dir", "networks",
                                                "default_region", "ttl"};

struct ReloadPlan {
  // What the resolver answers from after the reload: `running` with `next`'s reloaded
  // parts (everything else as it started).
  OrchestratorConfig config;
  // One phrase per applied change ("services: +api -old"), in key order; empty: no change.
  std::vector<std::string> applied;
  // Parts of the reloaded keys that wait for a restart, each with why.
  std::vector<std::string> not_applied;
  // Templates that no service names any more (their instances drain once idle).
  std::vector<std::string> unnamed_templates;
  // Templates that no running service named before, nor the config of the start.
  std::vector<std::string> new_templates;
  // What follows for those templates, one sentence each (ReloadNotes).
  std::vector<std::string> notes;
};

absl::StatusOr<ReloadPlan> PlanReload(const OrchestratorConfig& started,
                                      const OrchestratorConfig& running,
                                      const OrchestratorConfig& next);

// Fills plan.notes: what happens to each unnamed template's `instances(template)`
// answerable instances, and what a new template gets.
void ReloadNotes(ReloadPlan& plan, const std::function<size_t(const std::string&)>& instances);

}  // namespace prewarm::orchestrator
