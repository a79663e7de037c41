#include "forecast/ingest/text.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "common/status.h"

namespace prewarm::forecast::ingest {

absl::StatusOr<LineSource> LineSource::OpenFile(const std::string& path) {
  auto in = std::make_unique<std::ifstream>(path, std::ios::binary);
  if (!in->is_open()) return ErrnoStatus(errno, fmt::format("open {}", path));
  return LineSource(path, std::move(in));
}

LineSource LineSource::FromString(std::string name, std::string text) {
  return LineSource(std::move(name), std::make_unique<std::istringstream>(std::move(text)));
}

std::optional<std::string_view> LineSource::Next() {
  if (!std::getline(*in_, line_)) return std::nullopt;
  ++line_number_;
  std::string_view line = line_;
  if (line_number_ == 1 && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);  // BOM
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::vector<std::string_view>> SplitFields(std::string_view line, char delim) {
  std::vector<std::string_view> fields;
  size_t pos = 0;
  while (true) {
    while (pos < line.size() && line[pos] == ' ' && delim != ' ') ++pos;
    size_t end;
    if (pos < line.size() && line[pos] == '"') {
      size_t close = pos + 1;
      while (true) {  // the closing quote is one not followed by another quote
        close = line.find('"', close);
        if (close == std::string_view::npos) return std::nullopt;
        if (close + 1 < line.size() && line[close + 1] == '"') {
          close += 2;
          continue;
        }
        break;
      }
      fields.push_back(line.substr(pos + 1, close - pos - 1));
      end = line.find(delim, close + 1);
      if (TrimSpace(line.substr(close + 1, end - close - 1)) != "") return std::nullopt;
    } else {
      end = line.find(delim, pos);
      fields.push_back(TrimSpace(line.substr(pos, end - pos)));
    }
    if (end == std::string_view::npos) return fields;
    pos = end + 1;
  }
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::optional<size_t> FindColumn(const std::vector<std::string_view>& header,
                                 std::string_view name) {
  for (size_t i = 0; i < header.size(); ++i) {
    if (EqualsIgnoreCase(header[i], name)) return i;
  }
  return std::nullopt;
}

bool IsMissingValue(std::string_view s) {
  return s.empty() || EqualsIgnoreCase(s, "nan") || EqualsIgnoreCase(s, "na") ||
         EqualsIgnoreCase(s, "n/a") || EqualsIgnoreCase(s, "null");
}

std::optional<double> ParseDouble(std::string_view s) {
  double v = 0;
  const char* begin = s.data() + (s.starts_with('+') ? 1 : 0);
  auto [p, ec] = std::from_chars(begin, s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || begin == p || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

std::optional<uint64_t> ParseUint(std::string_view s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

}  // namespace prewarm::forecast::ingest
