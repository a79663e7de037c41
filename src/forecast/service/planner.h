// Planner: turns live series into PrefetchRequests. For each (region, template) with enough
// history it asks a DemandForecaster for the q-quantile of arrivals over the window
// [now + lead, now + lead + horizon], converts it to instances (capacity.h) and names the
// content to preload. q comes from the template's tier costs (newsvendor). The same fit's
// median and central band (kBandLowerQuantile..kBandUpperQuantile) go with each request,
// for operators (ctl forecasts, the dashboard); they change no target.
#pragma once

#include <limits>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/histogram.h"
#include "forecast/service/config.h"
#include "forecast/service/series_store.h"
#include "prewarm/v1/forecast.pb.h"

namespace prewarm::forecast {

// Quantile forecasts of arrivals per step for one series. Implementations keep per-key
// fitted models and decide when to refit (ModelDemandForecaster) — or are fakes in tests.
// What a forecaster's fits did, for /metrics.
struct FitStats {
  uint64_t refits = 0;                           // fits that succeeded (a refit or a selection)
  uint64_t selections = 0;                       // ...of which chose the model's structure again
  uint64_t failures = 0;                         // fits that failed
  HistogramData refit_seconds{buckets::kRefit};  // each fit, ok or not (monotonic clock)
};

class DemandForecaster {
 public:
  virtual ~DemandForecaster() = default;
  // The q-quantile of arrivals for steps 1..h after the end of `history`.
  virtual absl::StatusOr<std::vector<double>> Quantile(const SeriesKey& key, const Series& history,
                                                       int h, double q) = 0;
  // The quantiles at each of `levels` for steps 1..h, one path per level. The default asks
  // Quantile once per level, with the same history each time.
  virtual absl::StatusOr<std::vector<std::vector<double>>> Quantiles(
      const SeriesKey& key, const Series& history, int h, std::span<const double> levels);
  virtual std::string model_name() const = 0;
  // The earliest time of `key`'s history that the next Quantile(key, ..., h, ...) reads; a
  // forecaster that keeps fitted state needs only the steps it has not seen between refits.
  virtual int64_t HistoryFromMs(const SeriesKey& key, int h) const {
    (void)key, (void)h;
    return std::numeric_limits<int64_t>::min();
  }
  // Whether Quantile (and HistoryFromMs) may run at once for different keys, each key
  // Prepare()d first, in one thread, before the calls.
  virtual bool ConcurrentKeys() const { return false; }
  virtual void Prepare(const SeriesKey& key) { (void)key; }
  // Thread-safe; a forecaster that fits nothing has none.
  virtual FitStats fit_stats() const { return {}; }
};

// What the orchestrator last told us about a template (with its events).
struct TemplateFacts {
  std::string tier = "standard";
  double service_time_s = 0.05;
};

class Planner {
 public:
  // The band each request carries for operators (PrefetchRequest.band_*): the central 80%.
  static constexpr double kBandLowerQuantile = 0.1;
  static constexpr double kBandUpperQuantile = 0.9;

  Planner(const ForecasterConfig& config, DemandForecaster& forecaster)
      : config_(config), forecaster_(forecaster) {}

  void Learn(const v1::RequestEvent& e);
  // The most requested content of a series (e.g. from access logs), most requested first,
  // with the sizes known for it: preloaded after the template's configured content, up to
  // trending_top_k, skipping what would not fit the template's scratch storage (content of
  // unknown size is skipped when there is a limit).
  // `ranking` names what ranked them (PrefetchRequest.content_ranking).
  void SetTrending(const SeriesKey& key, std::vector<std::string> content_ids,
                   std::map<std::string, uint64_t> sizes = {}, std::string ranking = "");
  std::vector<v1::PrefetchRequest> Plan(const SeriesStore& store, int64_t now_ms);
  // Per-key reason the last Plan() skipped it (too little history, model failure...).
  const std::map<SeriesKey, std::string>& skipped() const { return skipped_; }
  // Keys the forecaster failed to forecast (an error, or too few steps), over every Plan.
  uint64_t errors() const { return errors_; }

 private:
  // A key's request, or why it has none.
  struct Planned {
    std::optional<v1::PrefetchRequest> request;
    std::string skipped;
  };
  Planned PlanOne(const SeriesKey& key, const SeriesStore& store, int64_t now_ms) const;

  const ForecasterConfig& config_;
  DemandForecaster& forecaster_;
  std::map<std::string, TemplateFacts> facts_;
  std::map<SeriesKey, std::string> skipped_;
  uint64_t errors_ = 0;
  struct Trending {
    std::vector<std::string> ids;
    std::map<std::string, uint64_t> sizes;
    std::string ranking;
  };
  void AddTrending(const SeriesKey& key, const TemplatePlan& plan, v1::PrefetchRequest& r) const;
  std::map<SeriesKey, Trending> trending_;
};

}  // namespace prewarm::forecast
