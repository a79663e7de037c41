#include "autoscale/hybrid_histogram.h"

#include <algorithm>
#include <cmath>

#include "forecast/registry.h"

namespace prewarm::orchestrator {

void IdleHistogram::Add(int64_t idle_ms) {
  idle_ms = std::max<int64_t>(0, idle_ms);
  size_t b = static_cast<size_t>(idle_ms / bin_ms_);
  if (b < counts_.size()) {
    sum_sq_ += 2 * static_cast<uint64_t>(counts_[b]) + 1;  // (c+1)^2 - c^2
    ++counts_[b];
    ++in_range_;
    max_bin_ = std::max(max_bin_, b);
  } else {
    ++oob_;
  }
  if (recent_.size() < kRecent) {
    recent_.push_back(idle_ms);
  } else {
    recent_[recent_pos_] = idle_ms;
    recent_pos_ = (recent_pos_ + 1) % kRecent;
  }
}

double IdleHistogram::Cv() const {
  double n = static_cast<double>(counts_.size());
  double mean = static_cast<double>(in_range_) / n;
  if (mean <= 0) return 0;
  double var = std::max(0.0, static_cast<double>(sum_sq_) / n - mean * mean);
  return std::sqrt(var) / mean;
}

size_t IdleHistogram::PercentileBin(double p) const {
  if (in_range_ == 0) return 0;
  // Nearest rank: the bin holding the ceil(p% * n)-th smallest idle time.
  uint64_t rank = static_cast<uint64_t>(std::ceil(p / 100 * static_cast<double>(in_range_)));
  rank = std::clamp<uint64_t>(rank, 1, in_range_);
  if (p < 50) {
    uint64_t cum = 0;
    for (size_t b = 0; b <= max_bin_; ++b) {
      cum += counts_[b];
      if (cum >= rank) return b;
    }
    return max_bin_;
  }
  // High percentiles walk down from the highest non-empty bin (short for busy keys).
  uint64_t below = in_range_;  // idle times in bins <= b
  for (size_t b = max_bin_; b > 0; --b) {
    if (below - counts_[b] < rank) return b;
    below -= counts_[b];
  }
  return 0;
}

std::vector<double> IdleHistogram::Recent() const {
  std::vector<double> out;
  out.reserve(recent_.size());
  for (size_t i = 0; i < recent_.size(); ++i) {
    out.push_back(static_cast<double>(recent_[(recent_pos_ + i) % recent_.size()]));
  }
  return out;
}

const char* ModeName(HybridWindows::Mode mode) {
  switch (mode) {
    case HybridWindows::Mode::kHistogram:
      return "histogram";
    case HybridWindows::Mode::kForecast:
      return "forecast";
    case HybridWindows::Mode::kStandard:
      break;
  }
  return "standard";
}

HybridHistogram::HybridHistogram(const HybridHistogramOptions& options)
    : options_(&options),
      hist_(static_cast<size_t>(options.range_ms / std::max<int64_t>(options.bin_ms, 1)),
            std::max<int64_t>(options.bin_ms, 1)) {}

void HybridHistogram::AddIdle(int64_t idle_ms) {
  hist_.Add(idle_ms);
  forecast_dirty_ = true;
}

// The paper's ARIMA stand-in: a forecast of the next idle time from the last ones, in
// minutes; the last idle time itself (ARIMA(0,1,0)) when the model cannot fit so few.
int64_t HybridHistogram::ForecastIdleMs() {
  if (!forecast_dirty_) return forecast_ms_;
  forecast_dirty_ = false;
  std::vector<double> y = hist_.Recent();
  for (double& v : y) v /= 60e3;
  double pred = y.empty() ? 0 : y.back();
  auto model = forecast::MakeModel(options_->oob_model);
  if (model.ok() && y.size() >= 2 && (*model)->Fit(y, forecast::FitContext{}).ok()) {
    auto p = (*model)->Predict(1);
    if (p.ok() && !p->empty() && std::isfinite((*p)[0]) && (*p)[0] > 0) {
      pred = (*p)[0];
      ++forecast_fits_;
    }
  }
  forecast_ms_ = static_cast<int64_t>(std::llround(std::max(0.0, pred) * 60e3));
  return forecast_ms_;
}

namespace {

// A window edge `bins` bins after the idle period began, rounded down to a whole bin: the
// histogram's resolution is a bin, and windows in whole bins are what reproduces the
// independent reference simulator's figures (bench/sim/README.md; fractional windows
// leave it 4.4 % low on memory, rounding up 6 %).
// (A margin such as 15 % is not exact in binary: 360 x 1.15 is 413.99999999999994, so
// products within 1e-9 of a whole bin are taken as it.)
int64_t WholeBins(double bins, int64_t bin_ms) {
  return static_cast<int64_t>(std::floor(std::max(0.0, bins) + 1e-9)) * bin_ms;
}

}  // namespace

HybridWindows HybridHistogram::Windows() {
  const HybridHistogramOptions& o = *options_;
  const int64_t bin = std::max<int64_t>(o.bin_ms, 1);
  HybridWindows w;
  const uint64_t n = hist_.in_range() + hist_.oob();
  if (o.oob_model != "off" && n > 0 &&
      static_cast<double>(hist_.oob()) >= o.oob * static_cast<double>(n)) {
    const double pred = static_cast<double>(ForecastIdleMs()) / bin;
    w.mode = HybridWindows::Mode::kForecast;
    w.prewarm_ms = WholeBins(pred * (1 - o.oob_margin), bin);
    w.keepalive_ms = WholeBins(pred * (1 + o.oob_margin), bin) - w.prewarm_ms;
    return w;
  }
  if (hist_.in_range() >= std::max<uint64_t>(1, o.min_samples) && hist_.Cv() > o.cv) {
    // Head: the lower edge of its bin (the earliest such an idle time can end); tail: the
    // upper edge of its bin; both in bins.
    const double head = static_cast<double>(hist_.PercentileBin(o.head));
    const double tail = static_cast<double>(hist_.PercentileBin(o.tail) + 1);
    w.mode = HybridWindows::Mode::kHistogram;
    w.prewarm_ms = WholeBins(head * (1 - o.margin), bin);
    w.keepalive_ms = WholeBins(tail * (1 + o.margin), bin) - w.prewarm_ms;
    return w;
  }
  w.keepalive_ms = o.standard_keepalive_ms < 0 ? o.range_ms : o.standard_keepalive_ms;
  return w;
}

}  // namespace prewarm::orchestrator
