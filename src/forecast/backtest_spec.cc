#include "forecast/backtest_spec.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <utility>

#include "common/yaml_reader.h"
#include "forecast/ingest/table_reader.h"
#include "forecast/ingest/text.h"
#include "forecast/ingest/timestamp.h"
#include "forecast/series.h"

namespace prewarm::forecast {
namespace {

constexpr int kMaxSteps = 50'000'000;

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
int64_t CeilDiv(int64_t a, int64_t b) { return -FloorDiv(-a, b); }

absl::StatusOr<int> ParseInt(const std::string& text) {
  int v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) {
    return absl::InvalidArgumentError(fmt::format("'{}' is not an integer", text));
  }
  return v;
}

absl::StatusOr<std::vector<int>> ReadPeriods(const YamlReader& r) {
  ASSIGN_OR_RETURN(std::vector<std::string> items, r.StringList("periods", std::nullopt));
  std::vector<int> out;
  for (const std::string& s : items) {
    absl::StatusOr<int> p = ParseInt(s);
    if (!p.ok() || *p < 1) return r.Error("periods", fmt::format("'{}' is not a period >= 1", s));
    out.push_back(*p);
  }
  if (out.empty()) return r.Error("periods", "needs at least one period");
  return out;
}

absl::StatusOr<std::optional<int>> ReadTrain(const YamlReader& r) {
  ASSIGN_OR_RETURN(std::string train, r.String("train", "all"));
  if (train == "all") return std::optional<int>();
  absl::StatusOr<int> v = ParseInt(train);
  if (!v.ok() || *v < 2) return r.Error("train", "must be 'all' or a number of steps >= 2");
  return std::optional<int>(*v);
}

absl::Status ReadFormatFields(const YamlReader& r, SeriesSpec& s) {
  if (s.format == "csv") {
    ASSIGN_OR_RETURN(s.time_column, r.String("time_column"));
    ASSIGN_OR_RETURN(s.value_column, r.String("value_column"));
    ASSIGN_OR_RETURN(s.time_format, r.String("time_format", ""));
    return absl::OkStatus();
  }
  if (s.format == "azure_wide") {
    ASSIGN_OR_RETURN(s.value_prefix, r.String("value_prefix"));
    ASSIGN_OR_RETURN(s.start, r.String("start", "1970-01-01 00:00:00"));
    ASSIGN_OR_RETURN(s.combine, r.String("combine"));
    if (s.combine != "sum" && s.combine != "each") {
      return r.Error("combine", "must be 'sum' or 'each'");
    }
    ASSIGN_OR_RETURN(int64_t top, r.Int("top", 0, 0, 1'000'000));
    s.top = static_cast<int>(top);
    return absl::OkStatus();
  }
  return r.Error("format", fmt::format("'{}' is not 'csv' or 'azure_wide'", s.format));
}

absl::StatusOr<SeriesSpec> ReadOne(const YamlReader& r) {
  SeriesSpec s;
  ASSIGN_OR_RETURN(s.name, r.String("name"));
  ASSIGN_OR_RETURN(s.source, r.String("source"));
  ASSIGN_OR_RETURN(s.format, r.String("format"));
  RETURN_IF_ERROR(ReadFormatFields(r, s));
  ASSIGN_OR_RETURN(s.native_step_s, r.Int("native_step_s", std::nullopt, 1, 366LL * 86400));
  ASSIGN_OR_RETURN(int64_t aggregate, r.Int("aggregate", 1, 1, 1'000'000));
  s.aggregate = static_cast<int>(aggregate);
  ASSIGN_OR_RETURN(s.step_s, r.Int("step_s", s.native_step_s * s.aggregate, 1, 1LL << 40));
  ASSIGN_OR_RETURN(s.periods, ReadPeriods(r));
  ASSIGN_OR_RETURN(int64_t horizon, r.Int("horizon", std::nullopt, 1, kMaxSteps));
  ASSIGN_OR_RETURN(int64_t origins, r.Int("origins", 20, 1, 100'000));
  ASSIGN_OR_RETURN(s.train, ReadTrain(r));
  ASSIGN_OR_RETURN(int64_t span, r.Int("origin_span", std::nullopt, 1, kMaxSteps));
  s.horizon = static_cast<int>(horizon);
  s.origins = static_cast<int>(origins);
  s.origin_span = static_cast<int>(span);
  absl::Status valid = ValidateSpec(s);
  if (!valid.ok()) return r.Error("", std::string(valid.message()));
  return s;
}

// The largest count a csv row may hold: no step of a real log holds more (WorldCup98's
// busiest minute is ~1.5e6), and a larger one would swamp every sum and error it is added to.
constexpr double kMaxCsvCount = 1e12;

struct Row {
  int64_t t;  // Unix seconds
  double v;
};

// The rows of a csv series whose time and value parse; the others are counted in `report`.
// As ingest::ReadCountCsv: a negative or non-numeric count (inf, nan) is a bad line,
// skipped and reported with its line; a count above kMaxCsvCount fails the whole read
// with its line, since a file that holds one is not a count log.
absl::StatusOr<std::vector<Row>> ReadCsvRows(const SeriesSpec& s, const std::string& path,
                                             ingest::ReadReport& report) {
  ASSIGN_OR_RETURN(ingest::TableReader reader, ingest::TableReader::OpenFile(path));
  ASSIGN_OR_RETURN(size_t tcol, reader.Column(s.time_column));
  ASSIGN_OR_RETURN(size_t vcol, reader.Column(s.value_column));
  std::vector<Row> rows;
  absl::Status too_big;
  reader.ForEachRow([&](const std::vector<std::string_view>& f) -> absl::Status {
    ASSIGN_OR_RETURN(int64_t t, ParseTimeUtc(std::string(f[tcol]), s.time_format));
    std::optional<double> v = ingest::ParseDouble(f[vcol]);
    if (!v) {
      return absl::InvalidArgumentError(fmt::format("count '{}' is not a finite number", f[vcol]));
    }
    if (*v < 0) return absl::InvalidArgumentError(fmt::format("count '{}' is negative", f[vcol]));
    if (*v > kMaxCsvCount) {
      absl::Status st = absl::OutOfRangeError(
          fmt::format("{}:{}: count '{}' is more than the {:g} a step may hold", reader.name(),
                      reader.line_number(), f[vcol], kMaxCsvCount));
      if (too_big.ok()) too_big = st;
      return st;
    }
    rows.push_back({t, *v});
    return absl::OkStatus();
  });
  RETURN_IF_ERROR(too_big);
  report = reader.report();
  return rows;
}

// Sums rows into whole buckets of step_s aligned to the epoch; partial buckets at either
// end are dropped, a bucket without rows is missing.
absl::StatusOr<BuiltSeries> BucketRows(const SeriesSpec& s, const std::vector<Row>& rows) {
  if (rows.empty()) return absl::InvalidArgumentError(fmt::format("{}: no usable rows", s.name));
  auto [lo, hi] = std::minmax_element(rows.begin(), rows.end(),
                                      [](const Row& a, const Row& b) { return a.t < b.t; });
  const int64_t b0 = CeilDiv(lo->t, s.step_s);
  const int64_t b1 = FloorDiv(hi->t + s.native_step_s, s.step_s) - 1;
  if (b1 < b0 || b1 - b0 >= kMaxSteps) {
    return absl::InvalidArgumentError(
        fmt::format("{}: {} whole steps of {} s between the first and last row", s.name,
                    b1 - b0 + 1, s.step_s));
  }
  BuiltSeries out;
  out.step_s = s.step_s;
  out.start_s = b0 * s.step_s;
  out.names = {s.name};
  std::vector<double>& y = out.ys.emplace_back(b1 - b0 + 1, kMissing);
  int64_t kept = 0;
  for (const Row& r : rows) {
    const int64_t b = FloorDiv(r.t, s.step_s);
    if (b < b0 || b > b1) continue;
    double& slot = y[b - b0];
    slot = (IsMissing(slot) ? 0.0 : slot) + r.v;
    ++kept;
  }
  const int64_t native_missing = static_cast<int64_t>(y.size()) * s.aggregate - kept;
  if (native_missing > 0) {
    out.notes.push_back(fmt::format("{} native steps missing in span", native_missing));
  }
  return out;
}

absl::StatusOr<BuiltSeries> BuildCsv(const SeriesSpec& s, const std::string& path) {
  ingest::ReadReport report;
  ASSIGN_OR_RETURN(std::vector<Row> rows, ReadCsvRows(s, path, report));
  ASSIGN_OR_RETURN(BuiltSeries out, BucketRows(s, rows));
  if (report.bad_lines > 0) {
    std::string first = report.first_errors.empty() ? "" : ", first: " + report.first_errors[0];
    out.notes.insert(out.notes.begin(),
                     fmt::format("{} unparsable lines skipped{}", report.bad_lines, first));
  }
  return out;
}

struct WideTable {
  std::vector<std::string> names;  // first column of each good row
  std::vector<std::vector<double>> rows;
  ingest::ReadReport report;
};

// The value columns prefix1, prefix2, ... (in that order) of every row that parses.
absl::StatusOr<WideTable> ReadWide(const SeriesSpec& s, const std::string& path) {
  ASSIGN_OR_RETURN(ingest::TableReader reader, ingest::TableReader::OpenFile(path));
  std::vector<size_t> cols;
  while (true) {
    absl::StatusOr<size_t> c = reader.Column(fmt::format("{}{}", s.value_prefix, cols.size() + 1));
    if (!c.ok()) break;
    cols.push_back(*c);
  }
  if (cols.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: no column '{}1' in the header", path, s.value_prefix));
  }
  WideTable t;
  reader.ForEachRow([&](const std::vector<std::string_view>& f) -> absl::Status {
    std::vector<double> row;
    for (size_t c : cols) {
      std::optional<double> v = ingest::ParseDouble(f[c]);
      if (!v) return absl::InvalidArgumentError(fmt::format("value '{}' is not a number", f[c]));
      row.push_back(*v);
    }
    t.names.emplace_back(f[0]);
    t.rows.push_back(std::move(row));
    return absl::OkStatus();
  });
  t.report = reader.report();
  if (t.rows.empty()) return absl::InvalidArgumentError(fmt::format("{}: no usable rows", path));
  return t;
}

// Row indices of the `top` largest row totals (ties: file order), all rows if top is 0.
std::vector<size_t> TopRows(const WideTable& t, int top) {
  std::vector<double> total;
  for (const auto& r : t.rows) total.push_back(std::accumulate(r.begin(), r.end(), 0.0));
  std::vector<size_t> order(t.rows.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return total[a] > total[b]; });
  if (top > 0 && static_cast<size_t>(top) < order.size()) order.resize(top);
  return order;
}

absl::StatusOr<BuiltSeries> BuildWide(const SeriesSpec& s, const std::string& path) {
  ASSIGN_OR_RETURN(WideTable t, ReadWide(s, path));
  BuiltSeries out;
  out.step_s = s.step_s;
  ASSIGN_OR_RETURN(out.start_s, ParseTimeUtc(s.start, ""));
  if (t.report.bad_lines > 0) {
    out.notes.push_back(fmt::format("{} unparsable lines skipped", t.report.bad_lines));
  }
  if (s.combine == "sum") {
    std::vector<double>& y = out.ys.emplace_back(t.rows[0].size(), 0.0);
    for (const auto& r : t.rows) {
      for (size_t j = 0; j < r.size(); ++j) y[j] += r[j];
    }
    out.names = {s.name};
    return out;
  }
  std::string picked;
  for (size_t r : TopRows(t, s.top)) {
    out.names.push_back(t.names[r]);
    out.ys.push_back(t.rows[r]);
    picked += fmt::format("{}{}", picked.empty() ? "" : " ", r + 1);
  }
  out.notes.push_back(fmt::format("{} rows of {} (rows {})", out.ys.size(), t.rows.size(), picked));
  return out;
}

std::string ResolvePath(const std::string& source, const std::string& root) {
  std::filesystem::path p(source);
  if (p.is_absolute() || root.empty()) return source;
  return (std::filesystem::path(root) / p).string();
}
}  // namespace

absl::Status ValidateSpec(const SeriesSpec& s) {
  if (s.step_s != s.native_step_s * s.aggregate) {
    return absl::InvalidArgumentError(
        fmt::format("{}: step_s {} != native_step_s {} * aggregate {}", s.name, s.step_s,
                    s.native_step_s, s.aggregate));
  }
  if (s.format == "azure_wide" && s.aggregate != 1) {
    return absl::InvalidArgumentError(fmt::format("{}: azure_wide needs aggregate 1", s.name));
  }
  if (s.origin_span < s.horizon) {
    return absl::InvalidArgumentError(fmt::format("{}: origin_span {} is shorter than horizon {}",
                                                  s.name, s.origin_span, s.horizon));
  }
  if (s.periods.empty()) return absl::InvalidArgumentError(fmt::format("{}: no periods", s.name));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SeriesSpec>> ParseSpec(const std::string& text,
                                                  const std::string& source) {
  ASSIGN_OR_RETURN(YamlReader root, YamlReader::FromString(text, source));
  ASSIGN_OR_RETURN(int64_t version, root.Int("version", 1, 1, 1));
  (void)version;
  ASSIGN_OR_RETURN(std::vector<YamlReader> items, root.MapList("series"));
  if (items.empty()) return root.Error("series", "lists no series");
  std::vector<SeriesSpec> out;
  for (const YamlReader& item : items) {
    ASSIGN_OR_RETURN(SeriesSpec s, ReadOne(item));
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<std::vector<SeriesSpec>> ReadSpecFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(fmt::format("cannot read spec '{}'", path));
  std::stringstream text;
  text << in.rdbuf();
  return ParseSpec(text.str(), path);
}

absl::StatusOr<SeriesSpec> FindSeries(const std::vector<SeriesSpec>& specs,
                                      const std::string& name) {
  std::vector<std::string> names;
  for (const SeriesSpec& s : specs) {
    if (s.name == name) return s;
    names.push_back(s.name);
  }
  std::string listed;
  for (const std::string& n : names) listed += (listed.empty() ? "" : ", ") + n;
  return absl::NotFoundError(fmt::format("no series '{}' in the spec (series: {})", name, listed));
}

absl::StatusOr<BuiltSeries> BuildSeries(const SeriesSpec& spec, const std::string& root) {
  RETURN_IF_ERROR(ValidateSpec(spec));
  const std::string path = ResolvePath(spec.source, root);
  absl::StatusOr<BuiltSeries> built =
      spec.format == "csv" ? BuildCsv(spec, path) : BuildWide(spec, path);
  if (!built.ok()) return built.status();
  for (const std::vector<double>& y : built->ys) {
    built->missing += std::count_if(y.begin(), y.end(), [](double v) { return IsMissing(v); });
  }
  return built;
}

std::vector<int> OriginIndices(int n, int h, int span, int count) {
  const int64_t first = n - span, last = n - h;
  if (count <= 1) return {static_cast<int>(last)};
  std::vector<int> out;
  for (int64_t i = 0; i < count; ++i) {
    out.push_back(static_cast<int>(first + i * (last - first) / (count - 1)));
  }
  return out;
}

absl::StatusOr<int64_t> ParseTimeUtc(const std::string& text, const std::string& format) {
  if (format.empty() || format == "auto") {
    ASSIGN_OR_RETURN(int64_t ms, ingest::ParseTimestampMs(ingest::TrimSpace(text)));
    return FloorDiv(ms, 1000);
  }
  std::tm tm{};
  const char* end = ::strptime(text.c_str(), format.c_str(), &tm);
  while (end != nullptr && *end == ' ') ++end;
  if (end == nullptr || *end != '\0') {
    return absl::InvalidArgumentError(fmt::format("time '{}' does not match '{}'", text, format));
  }
  return static_cast<int64_t>(::timegm(&tm));
}

}  // namespace prewarm::forecast
