// TimerDetector: is a key a timer (a cron-like trigger), and when does it fire next?
//
// A large share of serverless functions are timer-triggered (Shahrad et al., ATC'20: the
// most common trigger after HTTP), and a timer that fires every 12 hours is the worst case
// of a learned keep-alive: its one idle time is longer than any range worth keeping an
// instance for, and a day holds too few samples to learn it. Yet its next firing is
// predictable from one arrival, if the period is a common cron interval.
//
// The detector keeps one hypothesis per candidate period p (a fixed set of the intervals
// cron schedules use: 5 min ... 24 h). Time is cut into slots (cron's minute). A
// hypothesis says the key fires in slots s0, s0 + p, s0 + 2p, ... and nowhere else; it
// dies at the first arrival off that grid or at the first grid slot that passes without
// one, give or take `jitter_slots` (arrivals anywhere in that tolerance are one firing,
// and the grid does not drift with them). A key that was watched for longer than p
// before its first arrival has already missed a firing of period p. While a hypothesis lives, the earliest firing the live ones
// predict gets a reload window: one instance from a start time before the slot to its end.
// A key that arrives off every grid (nearly every key that is not a timer) loses all its
// hypotheses within its first few arrivals and costs nothing from then on; a one-off key
// costs one short window per candidate period until the last one has passed.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace prewarm::orchestrator {

struct TimerDetectorOptions {
  int64_t slot_ms = 60'000;  // a timer fires within its slot
  // ... give or take this many slots (a timer due at 01:00:00 may be logged at 00:59).
  int64_t jitter_slots = 2;
  // Candidate periods, each a multiple of slot_ms.
  // Cron's minute steps that divide an hour, and every hour step `0 */N * * *`: N = 5, 7,
  // 9, 10, 11 do not divide a day (*/10 fires at 00:00, 10:00, 20:00), so such a key
  // keeps a 10-hour grid through the day and loses the hypothesis at midnight.
  std::vector<int64_t> periods_ms = {
      5 * 60'000,    10 * 60'000,   15 * 60'000,    20 * 60'000,    30 * 60'000,    3'600'000,
      2 * 3'600'000, 3 * 3'600'000, 4 * 3'600'000,  5 * 3'600'000,  6 * 3'600'000,  7 * 3'600'000,
      8 * 3'600'000, 9 * 3'600'000, 10 * 3'600'000, 11 * 3'600'000, 12 * 3'600'000, 24 * 3'600'000};
};

struct ViewKey;

// PrefetchWindow::source of the timer windows (forecasters use 0, LearnedKeepAlive 1).
inline constexpr uint32_t kTimerWindowSource = 2;

class TimerDetector {
 public:
  TimerDetector() = default;
  // `watching_since_ms`: since when arrivals of the key have been observed.
  TimerDetector(const TimerDetectorOptions& options, int64_t watching_since_ms);

  // An arrival at `at_ms` (arrivals must come in time order).
  void Arrival(int64_t at_ms);
  // The earliest firing a live hypothesis expects, as [start, end) in ms: its slot, widened
  // by the jitter (hypotheses whose firing passed without an arrival die first). nullopt:
  // the key is not a timer of any candidate period.
  struct Firing {
    int64_t start_ms = 0;
    int64_t end_ms = 0;
  };
  std::optional<Firing> NextFiring(int64_t now_ms);
  // Hypotheses still alive.
  size_t alive() const;
  // Replaces this source's window in `key` by one over NextFiring(now_ms) (the reconciler
  // meets it its lead time early), if a cold start costs more than the window can: its
  // length plus `start_s`, in seconds of an idle instance (the units of `cold_cost_s`).
  // No live hypothesis, or not worth it: no window.
  void Apply(ViewKey& key, int64_t now_ms, double cold_cost_s, double start_s,
             uint32_t source = kTimerWindowSource);

 private:
  struct Hypothesis {
    int64_t period = 0;  // slots
    int64_t fired = 0;   // the grid slot of its latest firing
    bool alive = true;
    int64_t next() const { return fired + period; }
  };
  void Expire(int64_t slot);

  int64_t slot_ms_ = 60'000;
  int64_t jitter_ = 1;  // slots
  int64_t since_slot_ = 0;
  int64_t last_slot_ = -1;  // slot of the latest arrival (-1: none yet)
  std::vector<int64_t> periods_;  // slots
  std::vector<Hypothesis> hyps_;
};

}  // namespace prewarm::orchestrator
