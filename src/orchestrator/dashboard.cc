#include "orchestrator/dashboard.h"

#include "nlohmann/json.hpp"

namespace prewarm::orchestrator {
namespace {

using nlohmann::json;

json CountsJson(const StateCounts& c) {
  return {{"reserved", c.reserved},
          {"starting", c.starting},
          {"ready", c.ready},
          {"draining", c.draining},
          {"failed", c.failed}};
}

// A counter's increase since the previous sample; 0 when it went back (a restart).
uint64_t Delta(uint64_t now, uint64_t before) { return now >= before ? now - before : 0; }

}  // namespace

StateCounts& StateCounts::operator+=(const StateCounts& o) {
  reserved += o.reserved;
  starting += o.starting;
  ready += o.ready;
  draining += o.draining;
  failed += o.failed;
  return *this;
}

void StateCounts::Add(v1::InstanceState s, uint32_t n) {
  switch (s) {
    case v1::INSTANCE_STATE_RESERVED:
      reserved += n;
      break;
    case v1::INSTANCE_STATE_STARTING:
      starting += n;
      break;
    case v1::INSTANCE_STATE_READY:
      ready += n;
      break;
    case v1::INSTANCE_STATE_DRAINING:
      draining += n;
      break;
    case v1::INSTANCE_STATE_FAILED:
      failed += n;
      break;
    default:
      break;  // GONE and unknown: not an instance any more
  }
}

Dashboard::Dashboard(const OrchestratorConfig& config) : config_(config) {
  for (const RegionConfig& r : config_.regions) {
    for (const auto& [tmpl, info] : config_.templates) series_[{r.name, tmpl}];
  }
}

void Dashboard::AddTemplate(const std::string& tmpl) {
  std::lock_guard<std::mutex> l(mu_);
  for (const RegionConfig& r : config_.regions) series_[{r.name, tmpl}];
}

void Dashboard::OnBatch(const v1::RequestEventBatch& batch) {
  std::lock_guard<std::mutex> l(mu_);
  for (const v1::RequestEvent& e : batch.events()) {
    auto it = series_.find({e.region(), e.template_name()});
    if (it == series_.end()) continue;
    it->second.pending_requests += e.count();
    if (e.cold()) it->second.pending_cold += e.count();
  }
}

void Dashboard::Record(const DashboardObservation& obs) {
  std::lock_guard<std::mutex> l(mu_);
  for (auto& [key, s] : series_) {
    KeySample k;
    k.t = obs.now_ms;
    k.requests = std::exchange(s.pending_requests, 0);
    k.cold = std::exchange(s.pending_cold, 0);
    auto it = obs.key_instances.find(key);
    if (it != obs.key_instances.end()) k.instances = it->second;
    s.samples.Push(k);
  }
  TotalSample t;
  t.t = obs.now_ms;
  if (have_last_) {
    t.answers = Delta(obs.answers, last_.answers);
    t.cold_answers = Delta(obs.cold_answers, last_.cold_answers);
    t.cold_starts = Delta(obs.cold_starts, last_.cold_starts);
    t.start_failures = Delta(obs.start_failures, last_.start_failures);
  }
  totals_.Push(t);
  RecordWindows(obs);
  last_ = obs;
  have_last_ = true;
  ++samples_;
}

void Dashboard::RecordWindows(const DashboardObservation& obs) {
  for (const v1::PrefetchEntry& e : obs.windows) {
    const v1::PrefetchRequest& r = e.request();
    auto id = std::make_tuple(r.region(), r.template_name(), e.received_unix_ms(),
                              r.window_start_unix_ms());
    if (!seen_windows_.emplace(id, r.window_end_unix_ms()).second) continue;
    windows_.Push(Window{r.region(), r.template_name(), r.model(), r.window_start_unix_ms(),
                         r.window_end_unix_ms(), e.received_unix_ms(), r.target_concurrency(),
                         r.quantile(), r.forecast_rate_per_s(), r.median_rate_per_s(),
                         r.band_lower_quantile(), r.band_lower_rate_per_s(),
                         r.band_upper_quantile(), r.band_upper_rate_per_s()});
  }
  // A window that ended before the oldest sample is drawn nowhere: forget it.
  const int64_t horizon = obs.now_ms - static_cast<int64_t>(kHistory) * 1000;
  std::erase_if(seen_windows_, [&](const auto& w) { return w.second < horizon; });
}

uint64_t Dashboard::samples() const {
  std::lock_guard<std::mutex> l(mu_);
  return samples_;
}

json Dashboard::NodesJson() const {
  json nodes = json::array();
  for (const v1::NodeInfo& n : last_.nodes) {
    StateCounts all;
    json by_template = json::object();
    auto it = last_.node_instances.lower_bound({n.node_id(), ""});
    for (; it != last_.node_instances.end() && it->first.first == n.node_id(); ++it) {
      by_template[it->first.second] = CountsJson(it->second);
      all += it->second;
    }
    nodes.push_back({{"id", n.node_id()},
                     {"region", n.location().region()},
                     {"lat", n.location().latitude()},
                     {"lon", n.location().longitude()},
                     {"connected", n.connected()},
                     {"draining", n.draining()},
                     {"slots", n.instance_slots()},
                     {"slots_used", n.slots_used()},
                     {"instances", CountsJson(all)},
                     {"templates", std::move(by_template)}});
  }
  return nodes;
}

json Dashboard::KeysJson(int64_t since_ms) const {
  json keys = json::array();
  for (const auto& [key, s] : series_) {
    json t = json::array(), req = json::array(), cold = json::array(), reserved = json::array(),
         starting = json::array(), ready = json::array(), draining = json::array();
    for (size_t i = 0; i < s.samples.size(); ++i) {
      const KeySample& k = s.samples[i];
      if (k.t <= since_ms) continue;
      t.push_back(k.t);
      req.push_back(k.requests);
      cold.push_back(k.cold);
      reserved.push_back(k.instances.reserved);
      starting.push_back(k.instances.starting);
      ready.push_back(k.instances.ready);
      draining.push_back(k.instances.draining);
    }
    keys.push_back({{"region", key.first},
                    {"template", key.second},
                    {"t", std::move(t)},
                    {"requests", std::move(req)},
                    {"cold", std::move(cold)},
                    {"reserved", std::move(reserved)},
                    {"starting", std::move(starting)},
                    {"ready", std::move(ready)},
                    {"draining", std::move(draining)}});
  }
  return keys;
}

json Dashboard::WindowsJson() const {
  json windows = json::array();
  const int64_t horizon = last_.now_ms - static_cast<int64_t>(kHistory) * 1000;
  for (size_t i = 0; i < windows_.size(); ++i) {
    const Window& w = windows_[i];
    if (w.end_ms < horizon) continue;
    windows.push_back({{"region", w.region},
                       {"template", w.tmpl},
                       {"start", w.start_ms},
                       {"end", w.end_ms},
                       {"received", w.received_ms},
                       {"target", w.target},
                       {"quantile", w.quantile},
                       {"rate", w.rate_per_s},
                       {"model", w.model}});
    // The band and median, where the forecaster sent them (null: a window made by hand).
    json& j = windows.back();
    const bool band = w.lower_quantile > 0;
    j["median"] = band ? json(w.median_per_s) : json();
    j["lower_quantile"] = band ? json(w.lower_quantile) : json();
    j["lower"] = band ? json(w.lower_per_s) : json();
    j["upper_quantile"] = band ? json(w.upper_quantile) : json();
    j["upper"] = band ? json(w.upper_per_s) : json();
  }
  return windows;
}

json Dashboard::TotalsJson(int64_t since_ms) const {
  json totals = {{"t", json::array()},
                 {"answers", json::array()},
                 {"cold_answers", json::array()},
                 {"cold_starts", json::array()},
                 {"start_failures", json::array()}};
  for (size_t i = 0; i < totals_.size(); ++i) {
    const TotalSample& s = totals_[i];
    if (s.t <= since_ms) continue;
    totals["t"].push_back(s.t);
    totals["answers"].push_back(s.answers);
    totals["cold_answers"].push_back(s.cold_answers);
    totals["cold_starts"].push_back(s.cold_starts);
    totals["start_failures"].push_back(s.start_failures);
  }
  return totals;
}

json Dashboard::DecisionsJson() const {
  json decisions = json::array();
  const size_t first =
      last_.decisions.size() > kDecisions ? last_.decisions.size() - kDecisions : 0;
  for (size_t i = first; i < last_.decisions.size(); ++i) {
    const DecisionRecord& d = last_.decisions[i];
    decisions.push_back({{"seq", d.seq},
                         {"t", d.unix_ms},
                         {"kind", d.kind},
                         {"reason", d.reason},
                         {"region", d.region},
                         {"template", d.tmpl},
                         {"node", d.node},
                         {"instance", d.instance},
                         {"ok", d.ok},
                         {"detail", d.detail}});
  }
  return decisions;
}

std::string Dashboard::StateJson(int64_t since_ms) const {
  std::lock_guard<std::mutex> l(mu_);
  json j = {{"now", last_.now_ms},    {"replica", last_.replica}, {"leading", last_.leading},
            {"health", last_.health}, {"history_s", kHistory},    {"samples", samples_}};
  json regions = json::array();
  for (const RegionConfig& r : config_.regions) {
    regions.push_back({{"name", r.name}, {"lat", r.point.lat}, {"lon", r.point.lon}});
  }
  j["regions"] = std::move(regions);
  j["nodes"] = NodesJson();
  j["keys"] = KeysJson(since_ms);
  j["windows"] = WindowsJson();
  j["totals"] = TotalsJson(since_ms);
  j["decisions"] = DecisionsJson();
  // Invalid UTF-8 in a name (from an agent) is replaced, never thrown on.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace prewarm::orchestrator
