#include "orchestrator/grpc_services.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "common/logging.h"
#include "fmt/format.h"

namespace prewarm::orchestrator {
namespace {

// Commands for one agent, written to its stream by a dedicated writer thread so that
// ClusterState never blocks on a slow agent.
class StreamLink final : public NodeLink {
 public:
  explicit StreamLink(grpc::ServerReaderWriter<v1::OrchestratorCommand, v1::AgentMessage>* s)
      : stream_(s), writer_([this] { WriteLoop(); }) {}
  ~StreamLink() override { Close(); }

  void Send(const v1::OrchestratorCommand& cmd) override {
    std::lock_guard<std::mutex> l(mu_);
    if (!closed_) queue_.push_back(cmd);
    cv_.notify_one();
  }
  void Close() {
    {
      std::lock_guard<std::mutex> l(mu_);
      closed_ = true;
      cv_.notify_one();
    }
    if (writer_.joinable()) writer_.join();
  }

 private:
  void WriteLoop() {
    for (;;) {
      v1::OrchestratorCommand cmd;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return closed_ || !queue_.empty(); });
        if (closed_) return;
        cmd = std::move(queue_.front());
        queue_.pop_front();
      }
      if (!stream_->Write(cmd)) return;
    }
  }

  grpc::ServerReaderWriter<v1::OrchestratorCommand, v1::AgentMessage>* stream_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::OrchestratorCommand> queue_;
  bool closed_ = false;
  std::thread writer_;
};

}  // namespace

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

grpc::Status AgentServiceImpl::Connect(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<v1::OrchestratorCommand, v1::AgentMessage>* stream) {
  v1::AgentMessage msg;
  if (!stream->Read(&msg)) return grpc::Status(grpc::StatusCode::CANCELLED, "no register");
  if (!msg.has_register_()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "the first message on the agent stream must be Register");
  }
  std::string node_id = msg.register_().node_id();
  auto link = std::make_shared<StreamLink>(stream);
  absl::Status st = state_.RegisterNode(msg.register_(), link);
  if (!st.ok()) {
    spdlog::warn("rejected agent {}: {}", ctx->peer(), st.message());
    link->Close();
    return ToGrpc(st);
  }
  grpc::Status result = grpc::Status::OK;
  while (stream->Read(&msg)) {
    if (!msg.has_status()) {
      result = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "expected NodeStatus after Register");
      break;
    }
    if (msg.status().node_id() != node_id) {
      result = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            fmt::format("status for '{}' on the stream of '{}'",
                                        msg.status().node_id(), node_id));
      break;
    }
    absl::Status applied = state_.ApplyStatus(msg.status());
    if (!applied.ok()) {
      result = ToGrpc(applied);
      break;
    }
  }
  state_.NodeDisconnected(node_id, link.get());
  link->Close();
  return result;
}

grpc::Status OrchestratorServiceImpl::SubmitPrefetch(grpc::ServerContext*,
                                                     const v1::SubmitPrefetchRequest* req,
                                                     v1::SubmitPrefetchResponse* resp) {
  absl::Status st = book_.Accept(*req);
  if (!st.ok()) return ToGrpc(st);
  resp->set_accepted(static_cast<uint32_t>(req->requests_size()));
  // Meet the new windows now rather than at the next tick.
  auto total = [](const ReconcilerCounters& c) {
    uint64_t n = 0;
    for (uint64_t v : c.creates) n += v;
    return n;
  };
  uint64_t before = total(state_.reconciler_counters());
  state_.Tick(book_.Active());
  resp->set_instances_ordered(static_cast<uint32_t>(total(state_.reconciler_counters()) - before));
  return grpc::Status::OK;
}

grpc::Status OrchestratorServiceImpl::ListPrefetch(grpc::ServerContext*,
                                                   const v1::ListPrefetchRequest*,
                                                   v1::ListPrefetchResponse* resp) {
  for (auto& e : book_.List()) *resp->add_entries() = std::move(e);
  return grpc::Status::OK;
}

grpc::Status ForecastFeedImpl::StreamEvents(grpc::ServerContext* ctx,
                                            const v1::StreamEventsRequest* req,
                                            grpc::ServerWriter<v1::RequestEventBatch>* writer) {
  auto sub = feed_.Subscribe(req->since_unix_ms());
  spdlog::info("forecaster '{}' subscribed to request events ({})", req->forecaster_id(), ctx->peer());
  while (!ctx->IsCancelled()) {
    std::optional<v1::RequestEventBatch> batch = sub->Next(500);
    if (!batch) {
      if (sub->closed()) break;
      continue;
    }
    if (!writer->Write(*batch)) break;
  }
  feed_.Unsubscribe(sub);
  spdlog::info("forecaster '{}' unsubscribed", req->forecaster_id());
  return grpc::Status::OK;
}

grpc::Status OrchestratorServiceImpl::ListNodes(grpc::ServerContext*, const v1::ListNodesRequest*,
                                                v1::ListNodesResponse* resp) {
  for (auto& n : state_.ListNodes()) *resp->add_nodes() = std::move(n);
  return grpc::Status::OK;
}

grpc::Status OrchestratorServiceImpl::ListInstances(grpc::ServerContext*,
                                                    const v1::ListInstancesRequest* req,
                                                    v1::ListInstancesResponse* resp) {
  for (auto& i : state_.ListInstances(req->node_id(), req->template_name())) {
    *resp->add_instances() = std::move(i);
  }
  return grpc::Status::OK;
}

grpc::Status OrchestratorServiceImpl::Drain(grpc::ServerContext*, const v1::DrainRequest* req,
                                            v1::DrainResponse* resp) {
  auto n = state_.Drain(req->node_id());
  if (!n.ok()) return ToGrpc(n.status());
  resp->set_instances_draining(*n);
  return grpc::Status::OK;
}

}  // namespace prewarm::orchestrator
