#include "cli/up.h"

#include <unistd.h>

#include <filesystem>
#include <optional>
#include <iostream>

#include "agent/config.h"
#include "cli/daemons.h"
#include "cli/forecaster_cmd.h"
#include "cli/origin_server.h"
#include "common/logging.h"
#include "fmt/format.h"
#include "orchestrator/config.h"
#include "orchestrator/orchestrator.h"

namespace prewarm::cli {
namespace {

struct UpConfig {
  std::string log_level;
  HostPort origin_listen;
  std::string origin_root;
  orchestrator::OrchestratorConfig orchestrator;
  std::vector<agent::AgentConfig> agents;
  std::optional<forecast::ForecasterConfig> forecaster;
};

absl::StatusOr<UpConfig> ParseUp(const YamlReader& r) {
  RETURN_IF_ERROR(r.CheckKnown(
      {"log_level", "origin_server", "orchestrator", "forecaster", "agent_defaults", "agents"}));
  UpConfig c;
  ASSIGN_OR_RETURN(c.log_level, r.String("log_level", "info"));
  ASSIGN_OR_RETURN(auto origin, r.Map("origin_server"));
  c.origin_listen = *HostPort::Parse("127.0.0.1:8400");
  if (origin) {
    RETURN_IF_ERROR(origin->CheckKnown({"listen", "root"}));
    ASSIGN_OR_RETURN(std::string listen, origin->String("listen", "127.0.0.1:8400"));
    auto hp = HostPort::Parse(listen);
    if (!hp.ok()) return origin->Error("listen", std::string(hp.status().message()));
    c.origin_listen = *hp;
    ASSIGN_OR_RETURN(c.origin_root, origin->String("root", ""));
  }
  ASSIGN_OR_RETURN(auto orch, r.Map("orchestrator"));
  if (!orch) return r.Error("orchestrator", "is required");
  ASSIGN_OR_RETURN(c.orchestrator, orchestrator::ParseOrchestratorConfig(*orch));
  ASSIGN_OR_RETURN(auto fc, r.Map("forecaster"));
  if (fc) {
    ASSIGN_OR_RETURN(c.forecaster, forecast::ParseForecasterConfig(*fc));
  }
  ASSIGN_OR_RETURN(auto defaults, r.Map("agent_defaults"));
  ASSIGN_OR_RETURN(auto agents, r.MapList("agents"));
  if (agents.empty()) return r.Error("agents", "at least one agent is required");
  for (const YamlReader& a : agents) {
    YamlReader merged = defaults ? a.WithDefaults(*defaults) : a;
    ASSIGN_OR_RETURN(agent::AgentConfig ac, agent::ParseAgentConfig(merged));
    c.agents.push_back(std::move(ac));
  }
  return c;
}

absl::StatusOr<UpConfig> LoadUp(const std::string& path) {
  if (path.empty()) {
    ASSIGN_OR_RETURN(YamlReader r, YamlReader::FromString(kEmbeddedUpConfig, "<embedded up.yaml>"));
    return ParseUp(r);
  }
  ASSIGN_OR_RETURN(YamlReader r, YamlReader::FromFile(path));
  return ParseUp(r);
}

void PrintInstance(const v1::InstanceInfo& i) {
  std::cout << fmt::format("instance {:<22} {:<9} {}:{} on {} ({}){}\n", i.instance_id(),
                           orchestrator::StateName(i.state()), i.address(), i.port(), i.node_id(),
                           i.template_name(), i.detail().empty() ? "" : " — " + i.detail())
            << std::flush;
}

int Fail(const absl::Status& st) {
  std::cerr << "prewarm: " << st.message() << "\n";
  return 1;
}

}  // namespace

int RunUp(const std::string& config_path, const std::string& runtime) {
  BlockTerminationSignals();
  absl::StatusOr<UpConfig> cfg = LoadUp(config_path);
  if (!cfg.ok()) return Fail(cfg.status());
  if (!runtime.empty()) {
    if (runtime != "oci" && runtime != "qemu" && runtime != "fake") {
      return Fail(absl::InvalidArgumentError(
          fmt::format("--runtime '{}' is not a runtime (oci, qemu, fake)", runtime)));
    }
    for (auto& ac : cfg->agents) {
      if (ac.runtime != runtime) {
        ac.runtime = runtime;
        ac.runtime_binary = runtime == "qemu" ? "qemu-system-x86_64" : "runc";
      }
    }
  }
  InitLogging(cfg->log_level);
  std::string root = cfg->origin_root;
  if (root.empty()) {
    root = fmt::format("/tmp/prewarm-up-origin.{}", getpid());
    if (auto st = WriteSampleContent(root); !st.ok()) return Fail(st);
  }
  OriginServer origin(cfg->origin_listen, root);
  if (auto st = origin.Start(); !st.ok()) return Fail(st);
  orchestrator::Orchestrator orch(cfg->orchestrator, RealClock::Get());
  orch.state().SetObserver(PrintInstance);
  if (auto st = orch.Start(); !st.ok()) return Fail(st);
  std::unique_ptr<forecast::ForecasterDaemon> forecaster;
  if (cfg->forecaster) {
    auto made = MakeForecaster(*cfg->forecaster);
    absl::Status st = made.ok() ? (*made)->Start() : made.status();
    if (!st.ok()) return Fail(st);
    forecaster = std::move(*made);
  }
  std::vector<std::unique_ptr<AgentProcess>> agents;
  absl::Status failed;
  for (auto& ac : cfg->agents) {
    auto p = AgentProcess::Create(ac);
    if (p.ok()) failed = (*p)->Start();
    else failed = p.status();
    if (!failed.ok()) break;
    std::cout << fmt::format("agent        {} in {} — instances on {} port {}\n", ac.node_id,
                             ac.region, ac.address_range.ToString(), ac.port);
    agents.push_back(std::move(*p));
  }
  if (failed.ok()) {
    const auto& oc = cfg->orchestrator;
    std::cout << fmt::format(
                     "origin       http://{}/ (content in {})\n"
                     "dns          {} udp+tcp, zone {} — try: kdig @{} -p {} static.{} A\n"
                     "grpc         {}\nmetrics      http://{}/metrics\n{}"
                     "prewarm up: running; Ctrl-C stops everything\n",
                     cfg->origin_listen.ToString(), root, oc.dns_listen.ToString(), oc.zone,
                     oc.dns_listen.addr.ToString(), oc.dns_listen.port, oc.zone,
                     oc.grpc_listen.ToString(), oc.http_listen.ToString(),
                     cfg->forecaster ? fmt::format("forecaster   model {}, step {} s, window {} s "
                                                   "(prewarm ctl prefetches)\n",
                                                   cfg->forecaster->model,
                                                   cfg->forecaster->step_ms / 1000,
                                                   cfg->forecaster->horizon_ms / 1000)
                                     : "")
              << std::flush;
    int sig = WaitForTerminationSignal();
    std::cout << fmt::format("prewarm up: signal {}, shutting down\n", sig) << std::flush;
  }
  if (forecaster) forecaster->Stop();
  for (auto& a : agents) a->Stop();
  orch.Stop();
  origin.Stop();
  if (cfg->origin_root.empty()) std::filesystem::remove_all(root);
  if (!failed.ok()) return Fail(failed);
  std::cout << "prewarm up: stopped cleanly\n";
  return 0;
}

int RunOrchestrator(const std::string& config_path) {
  BlockTerminationSignals();
  auto cfg = orchestrator::LoadOrchestratorConfig(config_path);
  if (!cfg.ok()) return Fail(cfg.status());
  InitLogging(cfg->log_level);
  orchestrator::Orchestrator orch(*cfg, RealClock::Get());
  if (auto st = orch.Start(); !st.ok()) return Fail(st);
  WaitForTerminationSignal();
  orch.Stop();
  return 0;
}

int RunAgent(const std::string& config_path) {
  BlockTerminationSignals();
  auto cfg = agent::LoadAgentConfig(config_path);
  if (!cfg.ok()) return Fail(cfg.status());
  InitLogging(cfg->log_level);
  auto p = AgentProcess::Create(*cfg);
  if (!p.ok()) return Fail(p.status());
  if (auto st = (*p)->Start(); !st.ok()) return Fail(st);
  WaitForTerminationSignal();
  (*p)->Stop();
  return 0;
}

}  // namespace prewarm::cli
