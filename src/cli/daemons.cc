#include "cli/daemons.h"

#include <csignal>

#include "agent/fake_runtime.h"
#include "agent/runtime/oci/oci_runtime.h"
#include "agent/runtime/qemu/qemu_runtime.h"
#include "agent/templates.h"
#include "common/logging.h"

namespace prewarm::cli {

absl::StatusOr<std::unique_ptr<AgentProcess>> AgentProcess::Create(agent::AgentConfig config) {
  std::unique_ptr<AgentProcess> p(new AgentProcess());
  if (config.runtime == "oci") {
    agent::oci::OciOptions opts;
    opts.runtime_binary = config.runtime_binary;
    opts.state_dir = config.state_dir;
    opts.cache_dir = config.cache_dir;
    opts.id_prefix = "prewarm-";
    p->runtime_ = std::make_unique<agent::oci::OciRuntime>(opts, p->runner_);
  } else if (config.runtime == "qemu") {
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
    opts.activate = agent::SelfBinaryDir() + "/prewarm-guest-activate";
    auto qemu = std::make_unique<agent::qemu::QemuRuntime>(opts, p->runner_);
    // Kernel download, TSC rate and the accelerator probe happen once, before any instance.
    RETURN_IF_ERROR(qemu->Prepare());
    p->runtime_ = std::move(qemu);
  } else {
    p->runtime_ = std::make_unique<agent::FakeRuntime>(config.state_dir + "/fake");
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

absl::Status AgentProcess::Start() {
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
}

void BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

int WaitForTerminationSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace prewarm::cli
