// Ring: the newest `capacity` values pushed, oldest first. For the bounded histories the
// dashboard keeps (samples, prefetch windows, reconciler decisions). Not thread-safe: its
// owner guards it.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace prewarm::orchestrator {

template <class T>
class Ring {
 public:
  explicit Ring(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {
    items_.reserve(capacity_);
  }

  // Adds `v`, dropping the oldest value when full.
  void Push(T v) {
    if (items_.size() < capacity_) {
      items_.push_back(std::move(v));
      return;
    }
    items_[head_] = std::move(v);
    head_ = (head_ + 1) % capacity_;
  }
  size_t size() const { return items_.size(); }
  size_t capacity() const { return capacity_; }
  bool empty() const { return items_.empty(); }
  // The i-th oldest value (0 <= i < size()).
  const T& operator[](size_t i) const { return items_[(head_ + i) % items_.size()]; }
  const T& back() const { return (*this)[items_.size() - 1]; }
  std::vector<T> ToVector() const {
    std::vector<T> out;
    out.reserve(items_.size());
    for (size_t i = 0; i < items_.size(); ++i) out.push_back((*this)[i]);
    return out;
  }

 private:
  size_t capacity_;
  size_t head_ = 0;  // index of the oldest value once full
  std::vector<T> items_;
};

}  // namespace prewarm::orchestrator
