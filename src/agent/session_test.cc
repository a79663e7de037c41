#include "agent/session.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "agent/agent_testutil.h"
#include "agent/fake_runtime.h"
#include "prewarm/v1/agent.grpc.pb.h"
#include "security/cluster_certs.h"
#include "security/tls.h"

namespace prewarm::agent {
namespace {

// An orchestrator replica as far as an agent can tell: a real gRPC server on an ephemeral
// 127.0.0.1 port that records what its agent sends and can send commands down the stream.
class FakeOrchestrator final : public v1::AgentService::Service {
 public:
  explicit FakeOrchestrator(int port = 0,
                            const std::shared_ptr<grpc::ServerCredentials>& creds = nullptr) {
    grpc::ServerBuilder b;
    // Without SO_REUSEPORT a port someone else holds fails the bind instead of sharing
    // its connections with them.
    b.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    b.AddListeningPort("127.0.0.1:" + std::to_string(port),
                       creds ? creds : grpc::InsecureServerCredentials(), &port_);
    b.RegisterService(this);
    server_ = b.BuildAndStart();
    if (!server_) port_ = 0;
  }
  ~FakeOrchestrator() override { Kill(); }

  // A replica that a test kills and later starts again on the same port. Its port is taken
  // below the kernel's ephemeral range: a port the kernel handed out (port 0) goes back to
  // that range when the replica dies, and another test running beside this one (ctest -j)
  // could be given it before the replica returns.
  static std::unique_ptr<FakeOrchestrator> Revivable() {
    int lowest_ephemeral = 32768;
    std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
    range >> lowest_ephemeral;
    const int span = std::max(1, lowest_ephemeral - 10000);
    for (int k = 0; k < 64; ++k) {
      int port = 10000 + static_cast<int>((getpid() * 131 + k * 7919) % span);
      auto o = std::make_unique<FakeOrchestrator>(port);
      if (o->port() == port) return o;
    }
    return nullptr;
  }

  int port() const { return port_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  // The replica dies: its streams are cut and nothing listens on its port any more.
  void Kill() {
    if (!server_) return;
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
    server_.reset();
  }
  bool Send(const v1::OrchestratorCommand& cmd) {
    std::lock_guard<std::mutex> l(mu_);
    return stream_ != nullptr && stream_->Write(cmd);
  }
  std::vector<v1::AgentMessage> messages() {
    std::lock_guard<std::mutex> l(mu_);
    return messages_;
  }
  // The newest status it received, if any.
  std::optional<v1::NodeStatus> last_status() {
    std::lock_guard<std::mutex> l(mu_);
    for (auto it = messages_.rbegin(); it != messages_.rend(); ++it) {
      if (it->has_status()) return it->status();
    }
    return std::nullopt;
  }

  grpc::Status Connect(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<v1::OrchestratorCommand, v1::AgentMessage>* stream) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      stream_ = stream;
    }
    v1::AgentMessage m;
    while (stream->Read(&m)) {
      std::lock_guard<std::mutex> l(mu_);
      messages_.push_back(m);
    }
    std::lock_guard<std::mutex> l(mu_);
    stream_ = nullptr;
    return grpc::Status::OK;
  }

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;
  grpc::ServerReaderWriter<v1::OrchestratorCommand, v1::AgentMessage>* stream_ = nullptr;
  std::vector<v1::AgentMessage> messages_;
};

// Polls `done` (bounded: generous, and nothing about timing is asserted).
bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 500; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

bool AllReady(const std::optional<v1::NodeStatus>& s, const std::vector<std::string>& ids) {
  if (!s) return false;
  for (const std::string& id : ids) {
    bool ready = false;
    for (const auto& i : s->instances()) {
      ready |= i.instance_id() == id && i.state() == v1::INSTANCE_STATE_READY;
    }
    if (!ready) return false;
  }
  return true;
}

class SessionTest : public ::testing::Test {
 protected:
  SessionTest()
      : root_(std::filesystem::temp_directory_path() /
              ("session_test." + std::to_string(getpid()))),
        runtime_(root_) {
    origin_.content = {{"index.html", "<h1>prewarmed</h1>"}};
    config_.node_id = "fra-session";
    config_.region = "frankfurt";
    config_.slots = 3;
    config_.address_range = *Cidr::Parse("127.78.10.0/29");
    config_.port = static_cast<uint16_t>(20001 + getpid() % 20000);
    config_.heartbeat_ms = 100;
    AgentTemplate t;
    t.spec.name = "static";
    t.preload = {"index.html"};
    templates_["static"] = t;
  }
  ~SessionTest() override {
    if (session_) session_->Stop();
    if (agent_) agent_->Stop();
    std::filesystem::remove_all(root_);
  }
  void Start(std::vector<std::string> orchestrators) {
    config_.orchestrators = std::move(orchestrators);
    agent_ =
        std::make_unique<Agent>(config_, templates_, runtime_, origin_, prober_, RealClock::Get());
    ASSERT_TRUE(agent_->Start().ok());
    session_ = std::make_unique<OrchestratorSession>(*agent_);
    session_->Start();
  }
  static v1::OrchestratorCommand CreateCmd(const std::string& id, const std::string& address) {
    v1::OrchestratorCommand cmd;
    cmd.mutable_create()->set_instance_id(id);
    cmd.mutable_create()->set_template_name("static");
    cmd.mutable_create()->set_address(address);
    return cmd;
  }
  // Has `o` heard a Register (first) and then a status with every one of `ids` READY?
  static bool Registered(FakeOrchestrator& o, const std::vector<std::string>& ids) {
    std::vector<v1::AgentMessage> m = o.messages();
    return !m.empty() && m.front().has_register_() && AllReady(o.last_status(), ids);
  }
  // Starts two instances through `o`, the replica the agent is connected to.
  void StartTwoInstances(FakeOrchestrator& o) {
    ASSERT_TRUE(Eventually([&] { return o.last_status().has_value(); }));
    v1::NodeStatus s = *o.last_status();
    ASSERT_EQ(s.standby_addresses_size(), 2);
    ASSERT_TRUE(o.Send(CreateCmd("i1", s.standby_addresses(0))));
    ASSERT_TRUE(o.Send(CreateCmd("i2", s.standby_addresses(1))));
    ASSERT_TRUE(Eventually([&] { return AllReady(o.last_status(), {"i1", "i2"}); }));
  }
  static bool NeverEnded(FakeOrchestrator& o) {
    for (const auto& m : o.messages()) {
      for (const auto& i : m.status().instances()) {
        if (i.state() == v1::INSTANCE_STATE_GONE || i.state() == v1::INSTANCE_STATE_FAILED) {
          return false;
        }
      }
    }
    return true;
  }

  // A cluster's certificates (`prewarm certs init`) in a fresh directory under the root.
  std::string CertDir(const std::string& name) {
    std::string dir = root_ + "/" + name;
    std::filesystem::create_directories(root_);
    auto written = security::InitCertDir(dir, security::DefaultClusterPlan(), false);
    EXPECT_TRUE(written.ok()) << written.status();
    return dir;
  }
  static std::shared_ptr<grpc::ServerCredentials> ServerTls(const std::string& dir) {
    security::TlsConfig tls{dir + "/ca.crt", dir + "/orchestrator-1.crt",
                            dir + "/orchestrator-1.key"};
    auto creds = security::ServerCredentials(tls, *HostPort::Parse("127.0.0.1:0"));
    EXPECT_TRUE(creds.ok()) << creds.status();
    return creds.ok() ? *creds : nullptr;
  }

  std::string root_;
  FakeRuntime runtime_;
  MapOrigin origin_;
  SwitchProber prober_;
  AgentConfig config_;
  std::map<std::string, AgentTemplate> templates_;
  std::unique_ptr<Agent> agent_;
  std::unique_ptr<OrchestratorSession> session_;
};

TEST_F(SessionTest, WhenItsOrchestratorDiesTheAgentMovesToTheNextAndReportsTheSameInstances) {
  FakeOrchestrator a, b;
  Start({a.target(), b.target()});
  ASSERT_TRUE(Eventually([&] { return session_->endpoint() == a.target(); }));
  StartTwoInstances(a);
  EXPECT_TRUE(b.messages().empty()) << "one stream at a time";

  a.Kill();
  ASSERT_TRUE(Eventually([&] {
    return Registered(b, {"i1", "i2"});
  })) << "b hears Register, then both instances READY";
  EXPECT_EQ(session_->endpoint(), b.target());
  EXPECT_EQ(runtime_.live(), 2) << "moving to another replica destroys nothing";
  EXPECT_TRUE(NeverEnded(b));

  // Commands flow on the new stream.
  v1::OrchestratorCommand d;
  d.mutable_destroy()->set_instance_id("i1");
  ASSERT_TRUE(b.Send(d));
  ASSERT_TRUE(Eventually([&] { return runtime_.live() == 1; }));
}

TEST_F(SessionTest, AnEndpointThatCannotBeOpenedIsSkippedAndTheListIsGoneRound) {
  auto a = FakeOrchestrator::Revivable();
  ASSERT_NE(a, nullptr);
  int a_port = a->port();
  std::string a_target = a->target();
  a->Kill();  // listed first, but down from the start
  FakeOrchestrator b;
  Start({a_target, b.target()});
  ASSERT_TRUE(Eventually([&] { return session_->endpoint() == b.target(); }));
  StartTwoInstances(b);

  // a comes back on its port; b dies: the agent goes round the list to a.
  a = std::make_unique<FakeOrchestrator>(a_port);
  ASSERT_EQ(a->target(), a_target);
  b.Kill();
  ASSERT_TRUE(Eventually([&] { return Registered(*a, {"i1", "i2"}); }));
  EXPECT_EQ(session_->endpoint(), a_target);
  EXPECT_EQ(runtime_.live(), 2);
  EXPECT_TRUE(NeverEnded(*a));
}

TEST_F(SessionTest, AFailureWhileDisconnectedReachesTheNextOrchestrator) {
  FakeOrchestrator a;
  auto b = FakeOrchestrator::Revivable();
  ASSERT_NE(b, nullptr);
  int b_port = b->port();
  std::string b_target = b->target();
  b->Kill();
  Start({a.target(), b_target});
  StartTwoInstances(a);
  a.Kill();
  // The workload of i1 exits while no orchestrator listens.
  ASSERT_TRUE(runtime_.Kill("i1"));
  ASSERT_TRUE(Eventually([&] { return runtime_.live() == 1; }));
  b = std::make_unique<FakeOrchestrator>(b_port);
  // A final state rides in every status until one is delivered, then no more: look in
  // every status b received, not only the newest (a 100-ms heartbeat follows it).
  ASSERT_TRUE(Eventually([&] {
    for (const v1::AgentMessage& m : b->messages()) {
      if (!m.has_status()) continue;
      for (const auto& i : m.status().instances()) {
        if (i.instance_id() == "i1" && i.state() == v1::INSTANCE_STATE_FAILED) {
          return i.failure() == v1::FAILURE_KIND_CRASH;
        }
      }
    }
    return false;
  })) << "the crash is reported to the replica the agent reaches next";
  EXPECT_TRUE(AllReady(b->last_status(), {"i2"}));
}

TEST_F(SessionTest, OverMutualTlsAReplicaFromAnotherCaIsPassedOverForOneFromOurs) {
  std::string ours = CertDir("ours"), theirs = CertDir("theirs");
  FakeOrchestrator impostor(0, ServerTls(theirs));
  FakeOrchestrator good(0, ServerTls(ours));
  config_.tls = {ours + "/ca.crt", ours + "/agent-fra-1.crt", ours + "/agent-fra-1.key"};
  Start({impostor.target(), good.target()});
  ASSERT_TRUE(Eventually([&] { return Registered(good, {}); }));
  EXPECT_EQ(session_->endpoint(), good.target());
  EXPECT_TRUE(impostor.messages().empty()) << "nothing reaches a server we cannot verify";
}

TEST_F(SessionTest, AnAgentWithABadCertificateFileDoesNotStart) {
  std::string ours = CertDir("ours");
  config_.tls = {ours + "/ca.crt", ours + "/agent-fra-1.crt", ours + "/orchestrator-1.key"};
  Agent agent(config_, templates_, runtime_, origin_, prober_, RealClock::Get());
  absl::Status st = agent.Start();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("agent-fra-1.crt"), std::string::npos) << st;
}

}  // namespace
}  // namespace prewarm::agent
