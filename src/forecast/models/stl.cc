// A line-by-line port of netlib's stl.f (stlest, stless, stlss, stlma, stlfts, stlrwt,
// stlstp, stl) as used by R, keeping its 1-based positions: y[j - 1] is the value at
// abscissa j. Names in comments are the Fortran routines.
#include "forecast/models/stl.h"

#include <algorithm>
#include <cmath>

#include "forecast/series.h"

namespace prewarm::forecast {
namespace {

double Cube(double x) { return x * x * x; }

int NextOdd(double x) {
  int v = static_cast<int>(std::lround(x));
  return v % 2 == 0 ? v + 1 : v;
}

// stlest: the LOESS fit at abscissa xs from points [nleft, nright]; nullopt when every
// weight is zero.
std::optional<double> Estimate(std::span<const double> y, int len, int degree, double xs, int nleft,
                               int nright, std::span<const double> rw) {
  const int n = static_cast<int>(y.size());
  const double range = n - 1.0;
  double h = std::max(xs - nleft, nright - xs);
  if (len > n) {
    h += (len - n) / 2;  // integer division, as the Fortran
  }
  const double h9 = 0.999 * h, h1 = 0.001 * h;
  // stl.f passes one work array to every call; a per-thread one here (the planner fits
  // keys on several threads), so that the loess points allocate nothing.
  thread_local std::vector<double> scratch;
  scratch.assign(static_cast<size_t>(nright - nleft + 1), 0.0);
  std::vector<double>& w = scratch;
  double a = 0.0;
  for (int j = nleft; j <= nright; ++j) {
    const double r = std::abs(j - xs);
    if (r <= h9) {
      double wj = r <= h1 ? 1.0 : Cube(1.0 - Cube(r / h));
      wj *= rw.empty() ? 1.0 : rw[j - 1];
      w[j - nleft] = wj;
      a += wj;
    }
  }
  if (a <= 0.0) {
    return std::nullopt;
  }
  for (double& wj : w) {
    wj /= a;
  }
  if (h > 0.0 && degree > 0) {
    double mean = 0.0, c = 0.0;
    for (int j = nleft; j <= nright; ++j) {
      mean += w[j - nleft] * j;
    }
    for (int j = nleft; j <= nright; ++j) {
      c += w[j - nleft] * (j - mean) * (j - mean);
    }
    if (std::sqrt(c) > 0.001 * range) {
      const double b = (xs - mean) / c;
      for (int j = nleft; j <= nright; ++j) {
        w[j - nleft] *= b * (j - mean) + 1.0;
      }
    }
  }
  double ys = 0.0;
  for (int j = nleft; j <= nright; ++j) {
    ys += w[j - nleft] * y[j - 1];
  }
  return ys;
}

// The tail of stless: linear interpolation between the evaluated points.
void InterpolateJumps(std::span<const double> y, int len, int degree, int nj, int nleft, int nright,
                      std::span<const double> rw, std::vector<double>& ys) {
  const int n = static_cast<int>(y.size());
  for (int i = 1; i <= n - nj; i += nj) {
    const double delta = (ys[i + nj - 1] - ys[i - 1]) / nj;
    for (int j = i + 1; j <= i + nj - 1; ++j) {
      ys[j - 1] = ys[i - 1] + delta * (j - i);
    }
  }
  const int k = ((n - 1) / nj) * nj + 1;
  if (k != n) {
    ys[n - 1] = Estimate(y, len, degree, n, nleft, nright, rw).value_or(y[n - 1]);
    if (k != n - 1) {
      const double delta = (ys[n - 1] - ys[k - 1]) / (n - k);
      for (int j = k + 1; j <= n - 1; ++j) {
        ys[j - 1] = ys[k - 1] + delta * (j - k);
      }
    }
  }
}

// stlma: moving average of length len.
std::vector<double> MovingAverage(std::span<const double> x, int len) {
  const int m = static_cast<int>(x.size()) - len + 1;
  std::vector<double> out(std::max(m, 0));
  double v = 0.0;
  for (int i = 0; i < len && m > 0; ++i) {
    v += x[i];
  }
  for (int j = 0; j < m; ++j) {
    if (j > 0) {
      v += x[j + len - 1] - x[j - 1];
    }
    out[j] = v / len;
  }
  return out;
}

// stlfts: the low-pass filter, moving averages of np, np and 3 (n + 2np -> n).
std::vector<double> LowPass(std::span<const double> x, int np) {
  const std::vector<double> a = MovingAverage(x, np);
  const std::vector<double> b = MovingAverage(a, np);
  return MovingAverage(b, 3);
}

// stlss: smooths each cycle-subseries and extends it by one cycle at each end
// (n -> n + 2np).
std::vector<double> SubseriesSmooth(std::span<const double> y, int np, int ns, int degree, int jump,
                                    std::span<const double> rw) {
  const int n = static_cast<int>(y.size());
  std::vector<double> season(n + 2 * np);
  for (int j = 1; j <= np; ++j) {
    const int k = (n - j) / np + 1;
    std::vector<double> sub(k), subw(rw.empty() ? 0 : k);
    for (int i = 1; i <= k; ++i) {
      sub[i - 1] = y[(i - 1) * np + j - 1];
      if (!rw.empty()) {
        subw[i - 1] = rw[(i - 1) * np + j - 1];
      }
    }
    const std::vector<double> smooth = LoessSmooth(sub, ns, degree, jump, subw);
    std::vector<double> ext(k + 2);
    std::copy(smooth.begin(), smooth.end(), ext.begin() + 1);
    ext[0] = Estimate(sub, ns, degree, 0.0, 1, std::min(ns, k), subw).value_or(ext[1]);
    ext[k + 1] =
        Estimate(sub, ns, degree, k + 1.0, std::max(1, k - ns + 1), k, subw).value_or(ext[k]);
    for (int m = 1; m <= k + 2; ++m) {
      season[(m - 1) * np + j - 1] = ext[m - 1];
    }
  }
  return season;
}

// stlrwt: bisquare robustness weights from the residuals of `fit`.
std::vector<double> RobustnessWeights(std::span<const double> y, std::span<const double> fit) {
  const size_t n = y.size();
  std::vector<double> r(n);
  for (size_t i = 0; i < n; ++i) {
    r[i] = std::abs(y[i] - fit[i]);
  }
  std::vector<double> sorted = r;
  const size_t mid1 = n / 2, mid2 = n - mid1 - 1;  // 0-based n/2+1 and n-mid(1)+1
  std::nth_element(sorted.begin(), sorted.begin() + mid1, sorted.end());
  const double a = sorted[mid1];
  std::nth_element(sorted.begin(), sorted.begin() + mid2, sorted.end());
  const double cmad = 3.0 * (a + sorted[mid2]);
  const double c9 = 0.999 * cmad, c1 = 0.001 * cmad;
  std::vector<double> rw(n);
  for (size_t i = 0; i < n; ++i) {
    const double u = cmad > 0 ? r[i] / cmad : 0.0;
    rw[i] = r[i] <= c1 ? 1.0 : (r[i] <= c9 ? (1 - u * u) * (1 - u * u) : 0.0);
  }
  return rw;
}

struct Params {
  int np, ns, nt, nl, sdeg, tdeg, ldeg, sjump, tjump, ljump, inner, outer;
};

struct Parts {
  std::vector<double> seasonal, trend;
};

// stlstp: the inner loop.
Parts InnerLoop(std::span<const double> y, const Params& p, std::span<const double> rw,
                Parts parts) {
  const size_t n = y.size();
  std::vector<double> work(n);
  for (int iter = 0; iter < p.inner; ++iter) {
    for (size_t i = 0; i < n; ++i) {
      work[i] = y[i] - parts.trend[i];
    }
    const std::vector<double> c = SubseriesSmooth(work, p.np, p.ns, p.sdeg, p.sjump, rw);
    const std::vector<double> l = LoessSmooth(LowPass(c, p.np), p.nl, p.ldeg, p.ljump);
    for (size_t i = 0; i < n; ++i) {
      parts.seasonal[i] = c[p.np + i] - l[i];
      work[i] = y[i] - parts.seasonal[i];
    }
    parts.trend = LoessSmooth(work, p.nt, p.tdeg, p.tjump, rw);
  }
  return parts;
}

Params ResolveParams(const StlOptions& o, int n) {
  const int ns = o.s_window ? *o.s_window : 10 * n + 1;
  const int sdeg = o.s_window ? o.s_degree : 0;
  const int nt =
      o.t_window > 0 ? o.t_window : NextOdd(std::ceil(1.5 * o.period / (1.0 - 1.5 / ns)));
  const int nl = o.l_window > 0 ? o.l_window : NextOdd(o.period);
  auto odd3 = [](int w) {
    w = std::max(3, w);
    return w % 2 == 0 ? w + 1 : w;
  };
  auto jump = [](int w) { return static_cast<int>(std::ceil(w / 10.0)); };
  // The jumps come from the windows as given (R), the windows are then made odd (stl.f).
  return Params{std::max(2, o.period),
                odd3(ns),
                odd3(nt),
                odd3(nl),
                sdeg,
                o.t_degree,
                o.l_degree,
                jump(ns),
                jump(nt),
                jump(nl),
                o.inner > 0 ? o.inner : (o.robust ? 1 : 2),
                o.outer >= 0 ? o.outer : (o.robust ? 15 : 0)};
}

}  // namespace

// stless.
std::vector<double> LoessSmooth(std::span<const double> y, int len, int degree, int jump,
                                std::span<const double> rw) {
  const int n = static_cast<int>(y.size());
  if (n < 2) {
    return std::vector<double>(y.begin(), y.end());
  }
  std::vector<double> ys(n);
  const int nj = std::max(1, std::min(jump, n - 1));
  int nleft = 1, nright = n;
  auto fit = [&](int i) {
    ys[i - 1] = Estimate(y, len, degree, i, nleft, nright, rw).value_or(y[i - 1]);
  };
  const int nsh = (len + 1) / 2;
  if (len >= n) {
    for (int i = 1; i <= n; i += nj) {
      fit(i);
    }
  } else if (nj == 1) {
    nright = len;
    for (int i = 1; i <= n; ++i) {
      if (i > nsh && nright != n) {
        ++nleft;
        ++nright;
      }
      fit(i);
    }
  } else {
    for (int i = 1; i <= n; i += nj) {
      if (i < nsh) {
        nleft = 1, nright = len;
      } else if (i >= n - nsh + 1) {
        nleft = n - len + 1, nright = n;
      } else {
        nleft = i - nsh + 1, nright = len + i - nsh;
      }
      fit(i);
    }
  }
  if (nj != 1) {
    InterpolateJumps(y, len, degree, nj, nleft, nright, rw, ys);
  }
  return ys;
}

absl::StatusOr<StlResult> Stl(std::span<const double> y, const StlOptions& options) {
  const int n = static_cast<int>(y.size());
  if (options.period < 2 || n <= 2 * options.period) {
    return absl::InvalidArgumentError(fmt::format(
        "stl: period {} needs more than two cycles, have {} values", options.period, n));
  }
  if (std::any_of(y.begin(), y.end(), IsMissing)) {
    return absl::InvalidArgumentError("stl: missing values (interpolate first)");
  }
  const Params p = ResolveParams(options, n);
  Parts parts{std::vector<double>(n, 0.0), std::vector<double>(n, 0.0)};
  std::vector<double> rw;
  for (int k = 0;; ++k) {
    parts = InnerLoop(y, p, rw, std::move(parts));
    if (k + 1 > p.outer) {
      break;
    }
    std::vector<double> fit(n);
    for (int i = 0; i < n; ++i) {
      fit[i] = parts.trend[i] + parts.seasonal[i];
    }
    rw = RobustnessWeights(y, fit);
  }
  StlResult out{std::move(parts.seasonal), std::move(parts.trend), std::vector<double>(n),
                rw.empty() ? std::vector<double>(n, 1.0) : rw};
  if (!options.s_window) {  // periodic: the mean of each cycle position (R)
    std::vector<double> sum(options.period, 0.0), count(options.period, 0.0);
    for (int i = 0; i < n; ++i) {
      sum[i % options.period] += out.seasonal[i];
      count[i % options.period] += 1;
    }
    for (int i = 0; i < n; ++i) {
      out.seasonal[i] = sum[i % options.period] / count[i % options.period];
    }
  }
  for (int i = 0; i < n; ++i) {
    out.remainder[i] = y[i] - out.seasonal[i] - out.trend[i];
  }
  return out;
}

}  // namespace prewarm::forecast
