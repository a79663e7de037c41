// Tests only: Prometheus' own parser and linter (`promtool check metrics`, Debian's
// `prometheus` package) on a /metrics text, as a scrape would see it.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "common/process.h"
#include "common/status.h"
#include "fmt/format.h"

namespace prewarm {

// "" when promtool is not installed (tools/install-deps installs it).
inline std::string PromtoolPath() {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"}) {
    std::string p = std::string(dir) + "/promtool";
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

// OK when promtool accepts `text` (lint warnings included: they fail too).
inline absl::Status PromtoolCheckMetrics(const std::string& text) {
  const std::string promtool = PromtoolPath();
  if (promtool.empty()) return absl::NotFoundError("promtool is not installed");
  char dir[] = "/tmp/prewarm-promtool.XXXXXX";
  if (mkdtemp(dir) == nullptr) return absl::InternalError("mkdtemp failed");
  const std::string file = std::string(dir) + "/metrics.txt";
  std::ofstream(file) << text;
  RealProcessRunner runner;
  auto r = runner.Run({"sh", "-c", "'" + promtool + "' check metrics < '" + file + "'"},
                      std::chrono::seconds(30));
  std::remove(file.c_str());
  rmdir(dir);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InvalidArgumentError(
        fmt::format("promtool check metrics: exit {}: {}", r->exit_code, r->output));
  }
  return absl::OkStatus();
}

}  // namespace prewarm
