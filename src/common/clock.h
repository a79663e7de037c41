// Time as a dependency: RealClock in production, ManualClock in tests and the simulator.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace prewarm {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual int64_t NowMs() const = 0;
};

// Wall-clock time that does not step. Leases, keep-alives, node timeouts and keep-alive
// windows are all measured on a Clock; read from the system clock directly, one step of it
// (NTP or the hypervisor setting a virtual machine's clock) would expire every lease and
// every node at once, or freeze them all when it goes back. So the time is monotonic time
// plus an offset to the Unix epoch, and the offset follows the wall clock at no more than
// kSlewDivisor-th of the elapsed time (5 %: a step of 17 s is absorbed in under 6 minutes,
// during which the clock runs at 1.05x or 0.95x), as chrony slews. A difference of more
// than kStepAboveUs (a clock that was wrong when the process started) is taken at once.
class SlewedClock final : public Clock {
 public:
  // Microsecond readings: the wall clock (since the Unix epoch) and a monotonic one.
  using Reading = int64_t (*)();
  static constexpr int64_t kSlewDivisor = 20;
  static constexpr int64_t kStepAboveUs = 600'000'000;
  static constexpr int64_t kUpdateEveryUs = 10'000;

  SlewedClock(Reading wall_us, Reading monotonic_us)
      : wall_(wall_us),
        monotonic_(monotonic_us),
        offset_us_(wall_us() - monotonic_us()),
        updated_us_(monotonic_us()) {}

  int64_t NowMs() const override { return NowUs() / 1000; }

  int64_t NowUs() const {
    const int64_t mono = monotonic_();
    // One thread at a time moves the offset, at most every kUpdateEveryUs; readers never
    // wait. A reader that raced an update may see a time up to dt / kSlewDivisor early.
    if (mono - updated_us_.load(std::memory_order_acquire) >= kUpdateEveryUs &&
        update_.try_lock()) {
      std::lock_guard<std::mutex> hold(update_, std::adopt_lock);
      const int64_t dt = mono - updated_us_.load(std::memory_order_relaxed);
      if (dt > 0) {
        const int64_t off = offset_us_.load(std::memory_order_relaxed);
        const int64_t error = wall_() - mono - off;
        const int64_t most = dt / kSlewDivisor;
        const bool step = error > kStepAboveUs || error < -kStepAboveUs;
        offset_us_.store(off + (step ? error : std::clamp(error, -most, most)),
                         std::memory_order_relaxed);
        updated_us_.store(mono, std::memory_order_release);
      }
    }
    return mono + offset_us_.load(std::memory_order_acquire);
  }

 private:
  Reading wall_;
  Reading monotonic_;
  mutable std::atomic<int64_t> offset_us_;
  mutable std::atomic<int64_t> updated_us_;
  mutable std::mutex update_;
};

class RealClock final : public Clock {
 public:
  int64_t NowMs() const override { return clock_.NowMs(); }
  static RealClock& Get() {
    static RealClock clock;
    return clock;
  }

 private:
  static int64_t Us(auto now) {
    using namespace std::chrono;
    return duration_cast<microseconds>(now.time_since_epoch()).count();
  }
  static int64_t WallUs() { return Us(std::chrono::system_clock::now()); }
  static int64_t MonotonicUs() { return Us(std::chrono::steady_clock::now()); }
  SlewedClock clock_{&WallUs, &MonotonicUs};
};

// Deterministic time: only Advance()/Set() move it.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ms = 1'700'000'000'000) : now_ms_(start_ms) {}
  int64_t NowMs() const override { return now_ms_.load(); }
  void Advance(int64_t ms) { now_ms_.fetch_add(ms); }
  void Set(int64_t ms) { now_ms_.store(ms); }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace prewarm
