#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "security/tls.h"

namespace prewarm::cli {

struct CtlOptions {
  std::string target = "127.0.0.1:7400";  // orchestrator gRPC address
  std::string command;                    // nodes | instances | drain | undrain | prefetch...
  // The operator's certificate (`--certs DIR`: DIR/ca.crt, DIR/operator.crt, .key); none:
  // plaintext, to a loopback orchestrator only.
  std::string certs_dir;
  security::TlsConfig tls;
  std::string node;
  std::string tmpl;
  std::string region;
  unsigned target_concurrency = 1;
  int64_t window_s = 600;  // prefetch window length from now
  std::vector<std::string> content;
};

// `prewarm ctl`: the operator's client for OrchestratorService. Prints a table; returns
// the process exit code (non-zero on RPC errors, with the server's message).
int RunCtl(CtlOptions o);

}  // namespace prewarm::cli
