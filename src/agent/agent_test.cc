#include "agent/agent.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "agent/fake_runtime.h"

namespace prewarm::agent {
namespace {

// Content served from memory, written to the destination as the real origin would.
class MapOrigin final : public Origin {
 public:
  absl::Status FetchTo(const std::string& id, const std::string& dest) override {
    RETURN_IF_ERROR(ValidateContentId(id));
    auto it = content.find(id);
    if (it == content.end()) return absl::NotFoundError("no such content: " + id);
    std::filesystem::create_directories(std::filesystem::path(dest).parent_path());
    std::ofstream(dest) << it->second;
    return absl::OkStatus();
  }
  std::map<std::string, std::string> content;
};

class AgentTest : public ::testing::Test {
 protected:
  AgentTest() : runtime_(MakeRoot()), prober_(MakeHttpProber()) {
    origin_.content = {{"index.html", "<h1>prewarmed</h1>"}, {"a/b.txt", "bee"}};
    config_.node_id = "fra-test";
    config_.region = "frankfurt";
    config_.slots = 3;
    config_.address_range = *Cidr::Parse("127.78.9.0/29");
    config_.port = static_cast<uint16_t>(20000 + getpid() % 20000);
    config_.standby = 2;
    config_.heartbeat_ms = 100;
    config_.ready_timeout_ms = 10'000;
    AgentTemplate t;
    t.spec.name = "static";
    t.preload = {"index.html"};
    templates_["static"] = t;
  }
  ~AgentTest() override {
    if (agent_) agent_->Stop();
    std::filesystem::remove_all(root_);
  }
  std::string MakeRoot() {
    root_ = std::filesystem::temp_directory_path() / ("agent_test." + std::to_string(getpid()));
    return root_;
  }
  void StartAgent() {
    agent_ = std::make_unique<Agent>(config_, templates_, runtime_, origin_, *prober_,
                                     RealClock::Get());
    ASSERT_TRUE(agent_->Start().ok());
  }
  void Create(const std::string& id, const std::string& addr, std::vector<std::string> extra = {}) {
    v1::OrchestratorCommand cmd;
    cmd.mutable_create()->set_instance_id(id);
    cmd.mutable_create()->set_template_name("static");
    cmd.mutable_create()->set_address(addr);
    for (auto& e : extra) cmd.mutable_create()->add_preload_content_ids(e);
    agent_->Post(cmd);
  }
  // Waits (generously; no timing is asserted) for `id` to reach `state` in a status.
  std::optional<v1::InstanceStatus> WaitFor(const std::string& id, v1::InstanceState state) {
    for (int i = 0; i < 300; ++i) {
      for (const auto& st : seen()) {
        if (st.instance_id() == id && st.state() == state) return st;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return std::nullopt;
  }
  std::vector<v1::InstanceStatus> seen() {
    std::lock_guard<std::mutex> l(mu_);
    return seen_;
  }
  void Record() {
    agent_->SetStatusSink([this](const v1::NodeStatus& s) {
      std::lock_guard<std::mutex> l(mu_);
      for (const auto& i : s.instances()) seen_.push_back(i);
      last_ = s;
    });
  }

  std::string root_;
  FakeRuntime runtime_;
  MapOrigin origin_;
  std::unique_ptr<Prober> prober_;
  AgentConfig config_;
  std::map<std::string, AgentTemplate> templates_;
  std::unique_ptr<Agent> agent_;
  std::mutex mu_;
  std::vector<v1::InstanceStatus> seen_;
  v1::NodeStatus last_;
};

TEST_F(AgentTest, RegistersCapacityAndReportsBoundStandbyAddresses) {
  StartAgent();
  v1::Register r = agent_->MakeRegister();
  EXPECT_EQ(r.node_id(), "fra-test");
  EXPECT_EQ(r.instance_slots(), 3u);
  EXPECT_EQ(r.templates(0), "static");
  v1::NodeStatus s = agent_->LastStatus();
  ASSERT_EQ(s.standby_addresses_size(), 2);
  EXPECT_EQ(s.standby_addresses(0), "127.78.9.1");
  // A standby address already accepts connections (they queue until an instance runs).
  httplib::Client c("127.78.9.1", config_.port);
  c.set_connection_timeout(0, 200000);
  c.set_read_timeout(0, 200000);
  auto res = c.Get("/");
  EXPECT_FALSE(res) << "nobody serves yet, but connect must not be refused";
  EXPECT_NE(res.error(), httplib::Error::Connection);
}

TEST_F(AgentTest, GivenACreateTheInstancePreloadsStartsAndServesTheContent) {
  StartAgent();
  Record();
  Create("i1", "127.78.9.1", {"a/b.txt"});
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_STARTING));
  auto ready = WaitFor("i1", v1::INSTANCE_STATE_READY);
  ASSERT_TRUE(ready.has_value());
  EXPECT_TRUE(ready->probe_ok());
  httplib::Client c("127.78.9.1", config_.port);
  auto res = c.Get("/a/b.txt");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body, "bee");
  EXPECT_EQ(c.Get("/")->body, "<h1>prewarmed</h1>");
  // The used address left the standby pool and another one replaced it.
  v1::NodeStatus s = agent_->LastStatus();
  for (const auto& a : s.standby_addresses()) EXPECT_NE(a, "127.78.9.1");
  EXPECT_EQ(s.standby_addresses_size(), 2);
}

TEST_F(AgentTest, AWorkloadThatDiesIsReportedFailedAndItsAddressQuarantined) {
  StartAgent();
  Record();
  Create("i1", "127.78.9.1");
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_READY));
  ASSERT_TRUE(runtime_.Kill("i1"));
  auto failed = WaitFor("i1", v1::INSTANCE_STATE_FAILED);
  ASSERT_TRUE(failed.has_value());
  EXPECT_NE(failed->detail().find("exited"), std::string::npos) << failed->detail();
  EXPECT_EQ(runtime_.live(), 0);
  v1::NodeStatus after = agent_->LastStatus();
  for (const auto& a : after.standby_addresses()) EXPECT_NE(a, "127.78.9.1");
}

TEST_F(AgentTest, RuntimeAndPreloadFailuresAreReportedNotFatal) {
  StartAgent();
  Record();
  runtime_.FailNextCreate();
  Create("bad-runtime", "127.78.9.1");
  auto f1 = WaitFor("bad-runtime", v1::INSTANCE_STATE_FAILED);
  ASSERT_TRUE(f1.has_value());
  EXPECT_NE(f1->detail().find("create failed"), std::string::npos);
  Create("bad-content", "127.78.9.2", {"missing.bin"});
  auto f2 = WaitFor("bad-content", v1::INSTANCE_STATE_FAILED);
  ASSERT_TRUE(f2.has_value());
  EXPECT_NE(f2->detail().find("missing.bin"), std::string::npos);
  Create("bad-addr", "10.0.0.1");
  ASSERT_TRUE(WaitFor("bad-addr", v1::INSTANCE_STATE_FAILED));
  v1::OrchestratorCommand cmd;
  cmd.mutable_create()->set_instance_id("bad-tmpl");
  cmd.mutable_create()->set_template_name("nope");
  cmd.mutable_create()->set_address("127.78.9.3");
  agent_->Post(cmd);
  ASSERT_TRUE(WaitFor("bad-tmpl", v1::INSTANCE_STATE_FAILED));
  Create("evil", "127.78.9.4", {"../../etc/passwd"});
  ASSERT_TRUE(WaitFor("evil", v1::INSTANCE_STATE_FAILED));
  EXPECT_EQ(runtime_.live(), 0);
}

TEST_F(AgentTest, DestroyAndStopLeaveNothingRunning) {
  StartAgent();
  Record();
  Create("i1", "127.78.9.1");
  Create("i2", "127.78.9.2");
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_READY));
  ASSERT_TRUE(WaitFor("i2", v1::INSTANCE_STATE_READY));
  v1::OrchestratorCommand d;
  d.mutable_destroy()->set_instance_id("i1");
  agent_->Post(d);
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_GONE));
  EXPECT_EQ(runtime_.live(), 1);
  agent_->Stop();
  EXPECT_EQ(runtime_.live(), 0);
}

TEST(ContentIdTest, RejectsPathsThatEscape) {
  EXPECT_TRUE(ValidateContentId("video/seg-001.ts").ok());
  EXPECT_FALSE(ValidateContentId("").ok());
  EXPECT_FALSE(ValidateContentId("/etc/passwd").ok());
  EXPECT_FALSE(ValidateContentId("a/../../b").ok());
  EXPECT_FALSE(ValidateContentId("a//b").ok());
  EXPECT_FALSE(ValidateContentId("a?b").ok());
}

}  // namespace
}  // namespace prewarm::agent
