// What `prewarm sim` prints and writes: a text table, JSON, the CSV of sweep points and an
// SVG plot of the trade-off curves (drawn by hand: no plotting library).
//
// Wasted memory is normalised to a fixed 10-minute keep-alive run of the same workload
// (the ATC'20 paper's reference). In a sweep, each policy's curve is read at the wasted
// memory of the hybrid-histogram at its defaults (the "budget"), interpolating linearly
// between the two sweep points around it: the goal is prewarm's p75 cold-start
// rate at that budget against the hybrid-histogram's.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sim/factory.h"
#include "sim/sim.h"

namespace prewarm::sim {

struct RunReport {
  RunSpec spec;
  SimResult result;
  double wasted_norm = 0;  // wasted / the reference's wasted; NaN without a reference
};

struct Report {
  // The workload and the simulated cluster, as (name, value) lines in print order.
  std::vector<std::pair<std::string, std::string>> setup;
  std::vector<RunReport> runs;  // the runs asked for (a sweep: every point, policy by policy)
  std::optional<RunReport> reference;  // fixed 10-minute keep-alive
  std::optional<RunReport> budget;     // hybrid-histogram at its defaults (sweeps)
  bool sweep = false;
};

// Builds a report: wasted_norm of every run against `reference` (NaN when absent or zero).
Report MakeReport(std::vector<std::pair<std::string, std::string>> setup,
                  std::vector<RunReport> runs, std::optional<RunReport> reference,
                  std::optional<RunReport> budget, bool sweep);

// One policy's curve read at a wasted-memory budget.
struct BudgetPoint {
  std::string policy;
  double x_min = 0, x_max = 0;     // the wasted_norm span of its sweep points
  std::optional<double> cold_p75;  // interpolated; none when the budget is outside the span
  std::optional<double> cold_rate;
};
// Per swept policy, in the order the policies first appear in `runs`.
std::vector<BudgetPoint> AtBudget(const std::vector<RunReport>& runs, double budget);

// The goal line(s): predictive against hybrid-histogram (and the oracle) at the budget;
// empty unless the report is a sweep with both curves and a budget.
std::string GoalLines(const Report& r);

std::string TextTable(const Report& r);
std::string Json(const Report& r);
// One row per run: policy, knob, value, params, then the metrics.
std::string Csv(const Report& r);

struct PlotOptions {
  double x_max = 0;  // right end of the wasted-memory axis; 0: fit every point
  std::string title;
};
// Two panels (p75 cold-start rate across keys; overall cold-start rate) against normalised
// wasted memory; in each, one <path class="curve"> per policy with a marker per point, the
// budget as a dashed vertical line, axes with ticks and labels, and a legend.
std::string Svg(const Report& r, const PlotOptions& options = {});

}  // namespace prewarm::sim
