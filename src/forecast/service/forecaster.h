// The forecaster daemon (`prewarm forecaster`): subscribes to the orchestrators' request
// events, keeps live series per (region, template), and every step sends the prefetch
// requests the Planner derives from quantile forecasts.
//
// Several orchestrator replicas: each one only sees the DNS answers it gave, so the daemon
// subscribes to every configured replica and adds their counts. A step counts as observed
// when any feed was connected for it (a replica that is down answers no DNS, so the others
// saw its share; one that is up but cut off from us replays its backlog on reconnect).
// Each planning round goes to one replica (the one that last accepted), moving on to the
// next on error (not on InvalidArgument: every replica would refuse that alike).
//
// Threads: "fc-feed-N", one per replica (its event stream; reconnects on its own with a
// jittered backoff of 100 ms .. 5 s, asking for the backlog since the last batch it saw),
// and "fc-plan" (one planning round per step).
#pragma once

#include <atomic>
#include <condition_variable>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "forecast/service/config.h"
#include "forecast/service/planner.h"
#include "forecast/service/series_store.h"
#include "forecast/trending.h"
#include "prewarm/v1/orchestrator.pb.h"

namespace grpc {
class ChannelCredentials;
class ClientContext;
}  // namespace grpc

namespace prewarm::forecast {

struct ForecasterStats {
  uint64_t batches = 0;
  uint64_t events = 0;
  uint64_t dropped = 0;         // reported by the orchestrator (back-pressure)
  uint64_t rounds = 0;          // planning rounds
  uint64_t submitted = 0;       // prefetch requests accepted by the orchestrator
  uint64_t rejected_calls = 0;  // rounds no replica accepted
  uint32_t feeds_connected = 0;
  uint64_t forecast_errors = 0;   // keys the forecaster failed on (Planner::errors)
  uint64_t content_counts = 0;    // per-content counts ranked (RequestEventBatch.contents)
  uint64_t content_rejected = 0;  // ... refused: bad id, size, count or time
  uint64_t trending_tracked = 0;  // content ids the rankings track, at the last round
  // Prefetch requests sent to an orchestrator, per (region, template); counted when a
  // replica accepted the round (the orchestrator may still refuse single requests).
  std::map<SeriesKey, uint64_t> emitted;
  std::string submitted_to;  // the replica that accepted the last round
  std::string last_error;
  uint64_t state_saves = 0;        // state_dir: saves written
  uint64_t state_save_errors = 0;  // ... and failed
  int64_t state_saved_ms = 0;      // the last save's time (0: none)
  uint64_t state_bytes = 0;        // its size
};

class ForecasterDaemon {
 public:
  ForecasterDaemon(ForecasterConfig config, std::unique_ptr<DemandForecaster> forecaster,
                   const Clock& clock);
  ~ForecasterDaemon();

  // Checks the TLS files, seeds history files, then starts the threads.
  absl::Status Start();
  void Stop();

  // One planning round now (the plan thread calls it each step; tests call it directly).
  absl::Status PlanOnce();
  ForecasterStats stats() const;
  const SeriesStore& store() const { return store_; }
  // Prometheus text of the daemon's metrics (thread-safe; served by cli/forecaster_cmd.cc).
  std::string RenderMetrics() const;

 private:
  // One replica's event feed. `thread` and `last_cut_ms` belong to the feed's thread; `ctx`
  // is guarded by ctx_mu_ (Stop() cancels it).
  struct Feed {
    std::string target;
    std::shared_ptr<grpc::ChannelCredentials> creds;
    int64_t last_cut_ms = 0;
    grpc::ClientContext* ctx = nullptr;
    std::thread thread;
  };
  void FeedLoop(Feed& feed);
  void FeedOnce(Feed& feed);
  void AddBatch(Feed& feed, const v1::RequestEventBatch& batch, int64_t connected_ms);
  // Per-content counts into the ranking of their (region, template); planner_mu_ held.
  absl::Status AddContent(const v1::ContentCount& c, int64_t now_ms);
  // Each ranking's top-K into the planner, for this round; planner_mu_ held.
  uint64_t RefreshTrending(int64_t now_ms);
  struct Submitted {
    std::string target;
    v1::SubmitPrefetchResponse response;
  };
  absl::StatusOr<Submitted> Submit(const v1::SubmitPrefetchRequest& req);
  void PlanLoop();
  // state_dir: restores the series saved by the last run (a file that cannot be used is
  // moved aside, logged, and the daemon starts without it); SaveLoop saves every
  // state_save_every, and Stop once more (SaveNow).
  absl::Status RestoreState();
  void SaveLoop();
  void SaveNow();
  absl::Status SeedHistory();
  absl::Status SeedAccessLog(const AccessLogHistory& log);

  const ForecasterConfig config_;
  std::unique_ptr<DemandForecaster> forecaster_;
  const Clock& clock_;
  SeriesStore store_;
  Planner planner_;                             // guarded by planner_mu_
  std::map<SeriesKey, ContentRanker> rankers_;  // guarded by planner_mu_
  std::mutex planner_mu_;

  mutable std::mutex stats_mu_;
  ForecasterStats stats_;

  std::atomic<bool> stopping_{false};
  std::mutex ctx_mu_;
  std::vector<std::unique_ptr<Feed>> feeds_;  // one per config_.orchestrators, same order
  std::atomic<size_t> submit_next_{0};        // the replica a round tries first
  std::thread plan_;
  std::thread save_;
  std::mutex save_mu_;  // serialises saves (SaveLoop and Stop)
  std::condition_variable stop_cv_;
  std::mutex stop_mu_;
  // Steps before this are in the restored state: history files do not add them again.
  int64_t restored_until_ms_ = std::numeric_limits<int64_t>::min();
};

}  // namespace prewarm::forecast
