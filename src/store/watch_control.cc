#include "store/watch_control.h"

#include <algorithm>

namespace prewarm::store {

void WatchControl::Stop() {
  absl::MutexLock lock(&mu_);
  if (stop_) {
    std::function<void()> stop = std::move(stop_);
    stop_ = nullptr;
    stop();  // under mu_ on purpose: a concurrent Stop must wait for this one to finish
  }
}

std::unique_ptr<WatchHandle> WatchRegistry::Add(std::function<void()> stop) {
  auto control = std::make_shared<WatchControl>(std::move(stop));
  absl::MutexLock lock(&mu_);
  std::erase_if(controls_, [](const std::weak_ptr<WatchControl>& c) { return c.expired(); });
  controls_.push_back(control);
  return std::make_unique<ControlledWatchHandle>(std::move(control));
}

void WatchRegistry::StopAll() {
  std::vector<std::weak_ptr<WatchControl>> controls;
  {
    absl::MutexLock lock(&mu_);
    controls.swap(controls_);
  }
  for (auto& weak : controls) {
    if (auto control = weak.lock()) {
      control->Stop();
    }
  }
}

}  // namespace prewarm::store
