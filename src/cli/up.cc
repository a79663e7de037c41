#include "cli/up.h"

#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <optional>

#include "agent/config.h"
#include "cli/daemons.h"
#include "cli/forecaster_cmd.h"
#include "cli/origin_server.h"
#include "cli/up_cluster.h"
#include "cli/up_config.h"
#include "common/logging.h"
#include "fmt/format.h"
#include "forecast/service/config.h"
#include "orchestrator/config.h"
#include "orchestrator/orchestrator.h"
#include "prewarm/v1/state_name.h"

namespace prewarm::cli {
namespace {

void PrintInstance(const v1::InstanceInfo& i) {
  std::cout << fmt::format("instance {:<22} {:<9} {}:{} on {} ({}){}\n", i.instance_id(),
                           v1::StateName(i.state()), i.address(), i.port(), i.node_id(),
                           i.template_name(), i.detail().empty() ? "" : " — " + i.detail())
            << std::flush;
}

int Fail(const absl::Status& st) {
  std::cerr << "prewarm: " << st.message() << "\n";
  return 1;
}

absl::Status OverrideRuntime(UpConfig& cfg, const std::string& runtime) {
  if (runtime.empty()) return absl::OkStatus();
  if (runtime != "oci" && runtime != "qemu" && runtime != "fake") {
    return absl::InvalidArgumentError(
        fmt::format("--runtime '{}' is not a runtime (oci, qemu, fake)", runtime));
  }
  for (auto& ac : cfg.agents) {
    if (ac.runtime != runtime) {
      ac.runtime = runtime;
      ac.runtime_binary = runtime == "qemu" ? "qemu-system-x86_64" : "runc";
    }
  }
  return absl::OkStatus();
}

// Everything `prewarm up` runs; stopped in reverse order of start.
class Platform {
 public:
  ~Platform() { Stop(); }

  absl::Status Start(UpConfig& cfg) {
    RETURN_IF_ERROR(StartOrigin(cfg));
    std::vector<orchestrator::OrchestratorConfig> replicas = {cfg.orchestrator};
    if (cfg.cluster) {
      ASSIGN_OR_RETURN(replicas, cluster_.Start(cfg));
    }
    for (auto& rc : replicas) {
      auto orch = std::make_unique<orchestrator::Orchestrator>(rc, RealClock::Get());
      if (replicas_.empty()) orch->SetObserver(PrintInstance);  // one log of transitions
      RETURN_IF_ERROR(orch->Start());
      replicas_.push_back(std::move(orch));
    }
    if (cfg.forecaster) {
      ASSIGN_OR_RETURN(forecaster_, MakeForecaster(*cfg.forecaster));
      forecast::ForecasterDaemon* d = forecaster_.get();
      ASSIGN_OR_RETURN(forecaster_metrics_, ServeMetrics(cfg.forecaster->http_listen, "forecaster",
                                                         [d] { return d->RenderMetrics(); }));
      RETURN_IF_ERROR(forecaster_->Start());
    }
    for (auto& ac : cfg.agents) {
      ASSIGN_OR_RETURN(auto p, AgentProcess::Create(ac));
      RETURN_IF_ERROR(p->Start());
      std::cout << fmt::format(
          "agent        {} in {} — instances on {} port {}, metrics http://{}/metrics\n",
          ac.node_id, ac.region, ac.address_range.ToString(), ac.port, ac.http_listen.ToString());
      agents_.push_back(std::move(p));
    }
    return absl::OkStatus();
  }

  void Stop() {
    if (forecaster_) forecaster_->Stop();
    if (forecaster_metrics_) forecaster_metrics_->Stop();
    // The replicas decide nothing more, but still hear the agents' last reports: otherwise
    // the instances of each agent stopped are started again on those not stopped yet.
    for (auto& r : replicas_) r->replica().control().Hold();
    for (auto& a : agents_) a->Stop();
    agents_.clear();
    for (auto& r : replicas_) r->Stop();
    replicas_.clear();
    cluster_.Stop();
    if (origin_) origin_->Stop();
    if (!temp_root_.empty()) std::filesystem::remove_all(temp_root_);
    temp_root_.clear();
  }

  // SIGHUP: each replica re-reads its dns.geoip database (errors are logged there).
  void ReloadGeoDatabases() {
    for (auto& r : replicas_) (void)r->ReloadGeoDatabase();
  }
  std::vector<orchestrator::Orchestrator*> replicas() const {
    std::vector<orchestrator::Orchestrator*> out;
    for (const auto& r : replicas_) out.push_back(r.get());
    return out;
  }

  const std::string& root() const { return root_; }
  const UpClusterParts& cluster() const { return cluster_; }

 private:
  absl::Status StartOrigin(const UpConfig& cfg) {
    root_ = cfg.origin_root;
    if (root_.empty()) {
      root_ = temp_root_ = fmt::format("/tmp/prewarm-up-origin.{}", getpid());
      RETURN_IF_ERROR(WriteSampleContent(root_));
    }
    std::vector<HostPort> listen = {cfg.origin_listen};
    if (cfg.origin_fallback) listen.push_back(*cfg.origin_fallback);
    origin_ = std::make_unique<OriginServer>(listen, root_);
    return origin_->Start();
  }

  std::string root_, temp_root_;
  std::unique_ptr<OriginServer> origin_;
  UpClusterParts cluster_;
  std::vector<std::unique_ptr<orchestrator::Orchestrator>> replicas_;
  std::unique_ptr<forecast::ForecasterDaemon> forecaster_;
  std::unique_ptr<MetricsServer> forecaster_metrics_;
  std::vector<std::unique_ptr<AgentProcess>> agents_;
};

void PrintBanner(const UpConfig& cfg, const Platform& p) {
  const auto& oc = cfg.orchestrator;
  std::cout << fmt::format(
      "origin       http://{}/ (content in {}){}\n", cfg.origin_listen.ToString(), p.root(),
      cfg.origin_fallback
          ? fmt::format("; fallback answers name {}", cfg.origin_fallback->ToString())
          : "");
  if (cfg.cluster) {
    std::cout << p.cluster().Banner(cfg);
  } else {
    std::cout << fmt::format(
        "dns          {} udp+tcp, zone {} — try: kdig @{} -p {} static.{} A\n"
        "grpc         {}\nmetrics      http://{}/metrics\n",
        oc.dns_listen.ToString(), oc.zone, oc.dns_listen.addr.ToString(), oc.dns_listen.port,
        oc.zone, oc.grpc_listen.ToString(), oc.http_listen.ToString());
  }
  if (cfg.forecaster) {
    std::cout << fmt::format(
        "forecaster   model {}, step {} s, window {} s (prewarm ctl prefetches), metrics "
        "http://{}/metrics\n",
        cfg.forecaster->model, cfg.forecaster->step_ms / 1000, cfg.forecaster->horizon_ms / 1000,
        cfg.forecaster->http_listen.ToString());
  }
  std::cout << "prewarm up: running; Ctrl-C stops everything\n" << std::flush;
}

}  // namespace

int RunUp(const std::string& config_path, const std::string& runtime, bool cluster) {
  BlockTerminationSignals();
  absl::StatusOr<UpConfig> cfg = LoadUpConfig(config_path, cluster);
  if (!cfg.ok()) return Fail(cfg.status());
  if (cluster && !cfg->cluster) {
    return Fail(absl::InvalidArgumentError(fmt::format(
        "--cluster: {} has no `cluster:` section (see examples/up-cluster.yaml)", config_path)));
  }
  if (auto st = OverrideRuntime(*cfg, runtime); !st.ok()) return Fail(st);
  InitLogging(cfg->log_level);
  Platform platform;
  absl::Status started = platform.Start(*cfg);
  if (started.ok()) {
    PrintBanner(*cfg, platform);
    // The orchestrator's reloaded keys, in every replica (`cluster:` keeps its replicas'
    // listen addresses and ids: those are read only at start).
    ConfigReload reload(
        config_path, "orchestrator",
        {std::begin(orchestrator::kReloadedKeys), std::end(orchestrator::kReloadedKeys)},
        [cluster, &platform](const std::string& p) -> absl::StatusOr<ConfigReload::Reloaded> {
          ASSIGN_OR_RETURN(UpConfig c, LoadUpConfig(p, cluster));
          return ReloadOrchestrators(platform.replicas(), c.orchestrator, c.log_level);
        });
    int sig = WaitForTerminationSignal([&reload, &platform] {
      reload();
      platform.ReloadGeoDatabases();
    });
    std::cout << fmt::format("prewarm up: signal {}, shutting down\n", sig) << std::flush;
  }
  platform.Stop();
  if (!started.ok()) return Fail(started);
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
  ConfigReload reload(
      config_path, "",
      {std::begin(orchestrator::kReloadedKeys), std::end(orchestrator::kReloadedKeys)},
      [&orch](const std::string& p) -> absl::StatusOr<ConfigReload::Reloaded> {
        ASSIGN_OR_RETURN(orchestrator::OrchestratorConfig c,
                         orchestrator::LoadOrchestratorConfig(p));
        return ReloadOrchestrators({&orch}, c, c.log_level);
      });
  WaitForTerminationSignal([&reload, &orch] {
    reload();
    (void)orch.ReloadGeoDatabase();  // logs its own outcome
  });
  orch.Stop();
  return 0;
}

int CheckConfig(const std::string& daemon, const std::string& config_path) {
  absl::Status st;
  if (daemon == "orchestrator") {
    st = orchestrator::LoadOrchestratorConfig(config_path).status();
  } else if (daemon == "agent") {
    st = agent::LoadAgentConfig(config_path).status();
  } else if (daemon == "forecaster") {
    st = forecast::LoadForecasterConfig(config_path).status();
  } else {
    st = absl::InvalidArgumentError("no config check for " + daemon);
  }
  if (!st.ok()) return Fail(st);
  std::cout << config_path << ": ok\n";
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
  ConfigReload reload(config_path, [](const std::string& path) -> absl::StatusOr<std::string> {
    ASSIGN_OR_RETURN(agent::AgentConfig c, agent::LoadAgentConfig(path));
    return c.log_level;
  });
  WaitForTerminationSignal([&reload] { reload(); });
  (*p)->Stop();
  return 0;
}

}  // namespace prewarm::cli
