// KeyAutoscaler: the one adapter from a key's events to what the reconciler reads, shared
// by the live orchestrator (LiveAutoscaler) and the simulator's reconciler policies.
//
// A key is a (region, template). Its events:
//   Arrival   a request for it arrived (the simulator), or a DNS answer / a connection
//             named one of its instances since the last pass (the orchestrator);
//   Serving   the number of its instances serving changed (instance transitions);
//   Apply     the clock: writes the learned keep-alives, reload windows and timer windows
//             into the key's ViewKey before the Reconciler runs.
// Prefetch windows from a forecaster go through AddForecastWindow, the same rule everywhere.
//
// What each caller measures and passes in (KeyInputs): the key's instance memory over the
// average (the simulator: the trace's per-function memory; the orchestrator: its agents'
// reported memory per template), the template's start time, and how long an unloaded
// instance lingers (both: the AnswerHold they destroy drained instances by).
#pragma once

#include <cstdint>

#include "autoscale/idle_learner.h"
#include "autoscale/reconciler.h"
#include "autoscale/timer_detector.h"

namespace prewarm::orchestrator {

struct KeyInputs {
  double memory_ratio = 1.0;  // this key's instance memory / the average instance's
  double start_s = 1.0;       // its template's start time
  UnloadHold hold;            // when an instance it unloads is gone (UnloadHoldOf)
};

// The learned keep-alive's view of `answers`: an unload frees nothing before the idle
// period's last answer has expired (taken as given at the idle period's start) and the
// drain has settled.
UnloadHold UnloadHoldOf(const AnswerHold& answers);

class KeyAutoscaler {
 public:
  // `config` must outlive this. `since_ms`: when this key started to be watched.
  KeyAutoscaler(const LearnedKeepAliveConfig& config, int64_t since_ms);

  // A request (or a DNS answer naming one of its instances) at `at_ms`; `cold`: it found
  // no ready instance. The key counts as serving until Serving says otherwise: call it
  // after each arrival with the instances serving now (0 when it already ended).
  void Arrival(int64_t at_ms, bool cold, const KeyInputs& in);
  // `busy` of the key's instances serve at `at_ms`. The change to 0 begins an idle period
  // that the learned keep-alive plans (`at_ms`: when the last request ended).
  void Serving(int64_t at_ms, uint32_t busy, const KeyInputs& in);
  // Writes the plans into `key`: the learned keep-alives and reload windows, and (once a
  // timer is detected) a window ahead of its next firing.
  void Apply(ViewKey& key, int64_t now_ms, const KeyInputs& in);
  // Something is planned that needs the key in the view even with no instance left (a
  // reload, or a timer's next firing): callers that rebuild their view add it.
  bool Pending(int64_t now_ms);

  bool serving() const { return busy_ > 0; }
  const LearnedKeepAlive& keepalive() const { return keepalive_; }
  uint64_t reloads() const { return reloads_; }

 private:
  const LearnedKeepAliveConfig* config_;
  LearnedKeepAlive keepalive_;
  TimerDetector timers_;
  uint32_t busy_ = 0;
  uint64_t reloads_ = 0;  // idle periods planned as a reload
};

// A forecaster's window for `key`, received at `now_ms`: kept with every window of the key
// that has not ended (the reconciler acts on the newest that is due, DueWindow), at most
// kMaxWindowsPerKey (the oldest go first).
void AddForecastWindow(ViewKey& key, PrefetchWindow window, int64_t now_ms);
inline constexpr size_t kMaxWindowsPerKey = 1024;

// An instance's memory over the average (LearnedKeepAliveConfig::memory_weight prices it);
// 1 when either is unknown (<= 0).
double MemoryRatio(double memory_mb, double mean_mb);

}  // namespace prewarm::orchestrator
