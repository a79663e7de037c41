#include "forecast/trending.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "common/content_id.h"
#include "fmt/format.h"

namespace prewarm::forecast {
namespace {

// Requests one Add may stand for; more is a corrupt report, not traffic.
constexpr uint64_t kMaxCountPerAdd = 1'000'000'000;
// Empty windows folded one by one after a silence; past this every state has decayed by
// 2^-20 of its longest half-life and the rest of the silence changes no ranking.
constexpr double kSilenceHalfLives = 20;
// A content whose every estimate is below this is forgotten.
constexpr double kNegligible = 1e-9;

int64_t FloorTo(int64_t t, int64_t step) {
  int64_t q = t / step;
  if (t % step != 0 && t < 0) --q;
  return q * step;
}

// Up to k of `order` (a permutation of candidates), within the budget.
TrendingPick Fill(const std::vector<const ScoredContent*>& order, size_t k, uint64_t byte_budget) {
  TrendingPick p;
  std::vector<const ScoredContent*> taken;
  for (const ScoredContent* c : order) {
    if (taken.size() >= k) break;
    if (byte_budget > 0 && (c->bytes == 0 || c->bytes > byte_budget - p.bytes)) continue;
    p.bytes += c->bytes;
    p.forecast += c->score;
    taken.push_back(c);
  }
  std::stable_sort(taken.begin(), taken.end(), [](const ScoredContent* a, const ScoredContent* b) {
    return a->score > b->score;
  });
  for (const ScoredContent* c : taken) p.ids.emplace_back(c->id);
  return p;
}

}  // namespace

TrendingPick FillPreload(std::span<const ScoredContent> by_score, size_t k, uint64_t byte_budget) {
  std::vector<const ScoredContent*> order;
  for (const ScoredContent& c : by_score) order.push_back(&c);
  TrendingPick best = Fill(order, k, byte_budget);
  if (byte_budget == 0) return best;
  std::erase_if(order, [](const ScoredContent* c) { return c->bytes == 0; });
  auto density = [](const ScoredContent* c) { return c->score / static_cast<double>(c->bytes); };
  std::stable_sort(order.begin(), order.end(), [&](const ScoredContent* a, const ScoredContent* b) {
    return density(a) > density(b);
  });
  TrendingPick dense = Fill(order, k, byte_budget);
  return dense.forecast > best.forecast ? dense : best;
}

absl::Status ValidateTrendingOptions(const TrendingOptions& o) {
  if (o.window_ms <= 0) {
    return absl::InvalidArgumentError(fmt::format("trending window {} ms <= 0", o.window_ms));
  }
  if (o.half_lives.empty()) return absl::InvalidArgumentError("trending: no half-lives");
  for (double h : o.half_lives) {
    if (!std::isfinite(h) || h <= 0 || h > 1e6) {
      return absl::InvalidArgumentError(
          fmt::format("trending half-life {} windows is not in (0, 1e6]", h));
    }
  }
  if (o.max_rank == 0 || o.max_rank > 100'000) {
    return absl::InvalidArgumentError(
        fmt::format("trending max_rank {} not in 1..100000", o.max_rank));
  }
  if (o.max_contents < o.max_rank) {
    return absl::InvalidArgumentError(
        fmt::format("trending max_contents {} is below max_rank {}", o.max_contents, o.max_rank));
  }
  if (o.max_content_bytes == 0) return absl::InvalidArgumentError("trending max_content_bytes 0");
  return absl::OkStatus();
}

ContentRanker::ContentRanker(TrendingOptions options)
    : options_(std::move(options)), window_start_ms_(std::numeric_limits<int64_t>::min()) {
  std::vector<double> hl = options_.half_lives;
  std::sort(hl.begin(), hl.end(), std::greater<>());
  // Longest first, level before trend: the order ties resolve in (the steadiest wins).
  for (bool trend : {false, true}) {
    for (double h : hl) {
      Estimator e;
      e.alpha = 1 - std::exp2(-1 / h);
      e.trend = trend;
      e.name = fmt::format("h={:g}w{}", h, trend ? "+trend" : "");
      e.served.assign(options_.max_rank, 0);
      estimators_.push_back(std::move(e));
    }
  }
  score_keep_ = std::exp2(-1 / hl.front());
}

absl::Status ContentRanker::Add(int64_t unix_ms, std::string_view id, uint64_t count,
                                uint64_t bytes) {
  if (absl::Status st = ValidateContentId(id); !st.ok()) return st;
  if (bytes > options_.max_content_bytes) {
    return absl::InvalidArgumentError(fmt::format(
        "content '{}': size {} bytes is over the limit {}", id, bytes, options_.max_content_bytes));
  }
  if (count > kMaxCountPerAdd) {
    return absl::InvalidArgumentError(fmt::format(
        "content '{}': {} requests in one report is over {}", id, count, kMaxCountPerAdd));
  }
  if (window_start_ms_ == std::numeric_limits<int64_t>::min()) {
    window_start_ms_ = FloorTo(unix_ms, options_.window_ms);
  }
  AdvanceTo(unix_ms);
  auto it = index_.find(std::string(id));
  if (it == index_.end()) {
    if (contents_.size() >= 2 * options_.max_contents) {
      return absl::ResourceExhaustedError(
          fmt::format("content '{}': {} ids already tracked in this window", id, contents_.size()));
    }
    Content c;
    c.id = std::string(id);
    c.s1.assign(estimators_.size(), 0);
    c.s2.assign(estimators_.size(), 0);
    it = index_.emplace(c.id, static_cast<uint32_t>(contents_.size())).first;
    contents_.push_back(std::move(c));
  }
  Content& c = contents_[it->second];
  c.in_window += count;
  c.requests += count;
  c.bytes = std::max(c.bytes, bytes);
  return absl::OkStatus();
}

void ContentRanker::AdvanceTo(int64_t unix_ms) {
  if (window_start_ms_ == std::numeric_limits<int64_t>::min()) return;
  if (unix_ms < window_start_ms_ + options_.window_ms) return;
  const int64_t windows = (unix_ms - window_start_ms_) / options_.window_ms;
  double longest = 0;
  for (double h : options_.half_lives) longest = std::max(longest, h);
  const int64_t folded =
      std::min<int64_t>(windows, static_cast<int64_t>(kSilenceHalfLives * longest) + 1);
  for (int64_t i = 0; i < folded; ++i) CloseWindow();
  window_start_ms_ += windows * options_.window_ms;
  if (windows > folded) {  // a silence that long forgets everything
    windows_closed_ += static_cast<size_t>(windows - folded);
    contents_.clear();
    index_.clear();
    for (Estimator& e : estimators_) {
      e.ranking.clear();
      std::fill(e.served.begin(), e.served.end(), 0.0);
    }
  }
}

void ContentRanker::CloseWindow() {
  Score();
  Fold();
  Forget();
  Rank();
  ++windows_closed_;
}

// What each estimator's last ranking would have served of this window, for every k.
void ContentRanker::Score() {
  for (Estimator& e : estimators_) {
    double cum = 0;
    for (size_t k = 0; k < e.served.size(); ++k) {
      if (k < e.ranking.size()) cum += static_cast<double>(contents_[e.ranking[k]].in_window);
      e.served[k] = e.served[k] * score_keep_ + cum;
    }
  }
}

void ContentRanker::Fold() {
  for (Content& c : contents_) {
    const double x = static_cast<double>(c.in_window);
    for (size_t e = 0; e < estimators_.size(); ++e) {
      const double a = estimators_[e].alpha;
      c.s1[e] = a * x + (1 - a) * c.s1[e];
      c.s2[e] = a * c.s1[e] + (1 - a) * c.s2[e];
    }
    c.in_window = 0;
  }
}

double ContentRanker::Forecast(const Content& c, size_t e) const {
  const Estimator& est = estimators_[e];
  if (!est.trend) return c.s1[e];
  return std::max(0.0, c.s1[e] + (c.s1[e] - c.s2[e]) / (1 - est.alpha));
}

// Drops what has decayed to nothing, then, past max_contents, the least likely.
void ContentRanker::Forget() {
  auto likeliest = [&](const Content& c) {
    double m = 0;
    for (size_t e = 0; e < estimators_.size(); ++e) m = std::max(m, Forecast(c, e));
    return m;
  };
  std::vector<std::pair<double, uint32_t>> keep;
  keep.reserve(contents_.size());
  for (uint32_t i = 0; i < contents_.size(); ++i) {
    double m = likeliest(contents_[i]);
    if (m >= kNegligible) keep.emplace_back(m, i);
  }
  if (keep.size() == contents_.size() && keep.size() <= options_.max_contents) return;
  if (keep.size() > options_.max_contents) {
    auto nth = keep.begin() + static_cast<std::ptrdiff_t>(options_.max_contents);
    std::nth_element(keep.begin(), nth, keep.end(), [&](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first
                                : contents_[a.second].id < contents_[b.second].id;
    });
    keep.erase(nth, keep.end());
  }
  std::sort(keep.begin(), keep.end(),
            [](const auto& a, const auto& b) { return a.second < b.second; });
  std::vector<Content> kept;
  kept.reserve(keep.size());
  index_.clear();
  for (const auto& [m, i] : keep) {
    index_.emplace(contents_[i].id, static_cast<uint32_t>(kept.size()));
    kept.push_back(std::move(contents_[i]));
  }
  contents_ = std::move(kept);
}

void ContentRanker::Rank() {
  for (size_t e = 0; e < estimators_.size(); ++e) {
    std::vector<std::pair<double, uint32_t>> all;
    for (uint32_t i = 0; i < contents_.size(); ++i) {
      double f = Forecast(contents_[i], e);
      if (f > 0) all.emplace_back(f, i);
    }
    size_t n = std::min(all.size(), options_.max_rank);
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(),
                      [&](const auto& a, const auto& b) {
                        return a.first != b.first ? a.first > b.first
                                                  : contents_[a.second].id < contents_[b.second].id;
                      });
    std::vector<uint32_t>& ranking = estimators_[e].ranking;
    ranking.clear();
    for (size_t j = 0; j < n; ++j) ranking.push_back(all[j].second);
  }
}

// The estimator whose top-k served the most; ties go to the earlier (steadier) one.
size_t ContentRanker::Best(size_t k) const {
  k = std::clamp<size_t>(k, 1, options_.max_rank);
  size_t best = 0;
  for (size_t e = 1; e < estimators_.size(); ++e) {
    if (estimators_[e].served[k - 1] > estimators_[best].served[k - 1]) best = e;
  }
  return best;
}

TrendingPick ContentRanker::Select(size_t k, uint64_t byte_budget) const {
  k = std::min(k, options_.max_rank);
  if (k == 0 || windows_closed_ == 0) return {};
  const size_t e = Best(k);
  std::vector<ScoredContent> ranked;
  for (uint32_t i : estimators_[e].ranking) {
    const Content& c = contents_[i];
    ranked.push_back({c.id, Forecast(c, e), c.bytes});
  }
  TrendingPick out = FillPreload(ranked, k, byte_budget);
  out.estimator = estimators_[e].name;
  return out;
}

absl::StatusOr<ContentInfo> ContentRanker::Lookup(std::string_view id) const {
  if (absl::Status st = ValidateContentId(id); !st.ok()) return st;
  auto it = index_.find(std::string(id));
  if (it == index_.end()) {
    return absl::NotFoundError(fmt::format(
        "content id '{}' is unknown here: never requested, or forgotten as unlikely", id));
  }
  const Content& c = contents_[it->second];
  return ContentInfo{c.bytes, c.requests, windows_closed_ > 0 ? Forecast(c, Best(1)) : 0.0};
}

}  // namespace prewarm::forecast
