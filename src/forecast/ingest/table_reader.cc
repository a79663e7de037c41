#include "forecast/ingest/table_reader.h"

#include "common/status.h"

namespace prewarm::forecast::ingest {

absl::StatusOr<TableReader> TableReader::OpenFile(const std::string& path, char delimiter) {
  ASSIGN_OR_RETURN(LineSource source, LineSource::OpenFile(path));
  return Open(std::move(source), delimiter);
}

absl::StatusOr<TableReader> TableReader::Open(LineSource source, char delimiter) {
  if (delimiter == '"' || delimiter == '\n' || delimiter == '\r') {
    return absl::InvalidArgumentError(fmt::format("bad delimiter '{}'", delimiter));
  }
  TableReader reader(std::move(source), delimiter);
  std::optional<std::string_view> line;
  while ((line = reader.source_.Next()) && TrimSpace(*line).empty()) {
  }
  if (!line) {
    return absl::InvalidArgumentError(fmt::format("{}: no header line", reader.name()));
  }
  auto fields = SplitFields(*line, delimiter);
  if (!fields) {
    return absl::InvalidArgumentError(fmt::format("{}:{}: unterminated quote in header",
                                                  reader.name(), reader.source_.line_number()));
  }
  reader.header_.assign(fields->begin(), fields->end());
  reader.header_line_ = reader.source_.line_number();
  return reader;
}

absl::StatusOr<size_t> TableReader::Column(std::string_view name) const {
  for (size_t i = 0; i < header_.size(); ++i) {
    if (EqualsIgnoreCase(header_[i], name)) return i;
  }
  std::string listed;
  for (const std::string& h : header_) {
    listed += fmt::format("{}'{}'", listed.empty() ? "" : ", ", h);
  }
  if (listed.size() > 200) listed = listed.substr(0, 200) + "...";
  return absl::InvalidArgumentError(fmt::format("{}:{}: no column '{}' in header [{}]",
                                                source_.name(), header_line_, name, listed));
}

std::optional<absl::StatusOr<std::vector<std::string_view>>> TableReader::NextFields() {
  std::optional<std::string_view> line;
  while ((line = source_.Next()) && TrimSpace(*line).empty()) {
  }
  if (!line) return std::nullopt;
  auto fields = SplitFields(*line, delimiter_);
  if (!fields) {
    return absl::StatusOr<std::vector<std::string_view>>(
        absl::InvalidArgumentError("unterminated quote"));
  }
  if (fields->size() != header_.size()) {
    return absl::StatusOr<std::vector<std::string_view>>(absl::InvalidArgumentError(
        fmt::format("expected {} fields, got {}", header_.size(), fields->size())));
  }
  return absl::StatusOr<std::vector<std::string_view>>(std::move(*fields));
}

}  // namespace prewarm::forecast::ingest
