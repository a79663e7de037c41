// A delimited file whose first non-blank line is a header, read row by row. Rows whose
// field count differs from the header's, or that the caller rejects, are counted in the
// report with "file:line: why" and skipped.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "forecast/ingest/report.h"
#include "forecast/ingest/text.h"

namespace prewarm::forecast::ingest {

class TableReader {
 public:
  // Reads the header; an empty input or an unterminated quote in it is an error.
  static absl::StatusOr<TableReader> Open(LineSource source, char delimiter = ',');
  static absl::StatusOr<TableReader> OpenFile(const std::string& path, char delimiter = ',');

  const std::vector<std::string>& header() const { return header_; }
  // Index of a header field (case-insensitive); the error names the file and header.
  absl::StatusOr<size_t> Column(std::string_view name) const;
  const std::string& name() const { return source_.name(); }
  // The line of the row ForEachRow is visiting (1-based).
  size_t line_number() const { return source_.line_number(); }

  // Calls `row(fields)` -> absl::Status for each data line with the header's field count.
  template <typename RowFn>
  void ForEachRow(RowFn&& row) {
    while (auto fields = NextFields()) {
      absl::Status status = fields->ok() ? row(**fields) : fields->status();
      if (status.ok()) {
        report_.AddRow();
      } else {
        report_.AddBad(source_.name(), source_.line_number(), status);
      }
    }
  }

  ReadReport& report() { return report_; }

 private:
  TableReader(LineSource source, char delimiter)
      : source_(std::move(source)), delimiter_(delimiter) {}
  // The fields of the next non-blank line (or why they are not usable); nullopt at the end.
  std::optional<absl::StatusOr<std::vector<std::string_view>>> NextFields();

  LineSource source_;
  char delimiter_;
  std::vector<std::string> header_;
  size_t header_line_ = 0;
  ReadReport report_;
};

}  // namespace prewarm::forecast::ingest
