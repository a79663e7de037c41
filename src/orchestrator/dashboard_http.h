// DashboardServer: the dashboard on the orchestrator's HTTP port.
//   GET /ui, /ui/<file>   the page and its vendored libraries (ui_assets.h)
//   GET /ui/state         the Dashboard's JSON (?since=MS: only samples newer than MS)
//   GET /ui/events        Server-Sent Events: one `state` event per sample, the first with
//                         the whole history, the next with the samples since the last
// A stream holds one HTTP worker for as long as it is open, so at most kMaxStreams are
// served at once (more get 503) and the workers left answer /metrics and /healthz; a client
// that stops reading is dropped at the server's write timeout.
//
// Threads: "orch-dash" samples the cluster into the Dashboard once a second; streams run
// on the HTTP server's workers and wait for the next sample.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "orchestrator/dashboard.h"

namespace httplib {
class Server;
class DataSink;
}  // namespace httplib

namespace prewarm::orchestrator {

class DashboardServer {
 public:
  using Observe = std::function<DashboardObservation()>;
  static constexpr int kMaxStreams = 4;

  DashboardServer(Dashboard& dashboard, Observe observe)
      : dashboard_(dashboard), observe_(std::move(observe)) {}
  ~DashboardServer();

  // Adds the routes above to `http` (before it listens).
  void Mount(httplib::Server& http);
  void Start();
  // Stops sampling and ends every stream (before the HTTP server stops: it waits for them).
  void Stop();
  int streams() const { return streams_.load(); }

 private:
  struct StreamState {
    uint64_t seen = 0;   // the sample count last sent
    int64_t since = -1;  // the newest sample time sent (-1: none yet)
  };
  void Loop();
  void SampleOnce();
  // Writes the next event to `sink` (or a keep-alive comment after 1 s without a sample);
  // false ends the stream.
  bool NextEvent(StreamState& st, httplib::DataSink& sink);

  Dashboard& dashboard_;
  Observe observe_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  uint64_t sampled_ = 0;   // guarded by mu_
  int64_t last_t_ = 0;     // guarded by mu_: the newest sample's time
  std::atomic<int> streams_{0};
  std::thread thread_;
};

}  // namespace prewarm::orchestrator
