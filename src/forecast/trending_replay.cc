#include "forecast/trending_replay.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "common/content_id.h"
#include "common/status.h"
#include "fmt/format.h"
#include "forecast/ingest/access_log.h"
#include "forecast/ingest/text.h"
#include "forecast/ingest/timestamp.h"

namespace prewarm::forecast {
namespace {

struct Request {
  int64_t unix_ms = 0;
  std::string id;      // empty: the path gives no valid content id
  uint64_t bytes = 0;  // of a 200 response, else 0 (its size is not known from it)
  bool evaluated = false;
};

bool Served(int status) { return (status >= 200 && status < 300) || status == 304; }

absl::StatusOr<std::vector<Request>> ReadRequests(ingest::LineSource source,
                                                  TrendingReplayReport& report) {
  std::vector<Request> out;
  while (auto text = source.Next()) {
    if (ingest::TrimSpace(*text).empty()) continue;
    auto line = ingest::ParseAccessLogLine(*text);
    if (!line.ok()) {
      report.read.AddBad(source.name(), source.line_number(), line.status());
      continue;
    }
    report.read.AddRow();
    Request r;
    r.unix_ms = line->unix_ms;
    r.evaluated = Served(line->status);
    if (r.evaluated) {
      auto id = ContentIdFromPath(line->path);
      if (id.ok()) r.id = std::move(*id);
      if (line->status == 200) r.bytes = line->bytes;
    }
    out.push_back(std::move(r));
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: no request line ({})", source.name(), report.read.Summary()));
  }
  // A log is written as requests end, so times go back now and then: replay in time order.
  std::stable_sort(out.begin(), out.end(),
                   [](const Request& a, const Request& b) { return a.unix_ms < b.unix_ms; });
  return out;
}

// The most requested first (ties by id), with the sizes known, filled within the budget.
std::unordered_set<std::string> TopByCount(const std::unordered_map<std::string, uint64_t>& counts,
                                           const std::unordered_map<std::string, uint64_t>& sizes,
                                           size_t k, uint64_t budget) {
  std::vector<ScoredContent> ranked;
  for (const auto& [id, n] : counts) {
    if (n == 0) continue;
    auto size = sizes.find(id);
    ranked.push_back({id, static_cast<double>(n), size == sizes.end() ? 0 : size->second});
  }
  std::sort(ranked.begin(), ranked.end(), [](const ScoredContent& a, const ScoredContent& b) {
    return a.score != b.score ? a.score > b.score : a.id < b.id;
  });
  TrendingPick p = FillPreload(ranked, k, budget);
  return {p.ids.begin(), p.ids.end()};
}

int64_t CeilTo(int64_t t, int64_t step) {
  int64_t f = t / step * step;
  if (f < t) f += step;
  return f;
}

// The replay proper, over requests in time order.
class Replay {
 public:
  Replay(const TrendingReplayOptions& o, const std::vector<Request>& requests)
      : o_(o), requests_(requests), ranker_(o.trending) {
    for (const Request& r : requests_) {
      if (!r.id.empty()) true_size_[r.id] = std::max(true_size_[r.id], r.bytes);
    }
  }

  absl::Status Run(TrendingReplayReport& report) {
    const int64_t refresh = o_.trending.window_ms;
    report.first_ms = requests_.front().unix_ms;
    report.last_ms = requests_.back().unix_ms;
    report.eval_from_ms = CeilTo(report.first_ms + o_.train_ms, refresh);
    if (report.eval_from_ms > report.last_ms) {
      return absl::InvalidArgumentError(
          fmt::format("{}: the log spans {} s, not more than the training span of {} s", report.log,
                      (report.last_ms - report.first_ms) / 1000, o_.train_ms / 1000));
    }
    for (size_t k : o_.ks) {
      report.rows.emplace_back();
      report.rows.back().k = k;
    }
    for (int64_t w = report.eval_from_ms; w <= report.last_ms; w += refresh) {
      RETURN_IF_ERROR(FeedUntil(w));
      if (static_.empty()) BuildStatic();
      Window(w + refresh, report);
      ++report.windows;
    }
    return absl::OkStatus();
  }

 private:
  // Every request before `t` reaches the ranker and the baselines' counts.
  absl::Status FeedUntil(int64_t t) {
    for (; next_ < requests_.size() && requests_[next_].unix_ms < t; ++next_) {
      const Request& r = requests_[next_];
      if (!r.evaluated || r.id.empty()) continue;
      RETURN_IF_ERROR(ranker_.Add(r.unix_ms, r.id, 1, r.bytes));
      if (r.bytes > 0) known_size_[r.id] = std::max(known_size_[r.id], r.bytes);
      if (r.unix_ms < requests_.front().unix_ms + o_.train_ms) ++train_counts_[r.id];
      recent_.push_back(&r);
      ++recent_counts_[r.id];
    }
    while (!recent_.empty() && recent_.front()->unix_ms < t - o_.previous_ms) {
      --recent_counts_[recent_.front()->id];
      recent_.pop_front();
    }
    ranker_.AdvanceTo(t);
    return absl::OkStatus();
  }

  void BuildStatic() {
    for (size_t k : o_.ks)
      static_.push_back(TopByCount(train_counts_, known_size_, k, o_.scratch_bytes));
  }

  void Window(int64_t to, TrendingReplayReport& report) {
    std::vector<std::unordered_set<std::string>> trending, previous;
    for (size_t i = 0; i < o_.ks.size(); ++i) {
      TrendingPick p = ranker_.Select(o_.ks[i], o_.scratch_bytes);
      if (!p.estimator.empty()) ++report.rows[i].estimators[p.estimator];
      trending.emplace_back(p.ids.begin(), p.ids.end());
      previous.push_back(TopByCount(recent_counts_, known_size_, o_.ks[i], o_.scratch_bytes));
    }
    for (size_t j = next_; j < requests_.size() && requests_[j].unix_ms < to; ++j) {
      const Request& r = requests_[j];
      if (!r.evaluated) {
        ++report.skipped_status;
        continue;
      }
      ++report.requests;
      if (r.id.empty()) {
        ++report.invalid_ids;
        continue;
      }
      for (size_t i = 0; i < o_.ks.size(); ++i) {
        report.rows[i].trending.hits += trending[i].count(r.id);
        report.rows[i].static_list.hits += static_[i].count(r.id);
        report.rows[i].previous.hits += previous[i].count(r.id);
      }
    }
    for (size_t i = 0; i < o_.ks.size(); ++i) {
      report.rows[i].trending.preloaded_bytes += Bytes(trending[i]);
      report.rows[i].static_list.preloaded_bytes += Bytes(static_[i]);
      report.rows[i].previous.preloaded_bytes += Bytes(previous[i]);
    }
  }

  uint64_t Bytes(const std::unordered_set<std::string>& ids) const {
    uint64_t sum = 0;
    for (const std::string& id : ids) sum += true_size_.at(id);
    return sum;
  }

  const TrendingReplayOptions& o_;
  const std::vector<Request>& requests_;
  ContentRanker ranker_;
  size_t next_ = 0;
  std::unordered_map<std::string, uint64_t> true_size_;   // largest 200 in the whole log
  std::unordered_map<std::string, uint64_t> known_size_;  // ... seen so far
  std::unordered_map<std::string, uint64_t> train_counts_;
  std::vector<std::unordered_set<std::string>> static_;  // per K
  std::deque<const Request*> recent_;
  std::unordered_map<std::string, uint64_t> recent_counts_;
};

absl::Status ValidateReplayOptions(const TrendingReplayOptions& o) {
  RETURN_IF_ERROR(ValidateTrendingOptions(o.trending));
  if (o.ks.empty()) return absl::InvalidArgumentError("no K to replay");
  for (size_t k : o.ks) {
    if (k == 0 || k > o.trending.max_rank) {
      return absl::InvalidArgumentError(
          fmt::format("K {} is not in 1..{}", k, o.trending.max_rank));
    }
  }
  if (o.train_ms <= 0 || o.previous_ms <= 0) {
    return absl::InvalidArgumentError("the training and previous spans must be positive");
  }
  return absl::OkStatus();
}

}  // namespace

double PolicyTally::HitRatio(uint64_t requests) const {
  return requests == 0 ? 0 : static_cast<double>(hits) / static_cast<double>(requests);
}

double PolicyTally::BytesPerHit() const {
  return hits == 0 ? std::numeric_limits<double>::infinity()
                   : static_cast<double>(preloaded_bytes) / static_cast<double>(hits);
}

absl::StatusOr<TrendingReplayReport> ReplayTrending(ingest::LineSource source,
                                                    const TrendingReplayOptions& options) {
  RETURN_IF_ERROR(ValidateReplayOptions(options));
  TrendingReplayReport report;
  report.log = source.name();
  ASSIGN_OR_RETURN(std::vector<Request> requests, ReadRequests(std::move(source), report));
  Replay replay(options, requests);
  RETURN_IF_ERROR(replay.Run(report));
  return report;
}

absl::StatusOr<TrendingReplayReport> ReplayTrending(const std::string& log_path,
                                                    const TrendingReplayOptions& options) {
  ASSIGN_OR_RETURN(ingest::LineSource source, ingest::LineSource::OpenFile(log_path));
  return ReplayTrending(std::move(source), options);
}

std::string TrendingReplayTable(const TrendingReplayReport& r, const TrendingReplayOptions& o) {
  std::string out = fmt::format(
      "log {}: {}\nreplayed {} .. {}, evaluated from {}: {} windows of {} s, {} requests "
      "(2xx/304; {} without a valid content id, counted as misses; {} other statuses not "
      "counted)\nbyte budget per list {} (0: none); static = top-K of the first {} s; "
      "previous = top-K of the last {} s\n\n",
      r.log, r.read.Summary(), ingest::FormatIsoUtc(r.first_ms), ingest::FormatIsoUtc(r.last_ms),
      ingest::FormatIsoUtc(r.eval_from_ms), r.windows, o.trending.window_ms / 1000, r.requests,
      r.invalid_ids, r.skipped_status, o.scratch_bytes, o.train_ms / 1000, o.previous_ms / 1000);
  out += fmt::format("{:>5} | {:>8} {:>8} {:>8} | {:>10} {:>10} | {:>12} {:>12} {:>12} | {}\n", "K",
                     "trending", "static", "previous", "vs static", "vs prev", "B/hit trend",
                     "B/hit static", "B/hit prev", "trending estimator (windows)");
  for (const TrendingReplayRow& row : r.rows) {
    const double t = row.trending.HitRatio(r.requests), s = row.static_list.HitRatio(r.requests),
                 p = row.previous.HitRatio(r.requests);
    auto ratio = [](double a, double b) { return b > 0 ? fmt::format("{:.3f}x", a / b) : "-"; };
    std::string used;
    for (const auto& [name, n] : row.estimators)
      used += fmt::format("{}{}:{}", used.empty() ? "" : " ", name, n);
    out += fmt::format(
        "{:>5} | {:>8.4f} {:>8.4f} {:>8.4f} | {:>10} {:>10} | {:>12.0f} {:>12.0f} {:>12.0f} | {}\n",
        row.k, t, s, p, ratio(t, s), ratio(t, p), row.trending.BytesPerHit(),
        row.static_list.BytesPerHit(), row.previous.BytesPerHit(), used);
  }
  return out;
}

}  // namespace prewarm::forecast
