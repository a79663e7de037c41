// ModelDemandForecaster: the DemandForecaster the daemon uses. One ProbabilisticForecaster
// per (region, template), refitted every `refit_every_ms` on the latest training window,
// and rolled forward with Update() on the observations that arrived in between.
//
// A refit re-estimates the parameters of the structure the model selected last time (ETS:
// its error/trend/season variant and period; Model::CloneSelected()), as R's
// ets(y, model = fit) does. The structure itself is selected again (every candidate
// fitted) when the training window has doubled since the last selection, so a series
// that grows long enough for a seasonal cycle gets to choose it, and at least every
// `reselect_every_ms`. A refit then costs one variant instead of all of them, and keeps
// the quantile calibration (and adaptive levels) of the forecaster it replaces
// (ProbabilisticForecaster::FitKeepingCalibration): the calibration is made again with
// each selection.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "common/clock.h"
#include "forecast/quantile.h"
#include "forecast/service/planner.h"

namespace prewarm::forecast {

using ModelFactory = std::function<absl::StatusOr<std::unique_ptr<Model>>()>;

struct ModelForecasterOptions {
  std::string model_name;
  Transform transform = Transform::Log1p();
  int64_t refit_every_ms = 3'600'000;
  size_t max_train_steps = 20'000;         // the most recent steps a fit sees
  int64_t reselect_every_ms = 86'400'000;  // select the structure again at least this often
};

class ModelDemandForecaster final : public DemandForecaster {
 public:
  ModelDemandForecaster(ModelFactory factory, ModelForecasterOptions options, const Clock& clock)
      : factory_(std::move(factory)), options_(std::move(options)), clock_(clock) {}

  absl::StatusOr<std::vector<double>> Quantile(const SeriesKey& key, const Series& history, int h,
                                               double q) override;
  // Every level from one fit and one prediction.
  absl::StatusOr<std::vector<std::vector<double>>> Quantiles(
      const SeriesKey& key, const Series& history, int h, std::span<const double> levels) override;
  std::string model_name() const override { return options_.model_name; }
  // Between refits, only the steps after the last one absorbed.
  int64_t HistoryFromMs(const SeriesKey& key, int h) const override;
  // Seasonal periods (in steps) worth fitting for a series: hourly, daily and weekly cycles
  // of which the window holds at least two.
  static std::vector<int> PeriodsFor(int64_t step_ms, size_t train_steps);
  uint64_t refits() const { return fit_stats().refits; }
  uint64_t selections() const { return fit_stats().selections; }  // refits that chose the structure
  FitStats fit_stats() const override;
  // Each key's state is its own: keys Prepare()d are fitted and forecast concurrently.
  bool ConcurrentKeys() const override { return true; }
  void Prepare(const SeriesKey& key) override { entries_.try_emplace(key); }

 private:
  struct Entry {
    std::unique_ptr<ProbabilisticForecaster> forecaster;
    int64_t fitted_at_ms = 0;
    int64_t selected_at_ms = 0;     // the last refit that chose the structure
    size_t selected_on = 0;         // ...and the training steps it saw
    int64_t absorbed_until_ms = 0;  // end of the last step the model has seen
    int horizon = 0;
    bool updates = true;  // the model rolls forward with Update() (else: refit every call)
  };
  bool Stale(const Entry& e, int h) const;
  // Refit timed and counted.
  absl::Status TimedRefit(Entry& e, const Series& history, int h);
  absl::Status Refit(Entry& e, const Series& history, int h);
  absl::Status RollForward(Entry& e, const Series& history);

  ModelFactory factory_;
  ModelForecasterOptions options_;
  const Clock& clock_;
  // Inserted by the plan thread only (Prepare, or Quantile called without it); a planning
  // round's threads each work on their own keys' entries.
  std::map<SeriesKey, Entry> entries_;
  mutable std::mutex stats_mu_;  // a round's threads write, scrapes read
  FitStats stats_ ABSL_GUARDED_BY(stats_mu_);
};

}  // namespace prewarm::forecast
