#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "security/tls.h"

namespace prewarm::cli {

struct CtlOptions {
  std::string target = "127.0.0.1:7400";  // orchestrator gRPC address
  std::string command;  // nodes | instances | templates | forecasts | logs | drain | ...
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
  // `logs INSTANCE [--tail N] [--node NODE]`
  std::string instance;
  uint32_t tail_lines = 0;  // 0: everything the agent keeps
  // `-o table` (aligned columns for people) or `-o json` (the RPC's response in protobuf's
  // JSON mapping, field names as in the .proto: for scripts and jq).
  std::string output = "table";
  // `watch WHAT`: what to redraw (instances, nodes, prefetches, templates or forecasts:
  // the listing of that name, with its filters), how often, how many
  // times (0: until interrupted).
  std::string watch = "instances";
  double interval_s = 2;
  int64_t count = 0;
};

// `prewarm ctl`: the operator's client for OrchestratorService. Prints a table or JSON;
// returns the process exit code: 0 ok, 1 the RPC failed (with the server's message),
// 2 usage (bad certificates, unknown output format). `watch` redraws a listing every
// interval (on a terminal, in place; otherwise, or with -o json, one listing after
// another) until interrupted or `count` listings; it goes on through failed calls and
// returns 1 if the last one failed.
int RunCtl(CtlOptions o);

}  // namespace prewarm::cli
