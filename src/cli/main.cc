// prewarm: one binary, one subcommand per daemon or tool. Thin by design: each
// subcommand parses flags and calls into its library (see src/cli/up.cc).
#include <iostream>

#include "CLI/CLI.hpp"
#include "cli/certs_cmd.h"
#include "cli/cluster_cmd.h"
#include "cli/completion.h"
#include "cli/ctl.h"
#include "cli/forecast_cmd.h"
#include "cli/forecaster_cmd.h"
#include "cli/image_cmd.h"
#include "cli/replay_cmd.h"
#include "cli/sim_cmd.h"
#include "cli/up.h"
#include "cli/up_config.h"
#include "common/logging.h"
#include "common/version.h"
#include "security/tls.h"

int main(int argc, char** argv) {
  prewarm::InitLogging("info");
  prewarm::security::RouteGrpcLogsToSpdlog();  // TLS refusals in gRPC's own log, in ours
  CLI::App app{"prewarm — predictive pre-warming edge orchestrator"};
  app.set_version_flag("--version", std::string("prewarm ") + prewarm::kVersion);
  app.require_subcommand(1);

  std::string config;
  bool print_config = false;
  auto* up = app.add_subcommand("up", "orchestrator + 3 agents + origin on this machine");
  up->add_option("--config", config, "config file (default: the embedded example)");
  up->add_flag("--print-config", print_config, "print the embedded default config and exit");
  std::string up_runtime;
  up->add_option("--runtime", up_runtime,
                 "run every agent's instances with this runtime: oci, qemu or fake");
  bool up_cluster = false;
  up->add_flag("--cluster", up_cluster,
               "3 etcd members, 2 orchestrator replicas, every link mutual TLS "
               "(examples/up-cluster.yaml)");

  auto* orch = app.add_subcommand("orchestrator", "the Edge Orchestrator: DNS, gRPC, placement");
  orch->add_option("--config", config, "orchestrator config file")->required();
  bool check_only = false;
  const char* check_help = "validate the config file and exit (0: valid), starting nothing";
  orch->add_flag("--check", check_only, check_help);

  auto* agent = app.add_subcommand("agent", "the per-node agent: runs instances");
  agent->add_option("--config", config, "agent config file")->required();
  agent->add_flag("--check", check_only, check_help);

  std::vector<std::string> history;
  auto* fc =
      app.add_subcommand("forecaster", "the forecaster: quantile forecasts -> prefetch requests");
  fc->add_option("--config", config, "forecaster config file")->required();
  fc->add_option("--history", history, "CSV history files: timestamp,region,template,count");
  fc->add_flag("--check", check_only, check_help);

  prewarm::cli::AddForecastCommand(app);  // runs from its callbacks
  prewarm::cli::AddSimCommand(app);       // runs from its callback
  prewarm::cli::AddReplayCommand(app);    // runs from its callback
  prewarm::cli::AddImageCommand(app);     // runs from its callbacks
  prewarm::cli::AddCertsCommand(app);     // runs from its callbacks
  prewarm::cli::AddClusterCommand(app);   // runs from its callbacks

  prewarm::cli::CtlOptions ctl;
  auto* ctl_cmd = app.add_subcommand(
      "ctl", "operator client: nodes, instances, templates, forecasts, logs, drain ...");
  ctl_cmd->add_option("--orchestrator", ctl.target, "orchestrator gRPC address")
      ->envname("PREWARM_ADDR")
      ->capture_default_str();
  ctl_cmd
      ->add_option("--certs", ctl.certs_dir,
                   "directory of `prewarm certs init`: ca.crt, operator.crt, operator.key")
      ->envname("PREWARM_CERTS");
  ctl_cmd->add_option("-o,--output", ctl.output, "table or json (the RPC's response)")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  ctl_cmd->add_option("--ca", ctl.tls.ca_file, "CA certificate (instead of --certs)");
  ctl_cmd->add_option("--cert", ctl.tls.cert_file, "operator certificate (instead of --certs)");
  ctl_cmd->add_option("--key", ctl.tls.key_file, "operator key (instead of --certs)");
  // `ctl nodes --orchestrator X` works as well as `ctl --orchestrator X nodes`.
  ctl_cmd->fallthrough();
  ctl_cmd->require_subcommand(1);
  ctl_cmd->add_subcommand("nodes", "list edge nodes");
  auto* inst = ctl_cmd->add_subcommand("instances", "list instances");
  inst->add_option("--node", ctl.node, "only this node");
  inst->add_option("--template", ctl.tmpl, "only this template");
  auto* drain = ctl_cmd->add_subcommand("drain", "stop placing on a node and drain it");
  drain->add_option("node", ctl.node, "node id")->required();
  auto* undrain = ctl_cmd->add_subcommand("undrain", "undo a drain: the node takes new instances");
  undrain->add_option("node", ctl.node, "node id")->required();
  ctl_cmd->add_subcommand("prefetches", "the latest prefetch request per region and template");
  ctl_cmd->add_subcommand("templates", "the templates the orchestrator serves");
  auto* forecasts = ctl_cmd->add_subcommand(
      "forecasts", "per region and template: the latest forecast and its prefetch windows");
  forecasts->add_option("--region", ctl.region, "only this region");
  forecasts->add_option("--template", ctl.tmpl, "only this template");
  auto* logs = ctl_cmd->add_subcommand(
      "logs", "an instance's workload output (stdout and stderr; a VM's console)");
  logs->add_option("instance", ctl.instance, "instance id")->required();
  logs->add_option("--tail", ctl.tail_lines, "only the last N lines (0: all the agent keeps)")
      ->check(CLI::Range(0, 1'000'000))
      ->capture_default_str();
  logs->add_option("--node", ctl.node, "its node: needed once the orchestrator forgot it (ended)");
  auto* watch = ctl_cmd->add_subcommand(
      "watch", "redraw instances, nodes, prefetches, templates or forecasts live");
  watch->add_option("what", ctl.watch, "instances, nodes, prefetches, templates or forecasts")
      ->check(CLI::IsMember({"instances", "nodes", "prefetches", "templates", "forecasts"}))
      ->capture_default_str();
  watch->add_option("--node", ctl.node, "instances: only this node");
  watch->add_option("--template", ctl.tmpl, "instances, forecasts: only this template");
  watch->add_option("--region", ctl.region, "forecasts: only this region");
  watch->add_option("-n,--interval", ctl.interval_s, "seconds between listings (0.2-3600)")
      ->check(CLI::Range(0.2, 3600.0))
      ->capture_default_str();
  watch->add_option("--count", ctl.count, "stop after this many listings (0: until Ctrl-C)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  auto* pf = ctl_cmd->add_subcommand("prefetch", "ask for warm instances in a region");
  pf->add_option("--region", ctl.region)->required();
  pf->add_option("--template", ctl.tmpl)->required();
  pf->add_option("--target", ctl.target_concurrency, "warm instances wanted")
      ->capture_default_str();
  pf->add_option("--content", ctl.content, "content ids to preload");
  pf->add_option("--window", ctl.window_s, "window length in seconds")->capture_default_str();

  prewarm::cli::AddCompletionCommand(app);  // last: it prints the whole command tree

  // Exit codes: 0 ok, 1 a runtime error, 2 usage (CLI11's own codes are 100 and up).
  // Subcommands that run from their callbacks throw CLI::RuntimeError with their code.
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (ctl_cmd->parsed()) {
    ctl.command = ctl_cmd->get_subcommands().front()->get_name();
    return prewarm::cli::RunCtl(ctl);
  }
  if (up->parsed()) {
    if (print_config) {
      std::cout << (up_cluster ? prewarm::cli::kEmbeddedUpClusterConfig
                               : prewarm::cli::kEmbeddedUpConfig);
      return 0;
    }
    return prewarm::cli::RunUp(config, up_runtime, up_cluster);
  }
  for (CLI::App* daemon : {orch, agent, fc}) {
    if (daemon->parsed() && check_only)
      return prewarm::cli::CheckConfig(daemon->get_name(), config);
  }
  if (orch->parsed()) return prewarm::cli::RunOrchestrator(config);
  if (agent->parsed()) return prewarm::cli::RunAgent(config);
  if (fc->parsed()) return prewarm::cli::RunForecaster(config, history);
  return 1;
}
