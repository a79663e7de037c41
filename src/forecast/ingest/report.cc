#include "forecast/ingest/report.h"

#include "fmt/format.h"

namespace prewarm::forecast::ingest {

void ReadReport::AddBad(std::string_view file, size_t line, std::string_view why) {
  ++lines;
  ++bad_lines;
  if (first_errors.size() < kMaxErrors) {
    first_errors.push_back(fmt::format("{}:{}: {}", file, line, why));
  }
}

std::string ReadReport::Summary() const {
  return fmt::format("{} rows, {} bad lines, {} gaps", rows, bad_lines, gaps);
}

}  // namespace prewarm::forecast::ingest
