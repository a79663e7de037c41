#include "forecast/service/model_forecaster.h"

#include <algorithm>

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
  ASSIGN_OR_RETURN(std::unique_ptr<Model> model, factory_());
  auto f = std::make_unique<ProbabilisticForecaster>(options_.transform, std::move(model));
  FitContext ctx{PeriodsFor(history.step_ms, n)};
  RETURN_IF_ERROR(f->Fit(train, ctx, h));
  e.forecaster = std::move(f);
  e.fitted_at_ms = clock_.NowMs();
  e.absorbed_until_ms = history.start_ms + static_cast<int64_t>(history.size()) * history.step_ms;
  e.horizon = h;
  ++refits_;
  return absl::OkStatus();
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

absl::StatusOr<std::vector<double>> ModelDemandForecaster::Quantile(const SeriesKey& key,
                                                                    const Series& history, int h,
                                                                    double q) {
  Entry& e = entries_[key];
  bool stale = !e.forecaster || h > e.horizon ||
               clock_.NowMs() - e.fitted_at_ms >= options_.refit_every_ms ||
               e.absorbed_until_ms < history.start_ms;
  if (!stale && !RollForward(e, history).ok()) stale = true;  // no Update(): refit
  if (stale) RETURN_IF_ERROR(Refit(e, history, h));
  ASSIGN_OR_RETURN(QuantileForecast qf, e.forecaster->Predict(h));
  return qf.Interpolated(q);
}

}  // namespace prewarm::forecast
