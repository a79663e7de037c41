// gRPC front of the orchestrator: the per-node agent stream and the operator API.
// Handlers convert absl::Status to grpc::Status here and nowhere else. Every call is
// authorised by the role in the caller's certificate (security/tls.h): agents connect,
// forecasters submit and stream, operators do everything else (a replica may ask another
// for logs on an operator's behalf); on a plaintext loopback server every caller may do
// everything.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "orchestrator/event_feed.h"
#include "orchestrator/replica.h"
#include "prewarm/v1/agent.grpc.pb.h"
#include "prewarm/v1/forecast.grpc.pb.h"
#include "prewarm/v1/orchestrator.grpc.pb.h"

namespace prewarm::orchestrator {

grpc::Status ToGrpc(const absl::Status& s);

class AgentServiceImpl final : public v1::AgentService::Service {
 public:
  explicit AgentServiceImpl(NodeSessions& sessions) : sessions_(sessions) {}
  grpc::Status Connect(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<v1::OrchestratorCommand, v1::AgentMessage>* stream) override;

 private:
  NodeSessions& sessions_;
};

class OrchestratorServiceImpl final : public v1::OrchestratorService::Service {
 public:
  explicit OrchestratorServiceImpl(Replica& replica) : replica_(replica) {}
  // The config the DNS answers from now (services and templates after a SIGHUP reload:
  // Orchestrator::Reload), for ListTemplates; unset: the replica's, as it started. Set
  // before serving.
  void SetLiveConfig(LiveConfig live) { live_ = std::move(live); }
  grpc::Status SubmitPrefetch(grpc::ServerContext*, const v1::SubmitPrefetchRequest* req,
                              v1::SubmitPrefetchResponse* resp) override;
  grpc::Status ListNodes(grpc::ServerContext*, const v1::ListNodesRequest*,
                         v1::ListNodesResponse* resp) override;
  grpc::Status ListInstances(grpc::ServerContext*, const v1::ListInstancesRequest* req,
                             v1::ListInstancesResponse* resp) override;
  grpc::Status Drain(grpc::ServerContext*, const v1::DrainRequest* req,
                     v1::DrainResponse* resp) override;
  grpc::Status Undrain(grpc::ServerContext*, const v1::UndrainRequest* req,
                       v1::UndrainResponse* resp) override;
  grpc::Status ListPrefetch(grpc::ServerContext*, const v1::ListPrefetchRequest*,
                            v1::ListPrefetchResponse* resp) override;
  grpc::Status ListTemplates(grpc::ServerContext*, const v1::ListTemplatesRequest*,
                             v1::ListTemplatesResponse* resp) override;
  grpc::Status ListForecasts(grpc::ServerContext*, const v1::ListForecastsRequest* req,
                             v1::ListForecastsResponse* resp) override;
  // Waits for the agent's answer until the call's deadline, at most kLogsTimeoutMs. When
  // the instance's agent holds its stream on another replica, the request is forwarded
  // there once (with this replica's own certificate, marked with kForwardedBy so that the
  // other replica answers from its own stream and never forwards it again).
  grpc::Status GetLogs(grpc::ServerContext* ctx, const v1::GetLogsRequest* req,
                       v1::GetLogsResponse* resp) override;

  static constexpr int64_t kLogsTimeoutMs = 5000;
  static constexpr const char* kForwardedBy = "prewarm-forwarded-by";

 private:
  grpc::Status ForwardLogs(const NodeSessions::Holder& holder, const v1::GetLogsRequest& req,
                           int64_t timeout_ms, v1::GetLogsResponse* resp);

  Replica& replica_;
  LiveConfig live_;
  // Channels to the other replicas, by gRPC address (made on first use).
  std::mutex peers_mu_;
  std::map<std::string, std::unique_ptr<v1::OrchestratorService::Stub>> peers_;
};

class ForecastFeedImpl final : public v1::ForecastFeed::Service {
 public:
  explicit ForecastFeedImpl(EventFeed& feed) : feed_(feed) {}
  grpc::Status StreamEvents(grpc::ServerContext* ctx, const v1::StreamEventsRequest* req,
                            grpc::ServerWriter<v1::RequestEventBatch>* writer) override;

 private:
  EventFeed& feed_;
};

}  // namespace prewarm::orchestrator
