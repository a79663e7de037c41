#include "forecast/service/forecaster.h"

#include <grpcpp/grpcpp.h>
#include <pthread.h>

#include <chrono>
#include <filesystem>
#include <random>

#include "common/logging.h"
#include "common/metrics.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "forecast/ingest/access_log.h"
#include "forecast/ingest/count_csv.h"
#include "forecast/service/state_file.h"
#include "prewarm/v1/forecast.grpc.pb.h"
#include "prewarm/v1/orchestrator.grpc.pb.h"
#include "security/ossl.h"
#include "security/tls.h"

namespace prewarm::forecast {
namespace {

constexpr int kMinBackoffMs = 100;
constexpr int kMaxBackoffMs = 5000;
constexpr auto kHealthyStream = std::chrono::seconds(10);  // resets the backoff
constexpr auto kSubmitDeadline = std::chrono::seconds(5);
// Rankings kept: one per (region, template); more is a misbehaving feed.
constexpr size_t kMaxRankings = 10'000;
// A content count this far ahead of our clock is refused (clock skew is smaller).
constexpr int64_t kMaxContentSkewMs = 60'000;

}  // namespace

ForecasterDaemon::ForecasterDaemon(ForecasterConfig config,
                                   std::unique_ptr<DemandForecaster> forecaster, const Clock& clock)
    : config_(std::move(config)),
      forecaster_(std::move(forecaster)),
      clock_(clock),
      store_(config_.step_ms, static_cast<size_t>(config_.retention_ms / config_.step_ms)),
      planner_(config_, *forecaster_) {}

ForecasterDaemon::~ForecasterDaemon() { Stop(); }

absl::Status ForecasterDaemon::Start() {
  RETURN_IF_ERROR(security::CheckTlsFiles(config_.tls));
  for (const std::string& target : config_.orchestrators) {
    auto feed = std::make_unique<Feed>();
    feed->target = target;
    ASSIGN_OR_RETURN(feed->creds, security::ChannelCredentials(config_.tls, target));
    feeds_.push_back(std::move(feed));
  }
  RETURN_IF_ERROR(RestoreState());
  if (restored_until_ms_ > 0) {
    // The restored series hold every batch cut before the save; ask each replica for the
    // rest of its backlog (the restart's gap, as far as the replica keeps it).
    for (auto& feed : feeds_) feed->last_cut_ms = restored_until_ms_;
  }
  RETURN_IF_ERROR(SeedHistory());
  for (auto& feed : feeds_) feed->thread = std::thread([this, f = feed.get()] { FeedLoop(*f); });
  plan_ = std::thread([this] { PlanLoop(); });
  if (!config_.state_dir.empty()) save_ = std::thread([this] { SaveLoop(); });
  spdlog::info("forecaster {}: orchestrators {}, step {} s, model {}, horizon {} s", config_.id,
               fmt::join(config_.orchestrators, ", "), config_.step_ms / 1000,
               forecaster_->model_name(), config_.horizon_ms / 1000);
  return absl::OkStatus();
}

void ForecasterDaemon::Stop() {
  if (stopping_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> l(stop_mu_);
    stop_cv_.notify_all();
  }
  {
    std::lock_guard<std::mutex> l(ctx_mu_);
    for (auto& feed : feeds_) {
      if (feed->ctx != nullptr) feed->ctx->TryCancel();
    }
  }
  for (auto& feed : feeds_) {
    if (feed->thread.joinable()) feed->thread.join();
  }
  if (plan_.joinable()) plan_.join();
  if (save_.joinable()) {
    save_.join();
    SaveNow();  // what came in since the last periodic save
  }
}

absl::Status ForecasterDaemon::RestoreState() {
  if (config_.state_dir.empty()) return absl::OkStatus();
  std::error_code ec;
  std::filesystem::create_directories(config_.state_dir, ec);
  if (ec || !std::filesystem::is_directory(config_.state_dir)) {
    return absl::FailedPreconditionError(
        fmt::format("state_dir {}: cannot create it ({}); create it or set state_dir to a writable "
                    "directory",
                    config_.state_dir, ec ? ec.message() : "not a directory"));
  }
  const std::string path = config_.StatePath();
  auto state = LoadState(path, config_.step_ms);
  if (absl::IsNotFound(state.status())) {
    spdlog::info("forecaster: no saved state in {}; starting from the configured history",
                 config_.state_dir);
    return absl::OkStatus();
  }
  if (!state.ok()) {
    // Kept, not deleted: an operator can look at it, or restore it with the right step.
    std::string aside = fmt::format("{}.unusable-{}", path, clock_.NowMs() / 1000);
    std::filesystem::rename(path, aside, ec);
    spdlog::error("forecaster: {}; moved to {}{}, starting without it", state.status().message(),
                  aside, ec ? " (failed: " + ec.message() + ")" : "");
    return absl::OkStatus();
  }
  size_t tracks = state->image.tracks.size();
  restored_until_ms_ = state->saved_unix_ms;
  store_.Import(std::move(state->image));
  spdlog::info("forecaster: restored {} series from {} (saved {} s ago)", tracks, path,
               (clock_.NowMs() - restored_until_ms_) / 1000);
  return absl::OkStatus();
}

void ForecasterDaemon::SaveLoop() {
  pthread_setname_np(pthread_self(), "fc-state");
  std::unique_lock<std::mutex> l(stop_mu_);
  while (!stopping_.load()) {
    stop_cv_.wait_for(l, std::chrono::milliseconds(config_.state_save_every_ms),
                      [this] { return stopping_.load(); });
    if (stopping_.load()) break;
    l.unlock();
    SaveNow();
    l.lock();
  }
}

void ForecasterDaemon::SaveNow() {
  std::lock_guard<std::mutex> l(save_mu_);
  SavedState state;
  state.step_ms = config_.step_ms;
  state.saved_unix_ms = clock_.NowMs();
  state.image = store_.Export();
  std::string bytes = EncodeState(state);
  absl::Status st = security::WriteFileAtomic(config_.StatePath(), bytes, 0640);
  std::lock_guard<std::mutex> sl(stats_mu_);
  if (st.ok()) {
    ++stats_.state_saves;
    stats_.state_saved_ms = state.saved_unix_ms;
    stats_.state_bytes = bytes.size();
  } else {
    ++stats_.state_save_errors;
    spdlog::error("forecaster: saving the state: {}", st.message());
  }
}

absl::Status ForecasterDaemon::SeedHistory() {
  for (const std::string& path : config_.history) {
    ingest::CsvOptions opts;
    opts.region_column = "region";
    opts.template_column = "template";
    opts.step_ms = config_.step_ms;
    ASSIGN_OR_RETURN(ingest::CountTable r, ingest::ReadCountCsv(path, opts));
    for (const auto& [key, series] : r.series) {
      store_.Seed({key.region, key.template_name}, series, restored_until_ms_);
      store_.MarkObserved(std::max(series.start_ms, restored_until_ms_),
                          series.start_ms + static_cast<int64_t>(series.size()) * series.step_ms);
    }
    spdlog::info("forecaster: history {}: {} series, {} rows, {} bad lines", path, r.series.size(),
                 r.report.rows, r.report.bad_lines);
  }
  for (const AccessLogHistory& log : config_.access_logs) RETURN_IF_ERROR(SeedAccessLog(log));
  return absl::OkStatus();
}

absl::Status ForecasterDaemon::SeedAccessLog(const AccessLogHistory& log) {
  ingest::AccessLogOptions opts;
  opts.step_ms = config_.step_ms;
  opts.region = log.region;
  opts.templates = {ingest::TemplateRule{"", "/", log.template_name}};
  opts.top_k = static_cast<size_t>(std::max(config_.trending_top_k, 0));
  ASSIGN_OR_RETURN(ingest::AccessLogCounts r, ingest::ReadAccessLog(log.path, opts));
  SeriesKey key{log.region, log.template_name};
  for (const auto& [k, series] : r.series) {
    store_.Seed(key, series, restored_until_ms_);
    store_.MarkObserved(std::max(series.start_ms, restored_until_ms_),
                        series.start_ms + static_cast<int64_t>(series.size()) * series.step_ms);
  }
  std::vector<std::pair<std::string, uint64_t>> paths(r.top_paths.begin(), r.top_paths.end());
  std::sort(paths.begin(), paths.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  // Content ids are paths without the leading slash, as the origin serves them.
  std::vector<std::string> ids;
  std::map<std::string, uint64_t> sizes;
  for (const auto& [p, n] : paths) {
    std::string id = p.size() > 1 && p[0] == '/' ? p.substr(1) : p;
    if (id.empty() || id == "/") continue;
    if (auto it = r.path_bytes.find(p); it != r.path_bytes.end()) sizes[id] = it->second;
    ids.push_back(std::move(id));
  }
  {
    std::lock_guard<std::mutex> l(planner_mu_);
    planner_.SetTrending(key, std::move(ids), std::move(sizes));
  }
  spdlog::info("forecaster: access log {}: {} lines, {} bad, {} distinct paths", log.path,
               r.report.lines, r.report.bad_lines, r.distinct_paths);
  return absl::OkStatus();
}

void ForecasterDaemon::FeedLoop(Feed& feed) {
  size_t index = 0;
  while (index < feeds_.size() && feeds_[index].get() != &feed) ++index;
  pthread_setname_np(pthread_self(), fmt::format("fc-feed-{}", index).c_str());
  std::mt19937 rng{std::random_device{}()};
  int backoff_ms = kMinBackoffMs;
  while (!stopping_.load()) {
    auto started = std::chrono::steady_clock::now();
    FeedOnce(feed);
    if (std::chrono::steady_clock::now() - started > kHealthyStream) backoff_ms = kMinBackoffMs;
    int sleep_ms = backoff_ms / 2 + static_cast<int>(rng() % (backoff_ms / 2 + 1));
    for (int waited = 0; waited < sleep_ms && !stopping_.load(); waited += 20) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    backoff_ms = std::min(backoff_ms * 2, kMaxBackoffMs);
  }
}

void ForecasterDaemon::FeedOnce(Feed& feed) {
  auto stub = v1::ForecastFeed::NewStub(grpc::CreateChannel(feed.target, feed.creds));
  grpc::ClientContext ctx;
  {
    std::lock_guard<std::mutex> l(ctx_mu_);
    if (stopping_.load()) return;
    feed.ctx = &ctx;
  }
  v1::StreamEventsRequest req;
  req.set_forecaster_id(config_.id);
  req.set_since_unix_ms(feed.last_cut_ms);
  auto reader = stub->StreamEvents(&ctx, req);
  int64_t connected_ms = clock_.NowMs();
  bool counted = false;
  v1::RequestEventBatch batch;
  while (reader->Read(&batch)) {
    if (!counted) {
      counted = true;
      std::lock_guard<std::mutex> l(stats_mu_);
      ++stats_.feeds_connected;
    }
    AddBatch(feed, batch, connected_ms);
  }
  store_.MarkObserved(std::max(connected_ms, feed.last_cut_ms), clock_.NowMs());
  grpc::Status st = reader->Finish();
  {
    std::lock_guard<std::mutex> l(ctx_mu_);
    feed.ctx = nullptr;
  }
  if (counted) {
    std::lock_guard<std::mutex> l(stats_mu_);
    --stats_.feeds_connected;
  }
  if (!stopping_.load()) {
    spdlog::warn("forecaster: event stream from {} ended: {}", feed.target,
                 st.ok() ? "closed" : security::DescribeRpcError(st, feed.target));
  }
}

void ForecasterDaemon::AddBatch(Feed& feed, const v1::RequestEventBatch& batch,
                                int64_t connected_ms) {
  uint64_t contents = 0, rejected = 0;
  {
    std::lock_guard<std::mutex> l(planner_mu_);
    for (const auto& e : batch.events()) {
      store_.Add({e.region(), e.template_name()}, e.unix_ms(), e.count());
      planner_.Learn(e);
    }
    const int64_t now = clock_.NowMs();
    for (const auto& c : batch.contents()) {
      absl::Status st = AddContent(c, now);
      if (st.ok()) {
        ++contents;
        continue;
      }
      if (rejected++ == 0) {  // one line per batch: a bad feed must not flood the log
        spdlog::warn("forecaster: content count from {} refused: {}", feed.target, st.message());
      }
    }
  }
  // Only time we were connected for counts as observed; a replayed backlog adds its
  // counts but leaves silent steps of the outage as gaps.
  store_.MarkObserved(std::max(connected_ms, feed.last_cut_ms), batch.cut_unix_ms());
  feed.last_cut_ms = std::max(feed.last_cut_ms, batch.cut_unix_ms());
  std::lock_guard<std::mutex> l(stats_mu_);
  ++stats_.batches;
  stats_.dropped += batch.dropped();
  stats_.content_counts += contents;
  stats_.content_rejected += rejected;
  for (const auto& e : batch.events()) stats_.events += e.count();
}

absl::Status ForecasterDaemon::AddContent(const v1::ContentCount& c, int64_t now_ms) {
  if (c.unix_ms() > now_ms + kMaxContentSkewMs) {
    return absl::InvalidArgumentError(fmt::format("content '{}' counted at {} ms, {} s ahead of us",
                                                  c.content_id(), c.unix_ms(),
                                                  (c.unix_ms() - now_ms) / 1000));
  }
  SeriesKey key{c.region(), c.template_name()};
  auto it = rankers_.find(key);
  if (it == rankers_.end()) {
    if (rankers_.size() >= kMaxRankings) {
      return absl::ResourceExhaustedError(fmt::format("{} rankings already: no new one for {}/{}",
                                                      kMaxRankings, key.first, key.second));
    }
    TrendingOptions o;
    o.window_ms = config_.trending_refresh_ms;
    it = rankers_.emplace(key, ContentRanker(o)).first;
  }
  return it->second.Add(c.unix_ms(), c.content_id(), c.requests(), c.size_bytes());
}

uint64_t ForecasterDaemon::RefreshTrending(int64_t now_ms) {
  uint64_t tracked = 0;
  for (auto& [key, ranker] : rankers_) {
    ranker.AdvanceTo(now_ms);
    tracked += ranker.tracked();
    const TemplatePlan plan = config_.Plan(key.second);
    uint64_t budget = plan.scratch_bytes;
    for (const std::string& id : plan.preload) {  // the configured content comes first
      auto info = ranker.Lookup(id);
      if (info.ok()) budget -= std::min(budget, info->bytes);
    }
    if (plan.scratch_bytes > 0 && budget == 0) continue;
    const size_t k = static_cast<size_t>(std::max(config_.trending_top_k, 0));
    TrendingPick pick = ranker.Select(k, budget);
    if (pick.ids.empty()) continue;  // nothing ranked yet: the access-log list, if any, stays
    std::map<std::string, uint64_t> sizes;
    for (const std::string& id : pick.ids) {
      if (auto info = ranker.Lookup(id); info.ok() && info->bytes > 0) sizes[id] = info->bytes;
    }
    planner_.SetTrending(key, std::move(pick.ids), std::move(sizes), std::move(pick.estimator));
  }
  return tracked;
}

absl::Status ForecasterDaemon::PlanOnce() {
  std::vector<v1::PrefetchRequest> reqs;
  {
    std::lock_guard<std::mutex> l(planner_mu_);
    const int64_t now = clock_.NowMs();
    const uint64_t tracked = RefreshTrending(now);
    reqs = planner_.Plan(store_, now);
    std::lock_guard<std::mutex> s(stats_mu_);
    ++stats_.rounds;
    stats_.forecast_errors = planner_.errors();
    stats_.trending_tracked = tracked;
  }
  if (reqs.empty()) return absl::OkStatus();
  v1::SubmitPrefetchRequest req;
  req.set_forecaster_id(config_.id);
  std::vector<SeriesKey> keys;
  for (auto& r : reqs) {
    keys.push_back({r.region(), r.template_name()});
    *req.add_requests() = std::move(r);
  }
  absl::StatusOr<Submitted> sent = Submit(req);
  std::lock_guard<std::mutex> l(stats_mu_);
  if (!sent.ok()) {
    ++stats_.rejected_calls;
    stats_.last_error = std::string(sent.status().message());
    return sent.status();
  }
  stats_.submitted += sent->response.accepted();
  stats_.submitted_to = sent->target;
  for (const SeriesKey& k : keys) ++stats_.emitted[k];
  return absl::OkStatus();
}

// One replica after the other, starting with the one that accepted last, until one accepts.
absl::StatusOr<ForecasterDaemon::Submitted> ForecasterDaemon::Submit(
    const v1::SubmitPrefetchRequest& req) {
  const size_t n = feeds_.size();
  if (n == 0) return absl::FailedPreconditionError("SubmitPrefetch: not started");
  const size_t first = submit_next_.load() % n;
  std::vector<std::string> errors;
  for (size_t k = 0; k < n; ++k) {
    const Feed& replica = *feeds_[(first + k) % n];
    const std::string& target = replica.target;
    auto stub = v1::OrchestratorService::NewStub(grpc::CreateChannel(target, replica.creds));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kSubmitDeadline);
    v1::SubmitPrefetchResponse resp;
    grpc::Status st = stub->SubmitPrefetch(&ctx, req, &resp);
    if (st.ok()) {
      submit_next_.store((first + k) % n);
      return Submitted{target, std::move(resp)};
    }
    errors.push_back(security::DescribeRpcError(st, target));
    if (st.error_code() == grpc::StatusCode::INVALID_ARGUMENT) break;
    if (k + 1 < n) {
      spdlog::warn("forecaster: SubmitPrefetch to {} failed ({}); trying {}", target, errors.back(),
                   config_.orchestrators[(first + k + 1) % n]);
    }
  }
  return absl::UnavailableError(fmt::format("SubmitPrefetch: {}", fmt::join(errors, "; ")));
}

void ForecasterDaemon::PlanLoop() {
  pthread_setname_np(pthread_self(), "fc-plan");
  while (!stopping_.load()) {
    int64_t wait = config_.step_ms - clock_.NowMs() % config_.step_ms;
    for (int64_t waited = 0; waited < wait && !stopping_.load(); waited += 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (stopping_.load()) break;
    absl::Status st = PlanOnce();
    if (!st.ok()) spdlog::warn("forecaster: {}", st.message());
  }
}

std::string ForecasterDaemon::RenderMetrics() const {
  const ForecasterStats s = stats();
  const FitStats fits = forecaster_->fit_stats();
  MetricsText m;
  m.BuildInfo();
  m.Gauge("prewarm_forecaster_series", "Series (region, template) the forecaster keeps.");
  m.Add(static_cast<double>(store_.Keys().size()));
  m.Gauge("prewarm_forecaster_feeds_connected", "Orchestrator event streams connected.");
  m.Add(s.feeds_connected);
  m.Counter("prewarm_forecaster_events_total", "Request events received (DNS answers).");
  m.Add(static_cast<double>(s.events));
  m.Counter(
      "prewarm_forecaster_content_counts_total",
      "Per-content request counts from the edge, by result (rejected: bad id, size or time).");
  m.Add(static_cast<double>(s.content_counts), {{"result", "ok"}});
  m.Add(static_cast<double>(s.content_rejected), {{"result", "rejected"}});
  m.Gauge("prewarm_forecaster_trending_contents",
          "Content ids the trending rankings track, over every region and template.");
  m.Add(static_cast<double>(s.trending_tracked));
  m.Counter("prewarm_forecaster_rounds_total", "Planning rounds.");
  m.Add(static_cast<double>(s.rounds));
  m.Counter("prewarm_forecaster_refits_total",
            "Model fits, by result; ok fits that chose the structure again are also counted "
            "as prewarm_forecaster_selections_total.");
  m.Add(static_cast<double>(fits.refits), {{"result", "ok"}});
  m.Add(static_cast<double>(fits.failures), {{"result", "error"}});
  m.Counter("prewarm_forecaster_selections_total", "Fits that selected the model structure.");
  m.Add(static_cast<double>(fits.selections));
  m.Histogram("prewarm_forecaster_refit_duration_seconds", "Time one model fit took.");
  m.Add(fits.refit_seconds);
  m.Counter("prewarm_forecaster_forecast_errors_total",
            "Series the model failed to forecast in a planning round (no prefetch for them).");
  m.Add(static_cast<double>(s.forecast_errors));
  m.Counter("prewarm_forecaster_prefetch_requests_total",
            "Prefetch requests sent to an orchestrator, by region and template.");
  for (const auto& [key, n] : s.emitted) {
    m.Add(static_cast<double>(n), {{"region", key.first}, {"template", key.second}});
  }
  m.Counter("prewarm_forecaster_prefetch_accepted_total",
            "Prefetch requests the orchestrator accepted.");
  m.Add(static_cast<double>(s.submitted));
  m.Counter("prewarm_forecaster_submit_failures_total", "Planning rounds no replica accepted.");
  m.Add(static_cast<double>(s.rejected_calls));
  if (!config_.state_dir.empty()) {
    m.Counter("prewarm_forecaster_state_saves_total",
              "Saves of the learned series to state_dir, by result.");
    m.Add(static_cast<double>(s.state_saves), {{"result", "ok"}});
    m.Add(static_cast<double>(s.state_save_errors), {{"result", "error"}});
    m.Gauge("prewarm_forecaster_state_last_save_timestamp_seconds",
            "When the learned series were last saved (0: not yet).");
    m.Add(static_cast<double>(s.state_saved_ms) / 1000.0);
    m.Gauge("prewarm_forecaster_state_bytes", "Size of the last saved state file.");
    m.Add(static_cast<double>(s.state_bytes));
  }
  return m.Render();
}

ForecasterStats ForecasterDaemon::stats() const {
  std::lock_guard<std::mutex> l(stats_mu_);
  return stats_;
}

}  // namespace prewarm::forecast
