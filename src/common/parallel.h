// ParallelFor: independent jobs (simulator runs, backtest origins) on a few threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace prewarm {

// Called after each finished job, one call at a time: `done` counts up to `total`.
using ProgressFn = std::function<void(size_t done, size_t total)>;

// Runs fn(i) once for each i in [0, n) on up to `threads` threads, the caller's among them;
// returns when all have run. Jobs are taken in index order; each writes only its own
// results, so what they compute does not depend on `threads`.
template <typename Fn>
void ParallelFor(size_t n, int threads, Fn&& fn, const ProgressFn& on_done = {}) {
  std::atomic<size_t> next{0};
  std::mutex mu;
  size_t done = 0;
  auto worker = [&] {
    for (size_t i = next++; i < n; i = next++) {
      fn(i);
      if (on_done) {
        std::lock_guard<std::mutex> l(mu);
        on_done(++done, n);
      }
    }
  };
  const size_t count =
      std::clamp<size_t>(static_cast<size_t>(std::max(threads, 1)), 1, std::max<size_t>(n, 1));
  std::vector<std::thread> pool;
  for (size_t t = 1; t < count; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
}

}  // namespace prewarm
