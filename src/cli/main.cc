// prewarm: one binary, one subcommand per daemon or tool. Thin by design: each
// subcommand parses flags and calls into its library (see src/cli/up.cc).
#include <iostream>

#include "CLI/CLI.hpp"
#include "cli/up.h"
#include "common/logging.h"

int main(int argc, char** argv) {
  prewarm::InitLogging("info");
  CLI::App app{"prewarm — predictive pre-warming edge orchestrator"};
  app.require_subcommand(1);

  std::string config;
  bool print_config = false;
  auto* up = app.add_subcommand("up", "orchestrator + 3 agents + origin on this machine");
  up->add_option("--config", config, "config file (default: the embedded example)");
  up->add_flag("--print-config", print_config, "print the embedded default config and exit");

  auto* orch = app.add_subcommand("orchestrator", "the Edge Orchestrator: DNS, gRPC, placement");
  orch->add_option("--config", config, "orchestrator config file")->required();

  auto* agent = app.add_subcommand("agent", "the per-node agent: runs instances");
  agent->add_option("--config", config, "agent config file")->required();

  CLI11_PARSE(app, argc, argv);
  if (up->parsed()) {
    if (print_config) {
      std::cout << prewarm::cli::kEmbeddedUpConfig;
      return 0;
    }
    return prewarm::cli::RunUp(config);
  }
  if (orch->parsed()) return prewarm::cli::RunOrchestrator(config);
  if (agent->parsed()) return prewarm::cli::RunAgent(config);
  return 1;
}
