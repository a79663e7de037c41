#include "forecast/ingest/azure.h"

#include <utility>

#include "absl/status/status.h"
#include "common/status.h"
#include "forecast/ingest/table_reader.h"

namespace prewarm::forecast::ingest {
namespace {

constexpr int64_t kMinuteMs = 60'000;
constexpr size_t kSeriesNameChars = 8;

absl::Status BadValue(std::string_view column, std::string_view text) {
  return absl::InvalidArgumentError(fmt::format("bad {} '{}'", column, text));
}

// A non-negative number from the named column.
absl::StatusOr<double> NonNegative(const std::vector<std::string_view>& fields, size_t index,
                                   std::string_view column) {
  auto v = ParseDouble(fields[index]);
  if (!v || *v < 0) return BadValue(column, fields[index]);
  return *v;
}

absl::StatusOr<uint64_t> Count(const std::vector<std::string_view>& fields, size_t index,
                               std::string_view column) {
  auto v = ParseUint(fields[index]);
  if (!v) return BadValue(column, fields[index]);
  return *v;
}

// Indices of minute_1..minute_M, which must all be there.
absl::StatusOr<std::vector<size_t>> MinuteColumns(const TableReader& reader) {
  std::vector<size_t> index;
  for (size_t minute = 1;; ++minute) {
    auto col = reader.Column(fmt::format("minute_{}", minute));
    if (!col.ok()) break;
    index.push_back(*col);
  }
  if (index.empty()) return reader.Column("minute_1").status();
  return index;
}

struct InvocationColumns {
  size_t function = 0, owner = 0, app = 0;
  std::vector<size_t> minutes;
};

absl::StatusOr<InvocationColumns> FindInvocationColumns(const TableReader& reader) {
  InvocationColumns c;
  ASSIGN_OR_RETURN(c.function, reader.Column("HashFunction"));
  ASSIGN_OR_RETURN(c.owner, reader.Column("HashOwner"));
  ASSIGN_OR_RETURN(c.app, reader.Column("HashApp"));
  ASSIGN_OR_RETURN(c.minutes, MinuteColumns(reader));
  return c;
}

Series DaySeries(std::string name, size_t minutes) {
  return Series{std::move(name), kAzureDayStartMs, kMinuteMs, std::vector<double>(minutes, 0.0)};
}

absl::StatusOr<AzureFunction> ParseFunction(const std::vector<std::string_view>& f,
                                            const InvocationColumns& c) {
  AzureFunction fn{
      std::string(f[c.function]), std::string(f[c.owner]), std::string(f[c.app]),
      DaySeries(std::string(f[c.function].substr(0, kSeriesNameChars)), c.minutes.size())};
  if (fn.function_hash.empty()) return absl::InvalidArgumentError("empty HashFunction");
  for (size_t m = 0; m < c.minutes.size(); ++m) {
    auto v = ParseUint(f[c.minutes[m]]);
    if (!v) return BadValue(fmt::format("minute_{}", m + 1), f[c.minutes[m]]);
    fn.invocations.values[m] = static_cast<double>(*v);
  }
  return fn;
}

}  // namespace

absl::StatusOr<AzureInvocations> ReadAzureInvocations(const std::string& path) {
  ASSIGN_OR_RETURN(TableReader reader, TableReader::OpenFile(path));
  ASSIGN_OR_RETURN(InvocationColumns cols, FindInvocationColumns(reader));
  AzureInvocations out;
  out.sum = DaySeries("Sum", cols.minutes.size());
  reader.ForEachRow([&](const std::vector<std::string_view>& fields) -> absl::Status {
    ASSIGN_OR_RETURN(AzureFunction fn, ParseFunction(fields, cols));
    fn.line = reader.line_number();
    for (size_t m = 0; m < fn.invocations.size(); ++m) {
      out.sum.values[m] += fn.invocations.values[m];
    }
    out.functions.push_back(std::move(fn));
    return absl::OkStatus();
  });
  out.report = std::move(reader.report());
  return out;
}

absl::StatusOr<AzureDurations> ReadAzureDurations(const std::string& path) {
  ASSIGN_OR_RETURN(TableReader reader, TableReader::OpenFile(path));
  std::vector<std::string> names = {"HashFunction", "HashOwner", "HashApp", "Average",
                                    "Count",        "Minimum",   "Maximum"};
  for (int p : kAzureDurationPercentiles) names.push_back(fmt::format("percentile_Average_{}", p));
  std::vector<size_t> col;
  for (const std::string& name : names) {
    ASSIGN_OR_RETURN(size_t index, reader.Column(name));
    col.push_back(index);
  }
  AzureDurations out;
  reader.ForEachRow([&](const std::vector<std::string_view>& f) -> absl::Status {
    AzureDuration d{std::string(f[col[1]]), std::string(f[col[2]])};
    ASSIGN_OR_RETURN(d.average_ms, NonNegative(f, col[3], names[3]));
    ASSIGN_OR_RETURN(d.count, Count(f, col[4], names[4]));
    ASSIGN_OR_RETURN(d.minimum_ms, NonNegative(f, col[5], names[5]));
    ASSIGN_OR_RETURN(d.maximum_ms, NonNegative(f, col[6], names[6]));
    for (size_t i = 0; i < d.percentile_ms.size(); ++i) {
      ASSIGN_OR_RETURN(d.percentile_ms[i], NonNegative(f, col[7 + i], names[7 + i]));
    }
    if (!out.by_function.emplace(std::string(f[col[0]]), std::move(d)).second) {
      return absl::InvalidArgumentError(fmt::format("duplicate HashFunction {}", f[col[0]]));
    }
    return absl::OkStatus();
  });
  out.report = std::move(reader.report());
  return out;
}

absl::StatusOr<AzureMemoryTable> ReadAzureMemory(const std::string& path) {
  ASSIGN_OR_RETURN(TableReader reader, TableReader::OpenFile(path));
  std::vector<std::string> names = {"HashApp", "HashOwner", "SampleCount", "AverageAllocatedMb"};
  for (int p : kAzureMemoryPercentiles) names.push_back(fmt::format("AverageAllocatedMb_pct{}", p));
  std::vector<size_t> col;
  for (const std::string& name : names) {
    ASSIGN_OR_RETURN(size_t index, reader.Column(name));
    col.push_back(index);
  }
  AzureMemoryTable out;
  reader.ForEachRow([&](const std::vector<std::string_view>& f) -> absl::Status {
    AzureMemory m{std::string(f[col[1]])};
    ASSIGN_OR_RETURN(m.sample_count, Count(f, col[2], names[2]));
    ASSIGN_OR_RETURN(m.average_allocated_mb, NonNegative(f, col[3], names[3]));
    for (size_t i = 0; i < m.percentile_mb.size(); ++i) {
      ASSIGN_OR_RETURN(m.percentile_mb[i], NonNegative(f, col[4 + i], names[4 + i]));
    }
    if (!out.by_app.emplace(std::string(f[col[0]]), std::move(m)).second) {
      return absl::InvalidArgumentError(fmt::format("duplicate HashApp {}", f[col[0]]));
    }
    return absl::OkStatus();
  });
  out.report = std::move(reader.report());
  return out;
}

}  // namespace prewarm::forecast::ingest
