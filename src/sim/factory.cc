#include "sim/factory.h"

#include <malloc.h>

#include <algorithm>

#include "absl/strings/str_join.h"
#include "common/parallel.h"
#include "common/status.h"
#include "fmt/format.h"
#include "sim/baselines.h"
#include "sim/policies.h"

namespace prewarm::sim {

const std::vector<std::string>& PolicyNames() {
  static const std::vector<std::string> kNames = {"predictive", "fixed-keepalive",
                                                  "hybrid-histogram", "reactive-kpa", "oracle"};
  return kNames;
}

absl::StatusOr<std::unique_ptr<Policy>> MakePolicy(
    const std::string& name, const std::map<std::string, std::string>& params) {
  if (name == "hybrid-histogram") {
    // engine=published (the default): the baseline as the paper describes it, each
    // instance's windows on timers (sim/baselines.h). engine=orchestrator: the same
    // decisions as the orchestrator carries them out, through KeyAutoscaler and the
    // reconciler (policy: hybrid-histogram in its config); the gap between the two is what
    // the live implementation changes.
    std::map<std::string, std::string> rest = params;
    const std::string engine = rest.count("engine") ? rest["engine"] : "published";
    rest.erase("engine");
    if (engine == "published") return MakeHybridHistogram(rest);
    if (engine != "orchestrator") {
      return absl::InvalidArgumentError(fmt::format(
          "--param engine={}: hybrid-histogram's engine is published or orchestrator", engine));
    }
    ASSIGN_OR_RETURN(ReconcilerPolicyOptions options, ParseReconcilerPolicy(name, rest));
    options.raw = params;
    return std::unique_ptr<Policy>(std::make_unique<ReconcilerPolicy>(std::move(options)));
  }
  if (name == "oracle") return MakeOracle(params);
  if (name == "predictive" || name == "fixed-keepalive" || name == "reactive-kpa") {
    ASSIGN_OR_RETURN(ReconcilerPolicyOptions options, ParseReconcilerPolicy(name, params));
    return std::unique_ptr<Policy>(std::make_unique<ReconcilerPolicy>(std::move(options)));
  }
  return absl::InvalidArgumentError(
      fmt::format("unknown policy '{}' ({})", name, absl::StrJoin(PolicyNames(), ", ")));
}

absl::StatusOr<SweepAxis> SweepFor(const std::string& name) {
  // Keep-alive lengths around the providers' 10-minute default. The curves are read between
  // points (the budget, "below everywhere"), so every policy gets points where its curve
  // bends: a few minutes of keep-alive or of cold-start price.
  if (name == "fixed-keepalive") {
    return SweepAxis{
        "keepalive_s",
        {"1m", "2m", "3m", "4m", "5m", "7m", "10m", "15m", "20m", "30m", "60m", "120m"},
        "10m"};
  }
  // Knative's scale-to-zero delay: its default is the stable window plus the 30-s grace
  // period (90 s); the same range as fixed keep-alive around it.
  if (name == "reactive-kpa") {
    return SweepAxis{
        "keepalive_s",
        {"30s", "1m", "90s", "2m", "3m", "4m", "5m", "7m", "10m", "15m", "20m", "30m", "60m"},
        "90s"};
  }
  // The price of a cold start in idle-instance time: it sets the learned keep-alives and
  // reloads (the forecaster's q stays at its default; set it with --param q=...).
  if (name == "predictive") {
    return SweepAxis{"cold_start_cost_s",
                     {"2m", "150s", "3m", "4m", "5m", "6m", "8m", "10m", "15m", "20m", "30m", "1h",
                      "2h", "4h", "8h"},
                     "30m"};
  }
  // The keep-alive percentile of the idle-time histogram (ATC'20 uses the 99th).
  if (name == "hybrid-histogram") {
    return SweepAxis{"hybrid_tail", {"50", "75", "90", "95", "99", "99.5"}, "99"};
  }
  // How early the oracle starts an instance before the arrival needs it, beyond the start.
  if (name == "oracle") return SweepAxis{"slack", {"0s", "1s", "5s", "15s", "30s", "60s"}, "0s"};
  return absl::InvalidArgumentError(
      fmt::format("unknown policy '{}' ({})", name, absl::StrJoin(PolicyNames(), ", ")));
}

std::map<std::string, std::string> CanonicalParams(const std::string& name,
                                                   std::map<std::string, std::string> params) {
  auto axis = SweepFor(name);
  if (axis.ok()) params.emplace(axis->knob, axis->default_value);
  return params;
}

absl::StatusOr<std::vector<RunSpec>> SweepRuns(
    const std::vector<std::string>& policies,
    const std::map<std::string, std::map<std::string, std::string>>& base) {
  std::vector<RunSpec> runs;
  for (const std::string& name : policies) {
    ASSIGN_OR_RETURN(SweepAxis axis, SweepFor(name));
    std::map<std::string, std::string> params;
    if (auto it = base.find(name); it != base.end()) params = it->second;
    if (params.count(axis.knob)) {
      return absl::InvalidArgumentError(
          fmt::format("--sweep varies {}'s '{}': do not give it as a --param", name, axis.knob));
    }
    for (const std::string& v : axis.values) {
      RunSpec r{name, params, axis.knob, v};
      r.params[axis.knob] = v;
      runs.push_back(std::move(r));
    }
  }
  return runs;
}

size_t RunSet::Add(RunSpec r) {
  for (size_t i = 0; i < runs_.size(); ++i) {
    RunSpec& have = runs_[i];
    if (have.policy != r.policy || have.params != r.params) continue;
    if (have.knob.empty()) {
      have.knob = r.knob;
      have.value = r.value;
    }
    return i;
  }
  runs_.push_back(std::move(r));
  return runs_.size() - 1;
}

RunSpec ReferenceRun() {
  return RunSpec{"fixed-keepalive", CanonicalParams("fixed-keepalive", {{"keepalive_s", "10m"}}),
                 "", ""};
}

RunSpec BudgetRun() {
  return RunSpec{"hybrid-histogram", CanonicalParams("hybrid-histogram", {}), "", ""};
}

absl::StatusOr<std::vector<SimResult>> RunAll(const Workload& w, const SimConfig& config,
                                              const std::vector<RunSpec>& runs, int threads,
                                              const RunProgress& on_run_done) {
  std::vector<std::unique_ptr<Policy>> policies;
  for (const RunSpec& r : runs) {
    auto p = MakePolicy(r.policy, r.params);
    if (!p.ok()) return p.status();
    policies.push_back(std::move(*p));
  }
  std::vector<SimResult> results(runs.size());
  ParallelFor(
      runs.size(), threads,
      [&](size_t i) {
        {
          Simulator sim(w, config);
          results[i] = sim.Run(*policies[i]);
        }
        // A finished run's state goes now, and its thread's free heap back to the system:
        // a short run beside a long one would otherwise hold its peak until the long one
        // ends (glibc keeps freed chunks in the thread's arena).
        policies[i].reset();
        malloc_trim(0);
      },
      on_run_done);
  return results;
}

}  // namespace prewarm::sim
