#include "forecast/service/series_store.h"

#include <algorithm>
#include <limits>

namespace prewarm::forecast {

double SeriesStore::StepCounts::at(size_t i) const {
  return wide_ ? static_cast<double>(floats_[i]) : Decode(codes_[i]);
}

void SeriesStore::StepCounts::set(size_t i, float v) {
  if (!wide_ && !Fits(v)) Widen();
  if (wide_) {
    floats_[i] = v;
  } else {
    codes_[i] = Encode(v);
  }
}

void SeriesStore::StepCounts::push_front_gaps(size_t n) {
  if (wide_) {
    floats_.insert(floats_.begin(), n, std::numeric_limits<float>::quiet_NaN());
  } else {
    codes_.insert(codes_.begin(), n, kGap);
  }
}

void SeriesStore::StepCounts::pop_front(size_t n) {
  if (wide_) {
    floats_.erase(floats_.begin(), floats_.begin() + static_cast<std::ptrdiff_t>(n));
  } else {
    codes_.erase(codes_.begin(), codes_.begin() + static_cast<std::ptrdiff_t>(n));
  }
}

void SeriesStore::StepCounts::resize(size_t n) {
  if (wide_) {
    floats_.resize(n, std::numeric_limits<float>::quiet_NaN());
  } else {
    codes_.resize(n, kGap);
  }
}

std::vector<float> SeriesStore::StepCounts::ToFloats() const {
  std::vector<float> out;
  out.reserve(size());
  for (size_t i = 0; i < size(); ++i) out.push_back(static_cast<float>(at(i)));
  return out;
}

void SeriesStore::StepCounts::Assign(std::span<const float> v) {
  wide_ = !std::all_of(v.begin(), v.end(), Fits);
  codes_.clear();
  floats_.clear();
  if (wide_) {
    floats_.assign(v.begin(), v.end());
    return;
  }
  for (float x : v) codes_.push_back(Encode(x));
}

void SeriesStore::StepCounts::Widen() {
  for (uint16_t c : codes_) floats_.push_back(static_cast<float>(Decode(c)));
  codes_.clear();
  codes_.shrink_to_fit();
  wide_ = true;
}

void SeriesStore::Ensure(Track& t, int64_t step) const {
  if (t.counts.empty()) {
    t.first_step = step;
    t.counts.resize(1);
    return;
  }
  if (step < t.first_step) {
    // Older than what is kept and beyond the capacity behind the newest: nothing to keep.
    int64_t newest = t.first_step + static_cast<int64_t>(t.counts.size()) - 1;
    if (newest - step >= static_cast<int64_t>(capacity_)) return;
    size_t grow = static_cast<size_t>(t.first_step - step);
    t.counts.push_front_gaps(grow);
    t.first_step = step;
  }
  // Steps that fall out of the capacity go before the track grows, so a far jump ahead
  // never allocates more than the capacity.
  int64_t keep_from = step - static_cast<int64_t>(capacity_) + 1;
  if (keep_from > t.first_step) {
    size_t drop = static_cast<size_t>(
        std::min<int64_t>(keep_from - t.first_step, static_cast<int64_t>(t.counts.size())));
    t.counts.pop_front(drop);
    t.first_step = t.counts.empty() ? keep_from : t.first_step + static_cast<int64_t>(drop);
  }
  size_t idx = static_cast<size_t>(step - t.first_step);
  if (idx >= t.counts.size()) t.counts.resize(idx + 1);
}

void SeriesStore::Add(const SeriesKey& key, int64_t unix_ms, double count) {
  std::lock_guard<std::mutex> l(mu_);
  Track& t = tracks_[key];
  int64_t step = StepOf(unix_ms);
  Ensure(t, step);
  if (step < t.first_step) return;  // older than the capacity keeps
  auto i = static_cast<size_t>(step - t.first_step);
  double v = t.counts.at(i);
  // Clamped to float's range: an absurd count is kept as the largest, never as infinity.
  double sum = IsMissing(v) ? count : v + count;
  t.counts.set(i, static_cast<float>(std::clamp(
                      sum, 0.0, static_cast<double>(std::numeric_limits<float>::max()))));
}

void SeriesStore::MarkObserved(int64_t from_ms, int64_t to_ms) {
  std::lock_guard<std::mutex> l(mu_);
  int64_t a = StepOf(from_ms);
  int64_t b = StepOf(to_ms);
  if (b <= a) return;
  // Sorted, disjoint ranges. Several feeds mark overlapping ranges, not always in order.
  auto it = std::lower_bound(observed_.begin(), observed_.end(), std::make_pair(a, a));
  if (it != observed_.begin() && std::prev(it)->second >= a) --it;
  auto last = it;
  while (last != observed_.end() && last->first <= b) {
    a = std::min(a, last->first);
    b = std::max(b, last->second);
    ++last;
  }
  it = observed_.erase(it, last);
  observed_.insert(it, {a, b});
  if (observed_.size() > 4096) observed_.erase(observed_.begin());
}

bool SeriesStore::Observed(int64_t step) const {
  for (auto it = observed_.rbegin(); it != observed_.rend(); ++it) {
    if (step >= it->first && step < it->second) return true;
    if (step >= it->second) return false;
  }
  return false;
}

void SeriesStore::Seed(const SeriesKey& key, const Series& s, int64_t from_ms) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (!IsMissing(s.values[i]) && s.TimeAt(i) >= from_ms) Add(key, s.TimeAt(i), s.values[i]);
  }
}

SeriesStore::Image SeriesStore::Export() const {
  std::lock_guard<std::mutex> l(mu_);
  Image out;
  out.observed = observed_;
  out.tracks.reserve(tracks_.size());
  for (const auto& [key, t] : tracks_) {
    out.tracks.push_back({key, t.first_step, t.counts.ToFloats()});
  }
  return out;
}

void SeriesStore::Import(Image image) {
  std::lock_guard<std::mutex> l(mu_);
  tracks_.clear();
  for (Image::Track& t : image.tracks) {
    Track& dst = tracks_[t.key];
    size_t skip = t.counts.size() > capacity_ ? t.counts.size() - capacity_ : 0;
    dst.first_step = t.first_step + static_cast<int64_t>(skip);
    dst.counts.Assign(std::span<const float>(t.counts).subspan(skip));
  }
  observed_ = std::move(image.observed);
}

Series SeriesStore::Snapshot(const SeriesKey& key, int64_t now_ms, int64_t from_ms) const {
  std::lock_guard<std::mutex> l(mu_);
  Series out;
  out.name = key.first + "/" + key.second;
  out.step_ms = step_ms_;
  auto it = tracks_.find(key);
  if (it == tracks_.end() || it->second.counts.empty()) return out;
  const Track& t = it->second;
  int64_t end_step = StepOf(now_ms);  // the current, incomplete step is excluded
  int64_t from_step = from_ms <= t.first_step * step_ms_ ? t.first_step : StepOf(from_ms);
  out.start_ms = from_step * step_ms_;
  if (end_step > from_step) out.values.reserve(static_cast<size_t>(end_step - from_step));
  for (int64_t s = from_step; s < end_step; ++s) {
    out.values.push_back(ValueAt(t, s));
  }
  return out;
}

double SeriesStore::ValueAt(const Track& t, int64_t step) const {
  size_t idx = static_cast<size_t>(step - t.first_step);
  double v = idx < t.counts.size() ? t.counts.at(idx) : kMissing;
  if (IsMissing(v) && Observed(step)) v = 0;  // connected and nothing came: a real zero
  return v;
}

SeriesStore::Recent SeriesStore::Summary(const SeriesKey& key, int64_t now_ms, size_t recent,
                                         size_t enough) const {
  std::lock_guard<std::mutex> l(mu_);
  Recent out;
  auto it = tracks_.find(key);
  if (it == tracks_.end() || it->second.counts.empty()) return out;
  const Track& t = it->second;
  auto take = [&](double v) {
    if (IsMissing(v)) return;
    ++out.observed;
    if (out.n < recent) {
      out.sum += v;
      ++out.n;
    }
  };
  auto done = [&] { return out.observed >= enough && out.n >= recent; };
  // Steps past the track's end hold nothing: each is 0 if observed, else missing.
  const int64_t end = t.first_step + static_cast<int64_t>(t.counts.size());
  int64_t s = StepOf(now_ms) - 1;
  for (; s >= end && s >= t.first_step && !done(); --s) take(Observed(s) ? 0.0 : kMissing);
  if (s < t.first_step || s >= end) return out;
  // The kept steps, newest first, read through the deque's iterator (ValueAt's indexing
  // per step was most of a planner pass over 10,000 keys).
  if (done()) return out;
  t.counts.Backward(static_cast<size_t>(s - t.first_step), [&](double x) {
    if (IsMissing(x) && Observed(s)) x = 0;  // connected and nothing came: a real zero
    take(x);
    --s;
    return !done();
  });
  return out;
}

std::vector<SeriesKey> SeriesStore::Keys() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<SeriesKey> out;
  for (const auto& [k, t] : tracks_) out.push_back(k);
  return out;
}

}  // namespace prewarm::forecast
