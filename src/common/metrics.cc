#include "common/metrics.h"

#include <algorithm>
#include <cassert>
#include <limits>
#include <sstream>

#include "common/version.h"
#include "prometheus/text_serializer.h"

namespace prewarm {

void MetricsText::Start(std::string name, prometheus::MetricType type, std::string help) {
  // prometheus-cpp 1.0 (Debian 12) escapes label values but writes HELP as given, where the
  // format wants \\ and \n escaped. Help is our own text: keep it to one plain line.
  std::replace_if(
      help.begin(), help.end(), [](char c) { return c == '\\' || c == '\n'; }, ' ');
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  families_.push_back(std::move(f));
}

void MetricsText::Counter(std::string name, std::string help) {
  Start(std::move(name), prometheus::MetricType::Counter, std::move(help));
}

void MetricsText::Gauge(std::string name, std::string help) {
  Start(std::move(name), prometheus::MetricType::Gauge, std::move(help));
}

void MetricsText::Histogram(std::string name, std::string help) {
  Start(std::move(name), prometheus::MetricType::Histogram, std::move(help));
}

void MetricsText::Add(const HistogramData& h, const MetricLabels& labels) {
  assert(!families_.empty() && families_.back().type == prometheus::MetricType::Histogram);
  prometheus::ClientMetric m;
  for (const auto& [name, v] : labels) m.label.push_back({name, v});
  uint64_t cumulative = 0;
  const std::vector<uint64_t>& counts = h.counts();
  for (size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    const double le =
        i < h.bounds().size() ? h.bounds()[i] : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back({cumulative, le});
  }
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = h.sum();
  families_.back().metric.push_back(std::move(m));
}

void MetricsText::BuildInfo() {
  Gauge("prewarm_build_info",
        "Always 1: the version of prewarm this daemon runs and the git revision it was built "
        "from.");
  Add(1, {{"version", kVersionNumber}, {"revision", kRevision}});
}

void MetricsText::Add(double value, const MetricLabels& labels) {
  assert(!families_.empty() && families_.back().type != prometheus::MetricType::Histogram);
  prometheus::MetricFamily& f = families_.back();
  prometheus::ClientMetric m;
  for (const auto& [name, v] : labels) m.label.push_back({name, v});
  if (f.type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

std::string MetricsText::Render() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families_);
  return out.str();
}

}  // namespace prewarm
