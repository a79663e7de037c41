#include "forecast/models/auto_select.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

#include "fmt/format.h"
#include "forecast/metrics.h"
#include "forecast/models/croston.h"
#include "forecast/models/ets.h"
#include "forecast/models/mstl.h"
#include "forecast/models/prophet_like.h"
#include "forecast/models/snaive.h"
#include "forecast/registry.h"
#include "forecast/series.h"
#include "forecast/transform.h"

namespace prewarm::forecast {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// The levels a candidate's pinball loss is scored at.
constexpr std::array<double, 4> kLevels = {0.1, 0.5, 0.9, 0.99};
// No forecast exceeds this multiple of the largest training count (as quantile.h's cap):
// expm1 of an extrapolated log trend must not swamp a combination.
constexpr double kCapFactor = 10.0;

// A base model on one transform of the counts.
struct Base {
  std::string label;  // "ets_log1p"
  Transform transform = Transform::None();
  std::unique_ptr<Model> model;
  bool combo_member = false;  // one of the four the median combination takes
};

// The bases on raw counts, log1p and Box-Cox with `boxcox`'s lambda.
std::vector<Base> MakeBases(int period, bool intermittent, Transform boxcox) {
  std::vector<Base> out;
  for (Transform t : {Transform::None(), Transform::Log1p(), boxcox}) {
    const std::string suffix = t.kind() == Transform::Kind::kNone    ? ""
                               : t.kind() == Transform::Kind::kLog1p ? "_log1p"
                                                                     : "_boxcox";
    out.push_back({"snaive" + suffix, t, std::make_unique<SeasonalNaive>(period), true});
    out.push_back({"ets" + suffix, t, std::make_unique<Ets>(), true});
    out.push_back({"prophetlike" + suffix, t, std::make_unique<ProphetLike>(), true});
    out.push_back({"mstl" + suffix, t, std::make_unique<MstlModel>(), true});
  }
  if (intermittent) {
    CrostonOptions sba;
    sba.method = CrostonOptions::Method::kSba;
    out.push_back({"sba", Transform::None(), std::make_unique<Croston>(sba), false});
  }
  return out;
}

// A part of a forecast: one base, or the per-step median of several.
struct Component {
  std::string label;
  std::vector<int> members;  // indices into the bases
  double weight = 0;
};

double Median(std::vector<double> v) {
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// The component's forecast from its members' (fc[b] empty: member b failed); empty when
// the component is unavailable (a single member failed, or a median has fewer than two).
std::vector<double> ComponentForecast(const Component& c,
                                      const std::vector<std::vector<double>>& fc, int h) {
  std::vector<const std::vector<double>*> ok;
  for (int b : c.members) {
    if (!fc[b].empty()) ok.push_back(&fc[b]);
  }
  if (ok.empty() || (c.members.size() > 1 && ok.size() < 2)) return {};
  if (ok.size() == 1) return *ok[0];
  std::vector<double> out(h);
  for (int j = 0; j < h; ++j) {
    std::vector<double> v;
    for (const auto* f : ok) v.push_back((*f)[j]);
    out[j] = Median(std::move(v));
  }
  return out;
}

// A base's forecast on the count scale, capped; empty on failure.
std::vector<double> CountForecast(const Base& b, int h, double cap) {
  absl::StatusOr<std::vector<double>> z = b.model->Predict(h);
  if (!z.ok() || static_cast<int>(z->size()) < h) return {};
  std::vector<double> out = b.transform.Inverse(*z);
  for (double& v : out) {
    if (!std::isfinite(v)) return {};
    v = std::min(v, cap);
  }
  return out;
}

double Cap(std::span<const double> y) {
  double peak = 0;
  for (double v : y) {
    if (!IsMissing(v)) peak = std::max(peak, v);
  }
  return kCapFactor * std::max(peak, 1.0);
}

// The fixed weighted structure `auto` settles on: members fitted each on its transform,
// components combined with fixed weights (renormalised over those available).
class Ensemble : public Model {
 public:
  Ensemble(std::vector<Base> members, std::vector<Component> components)
      : members_(std::move(members)), components_(std::move(components)) {}

  std::string name() const override {
    std::string out = "auto[";
    for (size_t i = 0; i < components_.size(); ++i) {
      out += fmt::format("{}{:.2f} {}", i ? "+" : "", components_[i].weight, components_[i].label);
    }
    return out + "]";
  }

  absl::Status Fit(std::span<const double> y, const FitContext& ctx) override {
    cap_ = Cap(y);
    ok_.assign(members_.size(), false);
    absl::Status last = absl::FailedPreconditionError("auto: no members");
    for (size_t i = 0; i < members_.size(); ++i) {
      std::vector<double> z = members_[i].transform.Forward(y);
      absl::Status s = members_[i].model->Fit(z, ctx);
      ok_[i] = s.ok();
      if (!s.ok()) last = s;
    }
    fitted_ = true;
    absl::StatusOr<std::vector<double>> probe = Predict(1);
    if (!probe.ok()) {
      fitted_ = false;
      return absl::FailedPreconditionError(
          fmt::format("{}: no component fits ({})", name(), last.message()));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<double>> Predict(int h) const override {
    if (!fitted_) return absl::FailedPreconditionError("auto: not fitted");
    std::vector<std::vector<double>> fc(members_.size());
    for (size_t i = 0; i < members_.size(); ++i) {
      if (ok_[i]) fc[i] = CountForecast(members_[i], h, cap_);
    }
    std::vector<double> out(h, 0.0);
    double total = 0;
    for (const Component& c : components_) {
      std::vector<double> f = ComponentForecast(c, fc, h);
      if (f.empty()) continue;
      for (int j = 0; j < h; ++j) out[j] += c.weight * f[j];
      total += c.weight;
    }
    if (!(total > 0)) return absl::InternalError(name() + ": no component forecast");
    for (double& v : out) v /= total;
    return out;
  }

  absl::Status Update(std::span<const double> new_obs) override {
    if (!fitted_) return absl::FailedPreconditionError("auto: not fitted");
    for (size_t i = 0; i < members_.size(); ++i) {
      if (!ok_[i]) continue;
      RETURN_IF_ERROR(members_[i].model->Update(members_[i].transform.Forward(new_obs)));
    }
    return absl::OkStatus();
  }

  std::unique_ptr<Model> Clone() const override { return Copy(false); }
  std::unique_ptr<Model> CloneSelected() const override { return Copy(fitted_); }
  bool ChoosesTransform() const override { return true; }

 private:
  std::unique_ptr<Model> Copy(bool selected) const {
    std::vector<Base> members;
    for (const Base& b : members_) {
      members.push_back({b.label, b.transform,
                         selected ? b.model->CloneSelected() : b.model->Clone(), b.combo_member});
    }
    return std::make_unique<Ensemble>(std::move(members), components_);
  }

  std::vector<Base> members_;
  std::vector<Component> components_;
  std::vector<bool> ok_;
  double cap_ = 0;
  bool fitted_ = false;
};

// Every base fitted before `start` and rolled forward through the held-out origins.
struct Validation {
  std::vector<std::vector<double>> actual;           // [origin][step]
  std::vector<std::vector<std::vector<double>>> fc;  // [base][origin][step]; empty: failed
};

Validation Validate(std::vector<Base>& bases, std::span<const double> y, const FitContext& ctx,
                    int start, int h, int stride) {
  const int n = static_cast<int>(y.size());
  const double cap = Cap(y.first(start));
  Validation v;
  v.fc.resize(bases.size());
  std::vector<std::vector<double>> z(bases.size());
  std::vector<bool> ok(bases.size());
  for (size_t b = 0; b < bases.size(); ++b) {
    z[b] = bases[b].transform.Forward(y);
    ok[b] = bases[b].model->Fit(std::span<const double>(z[b]).first(start), ctx).ok();
  }
  for (int o = start; o + h <= n; o += stride) {
    v.actual.emplace_back(y.begin() + o, y.begin() + o + h);
    const bool more = o + stride + h <= n;
    for (size_t b = 0; b < bases.size(); ++b) {
      if (!ok[b]) continue;
      std::vector<double> f = CountForecast(bases[b], h, cap);
      ok[b] =
          !f.empty() &&
          (!more || bases[b].model->Update(std::span<const double>(z[b]).subspan(o, stride)).ok());
      if (ok[b]) v.fc[b].push_back(std::move(f));
    }
  }
  for (size_t b = 0; b < bases.size(); ++b) {
    if (!ok[b]) v.fc[b].clear();
  }
  return v;
}

// A candidate's forecasts at every origin; empty when one is unavailable.
std::vector<std::vector<double>> CandidateForecasts(const Component& c, const Validation& v,
                                                    int h) {
  std::vector<std::vector<double>> out;
  for (size_t o = 0; o < v.actual.size(); ++o) {
    std::vector<std::vector<double>> at(v.fc.size());
    for (size_t b = 0; b < v.fc.size(); ++b) {
      if (!v.fc[b].empty()) at[b] = v.fc[b][o];
    }
    std::vector<double> f = ComponentForecast(c, at, h);
    if (f.empty()) return {};
    out.push_back(std::move(f));
  }
  return out;
}

double SortedQuantile(const std::vector<double>& sorted, double p) {
  const double x = (sorted.size() - 1) * p;
  const size_t lo = static_cast<size_t>(std::floor(x));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (x - lo) * (sorted[hi] - sorted[lo]);
}

struct Errors {
  double mae = kNaN;
  double pinball = kNaN;
};

// MAE, and the pinball loss of quantiles made from the candidate's own log1p errors.
Errors Score(const std::vector<std::vector<double>>& fc, const Validation& v) {
  double abs_sum = 0;
  std::vector<double> resid;
  for (size_t o = 0; o < fc.size(); ++o) {
    for (size_t j = 0; j < fc[o].size(); ++j) {
      const double a = v.actual[o][j];
      if (IsMissing(a)) continue;
      abs_sum += std::abs(a - fc[o][j]);
      resid.push_back(std::log1p(a) - std::log1p(fc[o][j]));
    }
  }
  if (resid.empty()) return {};
  std::vector<double> sorted = resid;
  std::sort(sorted.begin(), sorted.end());
  double pb = 0;
  for (double p : kLevels) {
    const double shift = SortedQuantile(sorted, p);
    for (size_t o = 0; o < fc.size(); ++o) {
      for (size_t j = 0; j < fc[o].size(); ++j) {
        const double a = v.actual[o][j];
        if (IsMissing(a)) continue;
        const double q = std::max(0.0, std::expm1(std::log1p(fc[o][j]) + shift));
        pb += std::max(p * (a - q), (p - 1) * (a - q));
      }
    }
  }
  return {abs_sum / resid.size(), pb / (resid.size() * kLevels.size())};
}

// Singles for every base, and the median combination per transform; the median on log1p
// (the anchor of Choose) last.
std::vector<Component> Candidates(const std::vector<Base>& bases) {
  std::vector<Component> out;
  std::vector<int> combo[3];  // by Transform::Kind: none, log1p, Box-Cox
  for (size_t b = 0; b < bases.size(); ++b) {
    out.push_back({bases[b].label, {static_cast<int>(b)}});
    if (bases[b].combo_member) {
      combo[static_cast<int>(bases[b].transform.kind())].push_back(static_cast<int>(b));
    }
  }
  out.push_back({"combo", combo[static_cast<int>(Transform::Kind::kNone)]});
  out.push_back({"combo_boxcox", combo[static_cast<int>(Transform::Kind::kBoxCox)]});
  out.push_back({"combo_log1p", combo[static_cast<int>(Transform::Kind::kLog1p)]});
  return out;
}

double Relative(double x, double ref) { return ref > 0 ? x / ref : (x > 0 ? 2.0 : 1.0); }

// Where the held-out origins lie: every `stride` steps from `first`, the last one
// forecasting the final h steps of the window.
struct Plan {
  int h = 0;
  int span = 0;  // held-out steps; < h: too short to validate
  int first = 0;
  int stride = 1;
};

Plan MakePlan(int n, int p0, const FitContext& ctx, const AutoOptions& o) {
  Plan p;
  p.h = ctx.horizon > 0 ? ctx.horizon : p0;
  const int folds = o.folds * std::max(p.h, p0);
  p.span = std::min(std::max(folds, static_cast<int>(o.span_share * n)), n / 3);
  const int gaps = std::max(1, o.max_origins - 1);
  p.stride = std::max(1, (p.span - p.h + gaps - 1) / gaps);
  p.first = n - p.h - std::max(0, p.span - p.h) / p.stride * p.stride;
  return p;
}

// Scores relative to seasonal naive on raw counts (errors[0]; when it is perfect or
// failed, to the best MAE), and drops candidates with a larger MAE than it.
std::vector<AutoCandidate> Rate(const std::vector<Component>& cands,
                                const std::vector<Errors>& errors, double scale) {
  Errors ref = errors[0];
  const bool snaive_ref = ref.mae > 0;
  for (const Errors& e : errors) {
    if (!snaive_ref && e.mae > 0 && !(e.mae >= ref.mae)) ref = e;
  }
  std::vector<AutoCandidate> out;
  for (size_t c = 0; c < cands.size(); ++c) {
    AutoCandidate& a = out.emplace_back();
    a.name = cands[c].label;
    a.mase = scale > 0 ? errors[c].mae / scale : kNaN;
    a.pinball = errors[c].pinball;
    a.score =
        0.5 * Relative(errors[c].mae, ref.mae) + 0.5 * Relative(errors[c].pinball, ref.pinball);
    a.dropped = std::isnan(errors[c].mae) || (snaive_ref && errors[c].mae > ref.mae);
  }
  return out;
}

// The candidates combined, best first, with their weights set in `rated`: the median
// combination on log1p (the anchor, last) and the challengers that beat its score by
// `margin`, the best `top` of them, weighted by inverse score. Empty: none validated.
std::vector<size_t> Choose(std::vector<AutoCandidate>& rated, const AutoOptions& o) {
  const size_t anchor = rated.size() - 1;
  const double bar = rated[anchor].dropped ? INFINITY : (1 - o.margin) * rated[anchor].score;
  std::vector<size_t> order;
  for (size_t c = 0; c < rated.size(); ++c) {
    if (!rated[c].dropped && (c == anchor || rated[c].score < bar)) order.push_back(c);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return rated[a].score < rated[b].score; });
  if (order.size() > static_cast<size_t>(std::max(1, o.top))) order.resize(std::max(1, o.top));
  double total = 0;
  for (size_t c : order) total += 1 / std::max(rated[c].score, 1e-9);
  for (size_t c : order) rated[c].weight = 1 / std::max(rated[c].score, 1e-9) / total;
  return order;
}

// The chosen components over fresh copies of the bases they use.
std::unique_ptr<Model> Assemble(const std::vector<Base>& bases, const std::vector<Component>& cands,
                                const std::vector<size_t>& order,
                                const std::vector<AutoCandidate>& rated) {
  std::vector<Base> members;
  std::vector<Component> components;
  std::vector<int> index(bases.size(), -1);
  for (size_t c : order) {
    Component comp = cands[c];
    comp.weight = rated[c].weight;
    for (int& b : comp.members) {
      if (index[b] < 0) {
        index[b] = static_cast<int>(members.size());
        members.push_back(
            {bases[b].label, bases[b].transform, bases[b].model->Clone(), bases[b].combo_member});
      }
      b = index[b];
    }
    components.push_back(std::move(comp));
  }
  return std::make_unique<Ensemble>(std::move(members), std::move(components));
}

}  // namespace

AutoSelect::~AutoSelect() = default;

std::string AutoSelect::name() const { return chosen_ ? chosen_->name() : "auto"; }

absl::Status AutoSelect::Fit(std::span<const double> y, const FitContext& ctx) {
  chosen_.reset();
  held_out_ = {};
  const int n = static_cast<int>(y.size());
  const int p0 = ctx.periods.empty() ? 1 : std::max(1, ctx.periods[0]);
  const Plan plan = MakePlan(n, p0, ctx, options_);
  // Box-Cox's lambda from the data before the held-out span (Guerrero, as R's BoxCox.lambda),
  // kept by the final fit and by CloneSelected().
  const int before = std::max(1, std::min(plan.first, n));
  const Transform boxcox =
      Transform::AutoBoxCox(y.first(before), before >= 2 * p0 ? p0 : std::max(1, before / 2));
  std::vector<Base> bases = MakeBases(p0, ZeroShare(y) > options_.intermittent_zero_share, boxcox);
  const std::vector<Component> cands = Candidates(bases);
  std::vector<std::vector<std::vector<double>>> cand_fc(cands.size());
  std::vector<Errors> errors(cands.size());
  std::vector<std::vector<double>> actual;
  if (plan.span >= plan.h) {
    Validation v = Validate(bases, y, ctx, plan.first, plan.h, plan.stride);
    for (size_t c = 0; c < cands.size(); ++c) {
      cand_fc[c] = CandidateForecasts(cands[c], v, plan.h);
      if (!cand_fc[c].empty()) errors[c] = Score(cand_fc[c], v);
    }
    actual = std::move(v.actual);
  }
  candidates_ = Rate(cands, errors, SeasonalNaiveScale(y.first(plan.first), p0));
  std::vector<size_t> order = Choose(candidates_, options_);
  if (order.empty()) {  // nothing validated (too short): the median combination on log1p
    order.push_back(cands.size() - 1);
    candidates_[order[0]].weight = 1;
  } else {  // the chosen combination's held-out forecasts calibrate the quantiles
    held_out_.actual = std::move(actual);
    for (size_t o = 0; o < held_out_.actual.size(); ++o) {
      std::vector<double>& f = held_out_.forecast.emplace_back(plan.h, 0.0);
      for (size_t c : order) {
        for (int j = 0; j < plan.h; ++j) f[j] += candidates_[c].weight * cand_fc[c][o][j];
      }
    }
  }
  std::unique_ptr<Model> chosen = Assemble(bases, cands, order, candidates_);
  RETURN_IF_ERROR(chosen->Fit(y, ctx));
  chosen_ = std::move(chosen);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<double>> AutoSelect::Predict(int h) const {
  if (!chosen_) return absl::FailedPreconditionError("auto: not fitted");
  return chosen_->Predict(h);
}

absl::Status AutoSelect::Update(std::span<const double> new_obs) {
  if (!chosen_) return absl::FailedPreconditionError("auto: not fitted");
  return chosen_->Update(new_obs);
}

std::unique_ptr<Model> AutoSelect::Clone() const { return std::make_unique<AutoSelect>(options_); }

std::unique_ptr<Model> AutoSelect::CloneSelected() const {
  return chosen_ ? chosen_->CloneSelected() : Clone();
}

}  // namespace prewarm::forecast
