// A forecast combination (the M4 lesson: combinations beat single models): the per-step
// median or mean of its members' forecasts, or a mean weighted by the inverse of each
// member's mean squared error on a holdout at the end of the fitted series. A member that
// fails to fit is skipped and the reason kept in report().
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "forecast/model.h"

namespace prewarm::forecast {

class Combination : public Model {
 public:
  enum class Mode { kMedian, kMean, kErrorWeighted };

  struct MemberReport {
    std::string name;
    absl::Status status;        // of the last Fit (or of the refit on Update)
    double holdout_mse = -1.0;  // kErrorWeighted only; -1 when not measured
    double weight = 0.0;        // share in the combination (0 when skipped)
  };

  // `holdout`: steps held out to weigh members in kErrorWeighted mode; 0 = the shortest
  // period of the FitContext (one seasonal day), or n / 10 without periods, at most n / 4.
  explicit Combination(std::vector<std::unique_ptr<Model>> members, Mode mode = Mode::kMedian,
                       int holdout = 0);

  std::string name() const override;  // e.g. "median(snaive,ets,prophetlike)"
  absl::Status Fit(std::span<const double> y, const FitContext& ctx) override;
  absl::StatusOr<std::vector<double>> Predict(int h) const override;
  // Updates each member; members without incremental update are refitted on the
  // extended series (the combination keeps it).
  absl::Status Update(std::span<const double> new_obs) override;
  std::unique_ptr<Model> Clone() const override;
  std::unique_ptr<Model> CloneSelected() const override;  // members' CloneSelected()

  const std::vector<MemberReport>& report() const { return report_; }

 private:
  int HoldoutLength(const FitContext& ctx) const;
  void SetWeights();
  std::vector<double> HoldoutMse(const FitContext& ctx) const;
  double Combine(std::vector<double>& values, const std::vector<double>& weights) const;

  std::vector<std::unique_ptr<Model>> members_;
  Mode mode_;
  int holdout_;
  std::vector<MemberReport> report_;
  std::vector<double> y_;  // the fitted series and later updates
  FitContext ctx_;
};

}  // namespace prewarm::forecast
