#include "agent/session.h"

#include <grpcpp/grpcpp.h>
#include <pthread.h>

#include <chrono>
#include <random>

#include "common/logging.h"
#include "prewarm/v1/agent.grpc.pb.h"

namespace prewarm::agent {

OrchestratorSession::OrchestratorSession(std::string target, Agent& agent)
    : target_(std::move(target)), agent_(agent) {}

OrchestratorSession::~OrchestratorSession() { Stop(); }

void OrchestratorSession::Start() {
  thread_ = std::thread([this] { Run(); });
}

void OrchestratorSession::Stop() {
  if (stopping_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> l(ctx_mu_);
    if (ctx_ != nullptr) ctx_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void OrchestratorSession::Run() {
  pthread_setname_np(pthread_self(), "agent-session");
  std::mt19937 rng{std::random_device{}()};
  int backoff_ms = 100;
  while (!stopping_.load()) {
    auto started = std::chrono::steady_clock::now();
    RunOnce();
    if (stopping_.load()) break;
    if (std::chrono::steady_clock::now() - started > std::chrono::seconds(10)) backoff_ms = 100;
    int sleep_ms = backoff_ms / 2 + static_cast<int>(rng() % (backoff_ms / 2 + 1));
    spdlog::info("agent {}: reconnecting to {} in {} ms", agent_.config().node_id, target_, sleep_ms);
    for (int waited = 0; waited < sleep_ms && !stopping_.load(); waited += 20) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    backoff_ms = std::min(backoff_ms * 2, 5000);
  }
}

namespace {

// Everything one stream needs, shared with the status sink so that a sink call still
// running on the agent loop can never touch a stream that has been torn down.
struct Stream {
  std::shared_ptr<grpc::Channel> channel;
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::OrchestratorCommand>> rw;
  std::mutex mu;
  bool open = true;

  bool Write(const v1::AgentMessage& m) {
    std::lock_guard<std::mutex> l(mu);
    return open && rw->Write(m);
  }
  void Close() {
    std::lock_guard<std::mutex> l(mu);
    if (open) rw->WritesDone();
    open = false;
  }
};

}  // namespace

void OrchestratorSession::RunOnce() {
  auto s = std::make_shared<Stream>();
  s->channel = grpc::CreateChannel(target_, grpc::InsecureChannelCredentials());
  auto stub = v1::AgentService::NewStub(s->channel);
  {
    std::lock_guard<std::mutex> l(ctx_mu_);
    if (stopping_.load()) return;
    ctx_ = &s->ctx;
  }
  s->rw = stub->Connect(&s->ctx);
  v1::AgentMessage reg;
  *reg.mutable_register_() = agent_.MakeRegister();
  v1::AgentMessage first;
  *first.mutable_status() = agent_.LastStatus();
  if (s->Write(reg) && s->Write(first)) {
    connected_.store(true);
    spdlog::info("agent {}: connected to orchestrator {}", agent_.config().node_id, target_);
    agent_.SetStatusSink([s](const v1::NodeStatus& status) {
      v1::AgentMessage m;
      *m.mutable_status() = status;
      s->Write(m);
    });
    v1::OrchestratorCommand cmd;
    while (s->rw->Read(&cmd)) agent_.Post(cmd);
    agent_.SetStatusSink(nullptr);
    connected_.store(false);
  }
  s->Close();
  grpc::Status st = s->rw->Finish();
  {
    std::lock_guard<std::mutex> l(ctx_mu_);
    ctx_ = nullptr;
  }
  if (!stopping_.load()) {
    spdlog::warn("agent {}: stream to {} ended: {}", agent_.config().node_id, target_,
                 st.ok() ? "closed by orchestrator" : st.error_message());
  }
}

}  // namespace prewarm::agent
