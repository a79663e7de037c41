#include "sim/workload.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "common/status.h"
#include "fmt/format.h"
#include "forecast/ingest/azure.h"
#include "forecast/ingest/count_csv.h"
#include "forecast/ingest/table_reader.h"
#include "forecast/ingest/timestamp.h"

namespace prewarm::sim {
namespace {

namespace ingest = forecast::ingest;
using forecast::IsMissing;
using forecast::Series;

constexpr int64_t kMinuteMs = 60'000;
// One key's arrivals in one step: at most what a step may hold (workload.h).
constexpr double kMaxCount = static_cast<double>(kMaxStepArrivals);
// keys x steps a loader may allocate (1 GiB of counts): one absurd timestamp or a huge
// scale must fail clearly rather than exhaust memory.
constexpr double kMaxCells = 256.0 * 1024 * 1024;

// Uniform in [0, 1) from the top 53 bits of one draw: the same sequence on every standard
// library, which std::uniform_real_distribution does not promise.
double Uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Uniform in [0, n), n > 0.
size_t UniformIndex(std::mt19937_64& rng, size_t n) {
  return std::min(n - 1, static_cast<size_t>(Uniform01(rng) * static_cast<double>(n)));
}

// floor(x) plus one with probability frac(x): unbiased, so split totals match the trace's.
uint32_t StochasticRound(double x, std::mt19937_64& rng) {
  double whole = std::floor(x);
  double frac = x - whole;
  // No draw for whole numbers: an exact split stays exact and costs nothing.
  if (frac > 0 && Uniform01(rng) < frac) whole += 1;
  return static_cast<uint32_t>(whole);
}

// "file: 125300 rows, 0 bad lines, 10 gaps; first bad lines: f:3: why; ...".
std::string Describe(const std::string& path, const ingest::ReadReport& report) {
  std::string out = fmt::format("{}: {}", path, report.Summary());
  if (!report.first_errors.empty()) {
    out += "; first bad lines: ";
    for (size_t i = 0; i < report.first_errors.size(); ++i) {
      out += (i ? "; " : "") + report.first_errors[i];
    }
  }
  return out;
}

// A file whose every line was rejected is an error, not an empty workload.
absl::Status RequireRows(const std::string& path, const ingest::ReadReport& report) {
  if (report.rows > 0) return absl::OkStatus();
  return absl::InvalidArgumentError(fmt::format("no usable rows in {}", Describe(path, report)));
}

void AddClause(Workload& w, const std::string& clause) {
  w.report += (w.report.empty() ? "" : "; ") + clause;
}

void AddReadReport(Workload& w, const std::string& path, const ingest::ReadReport& report) {
  AddClause(w, Describe(path, report));
  w.bad_lines += report.bad_lines;
}

absl::Status CheckCells(const std::string& path, size_t keys, size_t steps) {
  if (static_cast<double>(keys) * static_cast<double>(steps) <= kMaxCells) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      fmt::format("{}: {} keys x {} steps is too large a workload", path, keys, steps));
}

}  // namespace

uint64_t Workload::total_arrivals() const {
  uint64_t total = 0;
  for (const auto& key : invocations.empty() ? counts : invocations) {
    for (uint32_t c : key) total += c;
  }
  return total;
}

absl::Status CheckStepArrivals(const Workload& w, const std::string& what) {
  std::vector<uint64_t> sum(w.steps(), 0);
  for (const auto& key : w.counts) {
    for (size_t s = 0; s < key.size() && s < sum.size(); ++s) {
      sum[s] += key[s];
      if (sum[s] > kMaxStepArrivals) {
        return absl::OutOfRangeError(fmt::format(
            "{}: step {} has more than {} arrivals over its keys, more than the simulator can "
            "buffer in one step",
            what, s + 1, kMaxStepArrivals));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<MinuteModel> ParseMinuteModel(const std::string& s) {
  if (s == "off") return MinuteModel::kOff;
  if (s == "one-instance") return MinuteModel::kOneInstance;
  if (s == "concurrency") return MinuteModel::kConcurrency;
  return absl::InvalidArgumentError(
      fmt::format("unknown minute model '{}' (off, one-instance, concurrency)", s));
}

const char* MinuteModelName(MinuteModel m) {
  switch (m) {
    case MinuteModel::kOff:
      return "off";
    case MinuteModel::kOneInstance:
      return "one-instance";
    case MinuteModel::kConcurrency:
      return "concurrency";
  }
  return "?";
}

absl::StatusOr<Workload> AtStepResolution(Workload w, MinuteModel m) {
  if (m == MinuteModel::kOff || !w.invocations.empty()) return w;
  Workload out = std::move(w);
  out.invocations = out.counts;
  const double step_s = static_cast<double>(out.step_ms) / 1000;
  for (size_t k = 0; k < out.counts.size(); ++k) {
    const double mean_s = k < out.keys.size() ? std::max(0.0, out.keys[k].service.mean_s) : 0;
    for (uint32_t& c : out.counts[k]) {
      if (c == 0) continue;
      double need = m == MinuteModel::kOneInstance ? 1 : std::ceil(c * mean_s / step_s);
      if (need > static_cast<double>(kMaxStepArrivals)) {
        return absl::OutOfRangeError(
            fmt::format("{}: key {} needs {} instances in one step, more than {}", out.name, k,
                        need, kMaxStepArrivals));
      }
      c = static_cast<uint32_t>(std::max(1.0, need));
    }
    out.keys[k].concurrency = 1;
  }
  RETURN_IF_ERROR(CheckStepArrivals(out, out.name));
  return out;
}

double ServiceTime::Sample(std::mt19937_64& rng) const {
  const double u = Uniform01(rng);
  if (knots.empty()) return std::max(0.0, -mean_s * std::log1p(-u));
  auto upper =
      std::find_if(knots.begin(), knots.end(), [u](const auto& k) { return u <= k.first; });
  if (upper == knots.begin()) return std::max(0.0, upper->second);
  if (upper == knots.end()) return std::max(0.0, knots.back().second);
  const auto& [p0, v0] = *(upper - 1);
  const auto& [p1, v1] = *upper;
  const double f = p1 > p0 ? (u - p0) / (p1 - p0) : 1.0;
  return std::max(0.0, v0 + f * (v1 - v0));
}

ArrivalStream::ArrivalStream(const Workload& w, uint64_t seed) : w_(w), rng_(seed) {}

bool ArrivalStream::Next(Arrival& out) {
  while (pos_ == buf_.size()) {
    if (step_ >= w_.steps()) return false;
    FillStep();
  }
  out = buf_[pos_++];
  return true;
}

void ArrivalStream::FillStep() {
  buf_.clear();
  pos_ = 0;
  const SimTimeUs step_us = w_.step_ms * 1000;
  const SimTimeUs start = static_cast<SimTimeUs>(step_) * step_us;
  const size_t keys = std::min(w_.keys.size(), w_.counts.size());
  if (!w_.invocations.empty()) {
    // The minute model: at the step's start, each for the whole step.
    for (uint32_t k = 0; k < keys; ++k) {
      const uint32_t c = step_ < w_.counts[k].size() ? w_.counts[k][step_] : 0;
      if (c == 0) continue;
      const uint32_t inv = w_.invocations[k][step_];
      for (uint32_t i = 0; i < c; ++i) {
        buf_.push_back({start, k, inv / c + (i < inv % c ? 1u : 0u), step_us});
      }
    }
    ++step_;
    return;
  }
  for (uint32_t k = 0; k < keys; ++k) {
    const uint32_t c = step_ < w_.counts[k].size() ? w_.counts[k][step_] : 0;
    for (uint32_t i = 0; i < c; ++i) {
      auto offset = static_cast<SimTimeUs>(Uniform01(rng_) * static_cast<double>(step_us));
      // Capped at ~31 years: a broken knot must not overflow the clock.
      double service_us = std::min(w_.keys[k].service.Sample(rng_) * 1e6, 1e15);
      buf_.push_back({start + std::min(offset, step_us - 1), k, 1, std::llround(service_us)});
    }
  }
  // Ties broken by key then service time: the order depends on the seed alone.
  std::sort(buf_.begin(), buf_.end(), [](const Arrival& a, const Arrival& b) {
    return std::tie(a.t, a.key, a.service_us) < std::tie(b.t, b.key, b.service_us);
  });
  ++step_;
}

// ---- WorldCup98 ----------------------------------------------------------------------

namespace {

absl::Status CheckWc98Split(const std::string& path, const Wc98Split& s) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(fmt::format("{}: bad Wc98Split: {}", path, why));
  };
  if (s.regions.empty() || s.templates.empty()) return bad("no regions or no templates");
  if (s.shift_min.size() != s.regions.size() || s.region_share.size() != s.regions.size()) {
    return bad("regions, shift_min and region_share differ in length");
  }
  if (s.template_share.size() != s.templates.size() || s.shapes.size() != s.templates.size()) {
    return bad("templates, template_share and shapes differ in length");
  }
  auto negative = [](double v) { return !(v >= 0) || !std::isfinite(v); };
  if (std::any_of(s.region_share.begin(), s.region_share.end(), negative) ||
      std::any_of(s.template_share.begin(), s.template_share.end(), negative) ||
      negative(s.scale)) {
    return bad("shares and scale must be finite and >= 0");
  }
  return absl::OkStatus();
}

struct Window {
  int64_t from = 0;
  int64_t len = 0;
};

absl::StatusOr<Window> Wc98Window(const std::string& path, int64_t trace_len, const Wc98Split& s) {
  const int64_t want = s.days > 0 ? int64_t{s.days} * 1440 : trace_len;
  if (s.from_minute >= 0) {
    if (s.from_minute >= trace_len) {
      return absl::OutOfRangeError(fmt::format("{}: from_minute {} is past the trace's {} minutes",
                                               path, s.from_minute, trace_len));
    }
    return Window{s.from_minute, std::min(want, trace_len - s.from_minute)};
  }
  const auto [lo_shift, hi_shift] = std::minmax_element(s.shift_min.begin(), s.shift_min.end());
  const int64_t lo = std::max<int64_t>(0, -*lo_shift);
  const int64_t hi = trace_len - std::max<int64_t>(0, *hi_shift);
  if (hi <= lo) {
    return absl::OutOfRangeError(
        fmt::format("{}: region shifts span more than the trace's {} minutes", path, trace_len));
  }
  const int64_t len = std::min(want, hi - lo);
  return Window{hi - len, len};
}

// A raw count whose largest key share (region x template x scale) would exceed what a step
// can hold fails the read at its line.
ingest::CsvOptions Wc98ReadOptions(const Wc98Split& split) {
  ingest::CsvOptions o = ingest::WorldCup98Options();
  double factor = 0;
  for (double r : split.region_share) {
    for (double t : split.template_share) factor = std::max(factor, r * t * split.scale);
  }
  if (factor > 0) o.max_count = kMaxCount / factor;
  return o;
}

}  // namespace

absl::StatusOr<Workload> LoadWc98(const std::string& path, const Wc98Split& split) {
  RETURN_IF_ERROR(CheckWc98Split(path, split));
  ASSIGN_OR_RETURN(ingest::CountTable table, ingest::ReadCountCsv(path, Wc98ReadOptions(split)));
  RETURN_IF_ERROR(RequireRows(path, table.report));
  const Series& trace = table.series.begin()->second;
  const auto trace_len = static_cast<int64_t>(trace.size());
  ASSIGN_OR_RETURN(Window win, Wc98Window(path, trace_len, split));
  const size_t n_keys = split.regions.size() * split.templates.size();
  RETURN_IF_ERROR(CheckCells(path, n_keys, static_cast<size_t>(win.len)));

  Workload w;
  w.name = "wc98";
  w.start_unix_ms = trace.TimeAt(static_cast<size_t>(win.from));
  w.step_ms = kMinuteMs;
  w.regions = split.regions;
  AddReadReport(w, path, table.report);
  if (table.report.gaps > 0)
    AddClause(w, fmt::format("{} missing minutes read as 0", table.report.gaps));
  std::mt19937_64 rng(split.seed);
  for (size_t r = 0; r < split.regions.size(); ++r) {
    for (size_t t = 0; t < split.templates.size(); ++t) {
      const TemplateShape& shape = split.shapes[t];
      w.keys.push_back({split.regions[r], split.templates[t], shape.memory_mb, shape.concurrency,
                        ServiceTime{{}, shape.service_s}});
      const double factor = split.region_share[r] * split.template_share[t] * split.scale;
      std::vector<uint32_t>& counts = w.counts.emplace_back(static_cast<size_t>(win.len), 0);
      for (int64_t m = 0; m < win.len; ++m) {
        const int64_t i = win.from + m + split.shift_min[r];
        if (i < 0 || i >= trace_len) continue;
        const double v = trace.values[static_cast<size_t>(i)];
        if (IsMissing(v)) continue;
        const double x = v * factor;
        if (x > kMaxCount) {
          return absl::OutOfRangeError(
              fmt::format("{}: minute {} scaled to {} arrivals, more than the {} a step can hold",
                          path, i, x, kMaxStepArrivals));
        }
        counts[static_cast<size_t>(m)] = StochasticRound(x, rng);
      }
    }
  }
  RETURN_IF_ERROR(CheckStepArrivals(w, path));
  return w;
}

// ---- Azure Functions 2019 -------------------------------------------------------------

namespace {

// "{N}_run.csv" beside "{N}_inv.csv"; nullopt when the name does not follow that pattern.
std::optional<std::string> Beside(const std::string& inv_path, std::string_view suffix) {
  constexpr std::string_view kInv = "_inv.csv";
  if (inv_path.size() < kInv.size() ||
      inv_path.compare(inv_path.size() - kInv.size(), kInv.size(), kInv) != 0) {
    return std::nullopt;
  }
  return inv_path.substr(0, inv_path.size() - kInv.size()) + std::string(suffix);
}

// Reads the companion file when it exists; absent is fine, unreadable or malformed is not.
template <typename T, typename ReadFn>
absl::StatusOr<std::optional<T>> ReadBeside(const std::string& inv_path, std::string_view suffix,
                                            ReadFn read, Workload& w) {
  std::optional<std::string> path = Beside(inv_path, suffix);
  if (!path || !std::filesystem::exists(*path)) {
    AddClause(w, fmt::format("no {}", path.value_or(std::string(suffix))));
    return std::optional<T>();
  }
  ASSIGN_OR_RETURN(T table, read(*path));
  AddReadReport(w, *path, table.report);
  return std::optional<T>(std::move(table));
}

ServiceTime FromDurations(const ingest::AzureDuration& d) {
  ServiceTime s;
  // A 0 ms duration is a rounding artefact of the trace: no invocation takes no time.
  auto seconds = [](double ms) { return std::max(ms, 1.0) / 1000.0; };
  double running = 0;
  for (size_t i = 0; i < d.percentile_ms.size(); ++i) {
    // Kept non-decreasing so that the inverse CDF is one.
    running = std::max(running, seconds(d.percentile_ms[i]));
    s.knots.emplace_back(ingest::kAzureDurationPercentiles[i] / 100.0, running);
  }
  s.mean_s = seconds(d.average_ms);
  return s;
}

constexpr double kAzureDefaultServiceS = 0.05;
constexpr double kAzureDefaultMemoryMb = 128;

std::optional<ServiceTime> ServiceOf(const std::optional<ingest::AzureDurations>& durations,
                                     const std::string& function_hash) {
  if (!durations) return std::nullopt;
  auto it = durations->by_function.find(function_hash);
  if (it == durations->by_function.end()) return std::nullopt;
  return FromDurations(it->second);
}

// An app's average allocation; a zero average (an app sampled idle) is no information.
std::optional<double> MemoryOf(const std::optional<ingest::AzureMemoryTable>& memory,
                               const std::string& app_hash) {
  if (!memory) return std::nullopt;
  auto it = memory->by_app.find(app_hash);
  if (it == memory->by_app.end() || it->second.average_allocated_mb <= 0) return std::nullopt;
  return it->second.average_allocated_mb;
}

// Indices of the `top` busiest functions (all when top <= 0), in file order.
std::vector<size_t> Busiest(const std::vector<ingest::AzureFunction>& fns, int top) {
  std::vector<std::pair<double, size_t>> totals;
  for (size_t i = 0; i < fns.size(); ++i) {
    double sum = 0;
    for (double v : fns[i].invocations.values) sum += v;
    totals.emplace_back(-sum, i);  // busiest first, file order among equals
  }
  std::sort(totals.begin(), totals.end());
  if (top > 0 && static_cast<size_t>(top) < totals.size()) totals.resize(static_cast<size_t>(top));
  std::vector<size_t> keep;
  for (const auto& [neg_sum, i] : totals) keep.push_back(i);
  std::sort(keep.begin(), keep.end());
  return keep;
}

std::string UniqueName(std::string base, std::set<std::string>& used) {
  std::string name = base;
  for (int n = 2; !used.insert(name).second; ++n) name = fmt::format("{}-{}", base, n);
  return name;
}

absl::StatusOr<std::vector<uint32_t>> ToCounts(const std::string& path,
                                               const ingest::AzureFunction& fn) {
  const Series& s = fn.invocations;
  for (size_t m = 0; m < s.size(); ++m) {
    if (s.values[m] > kMaxCount) {
      return absl::OutOfRangeError(
          fmt::format("{}:{}: {} minute_{}: {} invocations, more than the {} a step can hold", path,
                      fn.line, s.name, m + 1, s.values[m], kMaxStepArrivals));
    }
  }
  std::vector<uint32_t> counts(s.size(), 0);
  for (size_t m = 0; m < s.size(); ++m) {
    counts[m] = static_cast<uint32_t>(s.values[m]);
  }
  return counts;
}

}  // namespace

absl::StatusOr<Workload> LoadAzure(const std::string& inv_path, const AzureSplit& split) {
  if (split.regions.empty()) {
    return absl::InvalidArgumentError(fmt::format("{}: AzureSplit has no regions", inv_path));
  }
  Workload w;
  ASSIGN_OR_RETURN(ingest::AzureInvocations inv, ingest::ReadAzureInvocations(inv_path));
  RETURN_IF_ERROR(RequireRows(inv_path, inv.report));
  AddReadReport(w, inv_path, inv.report);
  using Durations = std::optional<ingest::AzureDurations>;
  using Memory = std::optional<ingest::AzureMemoryTable>;
  ASSIGN_OR_RETURN(Durations durations, ReadBeside<ingest::AzureDurations>(
                                            inv_path, "_run.csv", ingest::ReadAzureDurations, w));
  ASSIGN_OR_RETURN(Memory memory, ReadBeside<ingest::AzureMemoryTable>(inv_path, "_mem.csv",
                                                                       ingest::ReadAzureMemory, w));

  std::mt19937_64 rng(split.seed);
  std::vector<size_t> home;
  for (size_t i = 0; i < inv.functions.size(); ++i) {
    home.push_back(UniformIndex(rng, split.regions.size()));
  }
  std::string stem = std::filesystem::path(inv_path).stem().string();
  if (stem.ends_with("_inv")) stem.resize(stem.size() - 4);
  w.name = "azure" + stem;
  w.start_unix_ms = ingest::kAzureDayStartMs;
  w.step_ms = kMinuteMs;
  w.regions = split.regions;
  std::set<std::string> used;
  size_t no_duration = 0, no_memory = 0;
  for (size_t i : Busiest(inv.functions, split.top)) {
    const ingest::AzureFunction& fn = inv.functions[i];
    KeySpec key;
    key.region = split.regions[home[i]];
    key.tmpl = UniqueName("fn-" + fn.function_hash.substr(0, 8), used);
    key.concurrency = split.concurrency;
    std::optional<ServiceTime> service = ServiceOf(durations, fn.function_hash);
    no_duration += !service;
    key.service = service.value_or(ServiceTime{{}, kAzureDefaultServiceS});
    std::optional<double> mb = MemoryOf(memory, fn.app_hash);
    no_memory += !mb;
    key.memory_mb = mb.value_or(kAzureDefaultMemoryMb);
    w.keys.push_back(std::move(key));
    ASSIGN_OR_RETURN(std::vector<uint32_t> counts, ToCounts(inv_path, fn));
    w.counts.push_back(std::move(counts));
  }
  if (no_duration > 0) {
    AddClause(w, fmt::format("{} functions without durations: exponential, mean {} s", no_duration,
                             kAzureDefaultServiceS));
  }
  if (no_memory > 0) {
    AddClause(w,
              fmt::format("{} functions without memory: {} MB", no_memory, kAzureDefaultMemoryMb));
  }
  RETURN_IF_ERROR(CheckStepArrivals(w, inv_path));
  return w;
}

// ---- Generic CSV ----------------------------------------------------------------------

namespace {

// The smallest positive gap between the file's distinct timestamps (at least 1 s). Lines
// that do not parse are skipped here: ReadCountCsv reports them on the second pass.
absl::StatusOr<int64_t> InferStepMs(const std::string& path) {
  ASSIGN_OR_RETURN(ingest::TableReader reader, ingest::TableReader::OpenFile(path));
  ASSIGN_OR_RETURN(size_t col, reader.Column("timestamp"));
  std::set<int64_t> times;
  reader.ForEachRow([&](const std::vector<std::string_view>& fields) -> absl::Status {
    ASSIGN_OR_RETURN(int64_t ms, ingest::ParseTimestampMs(fields[col]));
    times.insert(ms);
    return absl::OkStatus();
  });
  int64_t step = 0;
  for (auto it = times.begin(); it != times.end() && std::next(it) != times.end(); ++it) {
    const int64_t gap = *std::next(it) - *it;
    if (step == 0 || gap < step) step = gap;
  }
  return step == 0 ? kMinuteMs : std::max<int64_t>(step, 1000);
}

}  // namespace

absl::StatusOr<Workload> LoadCsv(const std::string& path, const TemplateShape& shape) {
  ASSIGN_OR_RETURN(int64_t step_ms, InferStepMs(path));
  ingest::CsvOptions options;
  options.max_count = kMaxCount;
  options.region_column = "region";
  options.template_column = "template";
  options.step_ms = step_ms;
  options.empty_step = ingest::EmptyStep::kZero;  // a row-per-event file: silence is no load
  ASSIGN_OR_RETURN(ingest::CountTable table, ingest::ReadCountCsv(path, options));
  RETURN_IF_ERROR(RequireRows(path, table.report));

  int64_t start = std::numeric_limits<int64_t>::max(), end = std::numeric_limits<int64_t>::min();
  for (const auto& [key, s] : table.series) {
    start = std::min(start, s.start_ms);
    end = std::max(end, s.TimeAt(s.size()));
  }
  const auto steps = static_cast<size_t>((end - start) / step_ms);
  RETURN_IF_ERROR(CheckCells(path, table.series.size(), steps));

  Workload w;
  w.name = std::filesystem::path(path).stem().string();
  w.start_unix_ms = start;
  w.step_ms = step_ms;
  AddReadReport(w, path, table.report);
  std::set<std::string> regions;
  size_t rounded = 0, missing = 0;
  for (const auto& [key, s] : table.series) {
    regions.insert(key.region);
    w.keys.push_back({key.region, key.template_name, shape.memory_mb, shape.concurrency,
                      ServiceTime{{}, shape.service_s}});
    std::vector<uint32_t>& counts = w.counts.emplace_back(steps, 0);
    const auto offset = static_cast<size_t>((s.start_ms - start) / step_ms);
    for (size_t i = 0; i < s.size(); ++i) {
      const double v = s.values[i];
      if (IsMissing(v)) {
        ++missing;
        continue;
      }
      if (v > kMaxCount) {
        return absl::OutOfRangeError(
            fmt::format("{}: {} has {} arrivals at {} (rows summed), more than the {} a step can "
                        "hold",
                        path, s.name, v, ingest::FormatIsoUtc(s.TimeAt(i)), kMaxStepArrivals));
      }
      counts[offset + i] = static_cast<uint32_t>(std::llround(v));
      rounded += (v != std::round(v));
    }
  }
  w.regions.assign(regions.begin(), regions.end());
  if (missing > 0)
    AddClause(w, fmt::format("{} steps with only missing counts read as 0", missing));
  if (rounded > 0) AddClause(w, fmt::format("{} fractional step counts rounded", rounded));
  RETURN_IF_ERROR(CheckStepArrivals(w, path));
  return w;
}

// ---- Replicate ------------------------------------------------------------------------

Workload Replicate(const Workload& w, int copies, uint64_t seed) {
  Workload out;
  out.name = fmt::format("{}x{}", w.name, copies);
  out.start_unix_ms = w.start_unix_ms;
  out.step_ms = w.step_ms;
  out.regions = w.regions;
  out.report = w.report;
  out.bad_lines = w.bad_lines;
  const size_t steps = w.steps();
  std::mt19937_64 rng(seed);
  for (int i = 0; i < copies; ++i) {
    const size_t rotation = steps > 0 ? UniformIndex(rng, steps) : 0;
    for (size_t k = 0; k < w.keys.size() && k < w.counts.size(); ++k) {
      KeySpec key = w.keys[k];
      key.tmpl = fmt::format("{}~{}", key.tmpl, i);
      if (!w.regions.empty()) key.region = w.regions[UniformIndex(rng, w.regions.size())];
      out.keys.push_back(std::move(key));
      const std::vector<uint32_t>& src = w.counts[k];
      std::vector<uint32_t>& dst = out.counts.emplace_back(src.size());
      const size_t r = src.empty() ? 0 : rotation % src.size();
      std::rotate_copy(src.begin(), src.begin() + static_cast<ptrdiff_t>(r), src.end(),
                       dst.begin());
    }
  }
  return out;
}

}  // namespace prewarm::sim
