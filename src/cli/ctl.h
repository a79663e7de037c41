#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace prewarm::cli {

struct CtlOptions {
  std::string target = "127.0.0.1:7400";  // orchestrator gRPC address
  std::string command;                     // nodes | instances | drain | prefetch
  std::string node;
  std::string tmpl;
  std::string region;
  unsigned target_concurrency = 1;
  int64_t window_s = 600;  // prefetch window length from now
  std::vector<std::string> content;
};

// `prewarm ctl`: the operator's client for OrchestratorService. Prints a table; returns
// the process exit code (non-zero on RPC errors, with the server's message).
int RunCtl(const CtlOptions& o);

}  // namespace prewarm::cli
