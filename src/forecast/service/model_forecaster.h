// ModelDemandForecaster: the DemandForecaster the daemon uses. One ProbabilisticForecaster
// per (region, template), refitted every `refit_every_ms` on the latest training window,
// and rolled forward with Update() on the observations that arrived in between.
#pragma once

#include <functional>
#include <map>
#include <memory>

#include "common/clock.h"
#include "forecast/quantile.h"
#include "forecast/service/planner.h"

namespace prewarm::forecast {

using ModelFactory = std::function<absl::StatusOr<std::unique_ptr<Model>>()>;

struct ModelForecasterOptions {
  std::string model_name;
  Transform transform = Transform::Log1p();
  int64_t refit_every_ms = 600'000;
  size_t max_train_steps = 20'000;  // the most recent steps a fit sees
};

class ModelDemandForecaster final : public DemandForecaster {
 public:
  ModelDemandForecaster(ModelFactory factory, ModelForecasterOptions options, const Clock& clock)
      : factory_(std::move(factory)), options_(std::move(options)), clock_(clock) {}

  absl::StatusOr<std::vector<double>> Quantile(const SeriesKey& key, const Series& history, int h,
                                               double q) override;
  std::string model_name() const override { return options_.model_name; }
  // Seasonal periods (in steps) worth fitting for a series: hourly, daily and weekly cycles
  // of which the window holds at least two.
  static std::vector<int> PeriodsFor(int64_t step_ms, size_t train_steps);
  uint64_t refits() const { return refits_; }

 private:
  struct Entry {
    std::unique_ptr<ProbabilisticForecaster> forecaster;
    int64_t fitted_at_ms = 0;
    int64_t absorbed_until_ms = 0;  // end of the last step the model has seen
    int horizon = 0;
  };
  absl::Status Refit(Entry& e, const Series& history, int h);
  absl::Status RollForward(Entry& e, const Series& history);

  ModelFactory factory_;
  ModelForecasterOptions options_;
  const Clock& clock_;
  std::map<SeriesKey, Entry> entries_;  // used by the plan thread only
  uint64_t refits_ = 0;
};

}  // namespace prewarm::forecast
