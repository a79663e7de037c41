#include "cli/sim_cmd.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
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

struct SimFlags {
  std::string trace, format;
  std::vector<std::string> policies;
  std::vector<std::string> params;  // k=v or policy.k=v
  int nodes = 0, regions = 0, top = 0, replicate = 1, jobs = 2;
  uint32_t slots = 256;
  std::string runtime = "qemu";
  uint64_t seed = 1;
  std::string warmup = "0";
  int days = 14;
  double scale = 0.01;
  bool json = false, sweep = false, no_normalise = false;
  std::string plot, csv;
  double plot_xmax = 0;
  // Which format-specific flags were given (they are an error for the other formats).
  bool days_given = false, scale_given = false, top_given = false;
};

// The default regions, then more of the names RegionPoint knows, in this order.
const std::vector<std::string>& KnownRegions() {
  static const std::vector<std::string> kNames = {
      "us-west",  "us-east", "eu-west",      "ap-east",  "eu-central", "us-central", "ap-northeast",
      "ap-south", "sa-east", "ap-southeast", "eu-north", "au-east",    "af-south"};
  return kNames;
}

std::vector<std::string> RegionNames(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(static_cast<size_t>(i) < KnownRegions().size() ? KnownRegions()[i]
                                                                 : fmt::format("region-{}", i + 1));
  }
  return out;
}

absl::StatusOr<std::string> ResolveFormat(const SimFlags& f) {
  if (!f.format.empty()) {
    if (f.format == "wc98" || f.format == "azure" || f.format == "csv") return f.format;
    return absl::InvalidArgumentError(
        fmt::format("unknown --format '{}' (wc98, azure, csv)", f.format));
  }
  std::string name = fs::path(f.trace).filename().string();
  if (name.rfind("wc98_", 0) == 0) return std::string("wc98");
  if (name.size() > 8 && name.compare(name.size() - 8, 8, "_inv.csv") == 0)
    return std::string("azure");
  return std::string("csv");
}

// Regions re-split for WorldCup98: the default split for its own four regions, else each
// region shifted by its longitude's time zone (the defaults for the first four) and an
// equal share of the load.
sim::Wc98Split Wc98SplitFor(const SimFlags& f) {
  sim::Wc98Split s;
  s.days = f.days;
  s.scale = f.scale;
  s.seed = f.seed;
  if (f.regions <= 0 || f.regions == static_cast<int>(s.regions.size())) return s;
  sim::Wc98Split defaults;
  s.regions = RegionNames(f.regions);
  s.shift_min.clear();
  s.region_share.assign(s.regions.size(), 1.0 / static_cast<double>(s.regions.size()));
  for (size_t i = 0; i < s.regions.size(); ++i) {
    double lon = sim::RegionPoint(s.regions[i]).lon;
    s.shift_min.push_back(i < defaults.shift_min.size()
                              ? defaults.shift_min[i]
                              : static_cast<int>(std::lround(lon / 15)) * 60);
  }
  return s;
}

absl::Status CheckFormatFlags(const SimFlags& f, const std::string& format) {
  if (format != "wc98" && (f.days_given || f.scale_given)) {
    return absl::InvalidArgumentError("--days and --scale apply to wc98 traces only");
  }
  if (format != "azure" && f.top_given)
    return absl::InvalidArgumentError("--top applies to azure traces only");
  if (format == "csv" && f.regions > 0) {
    return absl::InvalidArgumentError(
        "--regions re-splits wc98 and azure traces; a csv names its own");
  }
  return absl::OkStatus();
}

absl::StatusOr<sim::Workload> LoadWorkload(const SimFlags& f) {
  if (f.trace.empty()) return absl::InvalidArgumentError("give --trace FILE");
  if (!std::ifstream(f.trace))
    return absl::NotFoundError(fmt::format("cannot read trace '{}'", f.trace));
  ASSIGN_OR_RETURN(std::string format, ResolveFormat(f));
  RETURN_IF_ERROR(CheckFormatFlags(f, format));
  absl::StatusOr<sim::Workload> w;
  if (format == "wc98") {
    w = sim::LoadWc98(f.trace, Wc98SplitFor(f));
  } else if (format == "azure") {
    sim::AzureSplit split;
    if (f.regions > 0) split.regions = RegionNames(f.regions);
    split.seed = f.seed;
    split.top = f.top;
    w = sim::LoadAzure(f.trace, split);
  } else {
    w = sim::LoadCsv(f.trace);
  }
  if (!w.ok()) return w.status();
  if (f.replicate > 1) return sim::Replicate(*w, f.replicate, f.seed);
  if (f.replicate < 1) return absl::InvalidArgumentError("--replicate must be >= 1");
  return w;
}

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
  ASSIGN_OR_RETURN(c.measure_from_ms, sim::ParseDurationMs(f.warmup));
  if (c.measure_from_ms >= static_cast<int64_t>(w.steps()) * w.step_ms) {
    return absl::InvalidArgumentError(
        fmt::format("--warmup {} is not shorter than the workload", f.warmup));
  }
  c.seed = f.seed;
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
                                                       const sim::SimConfig& c) {
  size_t nodes =
      c.nodes > 0 ? static_cast<size_t>(c.nodes) : 3 * std::max<size_t>(1, w.regions.size());
  std::vector<std::pair<std::string, std::string>> s = {
      {"workload", fmt::format("{} ({}): {} keys, {} steps of {} s, {} arrivals", w.name, f.trace,
                               w.keys.size(), w.steps(), w.step_ms / 1000, w.total_arrivals())},
      {"regions", absl::StrJoin(w.regions, ",")},
      {"cluster", fmt::format("{} nodes x {} slots, runtime {} (start median {} s, p99 {} s)",
                              nodes, c.slots_per_node, f.runtime, c.start.median_s, c.start.p99_s)},
      {"run",
       fmt::format("seed {}, warm-up {} (not measured), {} threads", c.seed, f.warmup, f.jobs)}};
  if (!w.report.empty()) s.push_back({"loader", w.report});
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
  return sim::MakeReport(Setup(f, w, c), std::move(asked), std::move(reference), std::move(budget),
                         f.sweep);
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
  ASSIGN_OR_RETURN(sim::Workload w, LoadWorkload(f));
  ASSIGN_OR_RETURN(sim::SimConfig config, MakeConfig(f, w));
  ASSIGN_OR_RETURN(Plan plan, MakePlan(f, params));
  std::cerr << fmt::format("sim: {} keys, {} steps, {} runs on {} threads\n", w.keys.size(),
                           w.steps(), plan.set.runs().size(), f.jobs);
  ASSIGN_OR_RETURN(std::vector<sim::SimResult> results,
                   sim::RunAll(w, config, plan.set.runs(), f.jobs));
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
  s->add_option("--trace", f->trace,
                "trace file: wc98_*.csv, {N}_inv.csv (Azure) or a "
                "timestamp,region,template,count CSV")
      ->required();
  s->add_option("--format", f->format, "wc98, azure or csv (default: from the file name)");
  s->add_option(
       "--policy", f->policies,
       fmt::format("policies, comma-separated: {}", absl::StrJoin(sim::PolicyNames(), ", ")))
      ->delimiter(',')
      ->required();
  s->add_option("--param", f->params,
                "policy knob k=v (every policy) or policy.k=v (one); repeatable");
  s->add_option("--nodes", f->nodes,
                "nodes, spread evenly over the regions (default 3 per region)");
  s->add_option("--regions", f->regions, "re-split wc98/azure traces over this many regions");
  s->add_option("--slots", f->slots, "instances one node holds")->capture_default_str();
  s->add_option("--runtime", f->runtime,
                "start-time distribution: oci, qemu, qemu-restore, qemu-clone")
      ->capture_default_str();
  s->add_option("--seed", f->seed, "seed of the split, the arrivals and the start times")
      ->capture_default_str();
  s->add_option("--warmup", f->warmup, "simulated but not measured, from the start (e.g. 2h)")
      ->capture_default_str();
  auto* days = s->add_option("--days", f->days, "wc98: days simulated (the last ones)")
                   ->capture_default_str();
  auto* scale =
      s->add_option("--scale", f->scale, "wc98: multiply the counts")->capture_default_str();
  auto* top = s->add_option("--top", f->top, "azure: keep the busiest N functions");
  s->add_option("--replicate", f->replicate, "K rotated copies of every key (scale tests)")
      ->capture_default_str();
  s->add_option("--jobs", f->jobs, "threads running independent runs")->capture_default_str();
  s->add_flag("--json", f->json, "JSON on stdout instead of the table");
  s->add_flag("--sweep", f->sweep, "run each policy over its knob: the trade-off curves");
  s->add_option("--plot", f->plot, "--sweep: write the curves as SVG here");
  s->add_option("--plot-xmax", f->plot_xmax, "--plot: right end of the wasted-memory axis");
  s->add_option("--csv", f->csv, "--sweep: write the sweep points as CSV here");
  s->add_flag("--no-normalise", f->no_normalise, "skip the fixed 10-min keep-alive reference run");
  s->callback([f, days, scale, top] {
    f->days_given = days->count() > 0;
    f->scale_given = scale->count() > 0;
    f->top_given = top->count() > 0;
    Exit(Run(*f));
  });
}

}  // namespace prewarm::cli
