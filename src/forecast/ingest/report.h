// What a reader saw: every non-blank input line is either a row or a counted bad line.
// Garbage is reported here, never fatal and never silently dropped.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace prewarm::forecast::ingest {

struct ReadReport {
  static constexpr size_t kMaxErrors = 10;

  size_t lines = 0;      // non-blank data lines (header excluded); lines == rows + bad_lines
  size_t rows = 0;       // lines that contributed data
  size_t bad_lines = 0;  // lines rejected, with the first kMaxErrors reasons below
  std::vector<std::string> first_errors;  // "file:line: why"
  size_t gaps = 0;            // steps left missing (NaN) inside the span of the series produced
  size_t missing_values = 0;  // rows whose value cell said "missing" ("", NaN, NA, null)

  void AddRow() {
    ++lines;
    ++rows;
  }
  // Counts a rejected line and keeps its reason if fewer than kMaxErrors are kept.
  void AddBad(std::string_view file, size_t line, std::string_view why);
  void AddBad(std::string_view file, size_t line, const absl::Status& why) {
    AddBad(file, line, std::string_view(why.message().data(), why.message().size()));
  }
  // One line for logs: "125300 rows, 0 bad lines, 10 gaps".
  std::string Summary() const;
};

}  // namespace prewarm::forecast::ingest
