#include "cli/daemons.h"

#include <algorithm>
#include <csignal>

#include "absl/strings/str_join.h"
#include "agent/fake_runtime.h"
#include "agent/runtime/oci/oci_runtime.h"
#include "agent/runtime/qemu/qemu_runtime.h"
#include "agent/templates.h"
#include "common/logging.h"

namespace prewarm::cli {

agent::qemu::QemuOptions QemuOptionsFor(const agent::AgentConfig& config) {
  agent::qemu::QemuOptions opts;
  opts.qemu_binary = config.runtime_binary;
  opts.state_dir = config.state_dir;
  opts.cache_dir = config.cache_dir;
  opts.kernel_package = config.qemu_kernel_package;
  opts.accel = config.qemu_accel;
  opts.forward_port = config.qemu_forward_port;
  opts.snapshot = config.qemu_snapshot;
  opts.network = config.qemu_network;
  opts.bridge = config.qemu_bridge;
  opts.guest_network = config.qemu_guest_network;
  opts.output_bytes = config.output_bytes;
  opts.activate = agent::SelfBinaryDir() + "/prewarm-guest-activate";
  opts.jail = config.qemu_jail;
  opts.tb_size_mb = config.qemu_tb_size_mb;
  opts.restore_tb_size_mb = config.qemu_restore_tb_size_mb;
  opts.thp = config.qemu_thp;
  opts.standby_vms = config.qemu_standby_vms;
  opts.capstone = config.qemu_capstone;
  opts.capstone_off_lib = agent::SelfBinaryDir() + "/libprewarm-capstone-off.so";
  opts.jailer = agent::SelfBinaryDir() + "/prewarm-qemu-jail";
  opts.jail_id_base = config.userns_base;
  opts.relay_kernel_splice = config.relay != "threads";
  return opts;
}

absl::StatusOr<std::unique_ptr<AgentProcess>> AgentProcess::Create(agent::AgentConfig config) {
  std::unique_ptr<AgentProcess> p(new AgentProcess());
  if (config.runtime == "oci") {
    agent::oci::OciOptions opts;
    opts.runtime_binary = config.runtime_binary;
    opts.state_dir = config.state_dir;
    opts.cache_dir = config.cache_dir;
    opts.id_prefix = "prewarm-";
    opts.seccomp = config.seccomp == "default"   ? agent::oci::SeccompMode::kPrecompiled
                   : config.seccomp == "runtime" ? agent::oci::SeccompMode::kRuntime
                                                 : agent::oci::SeccompMode::kUnconfined;
    opts.seccomp_exec = agent::SelfBinaryDir() + "/prewarm-seccomp-exec";
    opts.userns = config.userns == "private";
    opts.userns_base = config.userns_base;
    opts.port_handoff = config.relay == "handoff";
    opts.relay.kernel_splice = config.relay != "threads";
    opts.output_bytes = config.output_bytes;
    p->runtime_ = std::make_unique<agent::oci::OciRuntime>(opts, p->runner_);
  } else if (config.runtime == "qemu") {
    agent::qemu::QemuOptions opts = QemuOptionsFor(config);
    auto qemu = std::make_unique<agent::qemu::QemuRuntime>(opts, p->runner_);
    // Kernel download, TSC rate and the accelerator probe happen once, before any instance.
    RETURN_IF_ERROR(qemu->Prepare());
    p->runtime_ = std::move(qemu);
  } else {
    p->runtime_ =
        std::make_unique<agent::FakeRuntime>(config.state_dir + "/fake", config.output_bytes);
  }
  ASSIGN_OR_RETURN(auto templates,
                   agent::BuildTemplates(config, agent::SelfBinaryDir(), p->runner_));
  p->origin_ = agent::MakeHttpOrigin(config.origin_url);
  p->prober_ = agent::MakeHttpProber();
  p->agent_ = std::make_unique<agent::Agent>(std::move(config), std::move(templates), *p->runtime_,
                                             *p->origin_, *p->prober_, RealClock::Get());
  p->session_ = std::make_unique<agent::OrchestratorSession>(*p->agent_);
  return p;
}

AgentProcess::~AgentProcess() { Stop(); }

absl::StatusOr<std::unique_ptr<MetricsServer>> ServeMetrics(const HostPort& listen,
                                                            std::string name,
                                                            MetricsServer::Render render) {
  auto server = std::make_unique<MetricsServer>(listen, std::move(name), std::move(render));
  RETURN_IF_ERROR(server->Start());
  return server;
}

absl::Status AgentProcess::Start() {
  // The port first: a clash is said before any instance address is bound.
  agent::Agent* a = agent_.get();
  ASSIGN_OR_RETURN(metrics_, ServeMetrics(a->config().http_listen, "agent " + a->config().node_id,
                                          [a] { return a->RenderMetrics(); }));
  RETURN_IF_ERROR(agent_->Start());
  session_->Start();
  started_ = true;
  return absl::OkStatus();
}

void AgentProcess::Stop() {
  if (!started_) return;
  started_ = false;
  // Destroy instances first (while still connected, so the orchestrator hears "gone").
  agent_->Stop();
  session_->Stop();
  if (metrics_) metrics_->Stop();
}

namespace {

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

void BlockTerminationSignals() {
  sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

int WaitForTerminationSignal(const std::function<void()>& on_hangup) {
  sigset_t set = TerminationSignals();
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig != SIGHUP) return sig;
    if (on_hangup) {
      on_hangup();
    } else {
      spdlog::info("SIGHUP: nothing to reload");
    }
  }
}

ConfigReload::ConfigReload(std::string path, Validate validate)
    : ConfigReload(
          std::move(path), "", {},
          [validate = std::move(validate)](const std::string& p) -> absl::StatusOr<Reloaded> {
            ASSIGN_OR_RETURN(std::string level, validate(p));
            return Reloaded{std::move(level), {}, {}, {}};
          }) {}

ConfigReload::ConfigReload(std::string path, std::string section, std::vector<std::string> reloaded,
                           Reload reload)
    : path_(std::move(path)),
      section_(std::move(section)),
      reloaded_(std::move(reloaded)),
      reload_(std::move(reload)) {
  if (path_.empty()) return;
  auto doc = YamlReader::FromFile(path_);
  if (doc.ok()) started_with_ = std::move(*doc);
}

std::vector<std::string> ConfigReload::NotReloaded(const YamlReader& now) const {
  auto reloaded = [this](const std::string& key) {
    return std::find(reloaded_.begin(), reloaded_.end(), key) != reloaded_.end();
  };
  std::vector<std::string> restart;
  for (std::string& key : started_with_->ChangedKeys(now)) {
    if (key == "log_level") continue;
    if (section_.empty()) {
      if (!reloaded(key)) restart.push_back(std::move(key));
      continue;
    }
    if (key != section_) {
      restart.push_back(std::move(key));
      continue;
    }
    absl::StatusOr<std::optional<YamlReader>> was = started_with_->Map(section_);
    absl::StatusOr<std::optional<YamlReader>> is = now.Map(section_);
    if (!was.ok() || !is.ok() || !*was || !*is) {
      restart.push_back(std::move(key));  // added or removed as a whole
      continue;
    }
    for (const std::string& sub : (*was)->ChangedKeys(**is)) {
      if (!reloaded(sub)) restart.push_back(section_ + "." + sub);
    }
  }
  return restart;
}

void ConfigReload::operator()() {
  if (path_.empty() || !started_with_) {
    spdlog::info("SIGHUP: running on the embedded config; nothing to re-read");
    return;
  }
  auto fail = [this](const absl::Status& st) {
    spdlog::error("SIGHUP: {} not reloaded, the running config is unchanged: {}", path_,
                  st.message());
  };
  // Read first: a file that cannot be read is not handed to the daemon.
  absl::StatusOr<YamlReader> doc = YamlReader::FromFile(path_);
  if (!doc.ok()) return fail(doc.status());
  absl::StatusOr<Reloaded> done = reload_(path_);
  if (!done.ok()) return fail(done.status());
  InitLogging(done->log_level);
  std::vector<std::string> restart = NotReloaded(*doc);
  restart.insert(restart.end(), done->not_applied.begin(), done->not_applied.end());
  // Said at info (the rest at warn), or at the least severe level still shown, so a reload
  // to `warn` or `error` still says what it did; nothing when logging is off.
  const spdlog::level::level_enum now = spdlog::get_level();
  if (now == spdlog::level::off) return;
  const auto info = std::max(spdlog::level::info, now);
  std::string changes;
  for (const std::string& c : done->changes) changes += "; " + c;
  spdlog::log(info, "SIGHUP: reloaded {}: log_level {}{}", path_, done->log_level, changes);
  for (const std::string& n : done->notes) spdlog::log(info, "SIGHUP: {}", n);
  if (!restart.empty()) {
    spdlog::log(std::max(spdlog::level::warn, now),
                "SIGHUP: not reloaded (read only at start; restart to apply): {}",
                absl::StrJoin(restart, ", "));
  }
}

absl::StatusOr<ConfigReload::Reloaded> ReloadOrchestrators(
    const std::vector<orchestrator::Orchestrator*>& replicas,
    const orchestrator::OrchestratorConfig& next, std::string log_level) {
  std::vector<orchestrator::ReloadPlan> plans;
  for (orchestrator::Orchestrator* r : replicas) {
    ASSIGN_OR_RETURN(orchestrator::ReloadPlan plan, r->PlanReload(next));
    plans.push_back(std::move(plan));
  }
  for (size_t i = 0; i < replicas.size(); ++i) replicas[i]->Reload(plans[i]);
  ConfigReload::Reloaded out{std::move(log_level), {}, {}, {}};
  if (!plans.empty()) {
    out.changes = std::move(plans[0].applied);
    out.not_applied = std::move(plans[0].not_applied);
    out.notes = std::move(plans[0].notes);
  }
  return out;
}

}  // namespace prewarm::cli
