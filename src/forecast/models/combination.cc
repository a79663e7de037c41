#include "forecast/models/combination.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "forecast/series.h"

namespace prewarm::forecast {
namespace {

const char* ModeName(Combination::Mode mode) {
  switch (mode) {
    case Combination::Mode::kMedian:
      return "median";
    case Combination::Mode::kMean:
      return "mean";
    case Combination::Mode::kErrorWeighted:
      return "weighted";
  }
  return "?";
}

// (value, weight) pairs of one step -> the combined value; NaN values are skipped.
double CombineStep(std::vector<std::pair<double, double>> vw, Combination::Mode mode) {
  std::erase_if(vw, [](const auto& p) { return !std::isfinite(p.first); });
  if (vw.empty()) {
    return kMissing;
  }
  if (mode == Combination::Mode::kMedian) {
    std::sort(vw.begin(), vw.end());
    const size_t m = vw.size();
    return m % 2 == 1 ? vw[m / 2].first : 0.5 * (vw[m / 2 - 1].first + vw[m / 2].first);
  }
  double sum = 0.0, wsum = 0.0;
  for (const auto& [v, w] : vw) {
    const double weight = mode == Combination::Mode::kMean ? 1.0 : w;
    sum += weight * v;
    wsum += weight;
  }
  return wsum > 0 ? sum / wsum : kMissing;
}

// Mean squared error of `fc` against `actual`, over the observed steps.
double Mse(std::span<const double> actual, const std::vector<double>& fc) {
  double sum = 0.0;
  int n = 0;
  for (size_t j = 0; j < actual.size() && j < fc.size(); ++j) {
    if (!IsMissing(actual[j]) && std::isfinite(fc[j])) {
      sum += (actual[j] - fc[j]) * (actual[j] - fc[j]);
      ++n;
    }
  }
  return n > 0 ? sum / n : -1.0;
}

}  // namespace

Combination::Combination(std::vector<std::unique_ptr<Model>> members, Mode mode, int holdout)
    : members_(std::move(members)), mode_(mode), holdout_(holdout) {}

std::string Combination::name() const {
  std::string out = std::string(ModeName(mode_)) + "(";
  for (size_t i = 0; i < members_.size(); ++i) {
    out += (i > 0 ? "," : "") + members_[i]->name();
  }
  return out + ")";
}

std::unique_ptr<Model> Combination::Clone() const {
  std::vector<std::unique_ptr<Model>> members;
  for (const auto& m : members_) {
    members.push_back(m->Clone());
  }
  return std::make_unique<Combination>(std::move(members), mode_, holdout_);
}

std::unique_ptr<Model> Combination::CloneSelected() const {
  std::vector<std::unique_ptr<Model>> members;
  for (const auto& m : members_) {
    members.push_back(m->CloneSelected());
  }
  return std::make_unique<Combination>(std::move(members), mode_, holdout_);
}

int Combination::HoldoutLength(const FitContext& ctx) const {
  const int n = static_cast<int>(y_.size());
  int h = holdout_;
  if (h <= 0) {
    auto p = std::find_if(ctx.periods.begin(), ctx.periods.end(),
                          [n](int q) { return q >= 1 && 4 * q <= n; });
    h = p != ctx.periods.end() ? *p : n / 10;
  }
  return std::clamp(h, n >= 4 ? 1 : 0, n / 4);
}

std::vector<double> Combination::HoldoutMse(const FitContext& ctx) const {
  std::vector<double> mse(members_.size(), -1.0);
  const int h = HoldoutLength(ctx);
  if (h <= 0) {
    return mse;
  }
  const std::span<const double> y(y_);
  const auto train = y.first(y.size() - h);
  for (size_t i = 0; i < members_.size(); ++i) {
    if (!report_[i].status.ok()) {
      continue;
    }
    auto probe = members_[i]->Clone();
    if (!probe->Fit(train, ctx).ok()) {
      continue;
    }
    auto fc = probe->Predict(h);
    if (fc.ok()) {
      mse[i] = Mse(y.last(h), *fc);
    }
  }
  return mse;
}

void Combination::SetWeights() {
  std::vector<size_t> ok, measured, perfect;
  for (size_t i = 0; i < report_.size(); ++i) {
    report_[i].weight = 0.0;
    if (report_[i].status.ok()) {
      ok.push_back(i);
      if (report_[i].holdout_mse >= 0) {
        measured.push_back(i);
      }
      if (report_[i].holdout_mse >= 0 && report_[i].holdout_mse < 1e-300) {
        perfect.push_back(i);
      }
    }
  }
  if (mode_ == Mode::kErrorWeighted && !measured.empty() && perfect.empty()) {
    double sum = 0.0;
    for (size_t i : measured) {
      sum += 1.0 / report_[i].holdout_mse;
    }
    for (size_t i : measured) {
      report_[i].weight = (1.0 / report_[i].holdout_mse) / sum;
    }
    return;
  }
  const std::vector<size_t>& equal =
      mode_ == Mode::kErrorWeighted && !perfect.empty() ? perfect : ok;
  for (size_t i : equal) {
    report_[i].weight = 1.0 / equal.size();
  }
}

absl::Status Combination::Fit(std::span<const double> y, const FitContext& ctx) {
  y_.assign(y.begin(), y.end());
  ctx_ = ctx;
  report_.clear();
  std::string reasons;
  for (const auto& m : members_) {
    absl::Status status = m->Fit(y, ctx);
    if (!status.ok()) {
      reasons += fmt::format("{}{}: {}", reasons.empty() ? "" : "; ", m->name(),
                             status.message());
    }
    report_.push_back(MemberReport{m->name(), std::move(status)});
  }
  if (std::none_of(report_.begin(), report_.end(), [](const auto& r) { return r.status.ok(); })) {
    return absl::FailedPreconditionError(
        fmt::format("{}: no member fits ({})", name(), reasons.empty() ? "no members" : reasons));
  }
  if (mode_ == Mode::kErrorWeighted) {
    const std::vector<double> mse = HoldoutMse(ctx);
    for (size_t i = 0; i < mse.size(); ++i) {
      report_[i].holdout_mse = mse[i];
    }
  }
  SetWeights();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<double>> Combination::Predict(int h) const {
  if (report_.empty()) {
    return absl::FailedPreconditionError(name() + ": not fitted");
  }
  std::vector<std::vector<std::pair<double, double>>> steps(std::max(h, 0));
  for (size_t i = 0; i < members_.size(); ++i) {
    if (report_[i].weight <= 0.0) {
      continue;
    }
    auto fc = members_[i]->Predict(h);
    for (int j = 0; fc.ok() && j < h && j < static_cast<int>(fc->size()); ++j) {
      steps[j].emplace_back((*fc)[j], report_[i].weight);
    }
  }
  std::vector<double> out(steps.size());
  for (size_t j = 0; j < steps.size(); ++j) {
    out[j] = CombineStep(std::move(steps[j]), mode_);
    if (IsMissing(out[j])) {
      return absl::InternalError(fmt::format("{}: no member forecasts step {}", name(), j + 1));
    }
  }
  return out;
}

absl::Status Combination::Update(std::span<const double> new_obs) {
  if (report_.empty()) {
    return absl::FailedPreconditionError(name() + ": not fitted");
  }
  y_.insert(y_.end(), new_obs.begin(), new_obs.end());
  for (size_t i = 0; i < members_.size(); ++i) {
    if (!report_[i].status.ok()) {
      continue;
    }
    absl::Status status = members_[i]->Update(new_obs);
    if (absl::IsUnimplemented(status)) {
      status = members_[i]->Fit(y_, ctx_);
    }
    report_[i].status = std::move(status);
  }
  SetWeights();
  if (std::none_of(report_.begin(), report_.end(), [](const auto& r) { return r.weight > 0; })) {
    return absl::FailedPreconditionError(name() + ": every member failed to update");
  }
  return absl::OkStatus();
}

}  // namespace prewarm::forecast
