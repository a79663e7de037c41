// MemoryKv's watches. Each watch has a thread that waits for the store's revision to pass
// the next one it owes, reads those revisions from the history and runs the sink outside
// the lock. Nothing is queued per watch: a slow sink only falls behind in the history, and
// once the history no longer reaches back to it, it gets a resync batch, as a slow etcd
// watcher whose revisions were compacted does.
#include <algorithm>
#include <cstdlib>

#include "common/status.h"
#include "spdlog/spdlog.h"
#include "store/memory_kv.h"
#include "store/memory_kv_internal.h"

namespace prewarm::store {

absl::StatusOr<std::unique_ptr<WatchHandle>> MemoryKv::Watch(std::string prefix,
                                                             int64_t from_revision,
                                                             WatchSink sink) {
  RETURN_IF_ERROR(Delay(0));
  Watcher* w = nullptr;
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(EnterLocked());
    auto owned = std::make_unique<Watcher>();
    w = owned.get();
    w->prefix = std::move(prefix);
    w->next_revision = from_revision > 0 ? from_revision : revision_ + 1;
    w->sink = std::move(sink);
    w->thread = std::thread(&MemoryKv::WatchLoop, this, w);  // it waits for mu_
    watchers_.push_back(std::move(owned));
  }
  return watches_.Add([this, w] { StopWatcher(w); });
}

void MemoryKv::WatchLoop(Watcher* w) {
  for (;;) {
    WatchBatch batch;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this, w]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return w->cancelled || (available_ && revision_ >= w->next_revision);
      };
      mu_.Await(absl::Condition(&ready));
      if (w->cancelled) {
        return;
      }
      batch = NextBatchLocked(*w);
    }
    if (batch.resync || !batch.events.empty()) {
      w->sink(batch);
    }
  }
}

WatchBatch MemoryKv::NextBatchLocked(Watcher& w) const {
  WatchBatch batch;
  if (w.next_revision < first_watchable_) {
    batch.resync = true;
    batch.revision = revision_;
    for (KeyValue& kv : RangeLocked(w.prefix, true)) {
      batch.events.push_back({WatchEvent::Type::kPut, std::move(kv)});
    }
  } else {
    auto it =
        std::lower_bound(history_.begin(), history_.end(), w.next_revision,
                         [](const Change& c, int64_t revision) { return c.revision < revision; });
    for (; it != history_.end(); ++it) {
      for (const WatchEvent& ev : it->events) {
        if (!ev.kv.key.starts_with(w.prefix)) {
          continue;
        }
        batch.events.push_back(ev);
        batch.revision = it->revision;
      }
    }
  }
  w.next_revision = revision_ + 1;
  return batch;
}

void MemoryKv::StopWatcher(Watcher* w) {
  if (w->thread.get_id() == std::this_thread::get_id()) {
    spdlog::critical("store: a watch sink destroyed its own WatchHandle (kv.h forbids it)");
    std::abort();
  }
  {
    absl::MutexLock lock(&mu_);
    w->cancelled = true;
  }
  w->thread.join();
  absl::MutexLock lock(&mu_);
  std::erase_if(watchers_, [w](const std::unique_ptr<Watcher>& p) { return p.get() == w; });
}

}  // namespace prewarm::store
