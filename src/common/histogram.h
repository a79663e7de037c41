// Counts of observations in fixed buckets, with their sum: the data of one Prometheus
// histogram (in base units, e.g. seconds). A value type, not thread-safe: a daemon keeps
// it under its own mutex, or one per thread merged at scrape (dns/answer_timer.h).
// MetricsText::Add writes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace prewarm {

class HistogramData {
 public:
  // `upper_bounds`: finite and strictly increasing; a last +Inf bucket is implied.
  explicit HistogramData(std::vector<double> upper_bounds);
  HistogramData(std::initializer_list<double> upper_bounds)
      : HistogramData(std::vector<double>(upper_bounds)) {}

  void Observe(double value);
  // Adds another's counts and sum; it must have the same bounds (else nothing is added
  // and false is returned).
  bool Merge(const HistogramData& other);
  // Adds `n` observations to bucket `i` (0 .. bounds().size(), the last is +Inf) and
  // `sum` to the sum: for counts kept elsewhere (per thread) and merged here.
  void AddToBucket(size_t i, uint64_t n);
  void AddToSum(double sum) { sum_ += sum; }

  const std::vector<double>& bounds() const { return bounds_; }
  // Per bucket, not cumulative; bounds().size() + 1 entries (the last: above every bound).
  const std::vector<uint64_t>& counts() const { return counts_; }
  uint64_t count() const;
  double sum() const { return sum_; }
  // The bucket `value` falls in: the first whose upper bound is >= value.
  size_t BucketOf(double value) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
};

// Buckets, in seconds, shared by the daemons' histograms.
namespace buckets {
// Instance start (create -> ready): runc starts in ~10-40 ms, a QEMU guest under TCG in
// ~2.5 s, a template that installs packages at start in tens of seconds.
inline const std::vector<double> kInstanceStart = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                   2.5,  5,     10,   20,  30,   60,  120};
// An answer that needs a store round trip (the cold path's claim): memory store in
// microseconds, etcd on a LAN in milliseconds, its claim timeout at 0.3 s.
inline const std::vector<double> kStoreAnswer = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
// A DNS answer computed in memory: microseconds.
inline const std::vector<double> kDnsAnswer = {1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5,
                                               1e-4, 2.5e-4, 5e-4, 1e-3, 1e-2};
// A model refit: milliseconds (seasonal naive) to seconds (combinations on long series).
inline const std::vector<double> kRefit = {0.001, 0.005, 0.01, 0.05, 0.1, 0.25,
                                           0.5,   1,     2.5,  5,    10,  30};
}  // namespace buckets

}  // namespace prewarm
