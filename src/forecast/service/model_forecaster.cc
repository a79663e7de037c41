#include "forecast/service/model_forecaster.h"

#include <algorithm>
#include <chrono>
#include <limits>

namespace prewarm::forecast {

std::vector<int> ModelDemandForecaster::PeriodsFor(int64_t step_ms, size_t train_steps) {
  std::vector<int> out;
  for (int64_t cycle_ms : {3'600'000LL, 86'400'000LL, 7 * 86'400'000LL}) {
    if (step_ms <= 0 || cycle_ms % step_ms != 0) continue;
    int64_t period = cycle_ms / step_ms;
    if (period >= 2 && static_cast<size_t>(2 * period) <= train_steps) {
      out.push_back(static_cast<int>(period));
    }
  }
  return out;
}

absl::Status ModelDemandForecaster::Refit(Entry& e, const Series& history, int h) {
  size_t n = std::min(history.size(), options_.max_train_steps);
  std::span<const double> train(history.values.data() + history.size() - n, n);
  const int64_t now = clock_.NowMs();
  const bool select = !e.forecaster || n >= 2 * e.selected_on ||
                      now - e.selected_at_ms >= options_.reselect_every_ms;
  FitContext ctx{PeriodsFor(history.step_ms, n)};
  // The adaptive interval levels carry over from the forecaster this one replaces, once it
  // has seen the same observations.
  const bool carry = e.forecaster && e.updates && e.absorbed_until_ms >= history.start_ms &&
                     RollForward(e, history).ok();
  std::unique_ptr<ProbabilisticForecaster> f;
  if (!select) {  // the structure chosen last time, parameters re-estimated, its calibration
                  // kept: calibrated again with the next selection
    f = std::make_unique<ProbabilisticForecaster>(options_.transform,
                                                  e.forecaster->model().CloneSelected());
    if (!f->FitKeepingCalibration(train, ctx, h, *e.forecaster).ok()) {
      f.reset();  // e.g. a longer horizon: select again
    }
  }
  if (!f) {
    ASSIGN_OR_RETURN(std::unique_ptr<Model> model, factory_());
    f = std::make_unique<ProbabilisticForecaster>(options_.transform, std::move(model));
    RETURN_IF_ERROR(f->Fit(train, ctx, h));
    e.selected_at_ms = now;
    e.selected_on = n;
    std::lock_guard<std::mutex> l(stats_mu_);
    ++stats_.selections;
  }
  if (carry) f->CarryAdaptive(std::move(*e.forecaster));
  // A model without Update() refits on every call, so it is given the whole history.
  e.updates = f->Update({}).ok();
  e.forecaster = std::move(f);
  e.fitted_at_ms = now;
  e.absorbed_until_ms = history.start_ms + static_cast<int64_t>(history.size()) * history.step_ms;
  e.horizon = h;
  return absl::OkStatus();
}

absl::Status ModelDemandForecaster::TimedRefit(Entry& e, const Series& history, int h) {
  const auto start = std::chrono::steady_clock::now();
  absl::Status st = Refit(e, history, h);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  std::lock_guard<std::mutex> l(stats_mu_);
  ++(st.ok() ? stats_.refits : stats_.failures);
  stats_.refit_seconds.Observe(took.count());
  return st;
}

FitStats ModelDemandForecaster::fit_stats() const {
  std::lock_guard<std::mutex> l(stats_mu_);
  return stats_;
}

absl::Status ModelDemandForecaster::RollForward(Entry& e, const Series& history) {
  int64_t end = history.start_ms + static_cast<int64_t>(history.size()) * history.step_ms;
  if (end <= e.absorbed_until_ms) return absl::OkStatus();
  size_t from = static_cast<size_t>((e.absorbed_until_ms - history.start_ms) / history.step_ms);
  std::span<const double> fresh(history.values.data() + from, history.size() - from);
  RETURN_IF_ERROR(e.forecaster->Update(fresh));
  e.absorbed_until_ms = end;
  return absl::OkStatus();
}

bool ModelDemandForecaster::Stale(const Entry& e, int h) const {
  return !e.forecaster || !e.updates || h > e.horizon ||
         clock_.NowMs() - e.fitted_at_ms >= options_.refit_every_ms;
}

int64_t ModelDemandForecaster::HistoryFromMs(const SeriesKey& key, int h) const {
  auto it = entries_.find(key);
  if (it == entries_.end() || Stale(it->second, h)) return std::numeric_limits<int64_t>::min();
  return it->second.absorbed_until_ms;
}

absl::StatusOr<std::vector<double>> ModelDemandForecaster::Quantile(const SeriesKey& key,
                                                                    const Series& history, int h,
                                                                    double q) {
  ASSIGN_OR_RETURN(auto paths, Quantiles(key, history, h, std::span<const double>(&q, 1)));
  return std::move(paths.front());
}

absl::StatusOr<std::vector<std::vector<double>>> ModelDemandForecaster::Quantiles(
    const SeriesKey& key, const Series& history, int h, std::span<const double> levels) {
  auto it = entries_.find(key);  // concurrent callers' keys were Prepare()d: no insert
  if (it == entries_.end()) it = entries_.try_emplace(key).first;
  Entry& e = it->second;
  bool stale = Stale(e, h) || e.absorbed_until_ms < history.start_ms;
  if (!stale && !RollForward(e, history).ok()) {
    // The state diverged: refit. A partial history (HistoryFromMs) may be too short; the
    // next call then asks for the whole.
    e.updates = false;
    stale = true;
  }
  if (stale) RETURN_IF_ERROR(TimedRefit(e, history, h));
  ASSIGN_OR_RETURN(QuantileForecast qf, e.forecaster->Predict(h));
  std::vector<std::vector<double>> out;
  for (double q : levels) out.push_back(qf.Interpolated(q));
  return out;
}

}  // namespace prewarm::forecast
