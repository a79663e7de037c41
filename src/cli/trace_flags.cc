#include "cli/trace_flags.h"

#include <filesystem>
#include <fstream>

#include "common/status.h"
#include "fmt/format.h"
#include "sim/sim.h"
#include "sim/slice.h"

namespace prewarm::cli {
namespace {

namespace fs = std::filesystem;

// The default regions, then more of the names RegionPoint knows, in this order.
const std::vector<std::string>& KnownRegions() {
  static const std::vector<std::string> kNames = {
      "us-west",  "us-east", "eu-west",      "ap-east",  "eu-central", "us-central", "ap-northeast",
      "ap-south", "sa-east", "ap-southeast", "eu-north", "au-east",    "af-south"};
  return kNames;
}

absl::StatusOr<std::string> ResolveFormat(const TraceFlags& f) {
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
sim::Wc98Split Wc98SplitFor(const TraceFlags& f) {
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

absl::Status CheckFormatFlags(const TraceFlags& f, const std::string& format) {
  if (format != "wc98" &&
      ((f.days_opt && f.days_opt->count() > 0) || (f.scale_opt && f.scale_opt->count() > 0))) {
    return absl::InvalidArgumentError("--days and --scale apply to wc98 traces only");
  }
  if (format != "azure" && (f.top_opt && f.top_opt->count() > 0))
    return absl::InvalidArgumentError("--top applies to azure traces only");
  if (format == "csv" && f.regions > 0) {
    return absl::InvalidArgumentError(
        "--regions re-splits wc98 and azure traces; a csv names its own");
  }
  return absl::OkStatus();
}

absl::StatusOr<sim::Workload> LoadWhole(const TraceFlags& f) {
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
  if (f.replicate < 1) return absl::InvalidArgumentError("--replicate must be >= 1");
  if (f.replicate > 1) {
    *w = sim::Replicate(*w, f.replicate, f.seed);
    RETURN_IF_ERROR(sim::CheckStepArrivals(*w, f.trace));
  }
  return w;
}

}  // namespace

std::vector<std::string> RegionNames(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(static_cast<size_t>(i) < KnownRegions().size() ? KnownRegions()[i]
                                                                 : fmt::format("region-{}", i + 1));
  }
  return out;
}

void AddTraceFlags(CLI::App* s, TraceFlags& f, const std::string& seed_help) {
  s->add_option("--trace", f.trace,
                "trace file: wc98_*.csv, {N}_inv.csv (Azure) or a "
                "timestamp,region,template,count CSV")
      ->required();
  s->add_option("--format", f.format, "wc98, azure or csv (default: from the file name)");
  s->add_option("--regions", f.regions, "re-split wc98/azure traces over this many regions");
  s->add_option("--seed", f.seed, "seed of the split, the arrivals and " + seed_help)
      ->capture_default_str();
  f.days_opt =
      s->add_option("--days", f.days, "wc98: days kept (the last ones)")->capture_default_str();
  f.scale_opt =
      s->add_option("--scale", f.scale, "wc98: multiply the counts")->capture_default_str();
  f.top_opt = s->add_option("--top", f.top, "azure: keep the busiest N functions");
  s->add_option("--replicate", f.replicate, "K rotated copies of every key (scale tests)")
      ->capture_default_str();
  s->add_option("--from-step", f.from_step,
                "slice: first step kept (wc98 and Azure steps are minutes)")
      ->capture_default_str();
  s->add_option("--steps", f.steps, "slice: steps kept from there (-1: all)")
      ->capture_default_str();
  s->add_option("--busiest", f.busiest, "slice: keep the N keys with the most arrivals in it");
  s->add_option("--sparse", f.sparse,
                "slice: and the N others with the fewest, but at least --sparse-min");
  s->add_option("--sparse-min", f.sparse_min, "slice: arrivals a sparse key needs")
      ->capture_default_str();
  s->add_option("--speed", f.speed,
                "trace seconds per wall second: arrivals at trace time / speed (the replay's "
                "pace; the simulator simulates the same compressed arrivals)")
      ->capture_default_str();
  s->add_option("--speed-service-ms", f.speed_service_ms,
                "with --speed other than 1: every arrival's service time, in ms (the live "
                "workload's answer to a GET, not the trace's duration)")
      ->capture_default_str();
  s->add_option("--speed-memory-mb", f.speed_memory_mb,
                "with --speed other than 1: every instance's memory in MB, the live template's "
                "(0: the trace's per function)")
      ->capture_default_str();
  s->add_option("--speed-concurrency", f.speed_concurrency,
                "with --speed other than 1: requests one instance serves at once, the live "
                "service's (0: the trace's)")
      ->capture_default_str();
}

absl::StatusOr<sim::Workload> LoadTrace(const TraceFlags& f) {
  ASSIGN_OR_RETURN(sim::Workload w, LoadWhole(f));
  if (f.from_step != 0 || f.steps >= 0 || f.busiest != 0 || f.sparse != 0) {
    const sim::SliceSpec spec{f.from_step, f.steps, f.busiest, f.sparse, f.sparse_min};
    ASSIGN_OR_RETURN(w, sim::Slice(w, spec));
  }
  if (f.speed == 1) return w;
  return sim::Compress(
      w, {f.speed, f.speed_service_ms / 1000, f.speed_memory_mb, f.speed_concurrency});
}

}  // namespace prewarm::cli
