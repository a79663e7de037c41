#include "autoscale/key_autoscaler.h"

#include <algorithm>

namespace prewarm::orchestrator {

KeyAutoscaler::KeyAutoscaler(const LearnedKeepAliveConfig& config, int64_t since_ms)
    : config_(&config), keepalive_(config, since_ms), timers_(config.timer, since_ms) {}

void KeyAutoscaler::Arrival(int64_t at_ms, bool cold, const KeyInputs&) {
  if (config_->timers) timers_.Arrival(at_ms);
  keepalive_.Arrival(at_ms, cold);
  // It is served (by an instance, or the origin): the key's idle period begins no earlier
  // than its end, even when the caller sees it only after it ended.
  busy_ = std::max<uint32_t>(busy_, 1);
}

void KeyAutoscaler::Serving(int64_t at_ms, uint32_t busy, const KeyInputs& in) {
  // Level 1 first: surplus levels keep no longer than it.
  if (busy == 0 && busy_ > 0) {
    keepalive_.IdleBegins(at_ms, *config_, in.memory_ratio, in.start_s, in.hold);
    reloads_ += keepalive_.plan().reload();
  }
  keepalive_.Busy(at_ms, busy, *config_, in.memory_ratio, in.start_s, in.hold);
  busy_ = busy;
}

void KeyAutoscaler::Apply(ViewKey& key, int64_t now_ms, const KeyInputs& in) {
  keepalive_.Apply(key, kLearnedWindowSource);
  if (config_->timers) {
    timers_.Apply(key, now_ms, keepalive_.ColdCost(*config_, in.memory_ratio, now_ms), in.start_s);
  }
}

bool KeyAutoscaler::Pending(int64_t now_ms) {
  if (keepalive_.idle() && keepalive_.plan().reload()) return true;
  return config_->timers && timers_.NextFiring(now_ms).has_value();
}

void AddForecastWindow(ViewKey& key, PrefetchWindow window, int64_t now_ms) {
  std::erase_if(key.windows, [&](const PrefetchWindow& w) {
    return w.source == window.source && w.end_ms <= now_ms;
  });
  size_t same = static_cast<size_t>(
      std::count_if(key.windows.begin(), key.windows.end(),
                    [&](const PrefetchWindow& w) { return w.source == window.source; }));
  if (same >= kMaxWindowsPerKey) {
    // The oldest received of this source goes first.
    auto oldest = std::min_element(key.windows.begin(), key.windows.end(),
                                   [&](const PrefetchWindow& a, const PrefetchWindow& b) {
                                     if ((a.source == window.source) != (b.source == window.source))
                                       return a.source == window.source;
                                     return a.received_ms < b.received_ms;
                                   });
    key.windows.erase(oldest);
  }
  key.windows.push_back(std::move(window));
}

UnloadHold UnloadHoldOf(const AnswerHold& answers) {
  return {static_cast<double>(answers.ExpiredMs(0)) / 1000.0,
          static_cast<double>(answers.settle_ms) / 1000.0};
}

double MemoryRatio(double memory_mb, double mean_mb) {
  if (memory_mb <= 0 || mean_mb <= 0) return 1.0;
  return memory_mb / mean_mb;
}

}  // namespace prewarm::orchestrator
