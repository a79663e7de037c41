#include "forecast/models/ets_filter.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <Eigen/Dense>

#include "common/status.h"

namespace prewarm::forecast {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kHuge = 1.0e10;  // R's HUGEN for divisions by a zero state

char Letter(EtsComponent c) {
  switch (c) {
    case EtsComponent::kNone:
      return 'N';
    case EtsComponent::kAdditive:
      return 'A';
    case EtsComponent::kMultiplicative:
      return 'M';
  }
  return '?';
}

// The recursion, specialised on the model's shape so the hot loop has no dispatch.
// kSeason: 0 none, 1 additive, 2 multiplicative.
template <bool kTrend, int kSeason, bool kMultError, bool kKeep>
EtsFilterStats Run(EtsState& s, const EtsParams& p, std::span<const double> y) {
  EtsFilterStats st;
  if (kKeep) st.residuals.assign(y.size(), kNaN);
  const size_t m = s.season.size();
  size_t slot = m > 0 ? s.t % m : 0;
  double b = s.trend;
  if constexpr (kSeason != 2) {
    // Additive or no season. The filter is one long chain of dependent steps, so its speed
    // is the latency of that chain. R's updates
    //   e = y - q - s,  l' = q + alpha e,  b' = phi b + beta e,  q = l + phi b
    // are carried as a linear map of (q, b) and the seasonally adjusted observation
    // v = y - s, which is off the chain (s was last written m steps ago):
    //   q' = (1 - alpha - phi beta) q + phi^2 b + (alpha + phi beta) v
    //   b' = -beta q + phi b + beta v
    // two multiply-adds deep per step instead of five operations. The same model up to
    // rounding; the error e, the likelihood's input and the season's update, is computed
    // beside the chain.
    const double phi = kTrend ? p.phi : 0.0;
    const double beta = kTrend ? p.beta : 0.0;
    const double gamma = p.gamma;
    const double a11 = 1.0 - p.alpha - phi * beta, a12 = phi * phi, c1 = p.alpha + phi * beta;
    double q = s.level + phi * b;
    // Locals, not the result's or the state's members: a store into the season ring could
    // alias them, and the compiler would reload them every step.
    double sse = 0.0, sum_log_f = 0.0;
    int n_obs = 0;
    double* const season = s.season.data();
    for (size_t i = 0; i < y.size(); ++i) {
      const double v = y[i];
      const double so = kSeason == 1 ? season[slot] : 0.0;
      if (!std::isnan(v)) {
        const double vs = v - so;
        const double ea = vs - q;
        const double e = kMultError ? ea / (q + so) : ea;
        sse += e * e;
        if (kMultError) sum_log_f += std::log(std::abs(q + so));
        ++n_obs;
        if (kKeep) st.residuals[i] = e;
        if (kSeason == 1) season[slot] = so + gamma * ea;
        const double qn = a11 * q + (a12 * b + c1 * vs);
        if (kTrend) b = (phi * b + beta * vs) - beta * q;
        q = qn;
      } else {
        q += a12 * b;  // l' = q, b' = phi b
        if (kTrend) b *= phi;
      }
      if (kSeason > 0 && ++slot == m) slot = 0;
    }
    st.sse = sse;
    st.sum_log_f = sum_log_f;
    st.n_obs = n_obs;
    s.level = q - phi * b;
    s.trend = b;
    s.t += y.size();
    st.finite = std::isfinite(st.sse) && std::isfinite(st.sum_log_f) && std::isfinite(q);
    return st;
  } else {
    double l = s.level;
    const double beta_a = p.beta / p.alpha;
    for (size_t i = 0; i < y.size(); ++i) {
      const double v = y[i];
      const double phib = kTrend ? p.phi * b : 0.0;
      const double q = l + phib;
      const double so = s.season[slot];
      const double f = q * so;
      if (!std::isnan(v)) {
        const double e = kMultError ? (v - f) / f : v - f;
        st.sse += e * e;
        if (kMultError) st.sum_log_f += std::log(std::abs(f));
        ++st.n_obs;
        if (kKeep) st.residuals[i] = e;
        const double ln = q + p.alpha * ((std::abs(so) < 1e-10 ? kHuge : v / so) - q);
        if (kTrend) b = phib + beta_a * ((ln - l) - phib);
        s.season[slot] = so + p.gamma * ((std::abs(q) < 1e-10 ? kHuge : v / q) - so);
        l = ln;
      } else {
        l = q;
        b = phib;
      }
      if (++slot == m) slot = 0;
    }
    s.level = l;
    s.trend = b;
    s.t += y.size();
    st.finite = std::isfinite(st.sse) && std::isfinite(st.sum_log_f) && std::isfinite(l);
    return st;
  }
}

template <bool kTrend, int kSeason>
EtsFilterStats RunError(EtsState& s, const EtsSpec& spec, const EtsParams& p,
                        std::span<const double> y, bool keep) {
  const bool mult = spec.error == EtsComponent::kMultiplicative;
  if (keep) return mult ? Run<kTrend, kSeason, true, true>(s, p, y) : Run<kTrend, kSeason, false, true>(s, p, y);
  return mult ? Run<kTrend, kSeason, true, false>(s, p, y) : Run<kTrend, kSeason, false, false>(s, p, y);
}

template <bool kTrend>
EtsFilterStats RunSeason(EtsState& s, const EtsSpec& spec, const EtsParams& p,
                         std::span<const double> y, bool keep) {
  switch (spec.season) {
    case EtsComponent::kNone:
      return RunError<kTrend, 0>(s, spec, p, y, keep);
    case EtsComponent::kAdditive:
      return RunError<kTrend, 1>(s, spec, p, y, keep);
    case EtsComponent::kMultiplicative:
      return RunError<kTrend, 2>(s, spec, p, y, keep);
  }
  return {};
}

}  // namespace

std::string EtsSpec::Name() const {
  return fmt::format("ETS({},{}{},{})", Letter(error), Letter(trend), damped ? "d" : "",
                     Letter(season));
}

double EtsFilterStats::Lik(EtsComponent error) const {
  double lik = n_obs * std::log(sse);
  if (error == EtsComponent::kMultiplicative) lik += 2.0 * sum_log_f;
  return lik;
}

EtsFilterStats EtsState::Advance(const EtsSpec& spec, const EtsParams& p,
                                 std::span<const double> y, bool keep_residuals) {
  if (spec.trend != EtsComponent::kNone) return RunSeason<true>(*this, spec, p, y, keep_residuals);
  return RunSeason<false>(*this, spec, p, y, keep_residuals);
}

std::vector<double> EtsState::Forecast(const EtsSpec& spec, const EtsParams& p, int h) const {
  std::vector<double> out(std::max(h, 0));
  const size_t m = season.size();
  const bool has_trend = spec.trend != EtsComponent::kNone;
  const double phi = spec.damped ? p.phi : 1.0;
  double phistar = phi;  // phi + phi^2 + ... + phi^j
  double phipow = phi;
  for (int j = 0; j < h; ++j) {
    double f = level + (has_trend ? phistar * trend : 0.0);
    if (spec.season == EtsComponent::kAdditive) f += season[(t + j) % m];
    if (spec.season == EtsComponent::kMultiplicative) f *= season[(t + j) % m];
    out[j] = f;
    phipow *= phi;
    phistar += phipow;
  }
  return out;
}

namespace {

// Centred moving average of order m (2 x m for even m), NaN where the window is short
// or holds a missing value (R's filter(x, c(0.5, rep(1, m - 1), 0.5) / m)).
std::vector<double> CentredMovingAverage(std::span<const double> y, int m) {
  const size_t n = y.size();
  std::vector<double> out(n, kNaN);
  const bool even = m % 2 == 0;
  const size_t half = m / 2;
  for (size_t t = half; t + half < n; ++t) {
    double sum = 0.0;
    for (size_t k = t - half; k <= t + half; ++k) {
      double w = (even && (k == t - half || k == t + half)) ? 0.5 : 1.0;
      sum += w * y[k];
    }
    out[t] = sum / m;  // NaN propagates
  }
  return out;
}

// R's decompose(): the seasonal figure per slot (mean 0 for additive, 1 for
// multiplicative), repeated over the series.
std::vector<double> DecomposeSeasonal(std::span<const double> y, int m, bool mult) {
  std::vector<double> trend = CentredMovingAverage(y, m);
  std::vector<double> sum(m, 0.0);
  std::vector<int> count(m, 0);
  for (size_t t = 0; t < y.size(); ++t) {
    double d = mult ? y[t] / trend[t] : y[t] - trend[t];
    if (!std::isnan(d)) sum[t % m] += d, ++count[t % m];
  }
  std::vector<double> figure(m);
  for (int k = 0; k < m; ++k) figure[k] = count[k] > 0 ? sum[k] / count[k] : (mult ? 1.0 : 0.0);
  double mean = 0.0;
  for (double f : figure) mean += f / m;
  for (double& f : figure) f = mult ? f / mean : f - mean;
  std::vector<double> seasonal(y.size());
  for (size_t t = 0; t < y.size(); ++t) seasonal[t] = figure[t % m];
  return seasonal;
}

// Least squares of the observed y on the columns of X (rows with NaN y skipped).
Eigen::VectorXd FitObserved(const Eigen::MatrixXd& x, std::span<const double> y) {
  std::vector<Eigen::Index> rows;
  for (size_t t = 0; t < y.size(); ++t) {
    if (!std::isnan(y[t])) rows.push_back(static_cast<Eigen::Index>(t));
  }
  Eigen::MatrixXd a(rows.size(), x.cols());
  Eigen::VectorXd b(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) a.row(r) = x.row(rows[r]), b[r] = y[rows[r]];
  if (rows.empty()) return Eigen::VectorXd::Zero(x.cols());
  return a.colPivHouseholderQr().solve(b);
}

// R's initstate() for fewer than 3 cycles: y minus a linear trend fitted together with
// the first Fourier harmonic (so the "seasonal" part keeps the noise, as in R).
std::vector<double> HarmonicSeasonal(std::span<const double> y, int m, bool mult) {
  const size_t n = y.size();
  Eigen::MatrixXd x(n, 4);
  for (size_t t = 0; t < n; ++t) {
    double tt = static_cast<double>(t + 1);
    x.row(t) << 1.0, tt, std::sin(2 * M_PI * tt / m), std::cos(2 * M_PI * tt / m);
  }
  Eigen::VectorXd c = FitObserved(x, y);
  std::vector<double> seasonal(n);
  for (size_t t = 0; t < n; ++t) {
    double base = c[0] + c[1] * static_cast<double>(t + 1);
    seasonal[t] = mult ? y[t] / base : y[t] - base;
  }
  return seasonal;
}

// Seasonal slots 1..m-1 from the decomposition, slot 0 the normaliser (R's extra state).
std::vector<double> SeasonSlots(const std::vector<double>& seasonal, int m, bool mult) {
  std::vector<double> slots(m, mult ? 1.0 : 0.0);
  double sum = 0.0;
  for (int k = 1; k < m; ++k) {
    double v = seasonal[k];
    if (std::isnan(v)) v = mult ? 1.0 : 0.0;
    slots[k] = mult ? std::max(v, 0.01) : v;
    sum += slots[k];
  }
  if (mult && sum > m) {
    double denom = sum + 0.01 * (m - 1);
    for (int k = 1; k < m; ++k) slots[k] /= denom;
    sum /= denom;
  }
  slots[0] = (mult ? m : 0.0) - sum;
  return slots;
}

}  // namespace

bool RootsWithin(std::vector<double> c, double radius) {
  // Roots of p(radius z) are those of p divided by radius: test the open unit disk by
  // the Schur-Cohn reduction q(z) = (a_n p(z) - a_0 p*(z)) / z, which keeps the number
  // of roots inside when |a_0| < |a_n| and drops the degree by one. O(n^2).
  double scale = 1.0;
  for (double& v : c) v *= scale, scale *= radius;
  std::vector<double> q(c.size());
  for (size_t n = c.size() - 1; n > 0; --n) {
    const double a0 = c[0], an = c[n];
    if (!(std::abs(a0) < std::abs(an))) return false;
    for (size_t k = 0; k < n; ++k) q[k] = an * c[k + 1] - a0 * c[n - 1 - k];
    const double lead = std::abs(q[n - 1]);
    for (size_t k = 0; k < n; ++k) c[k] = q[k] / lead;
  }
  return true;
}

EtsState InitialState(std::span<const double> y, const EtsSpec& spec, int period) {
  EtsState s;
  const size_t n = y.size();
  std::vector<double> sa(y.begin(), y.end());
  int m = 1;
  if (spec.season != EtsComponent::kNone) {
    m = period;
    const bool mult = spec.season == EtsComponent::kMultiplicative;
    std::vector<double> seasonal = n >= 3 * static_cast<size_t>(m)
                                       ? DecomposeSeasonal(y, m, mult)
                                       : HarmonicSeasonal(y, m, mult);
    s.season = SeasonSlots(seasonal, m, mult);
    for (size_t t = 0; t < n; ++t) {
      double sv = std::isnan(seasonal[t]) ? (mult ? 1.0 : 0.0) : seasonal[t];
      sa[t] = mult ? y[t] / std::max(sv, 0.01) : y[t] - sv;
    }
  }
  const size_t maxn = std::min<size_t>(std::max(10, 2 * m), n);
  std::span<const double> head(sa.data(), maxn);
  if (spec.trend == EtsComponent::kNone) {
    Eigen::MatrixXd ones = Eigen::MatrixXd::Ones(maxn, 1);
    s.level = FitObserved(ones, head)[0];
    return s;
  }
  Eigen::MatrixXd x(maxn, 2);
  for (size_t t = 0; t < maxn; ++t) x.row(t) << 1.0, static_cast<double>(t + 1);
  Eigen::VectorXd c = FitObserved(x, head);
  s.level = c[0];
  s.trend = c[1];
  if (std::abs(s.level + s.trend) < 1e-8) s.level *= 1.001, s.trend *= 0.999;
  return s;
}

bool Admissible(const EtsSpec& spec, const EtsParams& p, int period) {
  const double phi = spec.damped ? p.phi : 1.0;
  if (phi < 0 || phi > 1 + 1e-8) return false;
  const double a = p.alpha;
  if (spec.season == EtsComponent::kNone || period <= 1) {
    if (a < 1 - 1 / phi || a > 1 + 1 / phi) return false;
    if (spec.trend != EtsComponent::kNone && (p.beta < a * (phi - 1) || p.beta > (1 + phi) * (2 - a))) {
      return false;
    }
    return true;
  }
  const double b = spec.trend != EtsComponent::kNone ? p.beta : 0.0;
  const double g = p.gamma;
  const int m = period;
  if (g < std::max(1 - 1 / phi - a, 0.0) || g > 1 + 1 / phi - a) return false;
  if (a < 1 - 1 / phi - g * (1 - m + phi + phi * m) / (2 * phi * m)) return false;
  if (b < -(1 - phi) * (g / m + a)) return false;
  // Characteristic polynomial (ascending powers, monic of degree m + 1): R requires all
  // its roots within modulus 1 + 1e-10.
  std::vector<double> c(m + 2);
  c[0] = phi * (1 - a - g);
  c[1] = a + b - a * phi + g - 1;
  for (int k = 2; k < m; ++k) c[k] = a + b - a * phi;
  c[m] = a + b - phi;
  c[m + 1] = 1.0;
  return RootsWithin(std::move(c), 1 + 1e-10);
}

}  // namespace prewarm::forecast
