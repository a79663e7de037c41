// Trending content: which content ids of one (region, template) to preload for the next
// window, from the requests of the past ones (issue 17). One implementation for the
// forecaster daemon and the offline replay (`prewarm forecast trending`, the bench).
//
// Time is cut into windows of one refresh interval. Each content keeps, for every
// estimator of a small fixed family, the state of Brown's double exponential smoothing of
// its requests per window:
//   S1 <- a x + (1 - a) S1,  S2 <- a S1 + (1 - a) S2,  a = 1 - 2^(-1 / half_life)
//   next window: S1 (level only) or max(0, S1 + (S1 - S2) / (1 - a)) (level + trend)
// with half-lives (in windows) of 1, 4, 16, 64 and 256 — from "the last window" to about
// two days at a 10-minute refresh — each with and without the trend term.
//
// No estimator is picked by hand: at each window's end, every estimator's previous ranking
// is scored against what was requested in that window (the requests its top-k would have
// served, for every k up to max_rank), those scores decay at the longest half-life, and
// Select(k, ...) ranks by the estimator with the most served requests at that k. A site
// whose popularity is stable ends up on a long half-life, one with bursts on a short one.
//
// Select bounds the list by a count k and a byte budget (the template's scratch size). It
// maximises the forecast requests covered, a knapsack with two constraints, by taking the
// better of two greedy fills: by forecast (right when the count binds: the k most likely
// ids) and by forecast per byte (right when the bytes bind). Content whose size is not
// known yet is left out when there is a budget.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace prewarm::forecast {

struct TrendingOptions {
  int64_t window_ms = 600'000;  // one refresh interval; windows are aligned to multiples
  // Half-lives of the estimators, in windows; each runs with and without a trend term.
  std::vector<double> half_lives = {1, 4, 16, 64, 256};
  size_t max_rank = 1000;         // longest list kept, scored and returned (the orchestrator's cap)
  size_t max_contents = 100'000;  // ids tracked; past this the least likely are forgotten
  uint64_t max_content_bytes = 1ULL << 40;  // a reported size above this is refused
};

absl::Status ValidateTrendingOptions(const TrendingOptions& options);

struct TrendingPick {
  std::vector<std::string> ids;  // most likely first
  uint64_t bytes = 0;            // their sizes' sum
  double forecast = 0;           // their forecast requests in the next window
  std::string estimator;         // which estimator ranked them, e.g. "h=4w+trend"
};

// A candidate for preloading: its score (forecast requests) and size (0: unknown).
struct ScoredContent {
  std::string_view id;
  double score = 0;
  uint64_t bytes = 0;
};

// The knapsack fill of Select, for any ranking (the replay's baselines use it too): at most
// k of `by_score` (best first) within byte_budget (0: no limit), the better of the fills by
// score and by score per byte. Content of unknown size is left out when there is a budget.
TrendingPick FillPreload(std::span<const ScoredContent> by_score, size_t k, uint64_t byte_budget);

struct ContentInfo {
  uint64_t bytes = 0;     // the largest size reported (0: not known)
  uint64_t requests = 0;  // requests recorded while tracked
  double forecast = 0;    // next window, by the estimator Select(1, 0) uses
};

// The ranking of one (region, template). Not thread-safe: its owner serialises calls.
class ContentRanker {
 public:
  // `options` must pass ValidateTrendingOptions.
  explicit ContentRanker(TrendingOptions options);

  // `count` requests for `id` at `unix_ms`, of `bytes` each (0: size unknown). A time past
  // the current window first closes it (AdvanceTo); an earlier one counts in the current
  // window. InvalidArgument for a bad id (common/content_id.h) or an absurd size.
  absl::Status Add(int64_t unix_ms, std::string_view id, uint64_t count, uint64_t bytes);
  // Closes every window that ends at or before `unix_ms`. A silence of more than 20 of the
  // longest half-lives forgets everything (every estimate is below 2^-20 of what it was).
  void AdvanceTo(int64_t unix_ms);

  // At most k ids (k is capped at max_rank) whose sizes sum to at most byte_budget (0: no
  // limit), for the window after the last closed one. Empty before a window has closed.
  TrendingPick Select(size_t k, uint64_t byte_budget) const;
  // NotFound (naming the id) when the ranker does not track `id`.
  absl::StatusOr<ContentInfo> Lookup(std::string_view id) const;

  size_t tracked() const { return contents_.size(); }
  size_t windows_closed() const { return windows_closed_; }
  // Start of the open window (INT64_MIN before the first Add).
  int64_t window_start_ms() const { return window_start_ms_; }

 private:
  struct Estimator {
    double alpha = 0;
    bool trend = false;
    std::string name;
    std::vector<uint32_t> ranking;  // content indices, best first, forecast > 0
    std::vector<double> served;     // served[k-1]: decayed requests its top-k covered
  };
  struct Content {
    std::string id;
    uint64_t bytes = 0;
    uint64_t requests = 0;
    uint64_t in_window = 0;
    std::vector<double> s1, s2;  // per estimator
  };

  void CloseWindow();
  void Score();
  void Fold();
  void Forget();
  void Rank();
  double Forecast(const Content& c, size_t e) const;
  size_t Best(size_t k) const;

  TrendingOptions options_;
  double score_keep_ = 1;  // per-window decay of Estimator::served
  std::vector<Estimator> estimators_;
  std::vector<Content> contents_;
  std::unordered_map<std::string, uint32_t> index_;
  int64_t window_start_ms_;
  size_t windows_closed_ = 0;
};

}  // namespace prewarm::forecast
