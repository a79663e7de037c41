#include "forecast/service/planner.h"

#include <algorithm>
#include <cmath>

#include "common/parallel.h"
#include "fmt/format.h"
#include "forecast/service/capacity.h"

namespace prewarm::forecast {

absl::StatusOr<std::vector<std::vector<double>>> DemandForecaster::Quantiles(
    const SeriesKey& key, const Series& history, int h, std::span<const double> levels) {
  std::vector<std::vector<double>> out;
  for (double q : levels) {
    ASSIGN_OR_RETURN(std::vector<double> path, Quantile(key, history, h, q));
    out.push_back(std::move(path));
  }
  return out;
}

void Planner::Learn(const v1::RequestEvent& e) {
  TemplateFacts& f = facts_[e.template_name()];
  if (!e.service_tier().empty()) f.tier = e.service_tier();
  if (e.service_time_s() > 0) f.service_time_s = e.service_time_s();
}

void Planner::SetTrending(const SeriesKey& key, std::vector<std::string> content_ids,
                          std::map<std::string, uint64_t> sizes, std::string ranking) {
  trending_[key] = Trending{std::move(content_ids), std::move(sizes), std::move(ranking)};
}

void Planner::AddTrending(const SeriesKey& key, const TemplatePlan& plan,
                          v1::PrefetchRequest& r) const {
  auto trend = trending_.find(key);
  if (trend == trending_.end()) return;
  const Trending& t = trend->second;
  auto size_of = [&](const std::string& id) -> std::optional<uint64_t> {
    auto it = t.sizes.find(id);
    return it == t.sizes.end() ? std::nullopt : std::optional<uint64_t>(it->second);
  };
  uint64_t used = 0;
  for (const auto& c : plan.preload) used += size_of(c).value_or(0);
  int added = 0;
  for (const auto& c : t.ids) {
    if (added >= config_.trending_top_k) break;
    if (std::find(plan.preload.begin(), plan.preload.end(), c) != plan.preload.end()) continue;
    std::optional<uint64_t> size = size_of(c);
    if (plan.scratch_bytes > 0 && (!size || used + *size > plan.scratch_bytes)) continue;
    used += size.value_or(0);
    r.add_content_ids(c);
    ++added;
  }
  if (added > 0) r.set_content_ranking(t.ranking);
}

std::vector<v1::PrefetchRequest> Planner::Plan(const SeriesStore& store, int64_t now_ms) {
  skipped_.clear();
  std::vector<v1::PrefetchRequest> out;
  const size_t hour =
      static_cast<size_t>(std::max<int64_t>(1, 3'600'000 / std::max<int64_t>(store.step_ms(), 1)));
  const size_t enough = static_cast<size_t>(std::max(config_.min_history_steps, 0));
  std::vector<SeriesKey> due;
  for (const SeriesKey& key : store.Keys()) {
    SeriesStore::Recent recent = store.Summary(key, now_ms, hour, enough);
    if (recent.observed < enough) {
      skipped_[key] =
          fmt::format("{} observed steps, need {}", recent.observed, config_.min_history_steps);
      continue;
    }
    if (config_.min_arrivals_per_min > 0) {
      const double per_min = recent.n
                                 ? recent.sum / static_cast<double>(recent.n) * 60'000.0 /
                                       static_cast<double>(std::max<int64_t>(store.step_ms(), 1))
                                 : 0.0;
      if (recent.n == 0 || per_min < config_.min_arrivals_per_min) {
        skipped_[key] =
            fmt::format("sparse: {:.3g} arrivals a minute over the last hour, need {:g}", per_min,
                        config_.min_arrivals_per_min);
        continue;
      }
    }
    due.push_back(key);
  }
  // Fits and forecasts per key, on plan_threads when the forecaster allows; gathered in
  // key order, so the requests do not depend on the thread count.
  std::vector<Planned> planned(due.size());
  const int threads = forecaster_.ConcurrentKeys() ? config_.plan_threads : 1;
  if (threads > 1) {
    for (const SeriesKey& key : due) forecaster_.Prepare(key);
  }
  ParallelFor(due.size(), threads, [&](size_t i) { planned[i] = PlanOne(due[i], store, now_ms); });
  for (size_t i = 0; i < due.size(); ++i) {
    if (planned[i].request) {
      out.push_back(std::move(*planned[i].request));
    } else {
      ++errors_;  // PlanOne skips a key only when its forecast failed
      skipped_[due[i]] = std::move(planned[i].skipped);
    }
  }
  return out;
}

Planner::Planned Planner::PlanOne(const SeriesKey& key, const SeriesStore& store,
                                  int64_t now_ms) const {
  const TemplatePlan plan = config_.Plan(key.second);
  const TemplateFacts facts = facts_.count(key.second) ? facts_.at(key.second) : TemplateFacts{};
  int64_t lead_ms =
      std::max<int64_t>(config_.lead_ms, static_cast<int64_t>(plan.start_time_s * 1000));
  int64_t step = store.step_ms();
  // The series ends at the last complete step; steps until `now` are part of the lead.
  int64_t series_end = now_ms / step * step;
  int64_t window_start = now_ms + lead_ms;
  int64_t window_end = window_start + config_.horizon_ms;
  int first = static_cast<int>((window_start - series_end) / step) + 1;
  int last = static_cast<int>((window_end - series_end + step - 1) / step);
  first = std::max(first, 1);
  last = std::max(last, first);
  double q = NewsvendorQuantile(config_.ColdCost(facts.tier), config_.idle_cost_per_instance_s);
  // Only the history the forecaster has not absorbed, unless it refits.
  Series s = store.Snapshot(key, now_ms, forecaster_.HistoryFromMs(key, last));
  // The target's quantile, then the median and the band operators see around it.
  const double levels[] = {q, 0.5, kBandLowerQuantile, kBandUpperQuantile};
  auto paths = forecaster_.Quantiles(key, s, last, levels);
  if (!paths.ok()) return {std::nullopt, std::string(paths.status().message())};
  for (const auto& path : *paths) {
    if (path.size() < static_cast<size_t>(last)) {
      return {std::nullopt,
              fmt::format("forecaster returned {} steps, asked {}", path.size(), last)};
    }
  }
  if (paths->size() != std::size(levels)) {
    return {std::nullopt, fmt::format("forecaster returned {} quantile paths, asked {}",
                                      paths->size(), std::size(levels))};
  }
  auto window_of = [&](const std::vector<double>& path) {
    return std::span<const double>(path.data() + first - 1, static_cast<size_t>(last - first + 1));
  };
  std::span<const double> window = window_of((*paths)[0]);
  CapacityInputs in{static_cast<double>(step) / 1000.0,
                    plan.service_time_s > 0 ? plan.service_time_s : facts.service_time_s,
                    plan.per_instance_concurrency};
  v1::PrefetchRequest r;
  r.set_region(key.first);
  r.set_template_name(key.second);
  r.set_window_start_unix_ms(window_start);
  r.set_window_end_unix_ms(window_end);
  r.set_target_concurrency(TargetInstances(window, in));
  r.set_quantile(q);
  r.set_model(forecaster_.model_name());
  // A path's rate over the window: its peak, per second.
  auto rate = [&](std::span<const double> w) {
    double peak = w.empty() ? 0 : *std::max_element(w.begin(), w.end());
    return std::isfinite(peak) ? peak / in.step_s : 0;
  };
  r.set_forecast_rate_per_s(rate(window));
  r.set_median_rate_per_s(rate(window_of((*paths)[1])));
  r.set_band_lower_quantile(kBandLowerQuantile);
  r.set_band_lower_rate_per_s(rate(window_of((*paths)[2])));
  r.set_band_upper_quantile(kBandUpperQuantile);
  r.set_band_upper_rate_per_s(rate(window_of((*paths)[3])));
  for (const auto& c : plan.preload) r.add_content_ids(c);
  AddTrending(key, plan, r);
  return {std::move(r), {}};
}

}  // namespace prewarm::forecast
