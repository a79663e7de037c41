// STL: seasonal-trend decomposition by LOESS (Cleveland, Cleveland, McRae & Terpenning
// 1990), a port of the netlib Fortran that R's stats::stl calls, with R's defaults:
// an inner loop of cycle-subseries smoothing, a low-pass filter of the seasonal and a
// trend LOESS; optional robustness iterations. For one period; MSTL (mstl.h) iterates it
// over several.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "common/status.h"

namespace prewarm::forecast {

struct StlOptions {
  // R's stl(x, s.window = "periodic") and stl(x, s.window = s_window).
  static StlOptions Periodic(int period) {
    StlOptions o;
    o.period = period;
    return o;
  }
  static StlOptions Window(int period, int s_window) {
    StlOptions o = Periodic(period);
    o.s_window = s_window;
    return o;
  }

  int period = 0;
  // Seasonal LOESS window (odd, >= 3); nullopt is R's s.window = "periodic": the seasonal
  // is then the mean of each cycle position, exactly periodic.
  std::optional<int> s_window;
  int s_degree = 0;
  int t_window = 0;  // 0: R's nextodd(ceiling(1.5 period / (1 - 1.5 / s.window)))
  int t_degree = 1;
  int l_window = 0;  // 0: nextodd(period)
  int l_degree = 1;
  bool robust = false;
  int inner = 0;   // 0: R's default, 1 when robust, else 2
  int outer = -1;  // -1: R's default, 15 robustness iterations when robust, else 0
};

struct StlResult {
  std::vector<double> seasonal;
  std::vector<double> trend;
  std::vector<double> remainder;
  std::vector<double> weights;  // robustness weights (all 1 when not robust)
};

// Decomposes `y` (no missing values; at least two full periods plus one step, as R).
absl::StatusOr<StlResult> Stl(std::span<const double> y, const StlOptions& options);

// LOESS of `y` against 1..n with the given window (len) and degree (0 or 1), evaluated
// every `jump` points and linearly interpolated between (the Fortran stless), optionally
// with robustness weights `rw` (empty: none).
std::vector<double> LoessSmooth(std::span<const double> y, int len, int degree, int jump,
                                std::span<const double> rw = {});

}  // namespace prewarm::forecast
