// ServiceTimeMeter: the mean service time per template, measured by the orchestrator from
// what it sees, for the forecaster's capacity formula (concurrency = forecast rate x mean
// service time / per-instance concurrency).
//
// The forecaster forecasts the rate of *service answers* (DNS answers naming a template's
// instances), and an instance's concurrency is its open connections. Little's law ties the
// two: mean open connections L = answer rate x W, so W = connection-seconds / answers over
// a window is exactly the service time that turns a forecast answer rate into concurrency
// (it includes connection reuse and clients that resolve once and connect many times).
// Connection-seconds come from the agents' periodic reports (open connections x the time
// since that node's previous report); answers from the event feed's per-second cuts.
// Each window of `window_ms` with at least `min_answers` answers yields a sample; the
// estimate is an EWMA of the samples. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace prewarm::orchestrator {

struct ServiceTimeOptions {
  int64_t window_ms = 60'000;
  uint64_t min_answers = 20;
  double alpha = 0.3;  // weight of the newest window
};

class ServiceTimeMeter {
 public:
  explicit ServiceTimeMeter(ServiceTimeOptions options = {}) : options_(options) {}

  void AddAnswers(const std::string& tmpl, uint64_t n);
  void AddConnectionSeconds(const std::string& tmpl, double s);
  // Closes the window when `now_ms` is past its end (call often; cheap otherwise).
  void Roll(int64_t now_ms);
  // The measured mean service time in seconds, once a window had enough answers.
  std::optional<double> Get(const std::string& tmpl) const;
  std::map<std::string, double> All() const;

 private:
  struct Acc {
    uint64_t answers = 0;
    double conn_s = 0;
    std::optional<double> estimate;
  };
  ServiceTimeOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Acc> acc_;  // guarded by mu_
  int64_t window_start_ms_ = -1;    // guarded by mu_
};

}  // namespace prewarm::orchestrator
