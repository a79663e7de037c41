#include "forecast/service/forecaster.h"

#include <grpcpp/grpcpp.h>
#include <pthread.h>

#include <chrono>

#include "common/logging.h"
#include "fmt/format.h"
#include "forecast/ingest/access_log.h"
#include "forecast/ingest/count_csv.h"
#include "prewarm/v1/forecast.grpc.pb.h"
#include "prewarm/v1/orchestrator.grpc.pb.h"

namespace prewarm::forecast {

ForecasterDaemon::ForecasterDaemon(ForecasterConfig config,
                                   std::unique_ptr<DemandForecaster> forecaster, const Clock& clock)
    : config_(std::move(config)),
      forecaster_(std::move(forecaster)),
      clock_(clock),
      store_(config_.step_ms, static_cast<size_t>(config_.retention_ms / config_.step_ms)),
      planner_(config_, *forecaster_) {}

ForecasterDaemon::~ForecasterDaemon() { Stop(); }

absl::Status ForecasterDaemon::Start() {
  RETURN_IF_ERROR(SeedHistory());
  feed_ = std::thread([this] { FeedLoop(); });
  plan_ = std::thread([this] { PlanLoop(); });
  spdlog::info("forecaster {}: orchestrator {}, step {} s, model {}, horizon {} s", config_.id,
               config_.orchestrator, config_.step_ms / 1000, forecaster_->model_name(),
               config_.horizon_ms / 1000);
  return absl::OkStatus();
}

void ForecasterDaemon::Stop() {
  if (stopping_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> l(ctx_mu_);
    if (ctx_ != nullptr) ctx_->TryCancel();
  }
  if (feed_.joinable()) feed_.join();
  if (plan_.joinable()) plan_.join();
}

absl::Status ForecasterDaemon::SeedHistory() {
  for (const std::string& path : config_.history) {
    ingest::CsvOptions opts;
    opts.region_column = "region";
    opts.template_column = "template";
    opts.step_ms = config_.step_ms;
    ASSIGN_OR_RETURN(ingest::CountTable r, ingest::ReadCountCsv(path, opts));
    for (const auto& [key, series] : r.series) {
      store_.Seed({key.region, key.template_name}, series);
      store_.MarkObserved(series.start_ms, series.start_ms + static_cast<int64_t>(series.size()) * series.step_ms);
    }
    spdlog::info("forecaster: history {}: {} series, {} rows, {} bad lines", path,
                 r.series.size(), r.report.rows, r.report.bad_lines);
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
    store_.Seed(key, series);
    store_.MarkObserved(series.start_ms,
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

void ForecasterDaemon::FeedLoop() {
  pthread_setname_np(pthread_self(), "fc-feed");
  int backoff_ms = 100;
  while (!stopping_.load()) {
    FeedOnce();
    for (int waited = 0; waited < backoff_ms && !stopping_.load(); waited += 20) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    backoff_ms = std::min(backoff_ms * 2, 5000);
  }
}

void ForecasterDaemon::FeedOnce() {
  auto channel = grpc::CreateChannel(config_.orchestrator, grpc::InsecureChannelCredentials());
  auto stub = v1::ForecastFeed::NewStub(channel);
  grpc::ClientContext ctx;
  {
    std::lock_guard<std::mutex> l(ctx_mu_);
    if (stopping_.load()) return;
    ctx_ = &ctx;
  }
  v1::StreamEventsRequest req;
  req.set_forecaster_id(config_.id);
  req.set_since_unix_ms(last_cut_ms_);
  auto reader = stub->StreamEvents(&ctx, req);
  int64_t connected_ms = clock_.NowMs();
  v1::RequestEventBatch batch;
  while (reader->Read(&batch)) {
    {
      std::lock_guard<std::mutex> l(planner_mu_);
      for (const auto& e : batch.events()) {
        store_.Add({e.region(), e.template_name()}, e.unix_ms(), e.count());
        planner_.Learn(e);
      }
    }
    // Only time we were connected for counts as observed; a replayed backlog adds its
    // counts but leaves silent steps of the outage as gaps.
    store_.MarkObserved(std::max(connected_ms, last_cut_ms_), batch.cut_unix_ms());
    last_cut_ms_ = std::max(last_cut_ms_, batch.cut_unix_ms());
    std::lock_guard<std::mutex> l(stats_mu_);
    ++stats_.batches;
    stats_.dropped += batch.dropped();
    for (const auto& e : batch.events()) stats_.events += e.count();
  }
  store_.MarkObserved(std::max(connected_ms, last_cut_ms_), clock_.NowMs());
  grpc::Status st = reader->Finish();
  {
    std::lock_guard<std::mutex> l(ctx_mu_);
    ctx_ = nullptr;
  }
  if (!stopping_.load()) {
    spdlog::warn("forecaster: event stream from {} ended: {}", config_.orchestrator,
                 st.ok() ? "closed" : st.error_message());
  }
}

absl::Status ForecasterDaemon::PlanOnce() {
  std::vector<v1::PrefetchRequest> reqs;
  {
    std::lock_guard<std::mutex> l(planner_mu_);
    reqs = planner_.Plan(store_, clock_.NowMs());
  }
  {
    std::lock_guard<std::mutex> l(stats_mu_);
    ++stats_.rounds;
  }
  if (reqs.empty()) return absl::OkStatus();
  auto channel = grpc::CreateChannel(config_.orchestrator, grpc::InsecureChannelCredentials());
  auto stub = v1::OrchestratorService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::SubmitPrefetchRequest req;
  req.set_forecaster_id(config_.id);
  for (auto& r : reqs) *req.add_requests() = std::move(r);
  v1::SubmitPrefetchResponse resp;
  grpc::Status st = stub->SubmitPrefetch(&ctx, req, &resp);
  std::lock_guard<std::mutex> l(stats_mu_);
  if (!st.ok()) {
    ++stats_.rejected_calls;
    stats_.last_error = st.error_message();
    return absl::UnavailableError(fmt::format("SubmitPrefetch: {}", st.error_message()));
  }
  stats_.submitted += resp.accepted();
  return absl::OkStatus();
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

ForecasterStats ForecasterDaemon::stats() const {
  std::lock_guard<std::mutex> l(stats_mu_);
  return stats_;
}

}  // namespace prewarm::forecast
