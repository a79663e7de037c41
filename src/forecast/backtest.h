// Rolling-origin backtest of the forecast models on one series of the shared protocol
// (bench/forecast/README.md), the C++ side of bench/forecast/compare_r.sh:
//
//   ASSIGN_OR_RETURN(BuiltSeries b, BuildSeries(spec));
//   ASSIGN_OR_RETURN(BacktestReport r, RunBacktest(spec, b, BacktestOptions{}));
//   std::cout << ReportTable(r);          // or ReportJson(r), the same keys as R's
//
// At each origin o (OriginIndices) and for each model x transform (rows "ets",
// "ets_log1p"), a ProbabilisticForecaster is fitted on the training window before o and
// forecasts the horizon; errors are on the count scale over the observed test points.
// Point forecast = the 0.5 quantile = the model's point forecast (BacktestOptions::point). MASE is
// scaled by the in-sample seasonal naive error at periods[0] on the training window. A fit that
// fails is counted, with its reason in the row's notes; the metrics average over the successful
// fits (and over sub-series).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "common/parallel.h"
#include "common/status.h"
#include "forecast/backtest_spec.h"
#include "forecast/quantile.h"

namespace prewarm::forecast {

inline constexpr std::array<double, 4> kPinballLevels = {0.5, 0.9, 0.95, 0.99};

struct BacktestOptions {
  // `auto` chooses its own transform: one row, whatever `transforms` says.
  std::vector<std::string> models = {"snaive", "ets", "prophetlike", "mstl", "combo", "auto"};
  // "none" rows keep the bare name; "boxcox" picks lambda per series (Guerrero).
  std::vector<std::string> transforms = {"none", "log1p", "boxcox"};
  int origins = 0;  // 0: the spec's
  int jobs = 1;     // threads over (sub-series, origin) tasks
  // Q_0.5, the point forecast f: the model's own point forecast back-transformed (as R,
  // whose Q_0.5 is the point forecast), or the calibrated median (point + error median).
  enum class Point { kModel, kCalibratedMedian };
  Point point = Point::kModel;
  // With quantiles.adaptive.enabled, each (sub-series, row) runs through the origins in
  // order and the adaptive levels carry from one to the next (RunChain in backtest.cc).
  QuantileOptions quantiles;
  // Called once per finished (sub-series, origin) task (with adaptive levels: per
  // (sub-series, row, origin) fit), one call at a time, `done` counting up to `total`: the
  // CLI's progress line. Empty: nothing is reported.
  ProgressFn on_task_done;
};

// Metrics of one model row; NaN where they could not be computed (JSON null).
struct ModelSummary {
  std::string name;
  double mase = 0, smape = 0;
  std::array<double, kPinballLevels.size()> pinball{};
  double coverage80 = 0, coverage98 = 0;
  double cpu_s = 0;  // fit + forecast CPU seconds per successful fit
  int origins_ok = 0;
  int fits = 0;
  std::string notes;
};

struct BacktestReport {
  std::string series;
  int64_t step_s = 0;
  std::vector<int> periods;
  int horizon = 0;
  std::optional<int> train;  // nullopt = all
  int origin_span = 0;
  int n = 0;
  int subseries = 0;
  std::vector<int> origin_index;
  std::string notes;
  std::vector<ModelSummary> models;
};

absl::StatusOr<BacktestReport> RunBacktest(const SeriesSpec& spec, const BuiltSeries& series,
                                           const BacktestOptions& options);

// The README's JSON ("tool": "prewarm"), one document.
std::string ReportJson(const BacktestReport& report);
// A human table, best MASE first.
std::string ReportTable(const BacktestReport& report);

}  // namespace prewarm::forecast
