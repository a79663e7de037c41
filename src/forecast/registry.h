// The models by name, for the backtest and the command line: one factory, one list.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Model> m, MakeModel("combo", {144, 1008}));
//
// Names: snaive, ets (automatic ZZZ), croston, sba, prophetlike, mstl (MSTL + ETS, as R's
// mstl/stlf), combo (median of snaive, ets, prophetlike, mstl), combo_mean,
// combo_weighted (inverse holdout MSE), auto (model and transform chosen per series by
// validation inside the training window: the inverse-score weighted top 3,
// models/auto_select.h; fit it on raw counts), auto_best (the same, the single best).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "forecast/model.h"

namespace prewarm::forecast {

// Every name MakeModel accepts, in a stable order.
const std::vector<std::string>& ModelNames();

// A fresh, unfitted model. `periods` (shortest first) pins seasonal naive to periods[0];
// empty leaves each model to pick from FitContext::periods at Fit. Unknown names are
// InvalidArgument, listing the valid ones.
absl::StatusOr<std::unique_ptr<Model>> MakeModel(std::string_view name,
                                                 std::span<const int> periods = {});

// Share of zeros among the observed values of `y` (0 when nothing is observed).
double ZeroShare(std::span<const double> y);

}  // namespace prewarm::forecast
