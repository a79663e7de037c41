#include "autoscale/service_time.h"

namespace prewarm::orchestrator {

void ServiceTimeMeter::AddAnswers(const std::string& tmpl, uint64_t n) {
  std::lock_guard<std::mutex> l(mu_);
  acc_[tmpl].answers += n;
}

void ServiceTimeMeter::AddConnectionSeconds(const std::string& tmpl, double s) {
  if (!(s > 0)) return;
  std::lock_guard<std::mutex> l(mu_);
  acc_[tmpl].conn_s += s;
}

void ServiceTimeMeter::Roll(int64_t now_ms) {
  std::lock_guard<std::mutex> l(mu_);
  if (window_start_ms_ < 0) window_start_ms_ = now_ms;
  if (now_ms - window_start_ms_ < options_.window_ms) return;
  window_start_ms_ = now_ms;
  for (auto& [tmpl, a] : acc_) {
    if (a.answers >= options_.min_answers) {
      double sample = a.conn_s / static_cast<double>(a.answers);
      a.estimate = a.estimate ? (1 - options_.alpha) * *a.estimate + options_.alpha * sample : sample;
    }
    // A window with too few answers says nothing; its connection time is dropped with it
    // (it belongs to answers of the window before, which has been scored).
    a.answers = 0;
    a.conn_s = 0;
  }
}

std::optional<double> ServiceTimeMeter::Get(const std::string& tmpl) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = acc_.find(tmpl);
  return it == acc_.end() ? std::nullopt : it->second.estimate;
}

std::map<std::string, double> ServiceTimeMeter::All() const {
  std::lock_guard<std::mutex> l(mu_);
  std::map<std::string, double> out;
  for (const auto& [t, a] : acc_) {
    if (a.estimate) out[t] = *a.estimate;
  }
  return out;
}

}  // namespace prewarm::orchestrator
