// The time Authority::Answer takes, sampled: 1 query in kSampleEvery per thread (the first
// of each thread, then every 64th) is timed with the vDSO's monotonic clock (~20 ns, paid
// by 1 query in 64) and counted in a histogram owned by that thread. A scrape merges them.
//
// Nothing on the hot path is shared between threads: the sampling countdown and the
// shard belong to the thread; its bucket counts are atomics with one writer, bumped by a
// relaxed load and store (no read-modify-write, no bouncing cache line), read by the
// scrape. A thread's first query on a timer registers its shard under a mutex, once.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/histogram.h"

namespace prewarm::dns {

class AnswerTimer {
 public:
  static constexpr uint32_t kSampleEvery = 64;

  struct Shard;
  // A started measurement; inactive (shard null) when this query is not sampled.
  struct Sample {
    Shard* shard = nullptr;
    std::chrono::steady_clock::time_point start;
  };

  AnswerTimer();
  ~AnswerTimer();
  AnswerTimer(const AnswerTimer&) = delete;
  AnswerTimer& operator=(const AnswerTimer&) = delete;

  // On every query, by the answering thread.
  Sample Start();
  void Finish(const Sample& sample);

  // Every thread's samples, merged (seconds; buckets::kDnsAnswer).
  HistogramData Snapshot() const;

 private:
  Shard* ThisThreadShard();
  Shard* Register();
  static void Record(Shard& s, std::chrono::steady_clock::duration d);

  const uint64_t id_;  // unique per timer, so a thread's cached shard is never a dead timer's
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Shard>> shards_ ABSL_GUARDED_BY(mu_);
};

struct alignas(64) AnswerTimer::Shard {
  static constexpr size_t kBuckets = 12;  // buckets::kDnsAnswer and +Inf
  uint32_t countdown = 0;                 // the owning thread's only
  std::array<std::atomic<uint64_t>, kBuckets> counts{};
  std::atomic<uint64_t> sum_ns{0};
};

inline AnswerTimer::Sample AnswerTimer::Start() {
  Shard* s = ThisThreadShard();
  if (s->countdown != 0) {
    --s->countdown;
    return {};
  }
  s->countdown = kSampleEvery - 1;
  return {s, std::chrono::steady_clock::now()};
}

inline void AnswerTimer::Finish(const Sample& sample) {
  if (sample.shard != nullptr) {
    Record(*sample.shard, std::chrono::steady_clock::now() - sample.start);
  }
}

}  // namespace prewarm::dns
