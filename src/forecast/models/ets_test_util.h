// Test helpers for the ETS / transform / Croston tests: the R fixture (a small JSON file
// written by tools/r/ets_airpassengers.R, read here by key without a JSON library) and
// the traces directory.
#pragma once

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "fmt/format.h"

namespace prewarm::forecast::testing {

inline std::optional<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Flat lookups in the fixture: `section` is a top-level object key ("" for top level).
class RFixture {
 public:
  static std::optional<RFixture> Load() {
    auto text = ReadWholeFile(std::string(PREWARM_FIXTURES_DIR) + "/ets_airpassengers.json");
    if (!text) return std::nullopt;
    return RFixture(*text);
  }
  double Number(std::string_view section, std::string_view key) const {
    return std::strtod(text_.c_str() + ValueAt(section, key), nullptr);
  }
  std::string String(std::string_view section, std::string_view key) const {
    size_t at = text_.find('"', ValueAt(section, key)) + 1;
    return text_.substr(at, text_.find('"', at) - at);
  }
  std::vector<double> Array(std::string_view section, std::string_view key) const {
    std::vector<double> out;
    const char* p = text_.c_str() + text_.find('[', ValueAt(section, key)) + 1;
    while (*p != ']' && *p != '\0') {
      char* end = nullptr;
      out.push_back(std::strtod(p, &end));
      p = end;
      while (*p == ',' || *p == ' ' || *p == '\n') ++p;
    }
    return out;
  }

 private:
  explicit RFixture(std::string text) : text_(std::move(text)) {}
  size_t ValueAt(std::string_view section, std::string_view key) const {
    size_t from = section.empty() ? 0 : text_.find(fmt::format("\"{}\":", section));
    size_t at = text_.find(fmt::format("\"{}\":", key), from);
    return at == std::string::npos ? text_.size() : at + key.size() + 3;
  }
  std::string text_;
};

// The `y` column of a ds,y CSV under the traces directory; empty if absent.
inline std::vector<double> ReadTraceColumn(const std::string& relative) {
  std::vector<double> out;
  auto text = ReadWholeFile(std::string(PREWARM_TRACES_DIR) + "/" + relative);
  if (!text) return out;
  std::istringstream in(*text);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    size_t comma = line.rfind(',');
    if (comma != std::string::npos) out.push_back(std::strtod(line.c_str() + comma + 1, nullptr));
  }
  return out;
}

inline std::vector<double> AirPassengers() {
  return ReadTraceColumn("prophet/example_air_passengers.csv");
}

}  // namespace prewarm::forecast::testing
