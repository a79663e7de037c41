#include "orchestrator/grpc_services.h"

#include <grpcpp/create_channel.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "common/logging.h"
#include "common/net.h"
#include "fmt/format.h"
#include "security/tls.h"

namespace prewarm::orchestrator {
namespace {

// Commands for one agent, written to its stream by a dedicated writer thread so that the
// control plane never blocks on a slow agent.
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

namespace {

// The caller, if its role may do `action`; the error names the peer and what it tried.
absl::StatusOr<security::Peer> Authorize(const grpc::ServerContext& ctx,
                                         std::initializer_list<security::Role> roles,
                                         std::string_view action) {
  ASSIGN_OR_RETURN(security::Peer peer, security::PeerOf(ctx));
  if (!peer.authenticated) return peer;
  for (security::Role r : roles) {
    if (peer.role == r) return peer;
  }
  absl::Status denied = security::Require(peer, *roles.begin(), action);
  spdlog::warn("refused {}: {}", action, denied.message());
  return denied;
}

#define AUTHORIZE(ctx, action, ...)                              \
  do {                                                           \
    auto authorized_ = Authorize(*(ctx), {__VA_ARGS__}, action); \
    if (!authorized_.ok()) return ToGrpc(authorized_.status());  \
  } while (0)

using security::Role;

}  // namespace

grpc::Status AgentServiceImpl::Connect(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<v1::OrchestratorCommand, v1::AgentMessage>* stream) {
  auto peer = Authorize(*ctx, {Role::kAgent}, "connect as an agent");
  if (!peer.ok()) return ToGrpc(peer.status());
  v1::AgentMessage msg;
  if (!stream->Read(&msg)) return grpc::Status(grpc::StatusCode::CANCELLED, "no register");
  if (!msg.has_register_()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "the first message on the agent stream must be Register");
  }
  v1::Register reg = msg.register_();
  if (!stream->Read(&msg))
    return grpc::Status(grpc::StatusCode::CANCELLED, "no status after Register");
  if (!msg.has_status()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "the second message on the agent stream must be its NodeStatus");
  }
  auto link = std::make_shared<StreamLink>(stream);
  auto session = sessions_.Open(reg, msg.status(), *peer, link);
  if (!session.ok()) {
    spdlog::warn("rejected agent {} ({}): {}", reg.node_id(), peer->Describe(),
                 session.status().message());
    link->Close();
    return ToGrpc(session.status());
  }
  grpc::Status result = grpc::Status::OK;
  while (stream->Read(&msg)) {
    if (msg.has_logs()) {
      sessions_.Answer(**session, msg.logs());
      continue;
    }
    if (!msg.has_status()) {
      result =
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "expected NodeStatus after Register");
      break;
    }
    absl::Status applied = sessions_.Report(**session, msg.status());
    if (!applied.ok()) {
      spdlog::warn("ending the stream of node {} ({}): {}", msg.status().node_id(),
                   peer->Describe(), applied.message());
      result = ToGrpc(applied);
      break;
    }
  }
  sessions_.Close(**session);
  link->Close();
  return result;
}

grpc::Status OrchestratorServiceImpl::SubmitPrefetch(grpc::ServerContext* ctx,
                                                     const v1::SubmitPrefetchRequest* req,
                                                     v1::SubmitPrefetchResponse* resp) {
  AUTHORIZE(ctx, "submit prefetch requests", Role::kForecaster, Role::kOperator);
  auto rev = replica_.prefetch().Accept(*req);
  if (!rev.ok()) return ToGrpc(rev.status());
  resp->set_accepted(static_cast<uint32_t>(req->requests_size()));
  // Meet the new windows now rather than at the next pass (0 when another replica leads).
  resp->set_instances_ordered(replica_.control().WakeAndWait(2000));
  return grpc::Status::OK;
}

grpc::Status OrchestratorServiceImpl::ListPrefetch(grpc::ServerContext* ctx,
                                                   const v1::ListPrefetchRequest*,
                                                   v1::ListPrefetchResponse* resp) {
  AUTHORIZE(ctx, "list prefetch requests", Role::kOperator, Role::kForecaster);
  for (auto& e : replica_.prefetch().List()) *resp->add_entries() = std::move(e);
  return grpc::Status::OK;
}

grpc::Status ForecastFeedImpl::StreamEvents(grpc::ServerContext* ctx,
                                            const v1::StreamEventsRequest* req,
                                            grpc::ServerWriter<v1::RequestEventBatch>* writer) {
  AUTHORIZE(ctx, "stream request events", Role::kForecaster, Role::kOperator);
  auto sub = feed_.Subscribe(req->since_unix_ms());
  spdlog::info("forecaster '{}' subscribed to request events ({})", req->forecaster_id(),
               ctx->peer());
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

grpc::Status OrchestratorServiceImpl::ListNodes(grpc::ServerContext* ctx,
                                                const v1::ListNodesRequest*,
                                                v1::ListNodesResponse* resp) {
  AUTHORIZE(ctx, "list nodes", Role::kOperator, Role::kForecaster);
  for (auto& n : replica_.ListNodes()) *resp->add_nodes() = std::move(n);
  return grpc::Status::OK;
}

grpc::Status OrchestratorServiceImpl::ListInstances(grpc::ServerContext* ctx,
                                                    const v1::ListInstancesRequest* req,
                                                    v1::ListInstancesResponse* resp) {
  AUTHORIZE(ctx, "list instances", Role::kOperator, Role::kForecaster);
  for (auto& i : replica_.ListInstances(req->node_id(), req->template_name())) {
    *resp->add_instances() = std::move(i);
  }
  return grpc::Status::OK;
}

grpc::Status OrchestratorServiceImpl::Drain(grpc::ServerContext* ctx, const v1::DrainRequest* req,
                                            v1::DrainResponse* resp) {
  AUTHORIZE(ctx, "drain a node", Role::kOperator);
  auto n = replica_.Drain(req->node_id());
  if (!n.ok()) return ToGrpc(n.status());
  resp->set_instances_draining(*n);
  return grpc::Status::OK;
}

grpc::Status OrchestratorServiceImpl::Undrain(grpc::ServerContext* ctx,
                                              const v1::UndrainRequest* req,
                                              v1::UndrainResponse* resp) {
  AUTHORIZE(ctx, "undrain a node", Role::kOperator);
  auto was = replica_.Undrain(req->node_id());
  if (!was.ok()) return ToGrpc(was.status());
  resp->set_was_draining(*was);
  return grpc::Status::OK;
}

grpc::Status OrchestratorServiceImpl::ListTemplates(grpc::ServerContext* ctx,
                                                    const v1::ListTemplatesRequest*,
                                                    v1::ListTemplatesResponse* resp) {
  AUTHORIZE(ctx, "list templates", Role::kOperator, Role::kForecaster);
  const std::shared_ptr<const OrchestratorConfig> live = live_ ? live_() : nullptr;
  const OrchestratorConfig& config = live ? *live : replica_.config();
  std::map<std::string, std::vector<std::string>> services;
  for (const auto& [label, tmpl] : config.services) services[tmpl].push_back(label);
  std::shared_ptr<const ClusterData> d = replica_.cache().Data();
  const int64_t now = replica_.clock().NowMs();
  for (const auto& [name, info] : config.templates) {
    v1::TemplateEntry* t = resp->add_templates();
    t->set_name(name);
    for (const auto& label : services[name]) t->add_services(label);
    t->set_tier(info.tier);
    t->set_service_time_s(info.service_time_s);
    t->set_concurrency(info.concurrency);
    t->set_keepalive_ms(info.keepalive_ms);
    std::set<std::string> runtimes;
    for (const auto& [node, rec] : d->nodes) {
      const v1::Register& reg = rec->rec.registration();
      if (std::find(reg.templates().begin(), reg.templates().end(), name) ==
          reg.templates().end()) {
        continue;
      }
      t->add_nodes(node);
      runtimes.insert(reg.runtime());
    }
    for (const auto& r : runtimes) t->add_runtimes(r);
    for (const auto& [id, inst] : d->instances) {
      if (inst->rec.template_name() != name) continue;
      t->set_instances(t->instances() + 1);
      if (d->StateOf(inst->rec, now) == v1::INSTANCE_STATE_READY) {
        t->set_instances_ready(t->instances_ready() + 1);
      }
    }
  }
  return grpc::Status::OK;
}

grpc::Status OrchestratorServiceImpl::ListForecasts(grpc::ServerContext* ctx,
                                                    const v1::ListForecastsRequest* req,
                                                    v1::ListForecastsResponse* resp) {
  AUTHORIZE(ctx, "list forecasts", Role::kOperator, Role::kForecaster);
  auto wanted = [&](const v1::PrefetchRequest& r) {
    return (req->region().empty() || r.region() == req->region()) &&
           (req->template_name().empty() || r.template_name() == req->template_name());
  };
  std::map<std::pair<std::string, std::string>, v1::ForecastKey> keys;
  for (auto& e : replica_.prefetch().List()) {
    if (!wanted(e.request())) continue;
    v1::ForecastKey& k = keys[{e.request().region(), e.request().template_name()}];
    k.set_region(e.request().region());
    k.set_template_name(e.request().template_name());
    *k.mutable_latest() = std::move(e);
  }
  std::vector<v1::PrefetchEntry> active = replica_.prefetch().Active();
  std::stable_sort(active.begin(), active.end(), [](const auto& a, const auto& b) {
    return a.request().window_start_unix_ms() < b.request().window_start_unix_ms();
  });
  for (auto& e : active) {
    auto it = keys.find({e.request().region(), e.request().template_name()});
    if (it != keys.end()) *it->second.add_windows() = std::move(e);
  }
  for (auto& [key, k] : keys) *resp->add_keys() = std::move(k);
  resp->set_now_unix_ms(replica_.clock().NowMs());
  return grpc::Status::OK;
}

grpc::Status OrchestratorServiceImpl::GetLogs(grpc::ServerContext* ctx,
                                              const v1::GetLogsRequest* req,
                                              v1::GetLogsResponse* resp) {
  // A replica forwards an operator's request to the replica holding the agent's stream.
  AUTHORIZE(ctx, "read instance logs", Role::kOperator, Role::kOrchestrator);
  const bool forwarded = ctx->client_metadata().contains(kForwardedBy);
  const std::string& id = req->instance_id();
  if (id.empty() || id.size() > 128) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "instance_id must be 1-128 bytes");
  }
  std::string node = req->node_id();
  {
    std::shared_ptr<const ClusterData> d = replica_.cache().Data();
    auto it = d->instances.find(id);
    if (it != d->instances.end()) {
      const std::string& on = it->second->rec.node_id();
      if (!node.empty() && node != on) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND,
                            fmt::format("instance {} is on node {}, not {}", id, on, node));
      }
      node = on;
    } else if (node.empty()) {
      return grpc::Status(
          grpc::StatusCode::NOT_FOUND,
          fmt::format("instance {} is unknown to the orchestrator (an instance that ended is "
                      "forgotten: name its node with --node to ask that node's agent)",
                      id));
    }
  }
  int64_t timeout_ms = kLogsTimeoutMs;
  if (ctx->deadline() != std::chrono::system_clock::time_point::max()) {
    // Answer before the caller gives up, so that it sees why.
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    ctx->deadline() - std::chrono::system_clock::now())
                    .count();
    timeout_ms = std::clamp<int64_t>(left - left / 10, 1, kLogsTimeoutMs);
  }
  if (!forwarded) {
    if (auto holder = replica_.sessions().RemoteHolder(node)) {
      v1::GetLogsRequest there = *req;
      there.set_node_id(node);
      return ForwardLogs(*holder, there, timeout_ms, resp);
    }
  }
  auto logs = replica_.sessions().FetchLogs(node, id, req->tail_lines(), timeout_ms);
  if (!logs.ok()) return ToGrpc(logs.status());
  if (logs->code() != 0) {  // the agent's word: a code it may not send becomes UNKNOWN
    bool valid = logs->code() > 0 && logs->code() <= grpc::StatusCode::UNAUTHENTICATED;
    return grpc::Status(valid ? static_cast<grpc::StatusCode>(logs->code()) : grpc::UNKNOWN,
                        fmt::format("node {}: {}", node, logs->message()));
  }
  resp->set_node_id(node);
  resp->set_output(std::move(*logs->mutable_output()));
  resp->set_dropped_bytes(logs->dropped_bytes());
  resp->set_ended(logs->ended());
  return grpc::Status::OK;
}

grpc::Status OrchestratorServiceImpl::ForwardLogs(const NodeSessions::Holder& holder,
                                                  const v1::GetLogsRequest& req, int64_t timeout_ms,
                                                  v1::GetLogsResponse* resp) {
  const std::string& address = holder.grpc_address;
  auto failed = [&](grpc::StatusCode code, std::string_view why) {
    return grpc::Status(code, fmt::format("node {}'s agent is connected to replica {} at {}: {}",
                                          req.node_id(), holder.replica_id, address, why));
  };
  // A replica listening on 0.0.0.0 or :: records that address: it names no host.
  absl::StatusOr<HostPort> hp = HostPort::Parse(address);
  if (hp.ok() && std::all_of(hp->addr.bytes(), hp->addr.bytes() + hp->addr.size(),
                             [](uint8_t b) { return b == 0; })) {
    return failed(grpc::StatusCode::FAILED_PRECONDITION,
                  "it listens on every address, which names no host to forward to: ask that "
                  "replica at its own address, or set its grpc.listen to that address");
  }
  v1::OrchestratorService::Stub* stub = nullptr;
  {
    std::lock_guard<std::mutex> l(peers_mu_);
    auto& slot = peers_[address];
    if (!slot) {
      auto creds = security::ChannelCredentials(replica_.config().tls, address);
      if (!creds.ok()) {
        peers_.erase(address);
        return failed(grpc::StatusCode::FAILED_PRECONDITION,
                      fmt::format("cannot ask it: {}", creds.status().message()));
      }
      slot = v1::OrchestratorService::NewStub(grpc::CreateChannel(address, *creds));
    }
    stub = slot.get();
  }
  grpc::ClientContext call;
  call.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  call.AddMetadata(kForwardedBy, replica_.presence().replica_id());
  grpc::Status st = stub->GetLogs(&call, req, resp);
  if (st.ok()) return st;
  // The holder's own answer (the agent's NOT_FOUND, ...) is passed on as it is; failing to
  // reach it says which replica was asked.
  if (st.error_code() == grpc::StatusCode::UNAVAILABLE ||
      st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return failed(st.error_code(),
                  fmt::format("asking it failed: {}", security::DescribeRpcError(st, address)));
  }
  return st;
}

}  // namespace prewarm::orchestrator
