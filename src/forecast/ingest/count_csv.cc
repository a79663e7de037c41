#include "forecast/ingest/count_csv.h"

#include <filesystem>
#include <utility>

#include "absl/status/status.h"
#include "common/status.h"
#include "forecast/ingest/table_reader.h"

namespace prewarm::forecast::ingest {
namespace {

struct Columns {
  size_t timestamp = 0;
  size_t count = 0;
  std::optional<size_t> region;
  std::optional<size_t> template_name;
};

absl::StatusOr<std::optional<size_t>> OptionalColumn(const TableReader& reader,
                                                     const std::optional<std::string>& name) {
  if (!name) return std::optional<size_t>();
  ASSIGN_OR_RETURN(size_t index, reader.Column(*name));
  return std::optional<size_t>(index);
}

absl::StatusOr<Columns> FindColumns(const TableReader& reader, const CsvOptions& options) {
  Columns cols;
  ASSIGN_OR_RETURN(cols.timestamp, reader.Column(options.timestamp_column));
  ASSIGN_OR_RETURN(cols.count, reader.Column(options.count_column));
  ASSIGN_OR_RETURN(cols.region, OptionalColumn(reader, options.region_column));
  ASSIGN_OR_RETURN(cols.template_name, OptionalColumn(reader, options.template_column));
  return cols;
}

std::string SeriesName(const Key& key, const std::string& file) {
  if (key.region.empty() && key.template_name.empty()) {
    return std::filesystem::path(file).stem().string();
  }
  if (key.region.empty()) return key.template_name;
  if (key.template_name.empty()) return key.region;
  return fmt::format("{}/{}", key.region, key.template_name);
}

// Adds one row to the accumulator of its key.
class Accumulators {
 public:
  Accumulators(const Columns& cols, const CsvOptions& options) : cols_(cols), options_(options) {}

  absl::Status AddRow(const std::vector<std::string_view>& fields) {
    ASSIGN_OR_RETURN(int64_t unix_ms,
                     ParseTimestampMs(fields[cols_.timestamp], options_.time_format));
    std::string_view cell = fields[cols_.count];
    std::optional<double> count;
    if (!IsMissingValue(cell)) {
      count = ParseDouble(cell);
      if (!count || (*count < 0 && !options_.allow_negative)) {
        return absl::InvalidArgumentError(fmt::format("bad count '{}'", cell));
      }
      if (*count > options_.max_count) {
        return absl::OutOfRangeError(fmt::format(
            "count {} is more than the {} this reader may hold", cell, options_.max_count));
      }
    }
    StepAccumulator& steps = StepsOf(KeyOf(fields));
    if (count) {
      steps.Add(unix_ms, *count);
    } else {
      steps.AddMissing(unix_ms);
      ++missing_values_;
    }
    return absl::OkStatus();
  }

  size_t missing_values() const { return missing_values_; }

  absl::StatusOr<std::map<Key, Series>> Build(const std::string& file) const {
    std::map<Key, Series> out;
    for (const auto& [key, steps] : steps_) {
      ASSIGN_OR_RETURN(Series s,
                       steps.Build(SeriesName(key, file), options_.empty_step, options_.max_steps));
      out.emplace(key, std::move(s));
    }
    return out;
  }

 private:
  Key KeyOf(const std::vector<std::string_view>& fields) const {
    Key key;
    if (cols_.region) key.region = fields[*cols_.region];
    if (cols_.template_name) key.template_name = fields[*cols_.template_name];
    return key;
  }

  StepAccumulator& StepsOf(Key key) {
    auto it = steps_.find(key);
    if (it == steps_.end()) it = steps_.emplace(std::move(key), options_.step_ms).first;
    return it->second;
  }

  const Columns cols_;
  const CsvOptions& options_;
  std::map<Key, StepAccumulator> steps_;
  size_t missing_values_ = 0;
};

}  // namespace

CsvOptions WorldCup98Options() {
  CsvOptions o;
  o.timestamp_column = "period";
  o.count_column = "count";
  o.step_ms = 60'000;
  return o;
}

CsvOptions ProphetOptions(int64_t step_ms) {
  CsvOptions o;
  o.timestamp_column = "ds";
  o.count_column = "y";
  o.step_ms = step_ms;
  return o;
}

absl::StatusOr<CountTable> ReadCountCsv(const std::string& path, const CsvOptions& options) {
  ASSIGN_OR_RETURN(LineSource src, LineSource::OpenFile(path));
  return ReadCountCsv(std::move(src), options);
}

absl::StatusOr<CountTable> ReadCountCsv(LineSource src, const CsvOptions& options) {
  if (options.step_ms <= 0) {
    return absl::InvalidArgumentError(fmt::format("step_ms {} <= 0", options.step_ms));
  }
  ASSIGN_OR_RETURN(TableReader reader, TableReader::Open(std::move(src), options.delimiter));
  ASSIGN_OR_RETURN(Columns cols, FindColumns(reader, options));
  Accumulators acc(cols, options);
  absl::Status too_big;
  reader.ForEachRow([&](const std::vector<std::string_view>& f) {
    absl::Status st = acc.AddRow(f);
    if (absl::IsOutOfRange(st) && too_big.ok()) {
      too_big = absl::OutOfRangeError(
          fmt::format("{}:{}: {}", reader.name(), reader.line_number(), st.message()));
    }
    return st;
  });
  RETURN_IF_ERROR(too_big);
  CountTable table;
  ASSIGN_OR_RETURN(table.series, acc.Build(reader.name()));
  table.report = std::move(reader.report());
  table.report.missing_values = acc.missing_values();
  for (const auto& [key, s] : table.series) table.report.gaps += CountGaps(s);
  return table;
}

}  // namespace prewarm::forecast::ingest
