// Request counts from a delimited text file with a header: one series per (region,
// template), `timestamp,count` or `timestamp,region,template,count`, any column order.
//
// Semantics, for callers to rely on:
//  - Rows are bucketed into steps of `step_ms` aligned to the Unix epoch; rows whose
//    timestamps fall in the same step (sub-step events, or the same timestamp twice) are
//    SUMMED: the file is read as per-event or per-interval counts, not as a level.
//  - Each series spans its own first to last observed step; a step in between with no
//    row is a gap (kMissing), not a zero, unless `empty_step` says otherwise.
//  - A count cell saying "missing" ("", NaN, NA, N/A, null: pandas/R/Prophet) is a row,
//    counted in report.missing_values: its step stays a gap unless another row fills it.
//  - Input order does not matter.
//  - A line that does not parse (field count, timestamp, count) is counted in the report
//    with its reason and skipped; only I/O, a missing header/column or an absurd time span
//    are errors.
#pragma once

#include <compare>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "forecast/ingest/report.h"
#include "forecast/ingest/step_accumulator.h"
#include "forecast/ingest/text.h"
#include "forecast/ingest/timestamp.h"
#include "forecast/series.h"

namespace prewarm::forecast::ingest {

// Which series a count belongs to. Empty parts when the input has no such column.
struct Key {
  std::string region;
  std::string template_name;

  auto operator<=>(const Key&) const = default;
  bool operator==(const Key&) const = default;
};

struct CsvOptions {
  std::string timestamp_column = "timestamp";  // header names match case-insensitively
  std::string count_column = "count";
  std::optional<std::string> region_column;
  std::optional<std::string> template_column;
  char delimiter = ',';
  int64_t step_ms = 60'000;
  TimeFormat time_format = TimeFormat::kAuto;
  EmptyStep empty_step = EmptyStep::kGap;
  bool allow_negative = false;  // a negative request count is a bad line by default
  size_t max_steps = 50'000'000;
  // A count above this fails the whole read with "file:line: ..." (not a skipped line): a
  // consumer that must hold every counted request sets what it can hold.
  double max_count = std::numeric_limits<double>::infinity();
};

// WorldCup98 requests per minute: `period,count`.
CsvOptions WorldCup98Options();
// Prophet example files: `ds,y` (quoted or not) at the given spacing.
CsvOptions ProphetOptions(int64_t step_ms);

// Series are named "region/template" when keyed, else after the file ("wc98_requests_...").
struct CountTable {
  std::map<Key, Series> series;
  ReadReport report;
};

absl::StatusOr<CountTable> ReadCountCsv(const std::string& path, const CsvOptions& options);
absl::StatusOr<CountTable> ReadCountCsv(LineSource source, const CsvOptions& options);

}  // namespace prewarm::forecast::ingest
