// Policies by name, their sweep knobs, and running many independent simulations of one
// workload on a few threads: what `prewarm sim` and `prewarm sim --sweep` are made of.
//
// Every policy is built through MakePolicy, so the CLI, the tests and the benchmarks run
// the same configurations. A sweep varies one knob per policy (SweepFor) over the values
// that trace its cold-start vs wasted-memory curve; the knob's default value is one of
// them, so the policy's default point lies on its curve.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/parallel.h"
#include "sim/sim.h"

namespace prewarm::sim {

// predictive, fixed-keepalive, hybrid-histogram, reactive-kpa, oracle.
const std::vector<std::string>& PolicyNames();

// Builds policy `name` with its knobs (unknown policy or knob: InvalidArgument naming the
// valid ones).
absl::StatusOr<std::unique_ptr<Policy>> MakePolicy(
    const std::string& name, const std::map<std::string, std::string>& params);

// The knob a sweep varies for one policy, the values it takes and the policy's default.
struct SweepAxis {
  std::string knob;
  std::vector<std::string> values;  // in the order that traces the curve
  std::string default_value;        // one of `values`
};
absl::StatusOr<SweepAxis> SweepFor(const std::string& name);

// `params` with the policy's sweep knob set to its default when absent: the same run
// spelled the same way, so that identical runs are recognised (and run once).
std::map<std::string, std::string> CanonicalParams(const std::string& name,
                                                   std::map<std::string, std::string> params);

// One simulation to run: a policy configuration, and where it sits in a sweep.
struct RunSpec {
  std::string policy;
  std::map<std::string, std::string> params;  // canonical (CanonicalParams)
  std::string knob, value;                    // swept knob and its value; empty otherwise
};

// The runs of a sweep of `policies`: each over its SweepAxis with `base` params (per policy)
// under the swept value. The swept knob given in `base` is an error (it is what varies).
absl::StatusOr<std::vector<RunSpec>> SweepRuns(
    const std::vector<std::string>& policies,
    const std::map<std::string, std::map<std::string, std::string>>& base);

// A list of runs in which the same run (policy and canonical params) appears once.
class RunSet {
 public:
  // Index of `r` in runs(), added unless already there (a sweep point keeps its knob).
  size_t Add(RunSpec r);
  const std::vector<RunSpec>& runs() const { return runs_; }

 private:
  std::vector<RunSpec> runs_;
};

// The reference every wasted-memory figure is normalised to: fixed 10-minute keep-alive.
RunSpec ReferenceRun();
// The hybrid-histogram at its defaults: its wasted memory is the budget the goal is read at.
RunSpec BudgetRun();

// Runs `runs` on `w` with `config`, each with its own Simulator and policy, on up to
// `threads` threads (the workload is shared read-only). Results come back in the order of
// `runs` and do not depend on `threads`. Policies are built (and their knobs checked)
// before any run starts. `on_run_done(done, total)`, when given, is called once per finished
// run (one call at a time, `done` counting up to `total`): the CLI's progress line.
using RunProgress = ProgressFn;
absl::StatusOr<std::vector<SimResult>> RunAll(const Workload& w, const SimConfig& config,
                                              const std::vector<RunSpec>& runs, int threads,
                                              const RunProgress& on_run_done = {});

}  // namespace prewarm::sim
