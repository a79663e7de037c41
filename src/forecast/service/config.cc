#include "forecast/service/config.h"

#include <algorithm>

#include "common/logging.h"
#include "common/metrics_server.h"
#include "common/net.h"
#include "common/template_file.h"
#include "fmt/format.h"

namespace prewarm::forecast {
namespace {

absl::Status ReadTiming(const YamlReader& r, ForecasterConfig& c) {
  const ForecasterConfig d;  // the defaults are the struct's
  ASSIGN_OR_RETURN(int64_t step_s, r.Int("step_s", d.step_ms / 1000, 1, 3600));
  c.step_ms = step_s * 1000;
  ASSIGN_OR_RETURN(int64_t retention_h,
                   r.Int("retention_h", d.retention_ms / 3'600'000, 1, 24 * 400));
  c.retention_ms = retention_h * 3'600'000;
  ASSIGN_OR_RETURN(int64_t refit_s, r.Int("refit_every_s", d.refit_every_ms / 1000, 1, 86400));
  c.refit_every_ms = refit_s * 1000;
  ASSIGN_OR_RETURN(int64_t reselect_s,
                   r.Int("reselect_every_s", d.reselect_every_ms / 1000, refit_s, 30 * 86400));
  c.reselect_every_ms = reselect_s * 1000;
  ASSIGN_OR_RETURN(int64_t threads, r.Int("plan_threads", d.plan_threads, 1, 64));
  c.plan_threads = static_cast<int>(threads);
  ASSIGN_OR_RETURN(double lead_s,
                   r.Double("lead_s", static_cast<double>(d.lead_ms) / 1000, 0, 3600));
  c.lead_ms = static_cast<int64_t>(lead_s * 1000);
  ASSIGN_OR_RETURN(int64_t horizon_s, r.Int("horizon_s", d.horizon_ms / 1000, 1, 86400));
  c.horizon_ms = horizon_s * 1000;
  ASSIGN_OR_RETURN(int64_t min_hist,
                   r.Int("min_history_steps", d.min_history_steps, 2, 10'000'000));
  c.min_history_steps = static_cast<int>(min_hist);
  if (r.Has("min_mean_per_step")) {
    return r.Error("min_mean_per_step",
                   "renamed min_arrivals_per_min, a rate in arrivals per minute (this one was "
                   "per step_s): give that instead");
  }
  ASSIGN_OR_RETURN(c.min_arrivals_per_min,
                   r.Double("min_arrivals_per_min", d.min_arrivals_per_min, 0, 1e9));
  return absl::OkStatus();
}

// `orchestrators: [host:port, ...]`, or the older single `orchestrator: host:port`.
absl::Status ReadOrchestrators(const YamlReader& r, ForecasterConfig& c) {
  if (r.Has("orchestrator") && r.Has("orchestrators")) {
    return r.Error("orchestrators", "give either orchestrators (a list) or orchestrator, not both");
  }
  const char* key = r.Has("orchestrators") ? "orchestrators" : "orchestrator";
  if (r.Has("orchestrators")) {
    ASSIGN_OR_RETURN(c.orchestrators, r.StringList("orchestrators", std::nullopt));
    if (c.orchestrators.empty()) return r.Error(key, "must name at least one");
  } else {
    ASSIGN_OR_RETURN(std::string one, r.String("orchestrator", "127.0.0.1:7400"));
    c.orchestrators = {one};
  }
  for (size_t i = 0; i < c.orchestrators.size(); ++i) {
    const std::string& target = c.orchestrators[i];
    if (auto hp = HostPort::Parse(target); !hp.ok())
      return r.Error(key, std::string(hp.status().message()));
    if (std::count(c.orchestrators.begin(), c.orchestrators.begin() + i, target) > 0) {
      return r.Error(key, fmt::format("'{}' is listed twice", target));
    }
  }
  return absl::OkStatus();
}

absl::Status ReadCosts(const YamlReader& r, ForecasterConfig& c) {
  ASSIGN_OR_RETURN(auto costs, r.Map("costs"));
  if (!costs) return absl::OkStatus();
  RETURN_IF_ERROR(costs->CheckKnown({"idle_instance_second", "cold_start", "default_cold_start"}));
  ASSIGN_OR_RETURN(c.idle_cost_per_instance_s,
                   costs->Double("idle_instance_second", 1.0, 1e-9, 1e9));
  ASSIGN_OR_RETURN(c.default_cold_cost, costs->Double("default_cold_start", 30.0, 0, 1e12));
  ASSIGN_OR_RETURN(auto tiers, costs->StringMap("cold_start"));
  for (const auto& [tier, text] : tiers) {
    char* end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    if (end == text.c_str() || *end != '\0' || v < 0) {
      return costs->Error("cold_start", fmt::format("tier '{}': '{}' is not a cost", tier, text));
    }
    c.cold_cost[tier] = v;
  }
  return absl::OkStatus();
}

absl::Status ReadTemplates(const YamlReader& r, const std::vector<YamlReader>& given,
                           ForecasterConfig& c) {
  // Templates defined once for every daemon (common/template_file.h): how many requests an
  // instance serves, its start time, what it preloads and its scratch size.
  ASSIGN_OR_RETURN(SharedTemplates shared, ReadSharedTemplates(r, given));
  for (const YamlReader& d : shared.definitions) {
    ASSIGN_OR_RETURN(TemplateServing serving, ParseTemplateServing(d));
    TemplatePlan p;
    p.per_instance_concurrency = serving.concurrency;
    p.start_time_s = serving.start_time_s;
    p.service_time_s = 0;  // the orchestrator's: the definition's, until it measures one
    ASSIGN_OR_RETURN(p.preload, d.StringList("preload", std::vector<std::string>{}));
    // The agent's default scratch when the definition gives none.
    ASSIGN_OR_RETURN(p.scratch_bytes, d.Bytes("scratch", kDefaultScratchBytes));
    c.templates.emplace(*d.String("name"), p);
  }
  ASSIGN_OR_RETURN(auto list, r.MapList("templates"));
  for (const YamlReader& t : list) {
    RETURN_IF_ERROR(t.CheckKnown({"name", "per_instance_concurrency", "start_time_s",
                                  "service_time_s", "preload", "scratch"}));
    ASSIGN_OR_RETURN(std::string name, t.String("name"));
    TemplatePlan p;
    ASSIGN_OR_RETURN(p.per_instance_concurrency,
                     t.Double("per_instance_concurrency", 1, 1e-3, 1e6));
    ASSIGN_OR_RETURN(p.start_time_s, t.Double("start_time_s", 0.05, 0, 3600));
    ASSIGN_OR_RETURN(p.service_time_s, t.Double("service_time_s", 0, 0, 3600));
    ASSIGN_OR_RETURN(p.preload, t.StringList("preload", std::vector<std::string>{}));
    ASSIGN_OR_RETURN(p.scratch_bytes, t.Bytes("scratch", 0));
    if (!c.templates.emplace(name, p).second) {
      return t.Error("name", shared.origin.empty()
                                 ? std::string("duplicate template")
                                 : fmt::format("duplicate template (also in {})", shared.origin));
    }
  }
  return absl::OkStatus();
}

}  // namespace

double ForecasterConfig::ColdCost(const std::string& tier) const {
  auto it = cold_cost.find(tier);
  return it == cold_cost.end() ? default_cold_cost : it->second;
}

TemplatePlan ForecasterConfig::Plan(const std::string& tmpl) const {
  auto it = templates.find(tmpl);
  return it == templates.end() ? TemplatePlan{} : it->second;
}

absl::StatusOr<ForecasterConfig> ParseForecasterConfig(const YamlReader& r,
                                                       const std::vector<YamlReader>& templates) {
  RETURN_IF_ERROR(r.CheckKnown({"id",
                                "orchestrator",
                                "orchestrators",
                                "tls",
                                "step_s",
                                "retention_h",
                                "refit_every_s",
                                "reselect_every_s",
                                "plan_threads",
                                "lead_s",
                                "horizon_s",
                                "template_dir",
                                "min_history_steps",
                                "min_arrivals_per_min",
                                "min_mean_per_step",
                                "model",
                                "transform",
                                "costs",
                                "templates",
                                "history",
                                "access_logs",
                                "trending_top_k",
                                "trending_refresh_s",
                                "state_dir",
                                "state_save_every_s",
                                "log_level",
                                "http"}));
  ForecasterConfig c;
  ASSIGN_OR_RETURN(c.id, r.String("id", "forecaster"));
  RETURN_IF_ERROR(ReadOrchestrators(r, c));
  ASSIGN_OR_RETURN(c.tls, security::ParseTlsConfig(r));
  RETURN_IF_ERROR(ReadTiming(r, c));
  ASSIGN_OR_RETURN(c.model, r.String("model", "combo"));
  ASSIGN_OR_RETURN(c.transform, r.String("transform", "log1p"));
  RETURN_IF_ERROR(ReadCosts(r, c));
  RETURN_IF_ERROR(ReadTemplates(r, templates, c));
  ASSIGN_OR_RETURN(c.history, r.StringList("history", std::vector<std::string>{}));
  ASSIGN_OR_RETURN(auto logs, r.MapList("access_logs"));
  for (const YamlReader& l : logs) {
    RETURN_IF_ERROR(l.CheckKnown({"path", "region", "template"}));
    AccessLogHistory h;
    ASSIGN_OR_RETURN(h.path, l.String("path"));
    ASSIGN_OR_RETURN(h.region, l.String("region"));
    ASSIGN_OR_RETURN(h.template_name, l.String("template"));
    c.access_logs.push_back(std::move(h));
  }
  ASSIGN_OR_RETURN(int64_t top_k, r.Int("trending_top_k", 10, 0, 1000));
  c.trending_top_k = static_cast<int>(top_k);
  ASSIGN_OR_RETURN(int64_t refresh_s, r.Int("trending_refresh_s", 600, 10, 86400));
  c.trending_refresh_ms = refresh_s * 1000;
  ASSIGN_OR_RETURN(c.state_dir, r.String("state_dir", ""));
  while (c.state_dir.size() > 1 && c.state_dir.back() == '/') c.state_dir.pop_back();
  ASSIGN_OR_RETURN(int64_t save_s, r.Int("state_save_every_s", 300, 10, 86400));
  c.state_save_every_ms = save_s * 1000;
  ASSIGN_OR_RETURN(c.log_level, r.Choice("log_level", "info", kLogLevels));
  ASSIGN_OR_RETURN(c.http_listen, ReadHttpListen(r, c.http_listen.ToString()));
  return c;
}

absl::StatusOr<ForecasterConfig> LoadForecasterConfig(const std::string& path) {
  ASSIGN_OR_RETURN(YamlReader r, YamlReader::FromFile(path));
  return ParseForecasterConfig(r);
}

}  // namespace prewarm::forecast
