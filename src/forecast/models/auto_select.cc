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
  // The scale a median is taken on: its members' transform, as the combination row fitted
  // on that transform takes it (the median of four is the mean of the middle two there).
  Transform space = Transform::None();
};

double Median(std::vector<double> v) {
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// The component's forecast on the count scale, capped, from its members' forecasts on
// their transform's scale (fc[b] empty: member b failed); empty when the component is
// unavailable (a single member failed, or a median has fewer than two).
std::vector<double> ComponentForecast(const Component& c,
                                      const std::vector<std::vector<double>>& fc, int h,
                                      double cap) {
  std::vector<const std::vector<double>*> ok;
  for (int b : c.members) {
    if (!fc[b].empty()) ok.push_back(&fc[b]);
  }
  if (ok.empty() || (c.members.size() > 1 && ok.size() < 2)) return {};
  std::vector<double> out(h);
  for (int j = 0; j < h; ++j) {
    std::vector<double> v;
    for (const auto* f : ok) v.push_back((*f)[j]);
    out[j] = std::min(c.space.Inverse(v.size() == 1 ? v[0] : Median(std::move(v))), cap);
  }
  return out;
}

// A base's forecast on its transform's scale; empty on failure.
std::vector<double> ModelForecast(const Base& b, int h) {
  absl::StatusOr<std::vector<double>> z = b.model->Predict(h);
  if (!z.ok() || static_cast<int>(z->size()) < h) return {};
  for (double v : *z) {
    if (!std::isfinite(v)) return {};
  }
  return *std::move(z);
}

double Cap(std::span<const double> y) {
  double peak = 0;
  for (double v : y) {
    if (!IsMissing(v)) peak = std::max(peak, v);
  }
  return kCapFactor * std::max(peak, 1.0);
}

// The weighted mean of the parts; empty when there are none.
std::vector<double> Combine(const std::vector<std::vector<double>>& parts,
                            const std::vector<double>& weights, int h) {
  std::vector<double> out(h, 0.0);
  double total = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    for (int j = 0; j < h; ++j) out[j] += weights[i] * parts[i][j];
    total += weights[i];
  }
  if (!(total > 0)) return {};
  for (double& v : out) v /= total;
  return out;
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
      if (ok_[i]) fc[i] = ModelForecast(members_[i], h);
    }
    std::vector<std::vector<double>> parts;
    std::vector<double> weights;
    for (const Component& c : components_) {
      std::vector<double> f = ComponentForecast(c, fc, h, cap_);
      if (f.empty()) continue;
      parts.push_back(std::move(f));
      weights.push_back(c.weight);
    }
    std::vector<double> out = Combine(parts, weights, h);
    if (out.empty()) return absl::InternalError(name() + ": no component forecast");
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

// Every base's forecasts at the held-out origins, on its transform's scale.
struct Validation {
  std::vector<std::vector<double>> actual;           // [origin][step]
  std::vector<std::vector<std::vector<double>>> fc;  // [base][origin][step]; empty: failed
  double cap = 0;                                    // of the counts before the first origin
};

// Every base fitted before `start` and rolled forward by Update() through the held-out
// origins `start`, `start + stride`, ...: the forecast at an origin reads only the steps
// before it.
Validation Validate(std::vector<Base>& bases, std::span<const double> y, const FitContext& ctx,
                    int start, int h, int stride) {
  const int n = static_cast<int>(y.size());
  Validation v;
  v.cap = Cap(y.first(start));
  v.fc.resize(bases.size());
  for (int o = start; o + h <= n; o += stride)
    v.actual.emplace_back(y.begin() + o, y.begin() + o + h);
  for (size_t b = 0; b < bases.size(); ++b) {
    const std::vector<double> z = bases[b].transform.Forward(y);
    const std::span<const double> zs(z);
    bool ok = bases[b].model->Fit(zs.first(start), ctx).ok();
    for (size_t i = 0; i < v.actual.size() && ok; ++i) {
      if (i > 0) ok = bases[b].model->Update(zs.subspan(start + (i - 1) * stride, stride)).ok();
      std::vector<double> f = ok ? ModelForecast(bases[b], h) : std::vector<double>{};
      ok = !f.empty();
      if (ok) v.fc[b].push_back(std::move(f));
    }
    if (!ok) v.fc[b].clear();
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
    std::vector<double> f = ComponentForecast(c, at, h, v.cap);
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
  std::vector<double> mae_o;  // the same per held-out origin (NaN: no observed step)
  std::vector<double> pb_o;
};

// MAE, and the pinball loss of quantiles made from the candidate's own log1p errors, over
// all held-out steps and per origin.
Errors Score(const std::vector<std::vector<double>>& fc, const Validation& v) {
  double abs_sum = 0;
  std::vector<double> resid;
  Errors out;
  out.mae_o.assign(fc.size(), kNaN);
  out.pb_o.assign(fc.size(), kNaN);
  std::vector<int> cnt(fc.size(), 0);
  for (size_t o = 0; o < fc.size(); ++o) {
    double origin_sum = 0;
    for (size_t j = 0; j < fc[o].size(); ++j) {
      const double a = v.actual[o][j];
      if (IsMissing(a)) continue;
      abs_sum += std::abs(a - fc[o][j]);
      origin_sum += std::abs(a - fc[o][j]);
      ++cnt[o];
      resid.push_back(std::log1p(a) - std::log1p(fc[o][j]));
    }
    if (cnt[o]) out.mae_o[o] = origin_sum / cnt[o];
  }
  if (resid.empty()) return {};
  std::vector<double> sorted = resid;
  std::sort(sorted.begin(), sorted.end());
  double pb = 0;
  std::vector<double> pbo(fc.size(), 0.0);
  for (double p : kLevels) {
    const double shift = SortedQuantile(sorted, p);
    for (size_t o = 0; o < fc.size(); ++o) {
      for (size_t j = 0; j < fc[o].size(); ++j) {
        const double a = v.actual[o][j];
        if (IsMissing(a)) continue;
        const double q = std::max(0.0, std::expm1(std::log1p(fc[o][j]) + shift));
        const double l = std::max(p * (a - q), (p - 1) * (a - q));
        pb += l;
        pbo[o] += l;
      }
    }
  }
  for (size_t o = 0; o < fc.size(); ++o) {
    if (cnt[o]) out.pb_o[o] = pbo[o] / (cnt[o] * kLevels.size());
  }
  out.mae = abs_sum / resid.size();
  out.pinball = pb / (resid.size() * kLevels.size());
  return out;
}

// Singles for every base, and the median combination per transform; the median on log1p
// (the anchor of Choose) last.
std::vector<Component> Candidates(const std::vector<Base>& bases) {
  std::vector<Component> out;
  std::vector<int> combo[3];  // by Transform::Kind: none, log1p, Box-Cox
  for (size_t b = 0; b < bases.size(); ++b) {
    out.push_back({bases[b].label, {static_cast<int>(b)}, 0, bases[b].transform});
    if (bases[b].combo_member) {
      combo[static_cast<int>(bases[b].transform.kind())].push_back(static_cast<int>(b));
    }
  }
  auto space = [&](Transform::Kind k) {
    const std::vector<int>& m = combo[static_cast<int>(k)];
    return m.empty() ? Transform::None() : bases[m[0]].transform;
  };
  for (auto [label, kind] : {std::pair{"combo", Transform::Kind::kNone},
                             std::pair{"combo_boxcox", Transform::Kind::kBoxCox},
                             std::pair{"combo_log1p", Transform::Kind::kLog1p}}) {
    out.push_back({label, combo[static_cast<int>(kind)], 0, space(kind)});
  }
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
// failed, to the best MAE), and drops candidates with a larger MAE than it. `loss[c]`: the
// candidate's score at each held-out origin (empty when it has none); its mean is the score.
std::vector<AutoCandidate> Rate(const std::vector<Component>& cands,
                                const std::vector<Errors>& errors, double scale,
                                std::vector<std::vector<double>>* loss) {
  Errors ref = errors[0];
  const bool snaive_ref = ref.mae > 0;
  for (const Errors& e : errors) {
    if (!snaive_ref && e.mae > 0 && !(e.mae >= ref.mae)) ref = e;
  }
  loss->assign(cands.size(), {});
  std::vector<AutoCandidate> out;
  for (size_t c = 0; c < cands.size(); ++c) {
    AutoCandidate& a = out.emplace_back();
    a.name = cands[c].label;
    a.mase = scale > 0 ? errors[c].mae / scale : kNaN;
    a.pinball = errors[c].pinball;
    a.dropped = std::isnan(errors[c].mae) || (snaive_ref && errors[c].mae > ref.mae);
    // Each origin counts once, whatever its number of observed steps.
    std::vector<double>& l = (*loss)[c];
    double sum = 0;
    int scored = 0;
    for (size_t i = 0; i < errors[c].mae_o.size(); ++i) {
      l.push_back(0.5 * Relative(errors[c].mae_o[i], ref.mae) +
                  0.5 * Relative(errors[c].pb_o[i], ref.pinball));
      if (!std::isnan(l.back())) sum += l.back(), ++scored;
    }
    a.score = scored ? sum / scored
                     : 0.5 * Relative(errors[c].mae, ref.mae) +
                           0.5 * Relative(errors[c].pinball, ref.pinball);
  }
  return out;
}

// The share of the held-out origins at which `c` scores below `anchor` (origins where
// either has no observed step count as losses of c).
double WinShare(const std::vector<double>& c, const std::vector<double>& anchor) {
  if (c.empty() || c.size() != anchor.size()) return 0;
  int wins = 0;
  for (size_t i = 0; i < c.size(); ++i) wins += c[i] < anchor[i];
  return static_cast<double>(wins) / c.size();
}

// The candidates combined, best first, with their weights set in `rated`: the median
// combination on log1p (the anchor, last) and the challengers that beat it twice over:
// a score below (1 - margin) x the anchor's (the mean over the held-out origins) and a
// lower score than the anchor's at more than `min_win_share` of those origins (a
// challenger whose mean rests on a few origins is not consistently better). The best `top`
// of them, weighted by inverse score. Empty: none validated.
std::vector<size_t> Choose(std::vector<AutoCandidate>& rated,
                           const std::vector<std::vector<double>>& loss, const AutoOptions& o) {
  const size_t anchor = rated.size() - 1;
  const bool anchored = !rated[anchor].dropped;
  const double bar = anchored ? (1 - o.margin) * rated[anchor].score : INFINITY;
  std::vector<size_t> order;
  for (size_t c = 0; c < rated.size(); ++c) {
    rated[c].win_share = WinShare(loss[c], loss[anchor]);
    if (rated[c].dropped) continue;
    if (c == anchor ||
        (rated[c].score < bar && (!anchored || rated[c].win_share > o.min_win_share))) {
      order.push_back(c);
    }
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
  std::vector<std::vector<double>> loss;
  candidates_ = Rate(cands, errors, SeasonalNaiveScale(y.first(plan.first), p0), &loss);
  std::vector<size_t> order = Choose(candidates_, loss, options_);
  if (order.empty()) {  // nothing validated (too short): the median combination on log1p
    order.push_back(cands.size() - 1);
    candidates_[order[0]].weight = 1;
  } else {  // the chosen combination's held-out forecasts calibrate the quantiles
    held_out_.actual = std::move(actual);
    for (size_t o = 0; o < held_out_.actual.size(); ++o) {
      std::vector<std::vector<double>> parts;
      std::vector<double> weights;
      for (size_t c : order) {
        parts.push_back(cand_fc[c][o]);
        weights.push_back(candidates_[c].weight);
      }
      held_out_.forecast.push_back(Combine(parts, weights, plan.h));
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
