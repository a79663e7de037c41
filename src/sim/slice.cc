#include "sim/slice.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "fmt/format.h"

namespace prewarm::sim {

absl::StatusOr<Workload> Slice(const Workload& w, const SliceSpec& s) {
  const auto total = static_cast<int64_t>(w.steps());
  if (s.from_step < 0 || s.from_step >= total) {
    return absl::InvalidArgumentError(fmt::format(
        "slice starts at step {}, but the workload has steps 0..{}", s.from_step, total - 1));
  }
  const int64_t steps = s.steps < 0 ? total - s.from_step : s.steps;
  if (steps == 0 || s.from_step + steps > total) {
    return absl::InvalidArgumentError(
        fmt::format("slice of {} steps from step {} does not fit the workload's {}", steps,
                    s.from_step, total));
  }
  if (s.busiest < 0 || s.sparse < 0) {
    return absl::InvalidArgumentError("slice: key counts must be >= 0");
  }
  std::vector<uint64_t> arrivals(w.keys.size(), 0);
  for (size_t k = 0; k < w.keys.size(); ++k) {
    for (int64_t t = s.from_step; t < s.from_step + steps; ++t) arrivals[k] += w.counts[k][t];
  }
  std::vector<bool> keep(w.keys.size(), s.busiest == 0 && s.sparse == 0);
  if (s.busiest > 0 || s.sparse > 0) {
    std::vector<size_t> order(w.keys.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return arrivals[a] > arrivals[b]; });
    const auto active = static_cast<int>(
        std::count_if(arrivals.begin(), arrivals.end(), [](uint64_t a) { return a > 0; }));
    if (s.busiest > active) {
      return absl::InvalidArgumentError(
          fmt::format("slice: {} busiest keys asked for, but only {} have arrivals in the window",
                      s.busiest, active));
    }
    for (int i = 0; i < s.busiest; ++i) keep[order[i]] = true;
    std::vector<size_t> rest(order.begin() + s.busiest, order.end());
    std::stable_sort(rest.begin(), rest.end(), [&](size_t a, size_t b) {
      return arrivals[a] != arrivals[b] ? arrivals[a] < arrivals[b] : a < b;
    });
    int taken = 0;
    for (size_t k : rest) {
      if (taken == s.sparse) break;
      if (arrivals[k] < s.sparse_min) continue;
      keep[k] = true;
      ++taken;
    }
    if (taken < s.sparse) {
      return absl::InvalidArgumentError(fmt::format(
          "slice: {} sparse keys asked for, but only {} others have >= {} arrivals in the window",
          s.sparse, taken, s.sparse_min));
    }
  }
  Workload out;
  out.name = w.name;
  out.step_ms = w.step_ms;
  out.start_unix_ms = w.start_unix_ms + s.from_step * w.step_ms;
  out.regions = w.regions;
  for (size_t k = 0; k < w.keys.size(); ++k) {
    if (!keep[k]) continue;
    out.keys.push_back(w.keys[k]);
    out.counts.emplace_back(w.counts[k].begin() + s.from_step,
                            w.counts[k].begin() + s.from_step + steps);
  }
  out.report = w.report;
  out.bad_lines = w.bad_lines;
  std::string cut = fmt::format("sliced to steps {}..{} and {} of {} keys", s.from_step,
                                s.from_step + steps - 1, out.keys.size(), w.keys.size());
  out.report = out.report.empty() ? cut : out.report + "; " + cut;
  return out;
}

absl::StatusOr<Workload> Compress(const Workload& w, const Compression& c) {
  if (!(c.speed > 0) || !std::isfinite(c.speed)) {
    return absl::InvalidArgumentError(fmt::format("--speed {} must be > 0", c.speed));
  }
  if (!(c.service_s >= 0) || !std::isfinite(c.service_s)) {
    return absl::InvalidArgumentError(
        fmt::format("service time under --speed must be >= 0 s, not {}", c.service_s));
  }
  if (!(c.memory_mb >= 0) || !std::isfinite(c.memory_mb)) {
    return absl::InvalidArgumentError(
        fmt::format("memory under --speed must be >= 0 MB, not {}", c.memory_mb));
  }
  if (c.speed == 1) return w;
  if (!w.invocations.empty()) {
    return absl::InvalidArgumentError(
        "--speed compresses arrivals; the minute model has none to compress");
  }
  const double step = static_cast<double>(w.step_ms) / c.speed;
  if (step < 1 || std::abs(step - std::round(step)) > 1e-9 * step) {
    return absl::InvalidArgumentError(
        fmt::format("--speed {} does not divide the trace's step of {} ms into whole "
                    "milliseconds",
                    c.speed, w.step_ms));
  }
  Workload out = w;
  out.step_ms = std::llround(step);
  out.speed = w.speed * c.speed;
  for (KeySpec& k : out.keys) {
    // One knot: a constant that still takes one draw, so the arrival times stay the seed's.
    k.service = ServiceTime{{{1.0, c.service_s}}, c.service_s};
    if (c.memory_mb > 0) k.memory_mb = c.memory_mb;
    if (c.concurrency > 0) k.concurrency = c.concurrency;
  }
  std::string clause = fmt::format(
      "compressed {:g}x: steps of {} ms, every arrival served in {:g} ms (the live workload's "
      "answer, not the trace's duration){}{}",
      c.speed, out.step_ms, c.service_s * 1000,
      c.memory_mb > 0 ? fmt::format(", every instance {:g} MB (the live template's)", c.memory_mb)
                      : "",
      c.concurrency > 0 ? fmt::format(", {} requests at once per instance", c.concurrency) : "");
  out.report = out.report.empty() ? clause : out.report + "; " + clause;
  return out;
}

}  // namespace prewarm::sim
