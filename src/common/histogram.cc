#include "common/histogram.h"

#include <algorithm>
#include <cassert>
#include <numeric>

namespace prewarm {

HistogramData::HistogramData(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {
  assert(std::is_sorted(bounds_.begin(), bounds_.end()));
}

size_t HistogramData::BucketOf(double value) const {
  return static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                             bounds_.begin());
}

void HistogramData::Observe(double value) {
  ++counts_[BucketOf(value)];
  sum_ += value;
}

void HistogramData::AddToBucket(size_t i, uint64_t n) {
  counts_[std::min(i, counts_.size() - 1)] += n;
}

bool HistogramData::Merge(const HistogramData& other) {
  if (other.bounds_ != bounds_) return false;
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  sum_ += other.sum_;
  return true;
}

uint64_t HistogramData::count() const {
  return std::accumulate(counts_.begin(), counts_.end(), uint64_t{0});
}

}  // namespace prewarm
