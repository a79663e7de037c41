#include "autoscale/timer_detector.h"

#include <algorithm>
#include <cstdlib>

#include "autoscale/reconciler.h"

namespace prewarm::orchestrator {

namespace {

int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

}  // namespace

TimerDetector::TimerDetector(const TimerDetectorOptions& options, int64_t watching_since_ms)
    : slot_ms_(std::max<int64_t>(1, options.slot_ms)),
      jitter_(std::max<int64_t>(0, options.jitter_slots)),
      since_slot_(FloorDiv(watching_since_ms, slot_ms_)) {
  for (int64_t p : options.periods_ms) {
    int64_t slots = p / slot_ms_;
    // A period must be longer than the tolerance around each firing.
    if (slots > 2 * jitter_ + 1) periods_.push_back(slots);
  }
}

void TimerDetector::Expire(int64_t slot) {
  for (Hypothesis& h : hyps_) {
    if (h.alive && h.next() + jitter_ < slot) h.alive = false;  // its firing passed without an arrival
  }
}

void TimerDetector::Arrival(int64_t at_ms) {
  const int64_t slot = FloorDiv(at_ms, slot_ms_);
  if (slot == last_slot_) return;  // a timer may fire more than once in its slot
  if (last_slot_ < 0) {
    last_slot_ = slot;
    for (int64_t p : periods_) {
      // Watched for a whole period before this arrival: it would have fired in it.
      if (slot - p - jitter_ >= since_slot_) continue;
      hyps_.push_back({p, slot, true});
    }
    return;
  }
  last_slot_ = slot;
  Expire(slot);
  for (Hypothesis& h : hyps_) {
    if (!h.alive) continue;
    if (std::abs(slot - h.fired) <= jitter_) continue;  // the same firing, logged apart
    if (std::abs(slot - h.next()) <= jitter_) {
      h.fired = h.next();
    } else {
      h.alive = false;  // off its grid
    }
  }
  std::erase_if(hyps_, [](const Hypothesis& h) { return !h.alive; });
}

std::optional<TimerDetector::Firing> TimerDetector::NextFiring(int64_t now_ms) {
  Expire(FloorDiv(now_ms, slot_ms_));
  std::erase_if(hyps_, [](const Hypothesis& h) { return !h.alive; });
  std::optional<int64_t> best;
  for (const Hypothesis& h : hyps_) {
    if (!best || h.next() < *best) best = h.next();
  }
  if (!best) return std::nullopt;
  return Firing{(*best - jitter_) * slot_ms_, (*best + jitter_ + 1) * slot_ms_};
}

size_t TimerDetector::alive() const {
  return static_cast<size_t>(std::count_if(hyps_.begin(), hyps_.end(), [](const Hypothesis& h) { return h.alive; }));
}

void TimerDetector::Apply(ViewKey& key, int64_t now_ms, double cold_cost_s, double start_s,
                          uint32_t source) {
  std::erase_if(key.windows, [&](const PrefetchWindow& w) { return w.source == source; });
  std::optional<Firing> next = NextFiring(now_ms);
  if (!next) return;
  if (cold_cost_s < static_cast<double>(next->end_ms - next->start_ms) / 1000.0 + start_s) return;
  PrefetchWindow win;
  win.start_ms = next->start_ms;
  win.end_ms = next->end_ms;
  win.target = 1;
  win.received_ms = now_ms;
  win.source = source;
  key.windows.push_back(std::move(win));
}

}  // namespace prewarm::orchestrator
