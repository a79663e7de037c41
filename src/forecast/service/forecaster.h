// The forecaster daemon (`prewarm forecaster`): subscribes to the orchestrator's request
// events, keeps live series per (region, template), and every step sends the prefetch
// requests the Planner derives from quantile forecasts.
//
// Threads: "fc-feed" (the event stream; reconnects with backoff, asking for the backlog
// since the last batch it saw) and "fc-plan" (one planning round per step).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "forecast/service/config.h"
#include "forecast/service/planner.h"
#include "forecast/service/series_store.h"

namespace grpc {
class ClientContext;
}

namespace prewarm::forecast {

struct ForecasterStats {
  uint64_t batches = 0;
  uint64_t events = 0;
  uint64_t dropped = 0;       // reported by the orchestrator (back-pressure)
  uint64_t rounds = 0;        // planning rounds
  uint64_t submitted = 0;     // prefetch requests accepted by the orchestrator
  uint64_t rejected_calls = 0;
  std::string last_error;
};

class ForecasterDaemon {
 public:
  ForecasterDaemon(ForecasterConfig config, std::unique_ptr<DemandForecaster> forecaster,
                   const Clock& clock);
  ~ForecasterDaemon();

  // Seeds history files, then starts both threads.
  absl::Status Start();
  void Stop();

  // One planning round now (the plan thread calls it each step; tests call it directly).
  absl::Status PlanOnce();
  ForecasterStats stats() const;
  const SeriesStore& store() const { return store_; }

 private:
  void FeedLoop();
  void FeedOnce();
  void PlanLoop();
  absl::Status SeedHistory();
  absl::Status SeedAccessLog(const AccessLogHistory& log);

  const ForecasterConfig config_;
  std::unique_ptr<DemandForecaster> forecaster_;
  const Clock& clock_;
  SeriesStore store_;
  Planner planner_;  // guarded by planner_mu_
  std::mutex planner_mu_;

  mutable std::mutex stats_mu_;
  ForecasterStats stats_;
  int64_t last_cut_ms_ = 0;  // feed thread only

  std::atomic<bool> stopping_{false};
  std::mutex ctx_mu_;
  grpc::ClientContext* ctx_ = nullptr;
  std::thread feed_;
  std::thread plan_;
};

}  // namespace prewarm::forecast
