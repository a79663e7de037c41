// gRPC front of the orchestrator: the per-node agent stream and the operator API.
// Handlers convert absl::Status to grpc::Status here and nowhere else.
#pragma once

#include "orchestrator/state.h"
#include "prewarm/v1/agent.grpc.pb.h"
#include "prewarm/v1/orchestrator.grpc.pb.h"

namespace prewarm::orchestrator {

grpc::Status ToGrpc(const absl::Status& s);

class AgentServiceImpl final : public v1::AgentService::Service {
 public:
  explicit AgentServiceImpl(ClusterState& state) : state_(state) {}
  grpc::Status Connect(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<v1::OrchestratorCommand, v1::AgentMessage>* stream) override;

 private:
  ClusterState& state_;
};

class OrchestratorServiceImpl final : public v1::OrchestratorService::Service {
 public:
  explicit OrchestratorServiceImpl(ClusterState& state) : state_(state) {}
  grpc::Status SubmitPrefetch(grpc::ServerContext*, const v1::SubmitPrefetchRequest* req,
                              v1::SubmitPrefetchResponse* resp) override;
  grpc::Status ListNodes(grpc::ServerContext*, const v1::ListNodesRequest*,
                         v1::ListNodesResponse* resp) override;
  grpc::Status ListInstances(grpc::ServerContext*, const v1::ListInstancesRequest* req,
                             v1::ListInstancesResponse* resp) override;
  grpc::Status Drain(grpc::ServerContext*, const v1::DrainRequest* req,
                     v1::DrainResponse* resp) override;

 private:
  ClusterState& state_;
};

}  // namespace prewarm::orchestrator
