#include "forecast/models/ets.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "forecast/optim.h"

namespace prewarm::forecast {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// R's default bounds: alpha, beta, gamma in [1e-4, 0.9999], phi in [0.8, 0.98].
constexpr double kLower = 1e-4, kUpper = 0.9999, kPhiLower = 0.8, kPhiUpper = 0.98;

bool HasTrend(const EtsSpec& s) { return s.trend != EtsComponent::kNone; }
bool HasSeason(const EtsSpec& s) { return s.season != EtsComponent::kNone; }

// The optimised vector: [alpha, beta?, gamma?, phi?, l, b?, free seasonal states?] with
// the free seasonal states in R's order (most recent first: slots m-1 .. 1); slot 0 is
// the normaliser. Out-of-bounds points evaluate to +inf, as in R's target function.
class VariantObjective {
 public:
  VariantObjective(std::span<const double> y, const EtsSpec& spec, int m, EtsState init,
                   bool optimise_season)
      : y_(y), spec_(spec), m_(m), init_(std::move(init)), opt_season_(optimise_season) {}

  Eigen::VectorXd Start() const {
    std::vector<double> x;
    double alpha = kLower + 0.2 * (kUpper - kLower) / (HasSeason(spec_) ? m_ : 1);
    x.push_back(alpha);
    if (HasTrend(spec_)) x.push_back(kLower + 0.1 * (std::min(kUpper, alpha) - kLower));
    if (HasSeason(spec_)) x.push_back(kLower + 0.05 * (std::min(kUpper, 1 - alpha) - kLower));
    if (spec_.damped) x.push_back(kPhiLower + 0.99 * (kPhiUpper - kPhiLower));
    x.push_back(init_.level);
    if (HasTrend(spec_)) x.push_back(init_.trend);
    if (opt_season_) {
      for (int k = m_ - 1; k >= 1; --k) x.push_back(init_.season[k]);
    }
    return Eigen::Map<Eigen::VectorXd>(x.data(), static_cast<Eigen::Index>(x.size()));
  }

  std::optional<std::pair<EtsParams, EtsState>> Decode(const Eigen::VectorXd& x) const {
    EtsParams p;
    int i = 0;
    p.alpha = x[i++];
    if (HasTrend(spec_)) p.beta = x[i++];
    if (HasSeason(spec_)) p.gamma = x[i++];
    if (spec_.damped) p.phi = x[i++];
    if (!InBounds(p)) return std::nullopt;
    EtsState s = init_;
    s.level = x[i++];
    if (HasTrend(spec_)) s.trend = x[i++];
    if (opt_season_) {
      double sum = 0.0;
      for (int k = m_ - 1; k >= 1; --k) sum += (s.season[k] = x[i++]);
      s.season[0] = (spec_.season == EtsComponent::kMultiplicative ? m_ : 0.0) - sum;
    }
    if (spec_.season == EtsComponent::kMultiplicative &&
        *std::min_element(s.season.begin(), s.season.end()) < 0) {
      return std::nullopt;
    }
    return std::make_pair(p, std::move(s));
  }

  double operator()(const Eigen::VectorXd& x) const {
    auto decoded = Decode(x);
    if (!decoded) return kInf;
    EtsFilterStats st = decoded->second.Advance(spec_, decoded->first, y_);
    if (!st.finite || st.n_obs == 0) return kInf;
    double lik = st.Lik(spec_.error);
    if (std::isnan(lik)) return kInf;
    return std::max(lik, -1e10);  // R: avoid rewarding perfect fits without bound
  }

 private:
  bool InBounds(const EtsParams& p) const {
    if (p.alpha < kLower || p.alpha > kUpper) return false;
    if (HasTrend(spec_) && (p.beta < kLower || p.beta > p.alpha || p.beta > kUpper)) return false;
    if (spec_.damped && (p.phi < kPhiLower || p.phi > kPhiUpper)) return false;
    if (HasSeason(spec_) && (p.gamma < kLower || p.gamma > 1 - p.alpha || p.gamma > kUpper)) {
      return false;
    }
    // R's admissibility check; for long periods its O(m^3) root finding is skipped and
    // the usual bounds above stand in for it.
    return (HasSeason(spec_) && m_ > 24) || Admissible(spec_, p, m_);
  }

  std::span<const double> y_;
  EtsSpec spec_;
  int m_;
  EtsState init_;
  bool opt_season_;
};

EtsFit Finish(std::span<const double> y, const EtsSpec& spec, int m, EtsParams p, EtsState init,
              int n_params) {
  EtsFit fit{spec, p, m, init, init};
  EtsFilterStats st = fit.state.Advance(spec, p, y);
  fit.n_params = n_params;
  fit.n_obs = st.n_obs;
  fit.lik = st.Lik(spec.error);
  const double np = n_params + 1;  // + sigma
  const double n = st.n_obs;
  fit.aic = fit.lik + 2 * np;
  fit.aicc = n - np - 1 > 0 ? fit.aic + 2 * np * (np + 1) / (n - np - 1) : kInf;
  fit.sigma2 = n > n_params ? st.sse / (n - n_params) : kInf;
  return fit;
}

}  // namespace

absl::StatusOr<EtsFit> Ets::FitVariant(std::span<const double> y, const EtsSpec& spec,
                                       int period, const EtsOptions& options) {
  const int m = HasSeason(spec) ? period : 1;
  if (HasSeason(spec) && m < 2) return absl::InvalidArgumentError(spec.Name() + ": no period");
  const bool opt_season = HasSeason(spec) && m <= options.max_optimised_season;
  EtsState init = InitialState(y, spec, m);
  VariantObjective objective(y, spec, m, init, opt_season);
  Eigen::VectorXd x0 = objective.Start();
  const int n_params = static_cast<int>(x0.size()) + (HasSeason(spec) && !opt_season ? m - 1 : 0);
  const int n_obs = static_cast<int>(std::count_if(y.begin(), y.end(), [](double v) { return !std::isnan(v); }));
  if (n_params >= n_obs - 1) {
    return absl::FailedPreconditionError(
        fmt::format("{}: {} parameters for {} observations", spec.Name(), n_params, n_obs));
  }
  OptimOptions o;
  o.max_evals = options.max_evals;
  o.f_tol = options.lik_tol;
  ASSIGN_OR_RETURN(OptimResult best, NelderMead(std::cref(objective), x0, o));
  auto decoded = objective.Decode(best.x);
  if (!decoded) return absl::InternalError(spec.Name() + ": optimum out of bounds");
  EtsFit fit = Finish(y, spec, m, decoded->first, decoded->second, n_params);
  fit.evals = best.evals;
  return fit;
}

namespace {

struct ModelCode {
  char error = 'Z', trend = 'Z', season = 'Z';
  bool damped = false;  // "Ad"
};

absl::StatusOr<ModelCode> ParseCode(const std::string& model) {
  ModelCode c;
  std::string s = model;
  if (s.size() == 4 && s[2] == 'd') {
    c.damped = true;
    s.erase(2, 1);
  }
  if (s.size() != 3) return absl::InvalidArgumentError(fmt::format("ets: bad model \"{}\"", model));
  c.error = s[0], c.trend = s[1], c.season = s[2];
  auto in = [](char ch, std::string_view set) { return set.find(ch) != std::string_view::npos; };
  if (!in(c.error, "AMZ") || !in(c.trend, "NAZ") || !in(c.season, "NAMZ") || (c.damped && c.trend == 'N')) {
    return absl::InvalidArgumentError(
        fmt::format("ets: bad model \"{}\" (error A|M|Z, trend N|A|Ad|Z, season N|A|M|Z)", model));
  }
  return c;
}

std::vector<EtsComponent> Choices(char code, bool allow_mult) {
  switch (code) {
    case 'N':
      return {EtsComponent::kNone};
    case 'A':
      return {EtsComponent::kAdditive};
    case 'M':
      return {EtsComponent::kMultiplicative};
    default:
      break;
  }
  if (allow_mult) return {EtsComponent::kAdditive, EtsComponent::kMultiplicative};
  return {EtsComponent::kAdditive};
}

// The variants to try, R's ets() loop with restrict = TRUE for the chosen ('Z') parts.
std::vector<EtsSpec> Candidates(const ModelCode& c, const EtsOptions& o, bool positive,
                                int period) {
  const bool mult = o.allow_multiplicative && positive;
  std::vector<EtsComponent> errors = Choices(c.error, mult);
  std::vector<EtsComponent> trends = c.trend == 'Z'
                                         ? std::vector{EtsComponent::kNone, EtsComponent::kAdditive}
                                         : Choices(c.trend, false);
  std::vector<EtsComponent> seasons = Choices(c.season, mult);
  if (c.season == 'Z') seasons.insert(seasons.begin(), EtsComponent::kNone);
  if (period < 2) seasons = {EtsComponent::kNone};
  std::vector<bool> dampings = c.damped ? std::vector{true}
                               : o.damped ? std::vector{*o.damped}
                                          : std::vector{true, false};
  std::vector<EtsSpec> out;
  for (EtsComponent e : errors) {
    for (EtsComponent t : trends) {
      for (EtsComponent s : seasons) {
        for (bool d : dampings) {
          if (t == EtsComponent::kNone && d) continue;
          bool chosen_mult = c.season == 'Z' || c.error == 'Z';
          if (chosen_mult && e == EtsComponent::kAdditive && s == EtsComponent::kMultiplicative) continue;
          out.push_back(EtsSpec{e, t, s, d});
        }
      }
    }
  }
  return out;
}

int ChoosePeriod(std::span<const double> y, const FitContext& ctx, const EtsOptions& o) {
  if (o.period > 0) return o.period;
  for (int p : ctx.periods) {
    if (p > 1 && p <= o.max_period && y.size() >= 2 * static_cast<size_t>(p)) return p;
  }
  return 1;
}

}  // namespace

std::string Ets::name() const {
  return fit_ ? fit_->spec.Name() : fmt::format("ets({})", options_.model);
}

absl::Status Ets::Fit(std::span<const double> y, const FitContext& ctx) {
  fit_.reset();
  ASSIGN_OR_RETURN(ModelCode code, ParseCode(options_.model));
  double lowest = std::numeric_limits<double>::infinity();
  for (double v : y) {
    if (!std::isnan(v)) lowest = std::min(lowest, v);
  }
  if (std::isinf(lowest)) return absl::FailedPreconditionError("ets: no observations");
  const bool positive = lowest > 0;
  if ((code.error == 'M' || code.season == 'M') && !positive) {
    return absl::FailedPreconditionError("ets: multiplicative components need positive data");
  }
  const int period = ChoosePeriod(y, ctx, options_);
  if ((code.season == 'A' || code.season == 'M') && period < 2) {
    return absl::FailedPreconditionError("ets: seasonal model without a usable period");
  }
  absl::Status last = absl::FailedPreconditionError("ets: no candidate variant");
  for (const EtsSpec& spec : Candidates(code, options_, positive, period)) {
    absl::StatusOr<EtsFit> fit = FitVariant(y, spec, period, options_);
    if (!fit.ok()) {
      last = fit.status();
      continue;
    }
    if (!fit_ || fit->aicc < fit_->aicc) fit_ = std::move(*fit);
  }
  return fit_ ? absl::OkStatus() : last;
}

absl::StatusOr<std::vector<double>> Ets::Predict(int h) const {
  if (!fit_) return absl::FailedPreconditionError(name() + ": not fitted");
  if (h < 0) return absl::InvalidArgumentError(name() + ": negative horizon");
  return fit_->state.Forecast(fit_->spec, fit_->params, h);
}

absl::Status Ets::Update(std::span<const double> new_obs) {
  if (!fit_) return absl::FailedPreconditionError(name() + ": not fitted");
  EtsFilterStats st = fit_->state.Advance(fit_->spec, fit_->params, new_obs);
  if (!std::isfinite(fit_->state.level)) {
    return absl::InternalError(name() + ": state diverged on update");
  }
  fit_->n_obs += st.n_obs;
  return absl::OkStatus();
}

std::unique_ptr<Model> Ets::Clone() const { return std::make_unique<Ets>(options_); }

std::unique_ptr<Model> Ets::CloneSelected() const {
  if (!fit_) return Clone();
  auto letter = [](EtsComponent c) {
    return c == EtsComponent::kNone ? 'N' : (c == EtsComponent::kAdditive ? 'A' : 'M');
  };
  const EtsSpec& s = fit_->spec;
  EtsOptions o = options_;
  o.model = std::string(1, letter(s.error)) + letter(s.trend) + (s.damped ? "d" : "") +
            letter(s.season);
  o.damped = s.damped;
  o.period = fit_->period;
  return std::make_unique<Ets>(o);
}

absl::StatusOr<std::vector<double>> Ets::ForecastVariance(int h) const {
  if (!fit_) return absl::FailedPreconditionError(name() + ": not fitted");
  const EtsSpec& s = fit_->spec;
  if (s.error != EtsComponent::kAdditive || s.season == EtsComponent::kMultiplicative) {
    return absl::UnimplementedError(s.Name() + ": analytic variance only for class-1 models");
  }
  const EtsParams& p = fit_->params;
  const double phi = s.damped ? p.phi : 1.0;
  std::vector<double> var(std::max(h, 0));
  double sum_c2 = 0.0, phi_j = 0.0, phi_pow = 1.0;
  for (int j = 0; j < h; ++j) {
    var[j] = fit_->sigma2 * (1.0 + sum_c2);
    phi_pow *= phi;  // c_{j+1} for the next step
    phi_j += phi_pow;
    double c = p.alpha + (HasTrend(s) ? p.beta * phi_j : 0.0) +
               (HasSeason(s) && (j + 1) % fit_->period == 0 ? p.gamma : 0.0);
    sum_c2 += c * c;
  }
  return var;
}

}  // namespace prewarm::forecast
