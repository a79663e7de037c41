// The hybrid histogram policy of Shahrad et al., "Serverless in the Wild", USENIX ATC 2020,
// §4.2: per application (here: per key), a range-limited histogram of idle times, from
// which each idle period gets a pre-warm window and a keep-alive window.
//
//   - Idle times: from the end of the invocation after which nothing of the key runs to
//     the start of the next invocation. Overlapping invocations record nothing.
//   - 1-minute bins over 4 hours. Representative (at least `min_samples` idle times and a
//     coefficient of variation of the bin counts above 2): pre-warm at the 5th percentile
//     minus a 10 % margin, keep alive until the 99th plus 10 %, both rounded down to a
//     whole bin.
//   - Not representative: the standard keep-alive (the range) and no pre-warming.
//   - Mostly out of range (at least `oob` of the idle times beyond it): a time-series
//     forecast of the next idle time (the paper's ARIMA; see `oob_model`), pre-warm at the
//     forecast minus 15 %, keep alive until it plus 15 % (whole bins too).
//
// Pure decision code, shared by the simulator's event-driven baseline (sim/baselines.h,
// which applies the windows per instance) and the orchestrator (LearnedKeepAlive with
// LearnedKeepAliveConfig::planner = kHybridHistogram, which applies them through the
// reconciler's keep-alive and reload windows).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace prewarm::orchestrator {

struct HybridHistogramOptions {
  double head = 5;                            // percentile giving the pre-warm window
  double tail = 99;                           // percentile giving the end of the keep-alive
  double margin = 0.10;                       // head shortened, tail lengthened by this share
  int64_t range_ms = int64_t{4} * 3'600'000;  // histogram range
  int64_t bin_ms = 60'000;                    // bin width
  double cv = 2.0;                            // representative when the bin counts' CV > this
  // Idle times seen before the histogram may be trusted. The paper gives no count; with
  // one sample the CV of 240 bins is already ~15, so the CV test alone cannot say "too
  // few". 5 is the only count with which the minute model gives the independent
  // reference simulator's p75 in both of its modes (bench/sim/README.md).
  uint64_t min_samples = 5;
  // Not representative: keep this long (the paper: the range; < 0 also means the range).
  int64_t standard_keepalive_ms = int64_t{4} * 3'600'000;
  // Out-of-bounds rule: when at least this share of the idle times exceeded the range,
  // forecast the next idle time with `oob_model` ("ets", or "snaive": the last one; the
  // paper's ARIMA is not there, and ETS(A,N,N), which "ets" includes, is ARIMA(0,1,1))
  // on the last idle times; pre-warm at the forecast minus `oob_margin`, keep alive until
  // the forecast plus `oob_margin` (the paper's 15 %). "off": standard keep-alive.
  double oob = 0.5;
  double oob_margin = 0.15;
  std::string oob_model = "ets";
};

// Idle times of one key: counts per bin, out-of-range count, and the last few raw values.
class IdleHistogram {
 public:
  static constexpr size_t kRecent = 32;  // raw idle times kept for the OOB forecast
  IdleHistogram(size_t bins, int64_t bin_ms) : counts_(bins, 0), bin_ms_(bin_ms) {}
  void Add(int64_t idle_ms);
  uint64_t in_range() const { return in_range_; }
  uint64_t oob() const { return oob_; }
  double Cv() const;  // of the bin counts (population standard deviation / mean)
  // The bin holding the p-th percentile (p in [0, 100]) of the in-range idle times.
  size_t PercentileBin(double p) const;
  std::vector<double> Recent() const;  // oldest first, ms

 private:
  std::vector<uint32_t> counts_;
  int64_t bin_ms_;
  uint64_t in_range_ = 0, oob_ = 0;
  uint64_t sum_sq_ = 0;  // sum of squared bin counts
  size_t max_bin_ = 0;   // highest non-empty bin
  std::vector<int64_t> recent_;
  size_t recent_pos_ = 0;
};

struct HybridWindows {
  enum class Mode : uint8_t { kStandard, kHistogram, kForecast };
  Mode mode = Mode::kStandard;
  int64_t prewarm_ms = 0;    // after the end of an invocation: unloaded this long
  int64_t keepalive_ms = 0;  // then loaded this long
};

const char* ModeName(HybridWindows::Mode mode);

// One key's histogram and the windows it gives.
class HybridHistogram {
 public:
  // `options` must outlive this.
  explicit HybridHistogram(const HybridHistogramOptions& options);
  void AddIdle(int64_t idle_ms);
  // The windows an idle period beginning now gets.
  HybridWindows Windows();
  const IdleHistogram& histogram() const { return hist_; }
  uint64_t forecast_fits() const { return forecast_fits_; }

 private:
  int64_t ForecastIdleMs();
  const HybridHistogramOptions* options_;
  IdleHistogram hist_;
  bool forecast_dirty_ = true;
  int64_t forecast_ms_ = 0;  // cached OOB forecast of the next idle time
  uint64_t forecast_fits_ = 0;
};

}  // namespace prewarm::orchestrator
