#include "orchestrator/config_reload.h"

#include <map>
#include <set>

#include "absl/strings/str_join.h"
#include "fmt/format.h"

namespace prewarm::orchestrator {
namespace {

bool SameSettings(const TemplateInfo& a, const TemplateInfo& b) {
  return a.tier == b.tier && a.service_time_s == b.service_time_s &&
         a.concurrency == b.concurrency && a.keepalive_ms == b.keepalive_ms;
}

std::set<std::string> NamedTemplates(const OrchestratorConfig& c) {
  std::set<std::string> out;
  for (const auto& [service, tmpl] : c.services) out.insert(tmpl);
  return out;
}

// "+a -b ~c (template x -> y)": the services that differ.
std::string ServiceChanges(const OrchestratorConfig& running, const OrchestratorConfig& next) {
  std::vector<std::string> parts;
  for (const auto& [name, tmpl] : next.services) {
    auto was = running.services.find(name);
    if (was == running.services.end()) {
      parts.push_back(fmt::format("+{} (template {})", name, tmpl));
    } else if (was->second != tmpl) {
      parts.push_back(fmt::format("~{} (template {} -> {})", name, was->second, tmpl));
    }
  }
  for (const auto& [name, tmpl] : running.services) {
    if (!next.services.contains(name)) parts.push_back("-" + name);
  }
  return absl::StrJoin(parts, " ");
}

// Each override as the resolver takes it: cidr -> "region (lat, lon)".
std::map<std::string, std::string> Overrides(const OrchestratorConfig& c) {
  std::map<std::string, std::string> out;
  for (const NetworkConfig& n : c.networks) {
    out[n.cidr.ToString()] = fmt::format("{} ({}, {})", n.region, n.point.lat, n.point.lon);
  }
  return out;
}

std::string NetworkChanges(const OrchestratorConfig& running, const OrchestratorConfig& next) {
  const auto was = Overrides(running);
  const auto now = Overrides(next);
  std::vector<std::string> parts;
  for (const auto& [cidr, where] : now) {
    auto w = was.find(cidr);
    if (w == was.end()) {
      parts.push_back(fmt::format("+{} -> {}", cidr, where));
    } else if (w->second != where) {
      parts.push_back(fmt::format("~{} -> {}", cidr, where));
    }
  }
  for (const auto& [cidr, where] : was) {
    if (!now.contains(cidr)) parts.push_back("-" + cidr);
  }
  // The same overrides in another order: the longest prefix wins either way, so only a
  // duplicate CIDR's order could matter, and the parser keeps the first of those.
  return absl::StrJoin(parts, " ");
}

// One TTL: applied when at most the start's, else named and kept.
void ReloadTtl(const char* key, uint32_t started, uint32_t running, uint32_t next, uint32_t& out,
               std::vector<std::string>& applied, std::vector<std::string>& not_applied) {
  if (next > started) {
    not_applied.push_back(fmt::format(
        "ttl.{} {} (above the {} it started with: the reconciler keeps instances for the "
        "start's TTLs)",
        key, next, started));
    return;
  }
  if (next != running) applied.push_back(fmt::format("{} {} -> {}", key, running, next));
  out = next;
}

}  // namespace

absl::StatusOr<ReloadPlan> PlanReload(const OrchestratorConfig& started,
                                      const OrchestratorConfig& running,
                                      const OrchestratorConfig& next) {
  // Refusals first: nothing is applied unless all of it can be.
  for (const NetworkConfig& n : next.networks) {
    if (started.FindRegion(n.region) == nullptr) {
      return absl::FailedPreconditionError(
          fmt::format("networks: {} names region '{}', which the orchestrator did not start with "
                      "(regions are read only at start; restart to add one)",
                      n.cidr.ToString(), n.region));
    }
  }
  if (!next.default_region.empty() && started.FindRegion(next.default_region) == nullptr) {
    return absl::FailedPreconditionError(fmt::format(
        "default_region '{}' is not a region the orchestrator started with (regions are "
        "read only at start; restart to add one)",
        next.default_region));
  }

  ReloadPlan plan;
  plan.config = running;
  OrchestratorConfig& c = plan.config;

  if (std::string s = ServiceChanges(running, next); !s.empty()) {
    plan.applied.push_back("services: " + s);
  }
  c.services = next.services;
  const std::set<std::string> named_before = NamedTemplates(running);
  const std::set<std::string> named_now = NamedTemplates(next);
  for (const std::string& t : named_before) {
    if (!named_now.contains(t)) plan.unnamed_templates.push_back(t);
  }
  for (const auto& [tmpl, info] : next.templates) {
    auto at_start = started.templates.find(tmpl);
    if (at_start == started.templates.end()) {
      if (!named_before.contains(tmpl)) plan.new_templates.push_back(tmpl);
      c.templates[tmpl] = info;
    } else if (!SameSettings(at_start->second, info)) {
      plan.not_applied.push_back(fmt::format(
          "the settings of template {} (tier, service_time_s, concurrency, keepalive_s: the "
          "reconciler and the forecaster's feed read them at start)",
          tmpl));
    }
  }

  if (std::string s = NetworkChanges(running, next); !s.empty()) {
    plan.applied.push_back("networks: " + s);
  }
  c.networks = next.networks;
  if (next.default_region != running.default_region) {
    plan.applied.push_back(
        fmt::format("default_region: {} -> {}", running.default_region, next.default_region));
  }
  c.default_region = next.default_region;

  std::vector<std::string> ttl;
  ReloadTtl("stable_s", started.stable_ttl_s, running.stable_ttl_s, next.stable_ttl_s,
            c.stable_ttl_s, ttl, plan.not_applied);
  ReloadTtl("short_s", started.short_ttl_s, running.short_ttl_s, next.short_ttl_s, c.short_ttl_s,
            ttl, plan.not_applied);
  if (!ttl.empty()) plan.applied.push_back("ttl: " + absl::StrJoin(ttl, ", "));
  return plan;
}

void ReloadNotes(ReloadPlan& plan, const std::function<size_t(const std::string&)>& instances) {
  for (const std::string& t : plan.unnamed_templates) {
    const size_t n = instances(t);
    plan.notes.push_back(
        n == 0 ? fmt::format("template {}: no service names it any more (no instances)", t)
               : fmt::format(
                     "template {}: no service names it any more; its {} instance(s) get no new "
                     "answers and are drained once idle past their keep-alive",
                     t, n));
  }
  for (const std::string& t : plan.new_templates) {
    plan.notes.push_back(fmt::format(
        "template {}: new; answered from now on nodes that offer it, with its own concurrency "
        "and keep-alive; its demand is counted for the forecaster, and prefetches for it are "
        "accepted",
        t));
  }
}

}  // namespace prewarm::orchestrator
