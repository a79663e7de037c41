#include "common/metrics.h"

#include <algorithm>
#include <cassert>
#include <sstream>

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

void MetricsText::Add(double value, const MetricLabels& labels) {
  assert(!families_.empty());
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
