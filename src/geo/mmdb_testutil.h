// Test helper: a small MaxMind-format database written by src/geo/testdata/write_mmdb.pl
// (Debian's libmaxmind-db-writer-perl). Nothing is downloaded.
#pragma once

#include <chrono>
#include <fstream>
#include <string>

#include "common/process.h"
#include "common/status.h"
#include "fmt/format.h"

namespace prewarm::geo {

// `networks`: one "CIDR COUNTRY LATITUDE LONGITUDE" per line, "-" for a missing field.
// The file is replaced atomically (written beside `path`, then renamed).
inline absl::Status WriteTestMmdb(const std::string& path, const std::string& networks) {
  const std::string list = path + ".networks";
  {
    std::ofstream f(list, std::ios::trunc);
    f << networks;
    if (!f.good()) return absl::InternalError(fmt::format("cannot write {}", list));
  }
  RealProcessRunner runner;
  ASSIGN_OR_RETURN(ProcessResult r,
                   runner.Run({"perl", PREWARM_WRITE_MMDB, list, path}, std::chrono::seconds(60)));
  if (r.exit_code != 0) {
    return absl::InternalError(fmt::format("write_mmdb.pl exited {}: {}", r.exit_code, r.output));
  }
  return absl::OkStatus();
}

}  // namespace prewarm::geo
