// SeriesStore: live request counts per (region, template) at a fixed step, built from the
// orchestrator's event batches. A step the forecaster was connected for is observed (0 when
// no event came); a step it missed is a gap (NaN) until a backlog replay fills it.
#pragma once

#include <cmath>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "forecast/series.h"

namespace prewarm::forecast {

using SeriesKey = std::pair<std::string, std::string>;  // (region, template)

class SeriesStore {
 public:
  SeriesStore(int64_t step_ms, size_t capacity_steps)
      : step_ms_(step_ms), capacity_(capacity_steps) {}

  // Adds `count` arrivals at `unix_ms` for `key`.
  void Add(const SeriesKey& key, int64_t unix_ms, double count);
  // Marks [from_ms, to_ms) as observed for every key (connected to the feed).
  void MarkObserved(int64_t from_ms, int64_t to_ms);
  // Seeds history (e.g. from --history files): values at this store's step, from
  // `from_ms` on (earlier values are skipped: a restored state already holds them).
  void Seed(const SeriesKey& key, const Series& s,
            int64_t from_ms = std::numeric_limits<int64_t>::min());

  // Everything the store holds, for the state file (state_file.h).
  struct Image {
    struct Track {
      SeriesKey key;
      int64_t first_step = 0;     // step index of counts[0]
      std::vector<float> counts;  // NaN: not seen
    };
    std::vector<Track> tracks;
    std::vector<std::pair<int64_t, int64_t>> observed;  // step ranges [a, b), sorted
  };
  Image Export() const;
  // Replaces the contents with `image`, keeping the newest `capacity` steps of each track.
  void Import(Image image);

  // The series for `key` up to (excluding) the step containing `now_ms`: complete steps only;
  // from the step containing `from_ms` on (or the first kept step, if later).
  Series Snapshot(const SeriesKey& key, int64_t now_ms,
                  int64_t from_ms = std::numeric_limits<int64_t>::min()) const;
  // What a planner checks before forecasting a key, without copying its history: counting
  // back from the last complete step before `now_ms`, the number of observed steps (up to
  // `enough`), and the sum and number of the last `recent` observed steps.
  struct Recent {
    size_t observed = 0;
    double sum = 0;
    size_t n = 0;
  };
  Recent Summary(const SeriesKey& key, int64_t now_ms, size_t recent, size_t enough) const;
  std::vector<SeriesKey> Keys() const;
  int64_t step_ms() const { return step_ms_; }

 private:
  // Counts per step, in a deque that grows and drops old steps without copying. Most
  // series count a few arrivals a step, so a track keeps 2 bytes a step (whole counts to
  // 65,534; 0xFFFF is a gap) until a count does not fit; then the whole track turns to
  // float, exact to 2^24 arrivals a step. 10,000 keys x 1,440 steps fit in ~29 MB.
  class StepCounts {
   public:
    size_t size() const { return wide_ ? floats_.size() : codes_.size(); }
    bool empty() const { return size() == 0; }
    double at(size_t i) const;  // kMissing for a gap
    void set(size_t i, float v);
    void push_front_gaps(size_t n);
    void pop_front(size_t n);
    void resize(size_t n);  // new steps are gaps
    std::vector<float> ToFloats() const;
    void Assign(std::span<const float> v);
    // f(value) on steps i, i-1, ..., 0 while it returns true.
    template <class F>
    void Backward(size_t i, F f) const {
      if (wide_) {
        for (auto it = floats_.rend() - static_cast<std::ptrdiff_t>(i) - 1; it != floats_.rend();
             ++it) {
          if (!f(static_cast<double>(*it))) return;
        }
        return;
      }
      for (auto it = codes_.rend() - static_cast<std::ptrdiff_t>(i) - 1; it != codes_.rend();
           ++it) {
        if (!f(Decode(*it))) return;
      }
    }

   private:
    static constexpr uint16_t kGap = 0xFFFF;
    static double Decode(uint16_t c) { return c == kGap ? kMissing : static_cast<double>(c); }
    static uint16_t Encode(float v) {  // v must fit: Fits(v)
      return std::isnan(v) ? kGap : static_cast<uint16_t>(v);
    }
    static bool Fits(float v) {
      return std::isnan(v) || (v >= 0 && v < kGap && v == std::floor(v));
    }
    void Widen();

    bool wide_ = false;
    std::deque<uint16_t> codes_;  // while !wide_
    std::deque<float> floats_;    // once wide_ (NaN: gap)
  };
  struct Track {
    int64_t first_step = 0;  // step index of counts[0]
    StepCounts counts;
  };
  int64_t StepOf(int64_t unix_ms) const { return unix_ms / step_ms_; }
  void Ensure(Track& t, int64_t step) const;
  bool Observed(int64_t step) const;
  double ValueAt(const Track& t, int64_t step) const;  // kMissing, 0 if observed, or the count

  const int64_t step_ms_;
  const size_t capacity_;
  mutable std::mutex mu_;
  std::map<SeriesKey, Track> tracks_;                  // guarded by mu_
  std::vector<std::pair<int64_t, int64_t>> observed_;  // step ranges [a, b), guarded by mu_
};

}  // namespace prewarm::forecast
