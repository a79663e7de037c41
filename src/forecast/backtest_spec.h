// The series of a rolling-origin backtest and how to build them, per the protocol shared
// with tools/r/backtest.R (bench/forecast/README.md, bench/forecast/series.yaml):
//
//   ASSIGN_OR_RETURN(std::vector<SeriesSpec> specs, ReadSpecFile("bench/forecast/series.yaml"));
//   ASSIGN_OR_RETURN(SeriesSpec s, FindSeries(specs, "wc98_1h"));
//   ASSIGN_OR_RETURN(BuiltSeries b, BuildSeries(s));          // N = 2088
//   std::vector<int> o = OriginIndices(b.n(), s.horizon, s.origin_span, s.origins);
//
// `csv`: steps are buckets floor(t / step_s) of the UTC time; partial buckets at either end
// are dropped, a bucket sums the rows it has, a bucket without rows is missing (NaN), and
// a row whose time or value does not parse is skipped and counted. `azure_wide`: one row
// per function with value columns prefix1..prefixK, summed (`sum`) or kept apart for the
// `top` rows by total (`each`).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace prewarm::forecast {

struct SeriesSpec {
  std::string name;
  std::string source;  // as written; relative paths are resolved by BuildSeries
  std::string format;  // "csv" | "azure_wide"
  // csv. An empty time_format (or "auto") reads ISO dates or Unix numbers.
  std::string time_column, value_column, time_format;
  // azure_wide
  std::string value_prefix, start, combine;  // combine: "sum" | "each"
  int top = 0;                               // each: rows kept (0 = all)
  int64_t native_step_s = 60;
  int aggregate = 1;
  int64_t step_s = 60;
  std::vector<int> periods;  // shortest first; periods[0] is the MASE period
  int horizon = 1;
  int origins = 20;
  std::optional<int> train;  // steps before the origin; nullopt = all history
  int origin_span = 0;
};

// Parses a spec document; errors name the file and line. `source` names the text.
absl::StatusOr<std::vector<SeriesSpec>> ParseSpec(const std::string& text,
                                                  const std::string& source);
absl::StatusOr<std::vector<SeriesSpec>> ReadSpecFile(const std::string& path);
// The series called `name`; NotFound lists the names there are.
absl::StatusOr<SeriesSpec> FindSeries(const std::vector<SeriesSpec>& specs,
                                      const std::string& name);
// Checks the protocol fields against each other (step_s = native * aggregate, ...).
absl::Status ValidateSpec(const SeriesSpec& spec);

struct BuiltSeries {
  std::vector<std::string> names;       // one per sub-series
  std::vector<std::vector<double>> ys;  // equal lengths; NaN = missing step
  int64_t start_s = 0;                  // Unix seconds of step 0
  int64_t step_s = 60;
  int64_t missing = 0;             // missing steps over all sub-series
  std::vector<std::string> notes;  // skipped lines, missing native steps, ...
  int n() const { return ys.empty() ? 0 : static_cast<int>(ys[0].size()); }
};

// Reads `spec.source`: an absolute path, or relative to `root` when given, else to the
// working directory.
absl::StatusOr<BuiltSeries> BuildSeries(const SeriesSpec& spec, const std::string& root = "");

// 0-based first forecast step of each origin: first = n - span, last = n - h,
// o_i = first + floor(i (last - first) / (count - 1)); count 1 gives {last}.
std::vector<int> OriginIndices(int n, int h, int span, int count);

// Seconds since the Unix epoch of `text` read with the strptime format `format` as UTC
// (the whole text must match); an empty format or "auto" accepts ISO dates and Unix numbers.
absl::StatusOr<int64_t> ParseTimeUtc(const std::string& text, const std::string& format);

}  // namespace prewarm::forecast
