// Line and field plumbing shared by the readers: a line source over a file or a string,
// a delimited-field splitter that understands quotes, header lookup and strict numbers.
#pragma once

#include <cstdint>
#include <istream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace prewarm::forecast::ingest {

// Lines of a file or of an in-memory text, without their "\n" / "\r\n".
class LineSource {
 public:
  static absl::StatusOr<LineSource> OpenFile(const std::string& path);
  // `name` stands in for the file name in error messages.
  static LineSource FromString(std::string name, std::string text);

  // The next line (valid until the following call), or nullopt at end of input.
  std::optional<std::string_view> Next();
  // 1-based number of the line last returned.
  size_t line_number() const { return line_number_; }
  const std::string& name() const { return name_; }

 private:
  LineSource(std::string name, std::unique_ptr<std::istream> in)
      : name_(std::move(name)), in_(std::move(in)) {}

  std::string name_;
  std::unique_ptr<std::istream> in_;
  std::string line_;
  size_t line_number_ = 0;
};

std::string_view TrimSpace(std::string_view s);

// Splits one line on `delim`. A field may be quoted ("a,b"); its quotes are removed and
// "" inside it is kept as the two characters (no field here needs an embedded quote).
// Unquoted fields are trimmed of spaces. nullopt on an unterminated quote.
std::optional<std::vector<std::string_view>> SplitFields(std::string_view line, char delim);

bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Index of the header field equal to `name` (ASCII case-insensitive), if any.
std::optional<size_t> FindColumn(const std::vector<std::string_view>& header,
                                 std::string_view name);

// "", "NaN", "NA", "N/A", "null" (any case): how pandas, R and Prophet write a missing value.
bool IsMissingValue(std::string_view s);

// The whole of `s` as a finite double / a non-negative integer, or nullopt.
std::optional<double> ParseDouble(std::string_view s);
std::optional<uint64_t> ParseUint(std::string_view s);

}  // namespace prewarm::forecast::ingest
