// A real gRPC server on 127.0.0.1 (ephemeral port) serving prewarm.v1.OrchestratorService,
// and clients with good and bad certificates: what each side sees and says.
#include "security/tls.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "prewarm/v1/orchestrator.grpc.pb.h"
#include "security/cluster_certs.h"
#include "security/peer_verifier.h"
#include "security/testing.h"

namespace prewarm::security {
namespace {

namespace v1 = prewarm::v1;

// ListNodes answers with the caller as the server sees it; Drain is for operators only.
class WhoAmIService final : public v1::OrchestratorService::Service {
  grpc::Status ListNodes(grpc::ServerContext* ctx, const v1::ListNodesRequest*,
                         v1::ListNodesResponse* out) override {
    absl::StatusOr<Peer> peer = PeerOf(*ctx);
    if (!peer.ok()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(peer.status().message()));
    }
    v1::NodeInfo* node = out->add_nodes();
    node->set_node_id(peer->name);
    node->set_runtime(
        fmt::format("{} {}", RoleName(peer->role), peer->range ? peer->range->ToString() : "-"));
    node->set_connected(peer->authenticated);
    return grpc::Status::OK;
  }
  grpc::Status Drain(grpc::ServerContext* ctx, const v1::DrainRequest* req,
                     v1::DrainResponse*) override {
    absl::StatusOr<Peer> peer = PeerOf(*ctx);
    absl::Status st =
        peer.ok() ? Require(*peer, Role::kOperator, "Drain " + req->node_id()) : peer.status();
    if (!st.ok()) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, std::string(st.message()));
    }
    return grpc::Status::OK;
  }
};

struct Call {
  grpc::Status status;
  v1::NodeInfo node;
  std::string described;
};

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    testing::CapturedLogs();  // before gRPC starts threads that log
    RouteGrpcLogsToSpdlog();
  }

  void SetUp() override {
    ASSERT_TRUE(InitCertDir(ours_.path(), DefaultClusterPlan(), false).ok());
    ASSERT_TRUE(InitCertDir(theirs_.path(), DefaultClusterPlan(), false).ok());
    LeafSpec old;
    old.identity = Identity{Role::kAgent, "fra-1", *Cidr::Parse("127.77.1.0/24")};
    old.expired = true;
    ASSERT_TRUE(std::filesystem::copy_file(ours_ / "ca.crt", expired_ / "ca.crt"));
    ASSERT_TRUE(std::filesystem::copy_file(ours_ / "ca.key", expired_ / "ca.key"));
    ASSERT_TRUE(IssueCert(expired_.path(), old, false).ok());
  }
  void TearDown() override {
    if (server_) {
      server_->Shutdown();
    }
  }

  static TlsConfig Files(const testing::ScratchDir& ca_dir, const testing::ScratchDir& dir,
                         const std::string& stem) {
    return TlsConfig{ca_dir / "ca.crt", dir / (stem + ".crt"), dir / (stem + ".key")};
  }
  TlsConfig Ours(const std::string& stem) { return Files(ours_, ours_, stem); }

  // Starts the server on 127.0.0.1 and returns the target "127.0.0.1:PORT".
  std::string Serve(const TlsConfig& tls) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds =
        ServerCredentials(tls, *HostPort::Parse("127.0.0.1:0"));
    EXPECT_TRUE(creds.ok()) << creds.status();
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", *creds, &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    EXPECT_NE(port, 0);
    return fmt::format("127.0.0.1:{}", port);
  }

  Call Dial(const TlsConfig& tls, const std::string& target, bool drain = false) {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
        ChannelCredentials(tls, target);
    EXPECT_TRUE(creds.ok()) << creds.status();
    auto stub = v1::OrchestratorService::NewStub(grpc::CreateChannel(target, *creds));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    Call call;
    if (drain) {
      v1::DrainRequest req;
      req.set_node_id("iad-1");
      v1::DrainResponse resp;
      call.status = stub->Drain(&ctx, req, &resp);
    } else {
      v1::ListNodesResponse resp;
      call.status = stub->ListNodes(&ctx, v1::ListNodesRequest(), &resp);
      if (resp.nodes_size() > 0) {
        call.node = resp.nodes(0);
      }
    }
    call.described = DescribeRpcError(call.status, target);
    return call;
  }

  testing::ScratchDir ours_, theirs_, expired_;
  WhoAmIService service_;
  std::unique_ptr<grpc::Server> server_;
};

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_F(TlsTest, AClientWithTheRightCertificateIsSeenAsTheIdentityInIt) {
  std::string target = Serve(Ours("orchestrator-1"));
  Call call = Dial(Ours("agent-fra-1"), target);
  ASSERT_TRUE(call.status.ok()) << call.described;
  EXPECT_EQ(call.node.node_id(), "fra-1");
  EXPECT_EQ(call.node.runtime(), "agent 127.77.1.0/24");
  EXPECT_TRUE(call.node.connected());
}

TEST_F(TlsTest, AClientCertificateFromAnotherCaIsRefusedAndBothSidesSayWhy) {
  testing::LogCapture log;
  std::string target = Serve(Ours("orchestrator-1"));
  Call call = Dial(Files(ours_, theirs_, "agent-fra-1"), target);
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(call.described.starts_with("TLS to " + target +
                                         " failed: our certificate was refused: issued by "))
      << call.described;
  EXPECT_TRUE(Has(call.described, ", not by our CA (ca.crt: O=prewarm, CN=prewarm CA "))
      << call.described;
  EXPECT_TRUE(log.Saw(
      "gRPC 127.0.0.1:0: refused a connection: the client's certificate (agent fra-1 (range "
      "127.77.1.0/24); O=prewarm, OU=agent, CN=fra-1): issued by "))
      << log.text();
}

TEST_F(TlsTest, AnExpiredClientCertificateIsRefusedAsExpired) {
  testing::LogCapture log;
  std::string target = Serve(Ours("orchestrator-1"));
  Call call = Dial(Files(ours_, expired_, "agent-fra-1"), target);
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(call.described.starts_with("TLS to " + target +
                                         " failed: our certificate was refused: expired on "))
      << call.described;
  EXPECT_TRUE(Has(call.described, "(tls.cert " + (expired_ / "agent-fra-1.crt") + ": agent fra-1"))
      << call.described;
  EXPECT_TRUE(log.Saw("CN=fra-1): expired on ")) << log.text();
}

TEST_F(TlsTest, AServerCertificateFromAnotherCaIsRefusedByTheClient) {
  std::string target = Serve(Files(ours_, theirs_, "orchestrator-1"));
  Call call = Dial(Ours("agent-fra-1"), target);
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(call.described.starts_with(
      "TLS to " + target +
      " failed: the server's certificate (orchestrator orchestrator-1; O=prewarm, "
      "OU=orchestrator, CN=orchestrator-1): issued by O=prewarm, CN=prewarm CA "))
      << call.described;
  EXPECT_TRUE(Has(call.described, ", not by our CA (ca.crt: ")) << call.described;
}

TEST_F(TlsTest, AValidClientRefusedByAServerThatTrustsAnotherCaSaysTheServerRefusedIt) {
  testing::LogCapture log;
  std::string target = Serve(Files(theirs_, ours_, "orchestrator-1"));
  Call call = Dial(Ours("agent-fra-1"), target);
  EXPECT_TRUE(call.described.starts_with("TLS to " + target +
                                         " failed: the server closed the connection right "
                                         "after the TLS handshake, so it refused our certificate"))
      << call.described;
  EXPECT_TRUE(log.Saw("refused a connection: the client's certificate (agent fra-1")) << log.text();
}

TEST_F(TlsTest, AServerCertificateForAnotherAddressIsRefusedByTheClient) {
  std::string target = Serve(Ours("orchestrator-2"));  // names 127.0.0.2 and localhost
  Call call = Dial(Ours("agent-fra-1"), target);
  EXPECT_TRUE(Has(call.described,
                  "CN=orchestrator-2): is not for 127.0.0.1: its subjectAltName names "
                  "DNS [localhost] IP [127.0.0.2]"))
      << call.described;
}

TEST_F(TlsTest, AnAgentCertificateCannotServeAndAClientWouldRefuseIt) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server =
      ServerCredentials(Ours("agent-iad-1"), *HostPort::Parse("127.0.0.1:0"));
  EXPECT_EQ(
      server.status().message(),
      "tls.cert " + (ours_ / "agent-iad-1.crt") +
          ": O=prewarm, OU=agent, CN=iad-1 cannot serve: its extendedKeyUsage lacks serverAuth");
  TrustAnchor ca = *TrustAnchor::Load(ours_ / "ca.crt");
  absl::StatusOr<Identity> seen = CheckServerCert(ca, *ReadFile(ours_ / "agent-iad-1.crt"), "",
                                                  "127.0.0.1", std::chrono::system_clock::now());
  EXPECT_EQ(seen.status().message(),
            "the server's certificate (agent iad-1 (range 127.77.2.0/24); O=prewarm, OU=agent, "
            "CN=iad-1): not for use as a TLS server: its extendedKeyUsage lacks serverAuth");
}

TEST_F(TlsTest, AnAgentCallingAnOperatorRpcIsDeniedByName) {
  testing::LogCapture log;
  std::string target = Serve(Ours("orchestrator-1"));
  Call call = Dial(Ours("agent-fra-1"), target, /*drain=*/true);
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(
      Has(call.status.error_message(), "Drain iad-1: refused for agent fra-1 (ipv4:127.0.0.1:"))
      << call.status.error_message();
  EXPECT_TRUE(Has(call.status.error_message(), "needs an operator certificate, not an agent one"));
  EXPECT_TRUE(log.Saw("Drain iad-1: refused for agent fra-1")) << log.text();
  EXPECT_TRUE(Dial(Ours("operator"), target, /*drain=*/true).status.ok());
}

TEST_F(TlsTest, PlaintextOnANonLoopbackAddressIsAnError) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server =
      ServerCredentials(TlsConfig{}, *HostPort::Parse("0.0.0.0:7400"));
  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(
      std::string(server.status().message())
          .starts_with("gRPC 0.0.0.0:7400: plaintext is allowed only on a loopback address"))
      << server.status();
  EXPECT_FALSE(ChannelCredentials(TlsConfig{}, "192.0.2.1:7400").ok());
  EXPECT_FALSE(ChannelCredentials(TlsConfig{}, "dns:///edge.example:7400").ok());
}

TEST_F(TlsTest, PlaintextOnLoopbackWorksAndWarnsThatAnyLocalProcessCanConnect) {
  testing::LogCapture log;
  std::string target = Serve(TlsConfig{});
  EXPECT_TRUE(Has(log.text(),
                  "gRPC 127.0.0.1:0: plaintext without authentication: any local process can "
                  "connect"))
      << log.text();
  Call call = Dial(TlsConfig{}, target);
  ASSERT_TRUE(call.status.ok()) << call.described;
  EXPECT_FALSE(call.node.connected());  // not authenticated
  EXPECT_TRUE(Dial(TlsConfig{}, target, /*drain=*/true).status.ok());
}

TEST_F(TlsTest, APlaintextClientOfATlsServerIsToldToConfigureTls) {
  std::string target = Serve(Ours("orchestrator-1"));
  Call call = Dial(TlsConfig{}, target);
  EXPECT_FALSE(call.status.ok());
  EXPECT_TRUE(Has(call.described, "if it requires TLS, set tls: {ca, cert, key} here too"))
      << call.described;
}

TEST_F(TlsTest, ATlsClientOfAPlaintextServerIsToldTheServerDoesNotSpeakTls) {
  std::string target = Serve(TlsConfig{});
  Call call = Dial(Ours("agent-fra-1"), target);
  EXPECT_FALSE(call.status.ok());
  EXPECT_TRUE(Has(call.described, "the server does not speak TLS")) << call.described;
}

TEST(RequireTest, AnAgentMayActOnlyForItsOwnNode) {
  Peer fra{true, Role::kAgent, "fra-1", std::nullopt, "ipv4:127.0.0.1:41234"};
  EXPECT_TRUE(RequireAgent(fra, "fra-1", "Register").ok());
  absl::Status st = RequireAgent(fra, "iad-1", "Register");
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(st.message(),
            "Register as node iad-1: refused for agent fra-1 (ipv4:127.0.0.1:41234): its "
            "certificate is for "
            "node fra-1");
  Peer op{true, Role::kOperator, "operator", std::nullopt, "ipv4:127.0.0.1:1"};
  EXPECT_EQ(RequireAgent(op, "fra-1", "Register").message(),
            "Register: refused for operator operator (ipv4:127.0.0.1:1): needs an agent "
            "certificate, not an "
            "operator one");
  EXPECT_TRUE(RequireAgent(Peer{}, "fra-1", "Register").ok());  // plaintext: no authentication
}

}  // namespace
}  // namespace prewarm::security
