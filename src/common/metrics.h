// The one writer of Prometheus text for every /metrics endpoint. Families are built at
// scrape time from the daemon's own counters; prometheus-cpp's serialiser writes them, so
// label values and help text are escaped exactly as the text exposition format requires
// (a region named `eu"west` cannot break the scrape).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/histogram.h"
#include "prometheus/metric_family.h"

namespace prewarm {

// Label name and value pairs of one sample, in the order they are written.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class MetricsText {
 public:
  // Starts a family; the samples added next belong to it. `help` is one line of plain text
  // (a backslash or newline in it becomes a space).
  void Counter(std::string name, std::string help);
  void Gauge(std::string name, std::string help);
  // A histogram family: `name` ends in the base unit (`_seconds`); its samples are added
  // with Add(const HistogramData&, ...).
  void Histogram(std::string name, std::string help);
  // A sample of the family started last (at least one must have been): a counter or
  // gauge value, or one histogram (its buckets cumulative, with +Inf, _sum and _count).
  void Add(double value, const MetricLabels& labels = {});
  void Add(const HistogramData& h, const MetricLabels& labels = {});
  // `prewarm_build_info{version,revision} 1`: every daemon writes it (common/version.h).
  void BuildInfo();
  // The text exposition format (version 0.0.4).
  std::string Render() const;

 private:
  void Start(std::string name, prometheus::MetricType type, std::string help);
  std::vector<prometheus::MetricFamily> families_;
};

}  // namespace prewarm
