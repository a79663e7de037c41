#include "cli/sim_cmd.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "cli/trace_flags.h"
#include "common/status.h"
#include "fmt/format.h"
#include "sim/factory.h"
#include "sim/policies.h"
#include "sim/report.h"
#include "sim/sim.h"
#include "sim/workload.h"

namespace prewarm::cli {
namespace {

namespace fs = std::filesystem;
using sim::Params;

// Slots per node in the minute model: more than any trace's keys need at once.
constexpr uint32_t kMinuteModelSlots = 1u << 24;

struct SimFlags : TraceFlags {
  std::vector<std::string> policies;
  std::vector<std::string> params;  // k=v or policy.k=v
  int nodes = 0, jobs = 2;
  uint32_t slots = 256;
  std::string runtime = "qemu";
  std::string warmup = "0";
  std::string minute_model = "off";
  std::string routing = "pack";
  std::string start_contention = "none";
  bool json = false, sweep = false, no_normalise = false;
  std::string plot, csv;
  double plot_xmax = 0;
  // Given on the command line (the minute model refuses them).
  bool runtime_given = false, slots_given = false;
};

absl::StatusOr<sim::SimConfig> MakeConfig(const SimFlags& f, const sim::Workload& w) {
  sim::SimConfig c;
  if (f.nodes < 0) return absl::InvalidArgumentError("--nodes must be >= 0");
  if (f.nodes > 0 && static_cast<size_t>(f.nodes) < w.regions.size()) {
    return absl::InvalidArgumentError(fmt::format(
        "--nodes {} leaves some of the {} regions without a node", f.nodes, w.regions.size()));
  }
  if (f.slots == 0) return absl::InvalidArgumentError("--slots must be > 0");
  c.nodes = f.nodes;
  c.slots_per_node = f.slots;
  ASSIGN_OR_RETURN(c.start, sim::StartTime::Named(f.runtime));
  ASSIGN_OR_RETURN(c.contention, sim::StartContention::Parse(f.start_contention));
  ASSIGN_OR_RETURN(c.measure_from_ms, sim::ParseDurationMs(f.warmup));
  if (!w.invocations.empty()) {
    // The minute model is the reference simulator's: loads are instant, an unloaded instance
    // is gone at once (no DNS answers outstand), capacity is unbounded, every minute counts.
    if (f.runtime_given || f.slots_given || c.measure_from_ms > 0 || f.routing != "pack" ||
        c.contention.cores > 0) {
      return absl::InvalidArgumentError(
          "--minute-model fixes the runtime (instant), the slots (unbounded), the warm-up "
          "(none) and the routing (pack): drop --runtime, --start-contention, --slots, --warmup "
          "and --routing");
    }
    c.start = sim::StartTime{0, 0};
    c.answers = orchestrator::AnswerHold::None();
    c.slots_per_node = kMinuteModelSlots;
  }
  if (c.measure_from_ms >= static_cast<int64_t>(w.steps()) * w.step_ms) {
    return absl::InvalidArgumentError(
        fmt::format("--warmup {} is not shorter than the workload", f.warmup));
  }
  c.seed = f.seed;
  if (f.routing == "live") {
    c.routing = sim::Routing::kLive;
  } else if (f.routing != "pack") {
    return absl::InvalidArgumentError(
        fmt::format("--routing {}: want pack or live (sim/sim.h Routing)", f.routing));
  }
  return c;
}

// --param k=v (every policy) or policy.k=v (that one) -> params per policy.
absl::StatusOr<std::map<std::string, Params>> PolicyParams(const SimFlags& f) {
  std::map<std::string, Params> out;
  for (const std::string& p : f.policies) {
    if (std::find(sim::PolicyNames().begin(), sim::PolicyNames().end(), p) ==
        sim::PolicyNames().end()) {
      return absl::InvalidArgumentError(
          fmt::format("unknown policy '{}' ({})", p, absl::StrJoin(sim::PolicyNames(), ", ")));
    }
    out[p];
  }
  for (const std::string& kv : f.params) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(fmt::format("--param '{}': want k=v or policy.k=v", kv));
    }
    std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
    size_t dot = key.find('.');
    if (dot == std::string::npos) {
      for (auto& [p, params] : out) params[key] = value;
      continue;
    }
    std::string policy = key.substr(0, dot);
    if (!out.count(policy)) {
      return absl::InvalidArgumentError(
          fmt::format("--param {}: '{}' is not a --policy", kv, policy));
    }
    out[policy][key.substr(dot + 1)] = value;
  }
  return out;
}

// The runs asked for (every sweep point, or one run per policy), then the reference and
// the budget run; identical runs are run once.
struct Plan {
  sim::RunSet set;
  std::vector<size_t> asked;
  std::optional<size_t> reference, budget;
};

absl::StatusOr<Plan> MakePlan(const SimFlags& f, const std::map<std::string, Params>& params) {
  Plan plan;
  std::vector<sim::RunSpec> asked;
  if (f.sweep) {
    ASSIGN_OR_RETURN(asked, sim::SweepRuns(f.policies, params));
  } else {
    for (const std::string& p : f.policies) {
      asked.push_back({p, sim::CanonicalParams(p, params.at(p)), "", ""});
    }
  }
  for (sim::RunSpec& r : asked) plan.asked.push_back(plan.set.Add(std::move(r)));
  if (!f.no_normalise) plan.reference = plan.set.Add(sim::ReferenceRun());
  if (f.sweep) plan.budget = plan.set.Add(sim::BudgetRun());
  return plan;
}

std::vector<std::pair<std::string, std::string>> Setup(const SimFlags& f, const sim::Workload& w,
                                                       const sim::SimConfig& c, const Plan& plan) {
  size_t nodes =
      c.nodes > 0 ? static_cast<size_t>(c.nodes) : 3 * std::max<size_t>(1, w.regions.size());
  std::vector<std::pair<std::string, std::string>> s = {
      {"workload", fmt::format("{} ({}): {} keys, {} steps of {:g} s, {} arrivals", w.name, f.trace,
                               w.keys.size(), w.steps(), static_cast<double>(w.step_ms) / 1000,
                               w.total_arrivals())},
      {"regions", absl::StrJoin(w.regions, ",")},
      {"cluster",
       fmt::format("{} nodes x {} slots, runtime {} (start median {} s, p99 {} s alone), start "
                   "contention {}",
                   nodes, c.slots_per_node, w.invocations.empty() ? f.runtime : "instant",
                   c.start.median_s, c.start.p99_s,
                   c.contention.cores == 0
                       ? "none"
                       : fmt::format("{} (starts share {} cores{}: processor sharing)",
                                     c.contention.ToString(), c.contention.cores,
                                     c.contention.host ? " of one host" : " per node"))},
      {"run",
       fmt::format("seed {}, warm-up {} (not measured), {} threads", c.seed, f.warmup, f.jobs)},
      {"routing", c.routing == sim::Routing::kLive
                      ? "live (the orchestrator's: less loaded of two random instances, "
                        "a key cold-starts only with none)"
                      : "pack (oldest instance with a free concurrency slot, else cold start; "
                        "the orchestrator routes as --routing live)"}};
  if (w.speed != 1) {
    // Where the simulation must differ from the trace to match a replay at this speed.
    s.push_back(
        {"speed",
         fmt::format("{:g}x, as `prewarm replay --speed {:g}` drives a live system: arrivals at "
                     "trace time / {:g}, steps of {:g} s, every arrival served in {:g} ms (the "
                     "live workload's answer, --speed-service-ms, not the trace's durations), "
                     "{}; start times, keep-alives, windows, latencies and MB·h are in seconds "
                     "of this compressed clock (x {:g} for trace time)",
                     w.speed, w.speed, w.speed, static_cast<double>(w.step_ms) / 1000,
                     f.speed_service_ms,
                     f.speed_memory_mb > 0
                         ? fmt::format("every instance {:g} MB (--speed-memory-mb, the live "
                                       "template's)",
                                       f.speed_memory_mb)
                         : std::string("each function's memory from the trace"),
                     w.speed)});
    if (f.speed_concurrency > 0) {
      s.back().second += fmt::format(
          "; {} requests at once per instance (--speed-concurrency, the live service's; "
          "with --routing pack the simulator routes no more to one, live DNS has no such cap)",
          f.speed_concurrency);
    }
  }
  if (!w.invocations.empty()) {
    s.push_back(
        {"model",
         fmt::format("minute model {} (the ATC'20 reference simulator's: arrivals at the minute's "
                     "start, busy for the whole minute, {}, instant loads, no DNS TTL, no "
                     "warm-up; cold % = instances started cold / invocations)",
                     f.minute_model,
                     f.minute_model == "one-instance"
                         ? "one instance per key serves every invocation of a minute"
                         : "ceil(invocations x mean duration / 1 min) instances per minute")});
  }
  if (!w.report.empty()) s.push_back({"loader", w.report});
  // Predictive's simulated forecaster, where it is not the daemon's (the first predictive
  // run's: a sweep varies the cost of a cold start, not the forecaster).
  for (size_t i : plan.asked) {
    const sim::RunSpec& r = plan.set.runs()[i];
    if (r.policy != "predictive") continue;
    absl::StatusOr<std::string> d = sim::ForecasterDivergence(r.params, w.step_ms);
    if (d.ok() && !d->empty()) s.push_back({"forecaster", *d});
    break;
  }
  return s;
}

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) return absl::InternalError(fmt::format("cannot write '{}'", path));
  return absl::OkStatus();
}

sim::Report BuildReport(const SimFlags& f, const sim::Workload& w, const sim::SimConfig& c,
                        const Plan& plan, const std::vector<sim::SimResult>& results) {
  const auto& runs = plan.set.runs();
  auto at = [&](size_t i) { return sim::RunReport{runs[i], results[i], 0}; };
  std::vector<sim::RunReport> asked;
  for (size_t i : plan.asked) asked.push_back(at(i));
  std::optional<sim::RunReport> reference, budget;
  if (plan.reference) reference = at(*plan.reference);
  if (plan.budget) budget = at(*plan.budget);
  return sim::MakeReport(Setup(f, w, c, plan), std::move(asked), std::move(reference),
                         std::move(budget), f.sweep);
}

absl::Status Run(const SimFlags& f) {
  if (f.policies.empty()) return absl::InvalidArgumentError("give --policy P[,P2...]");
  if (f.jobs < 1) return absl::InvalidArgumentError("--jobs must be >= 1");
  if (!f.sweep && (!f.plot.empty() || !f.csv.empty())) {
    return absl::InvalidArgumentError("--plot and --csv draw sweep curves: add --sweep");
  }
  if (f.sweep && f.no_normalise) {
    return absl::InvalidArgumentError(
        "--sweep plots normalised wasted memory: drop --no-normalise");
  }
  ASSIGN_OR_RETURN(auto params, PolicyParams(f));
  ASSIGN_OR_RETURN(sim::MinuteModel model, sim::ParseMinuteModel(f.minute_model));
  if (model != sim::MinuteModel::kOff && f.speed != 1) {
    return absl::InvalidArgumentError(
        "--minute-model has no arrivals to compress: drop --speed or --minute-model");
  }
  ASSIGN_OR_RETURN(sim::Workload traced, LoadTrace(f));
  ASSIGN_OR_RETURN(sim::Workload w, sim::AtStepResolution(std::move(traced), model));
  ASSIGN_OR_RETURN(sim::SimConfig config, MakeConfig(f, w));
  ASSIGN_OR_RETURN(Plan plan, MakePlan(f, params));
  std::cerr << fmt::format("sim: {} keys, {} steps, {} runs on {} threads\n", w.keys.size(),
                           w.steps(), plan.set.runs().size(), f.jobs);
  // Progress on a terminal (a sweep is tens of runs and a minute or more): runs done.
  sim::RunProgress progress;
  if (::isatty(STDERR_FILENO) != 0) {
    progress = [start = std::chrono::steady_clock::now()](size_t done, size_t total) {
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::cerr << fmt::format("\rsim: {}/{} runs done, {:.0f} s\033[K", done, total, s)
                << (done == total ? "\n" : "") << std::flush;
    };
  }
  ASSIGN_OR_RETURN(std::vector<sim::SimResult> results,
                   sim::RunAll(w, config, plan.set.runs(), f.jobs, progress));
  sim::Report report = BuildReport(f, w, config, plan, results);
  if (!f.csv.empty()) RETURN_IF_ERROR(WriteFile(f.csv, sim::Csv(report)));
  if (!f.plot.empty()) {
    sim::PlotOptions po{f.plot_xmax, fmt::format("prewarm sim: {}", w.name)};
    RETURN_IF_ERROR(WriteFile(f.plot, sim::Svg(report, po)));
  }
  std::cout << (f.json ? sim::Json(report) : sim::TextTable(report));
  return absl::OkStatus();
}

[[noreturn]] void Exit(const absl::Status& status) {
  if (status.ok()) throw CLI::Success();
  std::cerr << fmt::format("prewarm sim: {}\n", status.message());
  throw CLI::RuntimeError(status.code() == absl::StatusCode::kInternal ? 1 : 2);
}

}  // namespace

void AddSimCommand(CLI::App& app) {
  auto f = std::make_shared<SimFlags>();
  CLI::App* s = app.add_subcommand(
      "sim", "trace-driven simulation of pre-warming policies: cold starts vs wasted memory");
  AddTraceFlags(s, *f, "the start times");
  s->add_option(
       "--policy", f->policies,
       fmt::format("policies, comma-separated: {}", absl::StrJoin(sim::PolicyNames(), ", ")))
      ->delimiter(',')
      ->required();
  s->add_option("--param", f->params,
                "policy knob k=v (every policy) or policy.k=v (one); repeatable. The reconciler "
                "policies take the orchestrator's autoscaler settings by their config names "
                "(examples/orchestrator.yaml), plus tick and, for predictive, the simulated "
                "forecaster's q, model, transform, refit_every_s, reselect_every_s, "
                "min_history_steps, horizon_s, forecast, min_arrivals_per_min, plan_threads "
                "(defaults: the forecaster daemon's, examples/forecaster.yaml)");
  s->add_option("--nodes", f->nodes,
                "nodes, spread evenly over the regions (default 3 per region)");
  auto* slots =
      s->add_option("--slots", f->slots, "instances one node holds")->capture_default_str();
  auto* runtime = s->add_option("--runtime", f->runtime,
                                "start-time distribution: oci, qemu, qemu-restore, qemu-clone, or "
                                "measured:MEDIAN_S,P99_S (lognormal through both)")
                      ->capture_default_str();
  s->add_option("--start-contention", f->start_contention,
                "none, node:CORES or host:CORES: starts share CORES per node (or of one host, "
                "every node's) at full speed, more in progress slow each other down "
                "(processor sharing; bench/instance_start --burst measures it)")
      ->capture_default_str();
  s->add_option("--minute-model", f->minute_model,
                "off, one-instance or concurrency: the ATC'20 reference simulator's minute "
                "model (bench/sim/README.md)")
      ->capture_default_str();
  s->add_option("--routing", f->routing,
                "pack (the oldest instance with a free concurrency slot) or live (the "
                "orchestrator's DNS choice: power of two, whatever the load)")
      ->capture_default_str();
  s->add_option("--warmup", f->warmup, "simulated but not measured, from the start (e.g. 2h)")
      ->capture_default_str();
  s->add_option("--jobs", f->jobs, "threads running independent runs")->capture_default_str();
  s->add_flag("--json", f->json, "JSON on stdout instead of the table");
  s->add_flag("--sweep", f->sweep, "run each policy over its knob: the trade-off curves");
  s->add_option("--plot", f->plot, "--sweep: write the curves as SVG here");
  s->add_option("--plot-xmax", f->plot_xmax, "--plot: right end of the wasted-memory axis");
  s->add_option("--csv", f->csv, "--sweep: write the sweep points as CSV here");
  s->add_flag("--no-normalise", f->no_normalise, "skip the fixed 10-min keep-alive reference run");
  s->callback([f, slots, runtime] {
    f->runtime_given = runtime->count() > 0;
    f->slots_given = slots->count() > 0;
    Exit(Run(*f));
  });
}

}  // namespace prewarm::cli
