#include "forecast/models/croston.h"

#include <cmath>

#include "forecast/optim.h"

namespace prewarm::forecast {

void Croston::State::Absorb(double v, double alpha) {
  if (std::isnan(v)) return;
  ++since;
  if (v <= 0) return;
  if (demands == 0) {
    size = v;
    interval = since;
  } else {
    size += alpha * (v - size);
    interval += alpha * (since - interval);
  }
  ++demands;
  since = 0;
}

std::string Croston::name() const {
  return options_.method == CrostonOptions::Method::kSba ? "sba" : "croston";
}

double Croston::InSampleMse(std::span<const double> y, double alpha) {
  State s;
  double sse = 0.0;
  int n = 0;
  for (double v : y) {
    if (!std::isnan(v) && s.demands > 0) {
      double e = v - s.size / s.interval;
      sse += e * e;
      ++n;
    }
    s.Absorb(v, alpha);
  }
  return n > 0 ? sse / n : 0.0;
}

absl::Status Croston::Fit(std::span<const double> y, const FitContext& /*ctx*/) {
  fitted_ = false;
  alpha_ = options_.alpha;
  if (!(alpha_ > 0 && alpha_ <= 1)) {
    return absl::InvalidArgumentError(fmt::format("{}: alpha {} outside (0, 1]", name(), alpha_));
  }
  if (options_.fit_alpha) {
    alpha_ = BrentMinimize([&](double a) { return InSampleMse(y, a); }, 0.01, 0.5, 1e-4).x;
  }
  state_ = State{};
  bool observed = false;
  for (double v : y) {
    observed = observed || !std::isnan(v);
    state_.Absorb(v, alpha_);
  }
  if (!observed) return absl::FailedPreconditionError(name() + ": no observations");
  fitted_ = true;
  return absl::OkStatus();
}

double Croston::rate() const {
  if (state_.demands == 0) return 0.0;
  double r = state_.size / state_.interval;
  return options_.method == CrostonOptions::Method::kSba ? r * (1 - alpha_ / 2) : r;
}

absl::StatusOr<std::vector<double>> Croston::Predict(int h) const {
  if (!fitted_) return absl::FailedPreconditionError(name() + ": not fitted");
  if (h < 0) return absl::InvalidArgumentError(name() + ": negative horizon");
  return std::vector<double>(h, rate());
}

absl::Status Croston::Update(std::span<const double> new_obs) {
  if (!fitted_) return absl::FailedPreconditionError(name() + ": not fitted");
  for (double v : new_obs) state_.Absorb(v, alpha_);
  return absl::OkStatus();
}

std::unique_ptr<Model> Croston::Clone() const { return std::make_unique<Croston>(options_); }

}  // namespace prewarm::forecast
