// Offline replay of a per-URL access log through the trending ranking (trending.h), side by
// side with two baselines: `prewarm forecast trending`, bench/forecast/trending.sh.
//
// The log's requests are replayed in time order. After a training span (default the first
// day) every refresh interval starts a window: each policy names, for each K, the content
// to preload for that window from what it has seen before the window, and a request of the
// window is a hit when its content id was preloaded.
//   trending       ContentRanker::Select(K, scratch): decayed, forecast counts
//   static         the K most requested of the training span, fixed from then on (a
//                  template's configured list, made as well as one can: from real counts)
//   previous hour  the K most requested of the `previous` span before the window
// All three see the same requests, fill the same byte budget with FillPreload, and know a
// content's size only once a full (200) response of it has passed.
//
// Requests evaluated: every request answered 2xx or 304 after the training span (a 3xx or
// an error has no content to preload). Those whose path gives no valid content id
// (common/content_id.h) stay in the count as misses of every policy.
// Bytes preloaded: per window, the sizes of the listed ids (their largest 200 response in
// the whole log), summed over windows: what a fresh instance per window would fetch.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "forecast/ingest/report.h"
#include "forecast/ingest/text.h"
#include "forecast/trending.h"

namespace prewarm::forecast {

struct TrendingReplayOptions {
  std::vector<size_t> ks = {5, 10, 20, 50, 100};
  uint64_t scratch_bytes = 64ULL << 20;  // byte budget per list (the static template's); 0: none
  int64_t train_ms = 86'400'000;         // before the first window; the static list's span
  int64_t previous_ms = 3'600'000;       // the "previous hour" baseline's span
  TrendingOptions trending;              // trending.window_ms is the refresh interval
};

struct PolicyTally {
  uint64_t hits = 0;
  uint64_t preloaded_bytes = 0;
  double HitRatio(uint64_t requests) const;
  double BytesPerHit() const;  // infinity without a hit
};

struct TrendingReplayRow {
  size_t k = 0;
  PolicyTally trending, static_list, previous;
  std::map<std::string, size_t> estimators;  // windows ranked by each trending estimator
};

struct TrendingReplayReport {
  std::string log;
  ingest::ReadReport read;
  int64_t first_ms = 0, eval_from_ms = 0, last_ms = 0;
  size_t windows = 0;
  uint64_t requests = 0;        // evaluated (see above)
  uint64_t invalid_ids = 0;     // ... of which have no valid content id
  uint64_t skipped_status = 0;  // not evaluated: neither 2xx nor 304
  std::vector<TrendingReplayRow> rows;
};

// Bad lines are counted in report.read with "file:line: why", as the other readers do.
absl::StatusOr<TrendingReplayReport> ReplayTrending(const std::string& log_path,
                                                    const TrendingReplayOptions& options);
absl::StatusOr<TrendingReplayReport> ReplayTrending(ingest::LineSource source,
                                                    const TrendingReplayOptions& options);
// The side-by-side table the bench prints.
std::string TrendingReplayTable(const TrendingReplayReport& report,
                                const TrendingReplayOptions& options);

}  // namespace prewarm::forecast
