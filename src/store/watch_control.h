// WatchControl: what a WatchHandle and its store share, so that a watch is stopped exactly
// once whichever of the two goes first. Internal to src/store.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "store/kv.h"

namespace prewarm::store {

class WatchControl {
 public:
  explicit WatchControl(std::function<void()> stop) : stop_(std::move(stop)) {}
  // Runs `stop` the first time; a concurrent caller waits until it has finished, so when
  // Stop returns the watch's sink is not running and never will again.
  void Stop();

 private:
  absl::Mutex mu_;
  std::function<void()> stop_ ABSL_GUARDED_BY(mu_);
};

// The handle given to callers: destroying it stops the watch.
class ControlledWatchHandle final : public WatchHandle {
 public:
  explicit ControlledWatchHandle(std::shared_ptr<WatchControl> control)
      : control_(std::move(control)) {}
  ~ControlledWatchHandle() override { control_->Stop(); }

 private:
  std::shared_ptr<WatchControl> control_;
};

// The store's side: every watch it started, so its destructor can stop those whose
// handles are still alive (a handle that outlives its store then does nothing).
class WatchRegistry {
 public:
  std::unique_ptr<WatchHandle> Add(std::function<void()> stop);
  void StopAll();

 private:
  absl::Mutex mu_;
  std::vector<std::weak_ptr<WatchControl>> controls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace prewarm::store
