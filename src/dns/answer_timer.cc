#include "dns/answer_timer.h"

#include <algorithm>
#include <cassert>

namespace prewarm::dns {
namespace {

std::atomic<uint64_t> next_timer_id{1};

// The shard this thread used last, and of which timer: one compare on the hot path.
struct CachedShard {
  uint64_t timer_id = 0;
  AnswerTimer::Shard* shard = nullptr;
};
thread_local CachedShard last_used;
// Every shard this thread registered (a thread may answer for several timers: tests).
thread_local std::vector<CachedShard> registered;

// One writer: a relaxed load and store, never a read-modify-write.
void Bump(std::atomic<uint64_t>& v, uint64_t by) {
  v.store(v.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

}  // namespace

AnswerTimer::AnswerTimer() : id_(next_timer_id.fetch_add(1, std::memory_order_relaxed)) {
  assert(buckets::kDnsAnswer.size() + 1 == Shard::kBuckets);
}

AnswerTimer::~AnswerTimer() = default;

AnswerTimer::Shard* AnswerTimer::ThisThreadShard() {
  if (last_used.timer_id == id_) return last_used.shard;
  for (const CachedShard& c : registered) {
    if (c.timer_id == id_) {
      last_used = c;
      return c.shard;
    }
  }
  return Register();
}

AnswerTimer::Shard* AnswerTimer::Register() {
  Shard* s = nullptr;
  {
    std::lock_guard<std::mutex> l(mu_);
    shards_.push_back(std::make_unique<Shard>());
    s = shards_.back().get();
  }
  // Ids of timers gone are never seen again; keep the list short for long-lived threads.
  if (registered.size() >= 16) registered.erase(registered.begin());
  registered.push_back({id_, s});
  last_used = registered.back();
  return s;
}

void AnswerTimer::Record(Shard& s, std::chrono::steady_clock::duration d) {
  const uint64_t ns = static_cast<uint64_t>(
      std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()));
  const std::vector<double>& bounds = buckets::kDnsAnswer;
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(bounds.begin(), bounds.end(), static_cast<double>(ns) * 1e-9) -
      bounds.begin());
  Bump(s.counts[bucket], 1);
  Bump(s.sum_ns, ns);
}

HistogramData AnswerTimer::Snapshot() const {
  HistogramData h(buckets::kDnsAnswer);
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& s : shards_) {
    for (size_t i = 0; i < Shard::kBuckets; ++i) {
      h.AddToBucket(i, s->counts[i].load(std::memory_order_relaxed));
    }
    h.AddToSum(static_cast<double>(s->sum_ns.load(std::memory_order_relaxed)) * 1e-9);
  }
  return h;
}

}  // namespace prewarm::dns
