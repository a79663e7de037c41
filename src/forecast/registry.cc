#include "forecast/registry.h"

#include <utility>

#include "fmt/ranges.h"
#include "forecast/models/auto_select.h"
#include "forecast/models/combination.h"
#include "forecast/models/croston.h"
#include "forecast/models/ets.h"
#include "forecast/models/mstl.h"
#include "forecast/models/prophet_like.h"
#include "forecast/models/snaive.h"
#include "forecast/series.h"

namespace prewarm::forecast {
namespace {

std::unique_ptr<Model> MakeCombination(std::span<const int> periods, Combination::Mode mode) {
  std::vector<std::unique_ptr<Model>> members;
  members.push_back(std::make_unique<SeasonalNaive>(periods.empty() ? 0 : periods[0]));
  members.push_back(std::make_unique<Ets>());
  members.push_back(std::make_unique<ProphetLike>());
  members.push_back(std::make_unique<MstlModel>());
  return std::make_unique<Combination>(std::move(members), mode);
}

std::unique_ptr<Model> MakeCroston(CrostonOptions::Method method) {
  CrostonOptions options;
  options.method = method;
  return std::make_unique<Croston>(options);
}

}  // namespace

const std::vector<std::string>& ModelNames() {
  static const std::vector<std::string> kNames = {
      "snaive", "ets",        "croston",        "sba",  "prophetlike", "mstl",
      "combo",  "combo_mean", "combo_weighted", "auto", "auto_best"};
  return kNames;
}

double ZeroShare(std::span<const double> y) {
  size_t observed = 0, zeros = 0;
  for (double v : y) {
    if (IsMissing(v)) continue;
    ++observed;
    if (v == 0.0) ++zeros;
  }
  return observed == 0 ? 0.0 : static_cast<double>(zeros) / static_cast<double>(observed);
}

absl::StatusOr<std::unique_ptr<Model>> MakeModel(std::string_view name,
                                                 std::span<const int> periods) {
  if (name == "snaive") return std::make_unique<SeasonalNaive>(periods.empty() ? 0 : periods[0]);
  if (name == "ets") return std::make_unique<Ets>();
  if (name == "croston") return MakeCroston(CrostonOptions::Method::kCroston);
  if (name == "sba") return MakeCroston(CrostonOptions::Method::kSba);
  if (name == "prophetlike") return std::make_unique<ProphetLike>();
  if (name == "mstl") return std::make_unique<MstlModel>();
  if (name == "combo") return MakeCombination(periods, Combination::Mode::kMedian);
  if (name == "combo_mean") return MakeCombination(periods, Combination::Mode::kMean);
  if (name == "combo_weighted") return MakeCombination(periods, Combination::Mode::kErrorWeighted);
  if (name == "auto") return std::make_unique<AutoSelect>();
  if (name == "auto_best") {
    AutoOptions best;
    best.top = 1;
    return std::make_unique<AutoSelect>(best);
  }
  return absl::InvalidArgumentError(
      fmt::format("unknown model '{}' (models: {})", name, fmt::join(ModelNames(), ", ")));
}

}  // namespace prewarm::forecast
