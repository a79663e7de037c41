#include "orchestrator/prefetch_book.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "fmt/format.h"

namespace prewarm::orchestrator {
namespace {

constexpr int64_t kMaxLeadMs = 24 * 3600 * 1000LL;  // windows further out are absurd

}  // namespace

absl::Status PrefetchBook::Validate(const v1::PrefetchRequest& r) const {
  auto bad = [&](std::string why) {
    return absl::InvalidArgumentError(
        fmt::format("prefetch ({}, {}): {}", r.region(), r.template_name(), why));
  };
  if (config_.FindRegion(r.region()) == nullptr)
    return bad(fmt::format("unknown region '{}'", r.region()));
  const std::shared_ptr<const OrchestratorConfig> live = live_ ? live_() : nullptr;
  if (!(live ? *live : config_).templates.contains(r.template_name())) {
    return bad(fmt::format("unknown template '{}'", r.template_name()));
  }
  if (r.target_concurrency() > config_.max_prefetch_target) {
    return bad(fmt::format("target_concurrency {} is above the limit {}", r.target_concurrency(),
                           config_.max_prefetch_target));
  }
  if (!(r.quantile() > 0 && r.quantile() < 1)) {
    return bad(fmt::format("quantile {} is not in (0, 1)", r.quantile()));
  }
  if (!std::isfinite(r.forecast_rate_per_s()) || r.forecast_rate_per_s() < 0) {
    return bad("forecast_rate_per_s must be a finite non-negative number");
  }
  int64_t now = clock_.NowMs();
  if (r.window_end_unix_ms() <= r.window_start_unix_ms())
    return bad("window ends before it starts");
  if (r.window_end_unix_ms() <= now) return bad("window is in the past");
  if (r.window_start_unix_ms() > now + kMaxLeadMs)
    return bad("window starts more than a day ahead");
  if (r.content_ids_size() > 1000) return bad("more than 1000 content ids");
  return absl::OkStatus();
}

absl::StatusOr<int64_t> PrefetchBook::Accept(const v1::SubmitPrefetchRequest& req) {
  for (int i = 0; i < req.requests_size(); ++i) {
    absl::Status st = Validate(req.requests(i));
    if (!st.ok()) {
      return absl::InvalidArgumentError(fmt::format("requests[{}]: {}", i, st.message()));
    }
  }
  const int64_t now = clock_.NowMs();
  std::vector<v1::PrefetchEntry> entries;
  for (const auto& r : req.requests()) {
    v1::PrefetchEntry e;
    *e.mutable_request() = r;
    e.set_received_unix_ms(now);
    e.set_forecaster_id(req.forecaster_id());
    entries.push_back(std::move(e));
  }
  if (entries.empty()) return cache_.revision();
  ASSIGN_OR_RETURN(int64_t rev, writer_.PutPrefetch(entries));
  if (!cache_.WaitForRevision(rev, config_.cluster.request_timeout_ms)) {
    return absl::DeadlineExceededError("prefetch stored, but this replica's watch is behind");
  }
  return rev;
}

std::vector<v1::PrefetchEntry> PrefetchBook::List() const {
  std::map<std::pair<std::string, std::string>, v1::PrefetchEntry> latest;
  // Held for the loop: a range-for over `cache_.Data()->prefetch` would iterate a map
  // whose owner (the temporary shared_ptr) is gone once the watch publishes new data.
  const auto data = cache_.Data();
  for (const auto& [key, e] : data->prefetch) {
    const auto& r = e->rec.request();
    auto& slot = latest[{r.region(), r.template_name()}];
    if (e->rec.received_unix_ms() >= slot.received_unix_ms()) slot = e->rec;
  }
  std::vector<v1::PrefetchEntry> out;
  for (auto& [key, e] : latest) out.push_back(std::move(e));
  return out;
}

std::vector<v1::PrefetchEntry> PrefetchBook::Active() const {
  const int64_t now = clock_.NowMs();
  std::vector<v1::PrefetchEntry> out;
  const auto data = cache_.Data();  // held for the loop (see List)
  for (const auto& [key, e] : data->prefetch) {
    if (e->rec.request().window_end_unix_ms() > now) out.push_back(e->rec);
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.received_unix_ms() < b.received_unix_ms();
  });
  return out;
}

}  // namespace prewarm::orchestrator
