#include "agent/agent.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "agent/agent_testutil.h"
#include "agent/fake_runtime.h"
#include "common/promtool_testutil.h"
#include "fmt/format.h"

namespace prewarm::agent {
namespace {

class AgentTest : public ::testing::Test {
 protected:
  AgentTest() : runtime_(MakeRoot()) {
    origin_.content = {{"index.html", "<h1>prewarmed</h1>"}, {"a/b.txt", "bee"}};
    config_.node_id = "fra-test";
    config_.region = "frankfurt";
    config_.slots = 3;
    config_.address_range = *Cidr::Parse("127.78.9.0/29");
    config_.port = static_cast<uint16_t>(20000 + getpid() % 20000);
    config_.standby = 2;
    config_.heartbeat_ms = 100;
    config_.health_interval_ms = 20;
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
    agent_ = std::make_unique<Agent>(config_, templates_, runtime_, origin_, prober_, *clock_);
    ASSERT_TRUE(agent_->Start().ok());
  }
  void Create(const std::string& id, const std::string& addr,
              const std::vector<std::string>& extra = {}, const std::string& tmpl = "static") {
    v1::OrchestratorCommand cmd;
    cmd.mutable_create()->set_instance_id(id);
    cmd.mutable_create()->set_template_name(tmpl);
    cmd.mutable_create()->set_address(addr);
    for (const auto& e : extra) cmd.mutable_create()->add_preload_content_ids(e);
    agent_->Post(cmd);
  }
  void Destroy(const std::string& id) {
    v1::OrchestratorCommand d;
    d.mutable_destroy()->set_instance_id(id);
    agent_->Post(d);
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
  std::vector<v1::NodeStatus> statuses() {
    std::lock_guard<std::mutex> l(mu_);
    return statuses_;
  }
  // Records every published status; `delivered_` says whether it reached an orchestrator.
  void Record() {
    agent_->SetStatusSink([this](const v1::NodeStatus& s) {
      std::lock_guard<std::mutex> l(mu_);
      if (!delivered_) return false;
      for (const auto& i : s.instances()) seen_.push_back(i);
      statuses_.push_back(s);
      return true;
    });
  }
  std::vector<std::string> Standby() {
    v1::NodeStatus s = agent_->LastStatus();
    return {s.standby_addresses().begin(), s.standby_addresses().end()};
  }
  static bool Lists(const v1::NodeStatus& s, const std::string& id, v1::InstanceState state) {
    for (const auto& i : s.instances()) {
      if (i.instance_id() == id && i.state() == state) return true;
    }
    return false;
  }
  // Waits (generously) for `line` in the agent's /metrics; returns the last text seen.
  std::string WaitForMetric(const std::string& line) {
    std::string text;
    for (int i = 0; i < 300; ++i) {
      text = agent_->RenderMetrics();
      if (text.find(line) != std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return text;
  }
  // Sends one datagram to instance `id`'s content-report socket, as its workload would.
  void SendReport(const std::string& id, const std::string& datagram) {
    ScopedFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::string path = FakeRuntime::ReportPath(root_ + "/" + id);
    std::memcpy(sa.sun_path, path.data(), path.size());
    ASSERT_EQ(::sendto(fd.get(), datagram.data(), datagram.size(), 0,
                       reinterpret_cast<sockaddr*>(&sa), sizeof sa),
              static_cast<ssize_t>(datagram.size()))
        << path << ": " << std::strerror(errno);
  }
  std::string Get(const std::string& addr, const std::string& path) {
    httplib::Client c(addr, config_.port);
    c.set_connection_timeout(1, 0);
    c.set_read_timeout(1, 0);
    auto res = c.Get(path);
    return res ? res->body : "(" + httplib::to_string(res.error()) + ")";
  }

  std::string root_;
  FakeRuntime runtime_;
  MapOrigin origin_;
  SwitchProber prober_;
  ManualClock manual_clock_;
  const Clock* clock_ = &RealClock::Get();
  AgentConfig config_;
  std::map<std::string, AgentTemplate> templates_;
  std::unique_ptr<Agent> agent_;
  std::mutex mu_;
  bool delivered_ = true;
  std::vector<v1::InstanceStatus> seen_;
  std::vector<v1::NodeStatus> statuses_;
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
  EXPECT_EQ(s.memory_used_bytes(), 0u) << "no instance, no standby VM";
  // A standby address already accepts connections (they queue until an instance runs).
  httplib::Client c("127.78.9.1", config_.port);
  c.set_connection_timeout(0, 200000);
  c.set_read_timeout(0, 200000);
  auto res = c.Get("/");
  EXPECT_FALSE(res) << "nobody serves yet, but connect must not be refused";
  EXPECT_NE(res.error(), httplib::Error::Connection);
}

// The node's memory in its status counts the VMs started ahead of any instance (standby
// VMs): memory no instance uses, held on the node all the same.
TEST_F(AgentTest, TheNodesMemoryInItsStatusCountsStandbyVms) {
  runtime_.set_reserve({.vms = 2, .memory_bytes = 3u << 20});
  StartAgent();
  EXPECT_EQ(agent_->LastStatus().memory_used_bytes(), 3u << 20);
}

TEST_F(AgentTest, GivenACreateTheInstancePreloadsStartsAndServesTheContent) {
  StartAgent();
  Record();
  Create("i1", "127.78.9.1", {"a/b.txt"});
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_STARTING));
  auto ready = WaitFor("i1", v1::INSTANCE_STATE_READY);
  ASSERT_TRUE(ready.has_value());
  EXPECT_TRUE(ready->probe_ok());
  EXPECT_EQ(ready->preload_missing_size(), 0);
  EXPECT_EQ(Get("127.78.9.1", "/a/b.txt"), "bee");
  EXPECT_EQ(Get("127.78.9.1", "/"), "<h1>prewarmed</h1>");
  // The used address left the standby pool and another one replaced it.
  v1::NodeStatus s = agent_->LastStatus();
  for (const auto& a : s.standby_addresses()) EXPECT_NE(a, "127.78.9.1");
  EXPECT_EQ(s.standby_addresses_size(), 2);
}

// `prewarm ctl logs`: a FetchLogs is answered on the logs sink with the instance's output
// (its last lines when asked), NOT_FOUND for an instance the agent never had, and what an
// ended instance left once its runtime (and its files) are gone.
TEST_F(AgentTest, FetchLogsAnswersWithTheOutputOfALiveOrEndedInstance) {
  config_.health_interval_ms = 600'000;  // no health probe adds a request line meanwhile
  StartAgent();
  Record();
  std::mutex mu;
  std::vector<v1::Logs> answers;
  agent_->SetLogsSink([&](const v1::Logs& l) {
    std::lock_guard<std::mutex> g(mu);
    answers.push_back(l);
    return true;
  });
  auto fetch = [&](uint64_t request, const std::string& id, uint32_t tail) {
    v1::OrchestratorCommand cmd;
    cmd.mutable_fetch_logs()->set_request_id(request);
    cmd.mutable_fetch_logs()->set_instance_id(id);
    cmd.mutable_fetch_logs()->set_tail_lines(tail);
    agent_->Post(cmd);
    for (int i = 0; i < 300; ++i) {
      {
        std::lock_guard<std::mutex> g(mu);
        for (const auto& a : answers) {
          if (a.request_id() == request) return std::optional<v1::Logs>(a);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::optional<v1::Logs>();
  };
  Create("i1", "127.78.9.1");
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_READY));
  ASSERT_TRUE(runtime_
                  .Write("i1",
                         "hello from i1\n\xFF"
                         "bad byte\n")
                  .ok());
  auto all = fetch(1, "i1", 0);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->code(), 0) << all->message();
  EXPECT_EQ(all->instance_id(), "i1");
  EXPECT_FALSE(all->ended());
  EXPECT_NE(all->output().find("fake: serving"), std::string::npos) << all->output();
  EXPECT_NE(all->output().find("hello from i1\n\xEF\xBF\xBD"
                               "bad byte\n"),
            std::string::npos)
      << all->output();
  auto last = fetch(2, "i1", 1);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->output(),
            "\xEF\xBF\xBD"
            "bad byte\n");
  EXPECT_GT(last->dropped_bytes(), 0u);

  auto unknown = fetch(3, "nope", 0);
  ASSERT_TRUE(unknown.has_value());
  EXPECT_EQ(unknown->code(), static_cast<int>(absl::StatusCode::kNotFound));
  EXPECT_NE(unknown->message().find("no instance nope"), std::string::npos);

  Destroy("i1");
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_GONE));
  EXPECT_FALSE(std::filesystem::exists(root_ + "/i1"));
  auto ended = fetch(4, "i1", 0);
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->code(), 0) << ended->message();
  EXPECT_TRUE(ended->ended());
  EXPECT_NE(ended->output().find("hello from i1"), std::string::npos);
}

// Given an IPv6 range: ::/126 holds ::1, the one IPv6 address this host may bind (the
// others of the range are not local, so binding them fails and they are skipped).
TEST_F(AgentTest, AnIpv6RangeGivesIpv6StandbyAddressesAndInstances) {
  config_.address_range = *Cidr::Parse("::/126");
  StartAgent();
  Record();
  EXPECT_EQ(Standby(), std::vector<std::string>{"::1"});
  EXPECT_EQ(agent_->MakeRegister().address_range(), "::/126");
  Create("i6", "::1");
  auto ready = WaitFor("i6", v1::INSTANCE_STATE_READY);
  ASSERT_TRUE(ready.has_value());
  EXPECT_EQ(ready->address(), "::1");
  EXPECT_TRUE(ready->probe_ok());
  EXPECT_EQ(Get("::1", "/"), "<h1>prewarmed</h1>");
  // An address outside the range, or of the other family, is refused.
  Create("v4", "127.78.9.1");
  auto refused = WaitFor("v4", v1::INSTANCE_STATE_FAILED);
  ASSERT_TRUE(refused.has_value());
  EXPECT_NE(refused->detail().find("not an instance address of ::/126"), std::string::npos)
      << refused->detail();
}

TEST_F(AgentTest, AWorkloadThatExitsAfterReadyIsACrashAndItsAddressIsQuarantined) {
  StartAgent();
  Record();
  Create("i1", "127.78.9.1");
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_READY));
  ASSERT_TRUE(runtime_.Kill("i1"));
  auto failed = WaitFor("i1", v1::INSTANCE_STATE_FAILED);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->failure(), v1::FAILURE_KIND_CRASH);
  EXPECT_NE(failed->detail().find("exited"), std::string::npos) << failed->detail();
  EXPECT_EQ(runtime_.live(), 0);
  for (const auto& a : Standby()) EXPECT_NE(a, "127.78.9.1");
}

// Each live instance has a slot of its own (the oci runtime maps it to a host id range);
// a destroyed instance's slot goes to the next create.
TEST_F(AgentTest, EachLiveInstanceHoldsItsOwnSlotAndAFreedOneIsReused) {
  StartAgent();
  Record();
  Create("i1", "127.78.9.1");
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_READY));
  Create("i2", Standby().at(0));
  ASSERT_TRUE(WaitFor("i2", v1::INSTANCE_STATE_READY));
  EXPECT_EQ(runtime_.LiveSlots(), (std::map<std::string, uint32_t>{{"i1", 0}, {"i2", 1}}));
  Destroy("i1");
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_GONE));
  Create("i3", Standby().at(0));
  ASSERT_TRUE(WaitFor("i3", v1::INSTANCE_STATE_READY));
  EXPECT_EQ(runtime_.LiveSlots(), (std::map<std::string, uint32_t>{{"i2", 1}, {"i3", 0}}));
}

// /metrics counts what happened to each instance, by node, region and template; a region
// with a quote and a backslash leaves the text parseable by Prometheus.
TEST_F(AgentTest, MetricsCountStartsFailuresStopsPreloadsAndStartTimes) {
  config_.region = "eu\"west\\";
  StartAgent();
  Record();
  Create("i1", "127.78.9.1", {"a/b.txt", "missing.bin"});
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_READY));
  ASSERT_TRUE(runtime_.Kill("i1"));
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_FAILED));
  Create("i2", Standby().front());
  ASSERT_TRUE(WaitFor("i2", v1::INSTANCE_STATE_READY));
  Destroy("i2");
  ASSERT_TRUE(WaitFor("i2", v1::INSTANCE_STATE_GONE));
  Create("i3", Standby().front(), {}, "no-such-template");
  ASSERT_TRUE(WaitFor("i3", v1::INSTANCE_STATE_FAILED));

  runtime_.set_reserve({.vms = 2, .memory_bytes = 3u << 20});  // e.g. standby VMs
  const std::string text = agent_->RenderMetrics();
  const std::string l = "node=\"fra-test\",region=\"eu\\\"west\\\\\",template=\"static\"";
  for (const std::string& line : {
           "prewarm_agent_instance_starts_total{" + l + "} 2\n",
           "prewarm_agent_instance_stops_total{" + l + "} 1\n",
           "prewarm_agent_instance_failures_total{" + l + ",kind=\"crash\"} 1\n",
           "prewarm_agent_instance_failures_total{" + l + ",kind=\"start\"} 0\n",
           "prewarm_agent_preload_total{" + l + ",result=\"fetched\"} 3\n",
           "prewarm_agent_preload_total{" + l + ",result=\"missing\"} 1\n",
           "prewarm_agent_instance_start_seconds_count{" + l + "} 2\n",
           "prewarm_agent_instances{" + l + ",state=\"ready\"} 0\n",
           std::string("prewarm_agent_creates_rejected_total{node=\"fra-test\""),
           std::string("prewarm_agent_queue_depth{node=\"fra-test\""),
           std::string(
               "prewarm_agent_standby_vms{node=\"fra-test\",region=\"eu\\\"west\\\\\"} 2\n"),
           std::string("prewarm_agent_standby_vms_memory_bytes{node=\"fra-test\",region="
                       "\"eu\\\"west\\\\\"} 3145728\n"),
           std::string("prewarm_build_info{"),
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
  EXPECT_NE(
      text.find(
          "prewarm_agent_creates_rejected_total{node=\"fra-test\",region=\"eu\\\"west\\\\\"} 1\n"),
      std::string::npos)
      << text;
  if (PromtoolPath().empty()) GTEST_SKIP() << "promtool is not installed";
  absl::Status st = PromtoolCheckMetrics(text);
  EXPECT_TRUE(st.ok()) << st;
}

// What the relay in front of an instance's workload did reaches /metrics while it runs, and
// what it did after the last heartbeat when it ends.
TEST_F(AgentTest, TheRelaysConnectionsAreCountedByPathAcrossAnInstancesLife) {
  StartAgent();
  Record();
  Create("i1", "127.78.9.1");
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_READY));
  ASSERT_TRUE(
      runtime_.SetRelayed("i1", {.relayed = 5, .in_kernel = 3, .refused = 1, .held_back = 1}));
  const std::string l = "node=\"fra-test\",region=\"frankfurt\",template=\"static\"";
  std::string text =
      WaitForMetric("prewarm_agent_relay_connections_total{" + l + ",path=\"kernel\"} 3\n");
  for (const std::string& line : {
           "prewarm_agent_relay_connections_total{" + l + ",path=\"kernel\"} 3\n",
           "prewarm_agent_relay_connections_total{" + l + ",path=\"threads\"} 2\n",
           "prewarm_agent_relay_connections_total{" + l + ",path=\"refused\"} 1\n",
           "prewarm_agent_relay_held_back_total{" + l + "} 1\n",
           "prewarm_agent_port_handoffs_total{" + l + "} 0\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
  ASSERT_TRUE(runtime_.SetRelayed(
      "i1", {.relayed = 8, .in_kernel = 4, .refused = 1, .held_back = 2, .handed = 2}));
  Destroy("i1");
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_GONE));
  text = agent_->RenderMetrics();
  for (const std::string& line : {
           "prewarm_agent_relay_connections_total{" + l + ",path=\"kernel\"} 4\n",
           "prewarm_agent_relay_connections_total{" + l + ",path=\"threads\"} 4\n",
           "prewarm_agent_relay_held_back_total{" + l + "} 2\n",
           "prewarm_agent_port_handoffs_total{" + l + "} 2\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
  if (PromtoolPath().empty()) GTEST_SKIP() << "promtool is not installed";
  absl::Status st = PromtoolCheckMetrics(text);
  EXPECT_TRUE(st.ok()) << st;
}

TEST_F(AgentTest, AnExitIsPublishedAtOnceNotAtTheNextHeartbeat) {
  // Time stands still, so no heartbeat is ever due, and health probes are off: after the
  // kill, the only reason to publish is the instance's change of state.
  clock_ = &manual_clock_;
  config_.heartbeat_ms = 1000;
  config_.health_interval_ms = 3'600'000;
  StartAgent();
  Record();
  Create("i1", "127.78.9.1");
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_READY));
  size_t before = statuses().size();
  ASSERT_TRUE(runtime_.Kill("i1"));
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_FAILED));
  std::vector<v1::NodeStatus> after = statuses();
  ASSERT_GT(after.size(), before);
  EXPECT_TRUE(Lists(after[before], "i1", v1::INSTANCE_STATE_FAILED))
      << "the first status after the exit reports it";
  EXPECT_EQ(after[before].sent_unix_ms(), manual_clock_.NowMs());
}

TEST_F(AgentTest, AStartThatNeverBecomesReadyFailsAsAStart) {
  config_.ready_timeout_ms = 300;
  StartAgent();
  Record();
  runtime_.FailNextCreate();
  Create("bad-runtime", "127.78.9.1");
  auto f1 = WaitFor("bad-runtime", v1::INSTANCE_STATE_FAILED);
  ASSERT_TRUE(f1.has_value());
  EXPECT_EQ(f1->failure(), v1::FAILURE_KIND_START);
  EXPECT_NE(f1->detail().find("create failed"), std::string::npos);
  prober_.healthy = false;  // the workload runs but never answers its readiness probe
  Create("never-ready", Standby().at(0));
  auto f2 = WaitFor("never-ready", v1::INSTANCE_STATE_FAILED);
  ASSERT_TRUE(f2.has_value());
  EXPECT_EQ(f2->failure(), v1::FAILURE_KIND_START);
  EXPECT_NE(f2->detail().find("did not pass"), std::string::npos) << f2->detail();
  Create("bad-tmpl", Standby().at(0), {}, "nope");
  auto f3 = WaitFor("bad-tmpl", v1::INSTANCE_STATE_FAILED);
  ASSERT_TRUE(f3.has_value());
  EXPECT_EQ(f3->failure(), v1::FAILURE_KIND_START);
  EXPECT_EQ(runtime_.live(), 0);
}

TEST_F(AgentTest, AHealthProbeFailingAfterReadyIsUnhealthy) {
  StartAgent();
  Record();
  Create("i1", "127.78.9.1");
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_READY));
  prober_.healthy = false;
  auto failed = WaitFor("i1", v1::INSTANCE_STATE_FAILED);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->failure(), v1::FAILURE_KIND_UNHEALTHY);
  EXPECT_EQ(runtime_.live(), 0);
}

TEST_F(AgentTest, ContentTheOriginDoesNotHaveFailsThatPreloadNotTheInstance) {
  StartAgent();
  Record();
  Create("i1", "127.78.9.1", {"missing.bin", "a/b.txt"});
  auto ready = WaitFor("i1", v1::INSTANCE_STATE_READY);
  ASSERT_TRUE(ready.has_value());
  ASSERT_EQ(ready->preload_missing_size(), 1);
  EXPECT_EQ(ready->preload_missing(0), "missing.bin");
  EXPECT_NE(ready->detail().find("missing.bin"), std::string::npos) << ready->detail();
  EXPECT_EQ(Get("127.78.9.1", "/a/b.txt"), "bee") << "the content the origin had is there";
  // A PreloadContent command for more missing content adds to the list, once.
  v1::OrchestratorCommand p;
  p.mutable_preload()->set_instance_id("i1");
  p.mutable_preload()->add_content_ids("gone.bin");
  p.mutable_preload()->add_content_ids("missing.bin");
  agent_->Post(p);
  // The list stays in every status while the instance lives.
  for (int i = 0; i < 300; ++i) {
    v1::NodeStatus s = agent_->LastStatus();
    if (s.instances_size() == 1 && s.instances(0).preload_missing_size() == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  v1::InstanceStatus later = agent_->LastStatus().instances(0);
  EXPECT_EQ(later.state(), v1::INSTANCE_STATE_READY);
  ASSERT_EQ(later.preload_missing_size(), 2);
  EXPECT_EQ(later.preload_missing(0), "missing.bin");
  EXPECT_EQ(later.preload_missing(1), "gone.bin");
}

TEST_F(AgentTest, AnUnreachableOriginStillStartsTheInstanceAndTheDetailSaysSo) {
  config_.ready_timeout_ms = 300;
  templates_["health"] = templates_["static"];
  templates_["health"].spec.probe_path = "/healthz";  // ready without any content
  StartAgent();
  Record();
  origin_.down = true;
  Create("i1", "127.78.9.1", {"a/b.txt"}, "health");
  auto ready = WaitFor("i1", v1::INSTANCE_STATE_READY);
  ASSERT_TRUE(ready.has_value());
  EXPECT_EQ(ready->preload_missing_size(), 0)
      << "unreachable is not 'the origin has no such content'";
  EXPECT_NE(ready->detail().find("origin unreachable"), std::string::npos) << ready->detail();
  EXPECT_NE(ready->detail().find("index.html, a/b.txt"), std::string::npos) << ready->detail();
  // A template whose readiness needs the content fails to start, and says why.
  Create("i2", Standby().at(0));
  auto failed = WaitFor("i2", v1::INSTANCE_STATE_FAILED);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->failure(), v1::FAILURE_KIND_START);
  EXPECT_NE(failed->detail().find("origin unreachable"), std::string::npos) << failed->detail();
}

TEST_F(AgentTest, AContentIdThatEscapesRefusesTheCreateNamingTheId) {
  StartAgent();
  Record();
  Create("evil", "127.78.9.1", {"index.html", "../../etc/passwd"});
  auto failed = WaitFor("evil", v1::INSTANCE_STATE_FAILED);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->failure(), v1::FAILURE_KIND_START);
  EXPECT_NE(failed->detail().find("'../../etc/passwd'"), std::string::npos) << failed->detail();
  EXPECT_EQ(runtime_.live(), 0);
  EXPECT_EQ(Standby().at(0), "127.78.9.1") << "nothing was taken for it";
}

TEST_F(AgentTest, ARepeatedCreateForARunningInstanceMakesNoSecondInstance) {
  StartAgent();
  Record();
  Create("i1", "127.78.9.1");
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_READY));
  std::vector<std::string> standby = Standby();
  Create("i1", "127.78.9.1");
  Create("i1", standby.at(0));  // even naming another free address
  // The queue is handled in order: once this create's refusal is out, so are the repeats.
  Create("barrier", "10.0.0.1");
  ASSERT_TRUE(WaitFor("barrier", v1::INSTANCE_STATE_FAILED));
  EXPECT_EQ(runtime_.live(), 1);
  EXPECT_EQ(Standby(), standby) << "no address was taken for the repeat";
  v1::NodeStatus last = agent_->LastStatus();
  int i1 = 0;
  for (const auto& st : last.instances()) {
    if (st.instance_id() != "i1") continue;
    ++i1;
    EXPECT_EQ(st.state(), v1::INSTANCE_STATE_READY);
  }
  EXPECT_EQ(i1, 1) << "one instance i1 (the barrier's failure may still be listed)";
  for (const auto& st : seen()) {
    if (st.instance_id() == "i1") {
      EXPECT_EQ(st.failure(), v1::FAILURE_KIND_UNSPECIFIED);
    }
  }
}

TEST_F(AgentTest, ACreateForAnAddressInUseFailsWithoutTouchingItsHolder) {
  StartAgent();
  Record();
  Create("i1", "127.78.9.1");
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_READY));
  Create("i2", "127.78.9.1");
  auto failed = WaitFor("i2", v1::INSTANCE_STATE_FAILED);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->failure(), v1::FAILURE_KIND_START);
  EXPECT_NE(failed->detail().find("in use by instance i1"), std::string::npos) << failed->detail();
  EXPECT_EQ(runtime_.live(), 1);
  EXPECT_EQ(Get("127.78.9.1", "/"), "<h1>prewarmed</h1>") << "the holder still serves";
  v1::NodeStatus last = agent_->LastStatus();
  bool i1_ready = false;
  for (const auto& st : last.instances()) {
    i1_ready |= st.instance_id() == "i1" && st.state() == v1::INSTANCE_STATE_READY;
  }
  EXPECT_TRUE(i1_ready);
}

TEST_F(AgentTest, ACreateForAnAddressThatIsNotAFreeStandbyAddressFails) {
  StartAgent();
  Record();
  Create("i1", "127.78.9.1");
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_READY));
  Destroy("i1");
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_GONE));
  struct Case {
    std::string id, address, says;
  };
  std::vector<Case> cases = {
      {"quarantined", "127.78.9.1", "quarantined"},
      {"foreign", "10.0.0.1", "not an instance address of 127.78.9.0/29"},
      {"network", "127.78.9.0", "not an instance address"},
      {"broadcast", "127.78.9.7", "not an instance address"},
      {"unbound", "127.78.9.6", "not one of this node's standby addresses"},
      {"garbage", "not-an-ip", "bad address"},
  };
  for (const Case& c : cases) Create(c.id, c.address);
  for (const Case& c : cases) {
    auto failed = WaitFor(c.id, v1::INSTANCE_STATE_FAILED);
    ASSERT_TRUE(failed.has_value()) << c.id;
    EXPECT_EQ(failed->failure(), v1::FAILURE_KIND_START) << c.id;
    EXPECT_NE(failed->detail().find(c.says), std::string::npos) << c.id << ": " << failed->detail();
  }
  EXPECT_EQ(runtime_.live(), 0);
}

TEST_F(AgentTest, FinalStatesAreRepeatedUntilAnOrchestratorHeardThem) {
  StartAgent();
  Record();
  Create("i1", "127.78.9.1");
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_READY));
  {
    std::lock_guard<std::mutex> l(mu_);
    delivered_ = false;  // the stream is down
  }
  ASSERT_TRUE(runtime_.Kill("i1"));
  for (int i = 0; i < 300 && !Lists(agent_->LastStatus(), "i1", v1::INSTANCE_STATE_FAILED); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Heartbeats pass undelivered; the failure stays in each.
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  ASSERT_TRUE(Lists(agent_->LastStatus(), "i1", v1::INSTANCE_STATE_FAILED));
  {
    std::lock_guard<std::mutex> l(mu_);
    delivered_ = true;
  }
  auto failed = WaitFor("i1", v1::INSTANCE_STATE_FAILED);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->failure(), v1::FAILURE_KIND_CRASH);
  size_t n = statuses().size();
  for (int i = 0; i < 300 && statuses().size() < n + 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(Lists(statuses().back(), "i1", v1::INSTANCE_STATE_FAILED)) << "then forgotten";
}

TEST_F(AgentTest, DestroyAndStopLeaveNothingRunning) {
  StartAgent();
  Record();
  Create("i1", "127.78.9.1");
  Create("i2", "127.78.9.2");
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_READY));
  ASSERT_TRUE(WaitFor("i2", v1::INSTANCE_STATE_READY));
  Destroy("i1");
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_GONE));
  EXPECT_EQ(runtime_.live(), 1);
  agent_->Stop();
  EXPECT_EQ(runtime_.live(), 0);
}

// FetchLimits hold for the real origin: bytes (by Content-Length or while writing), time
// (the whole fetch), cancellation; nothing is written through a symlink.
TEST(HttpOriginTest, A404IsMissingA5xxOrNoAnswerUnreachableAndTooBigResourceExhausted) {
  httplib::Server server;
  server.Get("/c/ok.txt", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  });
  server.Get("/c/big.bin", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(1000, 'x'), "application/octet-stream");
  });
  // Chunked (no Content-Length): `total` bytes, `step` at a time, `pause_ms` apart.
  auto trickle = [](size_t total, size_t step, int pause_ms) {
    return [=](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider(
          "application/octet-stream", [=](size_t offset, httplib::DataSink& sink) {
            if (offset >= total) {
              sink.done();
              return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
            return sink.write(std::string(step, 'y').data(), step);
          });
    };
  };
  server.Get("/c/chunked.bin", trickle(1000, 100, 0));  // the limit is found while writing
  server.Get("/c/slow.bin", trickle(100, 1, 20));       // a byte every 20 ms
  server.Get("/c/broken.txt",
             [](const httplib::Request&, httplib::Response& res) { res.status = 503; });
  server.Get("/c/d/x.txt", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("x", "text/plain");
  });
  int port = server.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { server.listen_after_bind(); });
  for (int i = 0; i < 500 && !server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  namespace fs = std::filesystem;
  const std::string dir = fs::temp_directory_path() / ("origin_test." + std::to_string(getpid()));
  fs::create_directories(dir);
  absl::StatusOr<ScopedFd> content = OpenContentDir(dir, "content");
  ASSERT_TRUE(content.ok()) << content.status();
  const int fd = content->get();
  auto origin = MakeHttpOrigin("http://127.0.0.1:" + std::to_string(port) + "/c");
  absl::StatusOr<uint64_t> ok = origin->FetchTo("ok.txt", fd, {});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, 2u);
  EXPECT_TRUE(fs::exists(dir + "/content/ok.txt"));
  EXPECT_TRUE(absl::IsNotFound(origin->FetchTo("nope.txt", fd, {}).status()));
  EXPECT_TRUE(absl::IsUnavailable(origin->FetchTo("broken.txt", fd, {}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(origin->FetchTo("../x", fd, {}).status()));
  // Over the room the scratch budget leaves: refused by its length, or while writing;
  // either way nothing is left behind.
  absl::Status big = origin->FetchTo("big.bin", fd, {.max_bytes = 999}).status();
  EXPECT_TRUE(absl::IsResourceExhausted(big)) << big;
  EXPECT_NE(big.message().find("999 bytes left of the template's scratch_bytes"), std::string::npos)
      << big;
  EXPECT_TRUE(origin->FetchTo("big.bin", fd, {.max_bytes = 1000}).ok());
  absl::Status chunked = origin->FetchTo("chunked.bin", fd, {.max_bytes = 550}).status();
  EXPECT_TRUE(absl::IsResourceExhausted(chunked)) << chunked;
  // A fetch is bounded in time as a whole, not only per read.
  absl::Status slow = origin->FetchTo("slow.bin", fd, {.timeout_ms = 200}).status();
  EXPECT_TRUE(absl::IsDeadlineExceeded(slow)) << slow;
  std::atomic<bool> cancel{true};
  absl::Status cancelled = origin->FetchTo("ok.txt", fd, {.cancel = &cancel}).status();
  EXPECT_TRUE(absl::IsCancelled(cancelled)) << cancelled;
  // A symlink in the content directory (a workload's) is not followed.
  const std::string outside = dir + "/outside";
  fs::create_directories(outside);
  fs::create_directory_symlink(outside, dir + "/content/d");
  EXPECT_FALSE(origin->FetchTo("d/x.txt", fd, {}).ok());
  EXPECT_TRUE(fs::is_empty(outside));
  std::set<std::string> left;
  for (const auto& f : fs::directory_iterator(dir + "/content")) {
    left.insert(f.path().filename().string());
  }
  EXPECT_EQ(left, (std::set<std::string>{"ok.txt", "big.bin", "d"}));
  server.stop();
  serving.join();
  EXPECT_TRUE(absl::IsUnavailable(origin->FetchTo("ok.txt", fd, {}).status()));
  fs::remove_all(dir);
}

// The content directory is held open: once it is removed (the instance destroyed), a
// fetch still running creates nothing, even if a directory of that name comes back.
TEST(ContentFileTest, NothingIsCreatedOnceTheDirectoryIsRemovedNorThroughASymlink) {
  namespace fs = std::filesystem;
  const std::string dir = fs::temp_directory_path() / ("content_file." + std::to_string(getpid()));
  fs::create_directories(dir);
  absl::StatusOr<ScopedFd> content = OpenContentDir(dir, "content");
  ASSERT_TRUE(content.ok()) << content.status();
  {
    auto f = ContentFile::Open(content->get(), "a/b.txt", {.max_bytes = 4});
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_TRUE((*f)->Write("abc").ok());
    EXPECT_TRUE(absl::IsResourceExhausted((*f)->Write("de")));
    EXPECT_TRUE(fs::exists(dir + "/content/a/b.txt.part"));
  }
  EXPECT_FALSE(fs::exists(dir + "/content/a/b.txt.part")) << "dropped uncommitted: removed";
  {
    auto f = ContentFile::Open(content->get(), "a/c.txt", {});
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_TRUE((*f)->Write("c").ok());
    EXPECT_EQ((*f)->Commit().value_or(0), 1u);
  }
  EXPECT_TRUE(RemoveContent(content->get(), "a/c.txt").ok());
  EXPECT_FALSE(fs::exists(dir + "/content/a/c.txt"));
  // Eviction does not follow a workload's symlink either.
  fs::create_directories(dir + "/outside");
  std::ofstream(dir + "/outside/f") << "keep";
  fs::create_directory_symlink(dir + "/outside", dir + "/content/l");
  EXPECT_FALSE(RemoveContent(content->get(), "l/f").ok());
  EXPECT_TRUE(fs::exists(dir + "/outside/f"));
  fs::remove_all(dir);
  fs::create_directories(dir + "/content");  // the same path again, another directory
  auto late = ContentFile::Open(content->get(), "a/c.txt", {});
  EXPECT_FALSE(late.ok());
  EXPECT_FALSE(fs::exists(dir + "/content/a"));
  fs::remove_all(dir);
}

TEST(ContentIdTest, RejectsPathsThatEscape) {
  EXPECT_TRUE(ValidateContentId("video/seg-001.ts").ok());
  EXPECT_FALSE(ValidateContentId("").ok());
  EXPECT_FALSE(ValidateContentId("/etc/passwd").ok());
  EXPECT_FALSE(ValidateContentId("a/../../b").ok());
  EXPECT_FALSE(ValidateContentId("a//b").ok());
  EXPECT_FALSE(ValidateContentId("a?b").ok());
}

TEST(CountEstablishedTest, CountsTheConnectionsOfEachLocalAddressOnThePort) {
  auto listener = ListenTcp(*IpAddr::Parse("127.0.0.1"), 0);
  ASSERT_TRUE(listener.ok());
  sockaddr_in sa{};
  socklen_t len = sizeof(sa);
  ASSERT_EQ(getsockname(listener->get(), reinterpret_cast<sockaddr*>(&sa), &len), 0);
  const uint16_t port = ntohs(sa.sin_port);
  EXPECT_TRUE(CountEstablished(port).empty());
  std::vector<ScopedFd> clients;
  for (int i = 0; i < 2; ++i) {
    ScopedFd c(socket(AF_INET, SOCK_STREAM, 0));
    ASSERT_EQ(connect(c.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    clients.push_back(std::move(c));
  }
  // Established once the kernel completed the handshake (accept or not).
  auto counts = CountEstablished(port);
  EXPECT_EQ(counts[*IpAddr::Parse("127.0.0.1")], 2u);
  EXPECT_EQ(counts.size(), 1u) << "the clients' own ends are on other ports";
}

// The metric lines of template "static" on node fra-test in region frankfurt.
std::string ReportsLine(const std::string& result, int n) {
  return fmt::format(
      "prewarm_agent_content_reports_total{{node=\"fra-test\",region=\"frankfurt\","
      "template=\"static\",result=\"{}\"}} {}\n",
      result, n);
}

TEST_F(AgentTest, AnInstancesWorkloadReportsWhatItServedAndBadReportsAreCountedAndDropped) {
  templates_["static"].spec.probe_path = "/healthz";  // probes are not content
  StartAgent();
  Record();
  Create("i1", "127.78.9.1", {"a/b.txt"});
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_READY));
  EXPECT_EQ(Get("127.78.9.1", "/a/b.txt"), "bee");
  EXPECT_EQ(Get("127.78.9.1", "/a/b.txt"), "bee");
  Get("127.78.9.1", "/nothing-here");  // 404: asked for, not served
  std::string text = WaitForMetric(ReportsLine("unserved", 1));
  EXPECT_NE(text.find(ReportsLine("counted", 2)), std::string::npos) << text;
  EXPECT_NE(text.find(ReportsLine("unserved", 1)), std::string::npos) << text;

  // The workload is not trusted: malformed, escaping and oversized reports are refused.
  SendReport("i1", "200\t3\t../../etc/passwd");
  SendReport("i1", "200\t3");
  SendReport("i1", "ok\t3\ta/b.txt");
  SendReport("i1", "200\t3\t" + std::string(2000, 'x'));
  SendReport("i1", "200\t3\ta/b.txt");  // and a good one still counts
  text = WaitForMetric(ReportsLine("invalid", 4));
  EXPECT_NE(text.find(ReportsLine("invalid", 4)), std::string::npos) << text;
  text = WaitForMetric(ReportsLine("counted", 3));
  EXPECT_NE(text.find(ReportsLine("counted", 3)), std::string::npos) << text;
  EXPECT_NE(text.find(ReportsLine("overflow", 0)), std::string::npos) << text;
  if (PromtoolPath().empty()) GTEST_SKIP() << "promtool is not installed";
  absl::Status st = PromtoolCheckMetrics(text);
  EXPECT_TRUE(st.ok()) << st;
}

TEST_F(AgentTest, AStatusCarriesTheServedCountsPerContentOnceAndKeepsThemUntilHeard) {
  templates_["static"].spec.probe_path = "/healthz";
  StartAgent();
  Record();
  Create("i1", "127.78.9.1", {"a/b.txt"});
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_READY));
  {
    std::lock_guard<std::mutex> l(mu_);
    delivered_ = false;  // no orchestrator hears the next statuses
  }
  EXPECT_EQ(Get("127.78.9.1", "/a/b.txt"), "bee");
  EXPECT_EQ(Get("127.78.9.1", "/a/b.txt"), "bee");
  EXPECT_EQ(Get("127.78.9.1", "/"), "<h1>prewarmed</h1>");
  WaitForMetric(ReportsLine("counted", 3));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // statuses nobody hears
  {
    std::lock_guard<std::mutex> l(mu_);
    delivered_ = true;
  }
  std::map<std::string, v1::ContentServed> got;
  for (int i = 0; i < 100 && got.size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    got.clear();
    for (const v1::NodeStatus& s : statuses()) {
      for (const v1::ContentServed& c : s.content()) {
        EXPECT_FALSE(got.count(c.content_id())) << c.content_id() << " sent twice";
        got[c.content_id()] = c;
      }
    }
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got["a/b.txt"].template_name(), "static");
  EXPECT_EQ(got["a/b.txt"].requests(), 2u);
  EXPECT_EQ(got["a/b.txt"].size_bytes(), 3u);
  EXPECT_EQ(got["index.html"].requests(), 1u);
  // A (re)connect repeats the last status: without the counts, already sent.
  EXPECT_EQ(agent_->LastStatus().content_size(), 0);
}

TEST_F(AgentTest, AServedReportOfPreloadedContentIsAPreloadHitOfItsTemplate) {
  templates_["static"].spec.probe_path = "/healthz";
  StartAgent();
  Record();
  Create("i1", "127.78.9.1", {"a/b.txt"});
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_READY));
  // Content the instance has without a preload (a workload's own file): served, no hit.
  std::ofstream(root_ + "/i1/content/own.txt") << "own";
  EXPECT_EQ(Get("127.78.9.1", "/a/b.txt"), "bee");
  EXPECT_EQ(Get("127.78.9.1", "/"), "<h1>prewarmed</h1>");  // the template's preload
  EXPECT_EQ(Get("127.78.9.1", "/own.txt"), "own");
  const std::string l = "node=\"fra-test\",region=\"frankfurt\",template=\"static\"";
  std::string text = WaitForMetric("prewarm_agent_preload_requests_total{" + l + "} 3\n");
  EXPECT_NE(text.find("prewarm_agent_preload_requests_total{" + l + "} 3\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("prewarm_agent_preload_hits_total{" + l + "} 2\n"), std::string::npos)
      << text;
  if (PromtoolPath().empty()) GTEST_SKIP() << "promtool is not installed";
  absl::Status st = PromtoolCheckMetrics(text);
  EXPECT_TRUE(st.ok()) << st;
}

// Warm instances (issue 17): a new list for a ready instance evicts what is outside it
// and the template's own list, the least hit first, until the instance fits its template's
// scratch size. index.html is 18 bytes, the rest 10: 48 bytes hold index.html and three.
class WarmPreloadTest : public AgentTest {
 protected:
  WarmPreloadTest() {
    for (const char* id : {"a.bin", "b.bin", "c.bin", "d.bin", "e.bin"}) {
      origin_.content[id] = "0123456789";
    }
    templates_["static"].spec.probe_path = "/healthz";  // probes are not hits
    l_ = "node=\"fra-test\",region=\"frankfurt\",template=\"static\"";
  }
  // i1 holds index.html, a.bin, b.bin, c.bin; b.bin was served twice, a.bin once.
  void StartWithHits() {
    StartAgent();
    Record();
    Create("i1", "127.78.9.1", {"a.bin", "b.bin", "c.bin"});
    ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_READY));
    for (const char* path : {"/b.bin", "/b.bin", "/a.bin"}) {
      ASSERT_EQ(Get("127.78.9.1", path), "0123456789");
    }
    std::string text = WaitForMetric("prewarm_agent_preload_hits_total{" + l_ + "} 3\n");
    ASSERT_NE(text.find("prewarm_agent_preload_hits_total{" + l_ + "} 3\n"), std::string::npos)
        << text;
  }
  // i1 holds index.html; its fetch of slow.bin (10 bytes) hangs until origin_.Release().
  void StartWithSlowFetch() {
    origin_.content["slow.bin"] = "0123456789";
    origin_.slow = {"slow.bin"};
    StartAgent();
    Record();
    Create("i1", "127.78.9.1");
    ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_READY));
    Push({"slow.bin"}, {"slow.bin"});
    ASSERT_TRUE(origin_.WaitHeld(1));
  }
  void Push(std::vector<std::string> fetch, std::vector<std::string> current) {
    v1::OrchestratorCommand p;
    p.mutable_preload()->set_instance_id("i1");
    for (auto& id : fetch) p.mutable_preload()->add_content_ids(id);
    for (auto& id : current) p.mutable_preload()->add_current_content_ids(id);
    agent_->Post(p);
  }
  // The content files i1 holds now.
  std::set<std::string> Held() {
    std::set<std::string> out;
    for (const auto& f : std::filesystem::directory_iterator(root_ + "/i1/content")) {
      out.insert(f.path().filename().string());
    }
    return out;
  }
  std::string Evictions(int n) {
    return fmt::format("prewarm_agent_preload_evictions_total{{{}}} {}\n", l_, n);
  }
  std::string Preloads(const char* result, int n) {
    return fmt::format("prewarm_agent_preload_total{{{},result=\"{}\"}} {}\n", l_, result, n);
  }
  // Waits for `line` in /metrics, then expects it and each of `more` there; returns the text.
  std::string Expect(const std::string& line, std::initializer_list<std::string> more = {}) {
    std::string text = WaitForMetric(line);
    EXPECT_NE(text.find(line), std::string::npos) << text;
    for (const std::string& m : more) EXPECT_NE(text.find(m), std::string::npos) << m << text;
    return text;
  }
  std::string l_;
};

TEST_F(WarmPreloadTest, ANewListEvictsWhatIsOutsideItTheLeastHitFirstUntilItFits) {
  templates_["static"].spec.scratch_bytes = 48;
  StartWithHits();
  // d and e to fetch; c stays listed (cold, but current): a (1 hit) then b (2) make room.
  Push({"d.bin", "e.bin"}, {"c.bin", "d.bin", "e.bin"});
  Expect(Evictions(2), {Preloads("fetched", 6)});
  EXPECT_EQ(Held(), (std::set<std::string>{"index.html", "c.bin", "d.bin", "e.bin"}));
  EXPECT_EQ(Get("127.78.9.1", "/d.bin"), "0123456789");
  // A repeated delivery fetches and evicts nothing.
  Push({"d.bin", "e.bin"}, {"c.bin", "d.bin", "e.bin"});
  // Then one the origin lacks: once it is counted, the loop has handled the one before.
  Push({"f.bin"}, {"c.bin", "d.bin", "e.bin", "f.bin"});
  std::string text = Expect(Preloads("missing", 1), {Preloads("fetched", 6), Evictions(2)});
  if (PromtoolPath().empty()) GTEST_SKIP() << "promtool is not installed";
  absl::Status st = PromtoolCheckMetrics(text);
  EXPECT_TRUE(st.ok()) << st;
}

TEST_F(WarmPreloadTest, AFullScratchMakesRoomByEvictingTheColdestAndTheFetchIsRetried) {
  // The budget is not reached; the scratch itself is full (as a tmpfs of 48 bytes).
  templates_["static"].spec.scratch_bytes = 1 << 20;
  origin_.scratch_limit = 48;
  StartWithHits();
  // Nothing is kept but d and e: c (no hit) goes for d, then a (1 hit) for e; b (2) stays.
  Push({"d.bin", "e.bin"}, {"d.bin", "e.bin"});
  Expect(Evictions(2), {Preloads("fetched", 6)});
  EXPECT_EQ(Held(), (std::set<std::string>{"index.html", "b.bin", "d.bin", "e.bin"}));
}

TEST_F(WarmPreloadTest, WithRoomNothingIsEvictedAndAnIdThatEscapesIsRefusedAlone) {
  StartWithHits();  // the default scratch: 64 MiB
  Push({"d.bin", "../../etc/passwd"}, {"d.bin", "../../etc/passwd"});
  Expect(Preloads("fetched", 5), {Evictions(0)});
  EXPECT_EQ(Held(), (std::set<std::string>{"index.html", "a.bin", "b.bin", "c.bin", "d.bin"}));
}

TEST_F(WarmPreloadTest, WhatTheCurrentListsAloneExceedGetsNoRoomAndTheBudgetHolds) {
  templates_["static"].spec.scratch_bytes = 48;
  StartWithHits();  // 48 bytes held
  // Everything held is in the new list: nothing to evict, so d and e get no room.
  Push({"d.bin", "e.bin"}, {"a.bin", "b.bin", "c.bin", "d.bin", "e.bin"});
  std::string text =
      Expect(Preloads("no_room", 2), {Preloads("fetched", 4), Evictions(0),
                                      "prewarm_agent_preload_scratch_bytes{" + l_ + "} 48\n"});
  EXPECT_EQ(Held(), (std::set<std::string>{"index.html", "a.bin", "b.bin", "c.bin"}));
  if (PromtoolPath().empty()) GTEST_SKIP() << "promtool is not installed";
  absl::Status st = PromtoolCheckMetrics(text);
  EXPECT_TRUE(st.ok()) << st;
}

// Cold start: the template's list and the create's, within scratch_bytes; what does not
// fit gets no room (named in the detail), the rest is still tried.
TEST_F(WarmPreloadTest, AColdStartWritesNoMoreThanTheScratchBudgetAndSaysWhatHadNoRoom) {
  templates_["static"].spec.scratch_bytes = 40;
  origin_.content["big.bin"] = std::string(20, 'x');
  StartAgent();
  Record();
  // index.html 18 + a.bin 10 = 28; big.bin (20) over the 12 left; b.bin 10 fits: 38.
  Create("i1", "127.78.9.1", {"a.bin", "big.bin", "b.bin"});
  auto ready = WaitFor("i1", v1::INSTANCE_STATE_READY);
  ASSERT_TRUE(ready);
  EXPECT_NE(ready->detail().find("no room in the scratch (big.bin: 20 bytes or more, over the 12 "
                                 "bytes left of the template's scratch_bytes): big.bin"),
            std::string::npos)
      << ready->detail();
  EXPECT_EQ(Held(), (std::set<std::string>{"index.html", "a.bin", "b.bin"}));
  const std::string scratch = "prewarm_agent_preload_scratch_bytes{" + l_ + "} ";
  std::string text =
      Expect(scratch + "38\n", {Preloads("fetched", 3), Preloads("no_room", 1),
                                "prewarm_agent_preload_fetched_bytes_total{" + l_ + "} 38\n"});
  if (!PromtoolPath().empty()) {
    absl::Status st = PromtoolCheckMetrics(text);
    EXPECT_TRUE(st.ok()) << st;
  }
  // What an instance held goes from the gauge when it ends.
  Destroy("i1");
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_GONE));
  Expect(scratch + "0\n", {"prewarm_agent_preload_fetched_bytes_total{" + l_ + "} 38\n"});
}

// The loop hands warm preloads to "agent-preload": while a fetch hangs on a slow origin,
// other commands (a start, a stop) are carried out; the fetch's outcome lands later.
TEST_F(WarmPreloadTest, ASlowFetchHoldsUpNoOtherCommand) {
  StartWithSlowFetch();
  if (HasFatalFailure()) return;
  Create("i2", "127.78.9.2");
  EXPECT_TRUE(WaitFor("i2", v1::INSTANCE_STATE_READY)) << "a start waited for the fetch";
  Destroy("i2");
  EXPECT_TRUE(WaitFor("i2", v1::INSTANCE_STATE_GONE)) << "a stop waited for the fetch";
  EXPECT_NE(agent_->RenderMetrics().find("prewarm_agent_preload_queue_depth{node=\"fra-test\","
                                         "region=\"frankfurt\"} 1\n"),
            std::string::npos);
  origin_.Release();
  Expect(Preloads("fetched", 3), {"prewarm_agent_preload_scratch_bytes{" + l_ + "} 28\n"});
  EXPECT_EQ(Held(), (std::set<std::string>{"index.html", "slow.bin"}));
  EXPECT_EQ(Get("127.78.9.1", "/slow.bin"), "0123456789");
}

// Lists that arrive while an instance's run is in flight wait, merged; the newest whole
// list decides: a.bin, listed only by the older one, is not fetched.
TEST_F(WarmPreloadTest, ListsArrivingDuringARunAreMergedAndTheNewestWholeListDecides) {
  StartWithSlowFetch();
  if (HasFatalFailure()) return;
  Push({"a.bin", "c.bin"}, {"slow.bin", "a.bin", "c.bin"});
  Push({"b.bin", "c.bin"}, {"slow.bin", "b.bin", "c.bin"});
  Push({"slow.bin"}, {"slow.bin", "b.bin", "c.bin"});  // in flight: fetched once
  origin_.Release();
  Expect(Preloads("fetched", 4), {"prewarm_agent_preload_scratch_bytes{" + l_ + "} 48\n"});
  // Once a later command is handled, nothing else came of the waiting lists.
  Push({"d.bin"}, {"slow.bin", "b.bin", "c.bin", "d.bin"});
  Expect(Preloads("fetched", 5), {Preloads("skipped", 0)});
  EXPECT_EQ(Held(), (std::set<std::string>{"index.html", "slow.bin", "b.bin", "c.bin", "d.bin"}));
}

// An instance destroyed while its fetch hangs: the stop is carried out at once, and what
// the fetch did is applied neither to it nor to a new instance of the same id, even one
// with a preload of its own in flight. (The origin here does not notice the cancellation,
// the worst case: the real one stops at its next chunk.)
TEST_F(WarmPreloadTest, AnInstanceStoppedMidFetchGetsNoStaleOutcome) {
  origin_.ignore_cancel = true;
  StartWithSlowFetch();
  if (HasFatalFailure()) return;
  Destroy("i1");
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_GONE));
  {
    std::lock_guard<std::mutex> l(mu_);
    seen_.clear();
  }
  Create("i1", "127.78.9.2");  // the old address is quarantined
  ASSERT_TRUE(WaitFor("i1", v1::INSTANCE_STATE_READY));
  Push({"a.bin"}, {"a.bin"});  // queued behind the old fetch
  origin_.Release();
  // The old fetch ends (its directory is gone), then a.bin is fetched for the new i1.
  std::string text =
      Expect(Preloads("fetched", 3), {Preloads("skipped", 0), Preloads("no_room", 0),
                                      "prewarm_agent_preload_scratch_bytes{" + l_ + "} 28\n"});
  EXPECT_EQ(Held(), (std::set<std::string>{"index.html", "a.bin"}));
  v1::NodeStatus last = agent_->LastStatus();
  ASSERT_EQ(last.instances_size(), 1);
  EXPECT_EQ(last.instances(0).detail().find("slow.bin"), std::string::npos)
      << last.instances(0).detail();
}

TEST(PreloadedContentTest, TheColdestIsOutsideKeepTheLeastHitThenTheOldestThenTheLowestId) {
  PreloadedContent p;
  p.Add("a", 10, 1);
  p.Add("b", 20, 2);
  p.Add("c", 30, 3);
  p.Add("d", 5, 4);
  p.Add("e", 1, 3);  // as old as c
  EXPECT_EQ(p.bytes(), 66u);
  EXPECT_TRUE(p.Hit("b", 3));
  EXPECT_TRUE(p.Hit("d", 1));
  EXPECT_FALSE(p.Hit("zz", 1)) << "not held: not a hit";
  EXPECT_EQ(p.Coldest({}), "a");
  EXPECT_EQ(p.Coldest({"a"}), "c") << "c and e: no hit, fetched at 3; c is the lower id";
  EXPECT_EQ(p.Coldest({"a", "c"}), "e");
  EXPECT_EQ(p.Coldest({"a", "c", "e"}), "d") << "1 hit before 3";
  EXPECT_EQ(p.Coldest({"a", "c", "d", "e"}), "b");
  EXPECT_EQ(p.Coldest({"a", "b", "c", "d", "e"}), std::nullopt);
  p.Remove("a");
  EXPECT_EQ(p.bytes(), 56u);
  EXPECT_FALSE(p.Holds("a"));
  // A new copy replaces the old one and its hits.
  p.Add("b", 7, 9);
  EXPECT_EQ(p.bytes(), 43u);
  EXPECT_EQ(p.hits("b"), 0u);
  EXPECT_EQ(p.Coldest({"c", "e"}), "b") << "b: no hit now, d: 1";
}

TEST(ContentTallyTest, KeepsTheTopIdsWithTheirLastSizeRefusesNewIdsWhenFullAndResets) {
  ContentTally t(3);
  EXPECT_TRUE(t.Add("a", 1, 10));
  EXPECT_TRUE(t.Add("b", 5, 20));
  EXPECT_TRUE(t.Add("c", 2, 30));
  EXPECT_TRUE(t.Add("a", 4, 11));   // a known id still counts when full
  EXPECT_FALSE(t.Add("d", 9, 40));  // a new one does not
  auto top = t.TakeTop(2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].first, "a");  // 5, ties broken by id
  EXPECT_EQ(top[0].second.count, 5u);
  EXPECT_EQ(top[0].second.last_bytes, 11u);
  EXPECT_EQ(top[1].first, "b");
  EXPECT_TRUE(t.empty());
  EXPECT_TRUE(t.Add("d", 1, 40));
  EXPECT_EQ(t.TakeTop(10).size(), 1u);
}

}  // namespace
}  // namespace prewarm::agent
