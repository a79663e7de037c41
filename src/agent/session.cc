#include "agent/session.h"

#include <grpcpp/grpcpp.h>
#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "common/logging.h"
#include "prewarm/v1/agent.grpc.pb.h"
#include "security/tls.h"

namespace prewarm::agent {
namespace {

constexpr int kMinBackoffMs = 100;
constexpr int kMaxBackoffMs = 5000;
constexpr auto kHealthyStream = std::chrono::seconds(10);  // resets the backoff

std::vector<std::string> StartingAt(const std::string& target, std::vector<std::string> list) {
  auto it = std::find(list.begin(), list.end(), target);
  if (it == list.end()) {
    list.insert(list.begin(), target);
  } else {
    std::rotate(list.begin(), it, list.end());
  }
  return list;
}

}  // namespace

// Everything one stream needs, shared with the status sink so that a sink call still
// running on the agent loop can never touch a stream that has been torn down.
struct OrchestratorSession::Stream {
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

OrchestratorSession::OrchestratorSession(Agent& agent)
    : endpoints_(agent.config().orchestrators), agent_(agent) {}

OrchestratorSession::OrchestratorSession(const std::string& target, Agent& agent)
    : endpoints_(StartingAt(target, agent.config().orchestrators)), agent_(agent) {}

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

std::string OrchestratorSession::endpoint() const {
  std::lock_guard<std::mutex> l(ctx_mu_);
  return endpoint_;
}

void OrchestratorSession::SleepMs(int ms) const {
  for (int waited = 0; waited < ms && !stopping_.load(); waited += 20) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(20, ms - waited)));
  }
}

void OrchestratorSession::Run() {
  pthread_setname_np(pthread_self(), "agent-session");
  const std::string& node = agent_.config().node_id;
  std::mt19937 rng{std::random_device{}()};
  int backoff_ms = kMinBackoffMs;
  if (endpoints_.empty()) spdlog::error("agent {}: no orchestrator to connect to", node);
  for (size_t i = 0; !stopping_.load() && !endpoints_.empty(); i = (i + 1) % endpoints_.size()) {
    const std::string& target = endpoints_[i];
    auto started = std::chrono::steady_clock::now();
    std::string why = RunOnce(target);
    if (stopping_.load()) break;
    if (std::chrono::steady_clock::now() - started > kHealthyStream) backoff_ms = kMinBackoffMs;
    // Refused while its old stream's lease runs out (at most the node timeout): ask again
    // soon, at the same replica.
    if (last_refused_held_) {
      backoff_ms = kMinBackoffMs;
      i = (i + endpoints_.size() - 1) % endpoints_.size();
    }
    int sleep_ms = last_refused_held_
                       ? 300 + static_cast<int>(rng() % 200)
                       : backoff_ms / 2 + static_cast<int>(rng() % (backoff_ms / 2 + 1));
    const std::string& next = endpoints_[(i + 1) % endpoints_.size()];
    spdlog::warn("agent {}: left orchestrator {} ({}); trying {} in {} ms", node, target, why,
                 last_refused_held_ ? target : next, sleep_ms);
    SleepMs(sleep_ms);
    backoff_ms = std::min(backoff_ms * 2, kMaxBackoffMs);
  }
}

// Made once per endpoint (the files are checked at the agent's start; a renewed certificate
// takes a restart), so a plaintext link warns once, not at every reconnect.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> OrchestratorSession::Credentials(
    const std::string& target) {
  auto it = credentials_.find(target);
  if (it != credentials_.end()) return it->second;
  ASSIGN_OR_RETURN(auto creds, security::ChannelCredentials(agent_.config().tls, target));
  credentials_[target] = creds;
  return creds;
}

std::string OrchestratorSession::RunOnce(const std::string& target) {
  auto creds = Credentials(target);
  if (!creds.ok()) return std::string(creds.status().message());
  auto s = std::make_shared<Stream>();
  // Keep-alive pings find a replica that hangs (frozen, or its host gone) in ~4 s, and
  // the session moves on; the orchestrator permits them (Orchestrator::StartGrpc).
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 2000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 2000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  s->channel = grpc::CreateCustomChannel(target, *creds, args);
  auto stub = v1::AgentService::NewStub(s->channel);
  {
    std::lock_guard<std::mutex> l(ctx_mu_);
    if (stopping_.load()) return "stopping";
    ctx_ = &s->ctx;
  }
  s->rw = stub->Connect(&s->ctx);
  bool opened = Register(*s, target);
  if (opened) Serve(s, target);
  s->Close();
  grpc::Status st = s->rw->Finish();
  {
    std::lock_guard<std::mutex> l(ctx_mu_);
    ctx_ = nullptr;
    endpoint_.clear();
  }
  last_refused_held_ = st.error_code() == grpc::StatusCode::FAILED_PRECONDITION;
  if (!opened) return "could not open the stream: " + security::DescribeRpcError(st, target);
  return st.ok() ? "the orchestrator closed the stream"
                 : "stream failed: " + security::DescribeRpcError(st, target);
}

// Register, then the full status: every instance, and final states not yet heard.
bool OrchestratorSession::Register(Stream& s, const std::string& target) {
  v1::AgentMessage reg;
  *reg.mutable_register_() = agent_.MakeRegister();
  v1::AgentMessage first;
  *first.mutable_status() = agent_.LastStatus();
  if (!s.Write(reg) || !s.Write(first)) return false;
  size_t pos = std::find(endpoints_.begin(), endpoints_.end(), target) - endpoints_.begin();
  spdlog::info("agent {}: connected to orchestrator {} ({} of {}), registered with {} instances",
               agent_.config().node_id, target, pos + 1, endpoints_.size(),
               first.status().instances_size());
  return true;
}

// Status up, commands down, until the stream ends.
void OrchestratorSession::Serve(const std::shared_ptr<Stream>& s, const std::string& target) {
  {
    std::lock_guard<std::mutex> l(ctx_mu_);
    endpoint_ = target;
  }
  connected_.store(true);
  agent_.SetStatusSink([s](const v1::NodeStatus& status) {
    v1::AgentMessage m;
    *m.mutable_status() = status;
    return s->Write(m);
  });
  agent_.SetLogsSink([s](const v1::Logs& logs) {
    v1::AgentMessage m;
    *m.mutable_logs() = logs;
    return s->Write(m);
  });
  agent_.RequestPublish();  // a fresh status right away, not at the next heartbeat
  v1::OrchestratorCommand cmd;
  while (s->rw->Read(&cmd)) agent_.Post(cmd);
  agent_.SetLogsSink(nullptr);
  agent_.SetStatusSink(nullptr);
  connected_.store(false);
}

}  // namespace prewarm::agent
