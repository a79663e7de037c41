// The operator API beyond listings of the store: ListTemplates, ListForecasts and GetLogs
// (asked of an agent over its stream), called on the service as gRPC would, on one replica
// (or two sharing a store, the first serving its API over gRPC for the second to forward
// to) whose agents the test plays.
#include <arpa/inet.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <thread>

#include "common/net.h"
#include "fmt/format.h"
#include "orchestrator/grpc_services.h"
#include "orchestrator/test_util.h"
#include "store/memory_kv.h"

namespace prewarm::orchestrator {
namespace {

using testing::RecordingLink;
using testing::TestReplica;

OrchestratorConfig Config(const std::string& replica) {
  OrchestratorConfig c = testing::WithLongLeases(testing::ThreeRegionConfig());
  c.cluster.replica_id = replica;
  return c;
}

class OperatorApiTest : public ::testing::Test {
 protected:
  OperatorApiTest() : config_(Config("a")), kv_(clock_), replica_(config_, clock_, kv_) {
    EXPECT_TRUE(replica_.Start().ok());
  }
  std::shared_ptr<RecordingLink> Fra() {
    return replica_.Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", {"127.77.1.1"});
  }
  // Plays the agent of `node`: answers the next FetchLogs sent on `link` with `answer`
  // (its request id filled in), from another thread, as the stream's handler would.
  std::thread AnswerNext(std::shared_ptr<RecordingLink> link, const std::string& node,
                         v1::Logs answer) {
    return std::thread([this, link, node, answer]() mutable {
      for (int i = 0; i < 500; ++i) {
        for (const auto& cmd : link->Take()) {
          if (!cmd.has_fetch_logs()) continue;
          EXPECT_EQ(cmd.fetch_logs().instance_id(), answer.instance_id());
          answer.set_request_id(cmd.fetch_logs().request_id());
          replica_.r().sessions().Answer(replica_.session(node), answer);
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      ADD_FAILURE() << "no FetchLogs was sent";
    });
  }
  // An instance of fra-1 the orchestrator knows (ordered by the cold path, then ready).
  std::string ReadyInstance(const std::shared_ptr<RecordingLink>& link) {
    EXPECT_TRUE(replica_.r().cold().Reserve("static", {"frankfurt", {50.11, 8.68}}));
    std::string id = link->Take().at(0).create().instance_id();
    replica_.Report("fra-1", id, v1::INSTANCE_STATE_READY, "127.77.1.1");
    return id;
  }

  ManualClock clock_;
  OrchestratorConfig config_;
  store::MemoryKv kv_;
  TestReplica replica_;
  OrchestratorServiceImpl service_{replica_.r()};
  grpc::ServerContext ctx_;
};

TEST_F(OperatorApiTest, ListTemplatesGivesTheConfigWithTheNodesAndInstancesOfEach) {
  auto link = Fra();
  ReadyInstance(link);
  v1::ListTemplatesResponse resp;
  ASSERT_TRUE(service_.ListTemplates(&ctx_, nullptr, &resp).ok());
  ASSERT_EQ(resp.templates_size(), 2);
  const v1::TemplateEntry& s = resp.templates(0);
  EXPECT_EQ(s.name(), "static");
  ASSERT_EQ(s.services_size(), 1);
  EXPECT_EQ(s.services(0), "static");
  EXPECT_EQ(s.tier(), "standard");
  EXPECT_DOUBLE_EQ(s.service_time_s(), 0.05);
  EXPECT_EQ(s.concurrency(), 10u);
  ASSERT_EQ(s.nodes_size(), 1);
  EXPECT_EQ(s.nodes(0), "fra-1");
  ASSERT_EQ(s.runtimes_size(), 1);
  EXPECT_EQ(s.runtimes(0), "fake");
  EXPECT_EQ(s.instances(), 1u);
  EXPECT_EQ(s.instances_ready(), 1u);
  EXPECT_EQ(resp.templates(1).name(), "video");
  EXPECT_EQ(resp.templates(1).instances(), 0u);
}

// After a SIGHUP reload the listing follows the config the DNS answers from.
TEST_F(OperatorApiTest, ListTemplatesFollowsTheLiveConfig) {
  auto live = std::make_shared<OrchestratorConfig>(replica_.r().config());
  live->services = {{"static", "static"}, {"www", "static"}, {"api", "api"}};
  live->templates["api"] = TemplateInfo{"premium", 0.2, 3, 0};
  service_.SetLiveConfig([live] { return live; });
  v1::ListTemplatesResponse resp;
  ASSERT_TRUE(service_.ListTemplates(&ctx_, nullptr, &resp).ok());
  ASSERT_EQ(resp.templates_size(), 3);
  EXPECT_EQ(resp.templates(0).name(), "api");
  EXPECT_EQ(resp.templates(0).tier(), "premium");
  ASSERT_EQ(resp.templates(1).services_size(), 2);
  EXPECT_EQ(resp.templates(1).services(0), "static");
  EXPECT_EQ(resp.templates(1).services(1), "www");
  EXPECT_EQ(resp.templates(2).name(), "video");
  EXPECT_EQ(resp.templates(2).services_size(), 0) << "no service names it any more";
}

TEST_F(OperatorApiTest, ListForecastsGivesTheLatestForecastAndTheOpenWindowsPerKey) {
  const int64_t now = clock_.NowMs();
  auto submit = [&](const std::string& region, int64_t start, int64_t end, uint32_t target,
                    double q) {
    v1::SubmitPrefetchRequest req;
    req.set_forecaster_id("fc-1");
    auto* r = req.add_requests();
    r->set_region(region);
    r->set_template_name("static");
    r->set_window_start_unix_ms(start);
    r->set_window_end_unix_ms(end);
    r->set_target_concurrency(target);
    r->set_quantile(q);
    r->set_model("ets");
    r->set_forecast_rate_per_s(target * 2.5);
    auto rev = replica_.r().prefetch().Accept(req);
    ASSERT_TRUE(rev.ok()) << rev.status();
    clock_.Advance(10);
  };
  submit("frankfurt", now + 60'000, now + 120'000, 3, 0.9);  // received first, starts later
  submit("frankfurt", now + 1'000, now + 30'000, 2, 0.8);
  submit("frankfurt", now + 2'000, now + 3'000, 5, 0.95);  // the latest: ends first
  submit("virginia", now + 1'000, now + 60'000, 1, 0.7);
  clock_.Advance(5'000);  // the third window has ended
  replica_.Sync();
  v1::ListForecastsRequest req;
  v1::ListForecastsResponse resp;
  ASSERT_TRUE(service_.ListForecasts(&ctx_, &req, &resp).ok());
  EXPECT_EQ(resp.now_unix_ms(), clock_.NowMs());
  ASSERT_EQ(resp.keys_size(), 2);
  const v1::ForecastKey& fra = resp.keys(0);
  EXPECT_EQ(fra.region(), "frankfurt");
  EXPECT_EQ(fra.template_name(), "static");
  EXPECT_EQ(fra.latest().request().target_concurrency(), 5u);
  EXPECT_DOUBLE_EQ(fra.latest().request().quantile(), 0.95);
  EXPECT_EQ(fra.latest().forecaster_id(), "fc-1");
  ASSERT_EQ(fra.windows_size(), 2) << "the ended window is not open";
  EXPECT_EQ(fra.windows(0).request().target_concurrency(), 2u) << "by start";
  EXPECT_EQ(fra.windows(1).request().target_concurrency(), 3u);
  EXPECT_EQ(resp.keys(1).region(), "virginia");

  req.set_region("virginia");
  resp.Clear();
  ASSERT_TRUE(service_.ListForecasts(&ctx_, &req, &resp).ok());
  ASSERT_EQ(resp.keys_size(), 1);
  EXPECT_EQ(resp.keys(0).windows_size(), 1);
  req.set_template_name("video");
  resp.Clear();
  ASSERT_TRUE(service_.ListForecasts(&ctx_, &req, &resp).ok());
  EXPECT_EQ(resp.keys_size(), 0);
}

TEST_F(OperatorApiTest, GetLogsAsksTheInstancesAgentOverItsStream) {
  auto link = Fra();
  std::string id = ReadyInstance(link);
  v1::Logs answer;
  answer.set_instance_id(id);
  answer.set_output("serving\nGET / 200\n");
  answer.set_dropped_bytes(7);
  std::thread agent = AnswerNext(link, "fra-1", answer);
  v1::GetLogsRequest req;
  req.set_instance_id(id);
  v1::GetLogsResponse resp;
  grpc::Status st = service_.GetLogs(&ctx_, &req, &resp);
  agent.join();
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.node_id(), "fra-1");
  EXPECT_EQ(resp.output(), "serving\nGET / 200\n");
  EXPECT_EQ(resp.dropped_bytes(), 7u);
  EXPECT_FALSE(resp.ended());
}

TEST_F(OperatorApiTest, GetLogsOfAnEndedInstanceNeedsItsNodeAndPassesTheAgentsError) {
  auto link = Fra();
  v1::GetLogsRequest req;
  req.set_instance_id("gone-1");
  v1::GetLogsResponse resp;
  grpc::Status st = service_.GetLogs(&ctx_, &req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(st.error_message().find("instance gone-1 is unknown to the orchestrator"),
            std::string::npos)
      << st.error_message();
  EXPECT_NE(st.error_message().find("--node"), std::string::npos);

  // With its node: the agent's answer, ended or not found, comes back as it is.
  req.set_node_id("fra-1");
  v1::Logs ended;
  ended.set_instance_id("gone-1");
  ended.set_output("last words\n");
  ended.set_ended(true);
  std::thread agent = AnswerNext(link, "fra-1", ended);
  st = service_.GetLogs(&ctx_, &req, &resp);
  agent.join();
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_TRUE(resp.ended());
  EXPECT_EQ(resp.output(), "last words\n");

  v1::Logs missing;
  missing.set_instance_id("gone-1");
  missing.set_code(grpc::StatusCode::NOT_FOUND);
  missing.set_message("no instance gone-1 here");
  agent = AnswerNext(link, "fra-1", missing);
  st = service_.GetLogs(&ctx_, &req, &resp);
  agent.join();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(st.error_message(), "node fra-1: no instance gone-1 here");

  // An agent's code out of range is not trusted.
  missing.set_code(999);
  agent = AnswerNext(link, "fra-1", missing);
  st = service_.GetLogs(&ctx_, &req, &resp);
  agent.join();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNKNOWN);
}

TEST_F(OperatorApiTest, GetLogsNamesAnUnknownNodeAndAMismatchedOne) {
  auto link = Fra();
  std::string id = ReadyInstance(link);
  v1::GetLogsRequest req;
  v1::GetLogsResponse resp;
  req.set_instance_id("x");
  req.set_node_id("atlantis-1");
  grpc::Status st = service_.GetLogs(&ctx_, &req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(st.error_message(), "node atlantis-1: no agent of that name is connected");
  req.set_instance_id(id);
  st = service_.GetLogs(&ctx_, &req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(st.error_message(), "instance " + id + " is on node fra-1, not atlantis-1");
  req.set_instance_id("");
  EXPECT_EQ(service_.GetLogs(&ctx_, &req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(OperatorApiTest, FetchLogsEndsWithTheDeadlineOrTheStream) {
  auto link = Fra();
  NodeSessions& sessions = replica_.r().sessions();
  auto silent = sessions.FetchLogs("fra-1", "i", 0, 100);
  EXPECT_TRUE(absl::IsDeadlineExceeded(silent.status())) << silent.status();
  EXPECT_NE(silent.status().message().find("did not answer within 100 ms"), std::string::npos);

  link->Take();  // that one's FetchLogs
  // The stream closes while the call waits.
  absl::StatusOr<v1::Logs> cut;
  std::thread caller([&] { cut = sessions.FetchLogs("fra-1", "i", 0, 10'000); });
  for (int i = 0; i < 500; ++i) {
    bool sent = false;
    for (const auto& cmd : link->Take()) sent |= cmd.has_fetch_logs();
    if (sent) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  replica_.Disconnect("fra-1");
  caller.join();
  EXPECT_TRUE(absl::IsUnavailable(cut.status())) << cut.status();
  EXPECT_NE(cut.status().message().find("disconnected"), std::string::npos);
  // And an answer that comes after is dropped: nobody waits for it.
  auto late = sessions.FetchLogs("fra-1", "i", 0, 100);
  EXPECT_TRUE(absl::IsNotFound(late.status())) << late.status();
}

// A loopback port nobody listened on a moment ago (for a server whose address a replica
// record must carry before the server exists).
uint16_t UnusedLoopbackPort() {
  ScopedFd fd(socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    return 0;
  }
  return ntohs(sa.sin_port);
}

TEST(OperatorApiClusterTest, GetLogsOnAnotherReplicaIsForwardedToTheOneHoldingTheAgent) {
  ManualClock clock;
  store::MemoryKv kv(clock);
  OrchestratorConfig ca = Config("a"), cb = Config("b");
  const uint16_t port = UnusedLoopbackPort();
  ASSERT_NE(port, 0);
  ca.grpc_listen = *HostPort::Parse(fmt::format("127.0.0.1:{}", port));
  TestReplica a(ca, clock, kv), b(cb, clock, kv);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  // Replica a's operator API on its address, as the daemon serves it.
  OrchestratorServiceImpl service_a(a.r());
  grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort(ca.grpc_listen.ToString(), grpc::InsecureServerCredentials(), &bound);
  builder.RegisterService(&service_a);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_EQ(bound, port);
  auto link = a.Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", {"127.77.1.1"});
  b.Sync();
  // fra-1's agent, on its stream to replica a, answers the request b forwarded there.
  std::thread agent([&] {
    for (int i = 0; i < 500; ++i) {
      for (const auto& cmd : link->Take()) {
        if (!cmd.has_fetch_logs()) continue;
        v1::Logs answer;
        answer.set_request_id(cmd.fetch_logs().request_id());
        answer.set_instance_id(cmd.fetch_logs().instance_id());
        answer.set_output("GET /hello.txt 200\n");
        a.r().sessions().Answer(a.session("fra-1"), answer);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "replica a sent no FetchLogs";
  });
  OrchestratorServiceImpl service_b(b.r());
  grpc::ServerContext ctx;
  v1::GetLogsRequest req;
  req.set_instance_id("i-1");
  req.set_node_id("fra-1");
  v1::GetLogsResponse resp;
  grpc::Status st = service_b.GetLogs(&ctx, &req, &resp);
  agent.join();
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.node_id(), "fra-1");
  EXPECT_EQ(resp.output(), "GET /hello.txt 200\n");

  // Replica a gone from that address: the error names the replica that holds the agent.
  server->Shutdown();
  grpc::ServerContext ctx2;
  st = service_b.GetLogs(&ctx2, &req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(st.error_message().find(
                fmt::format("node fra-1's agent is connected to replica a at 127.0.0.1:{}: asking "
                            "it failed",
                            port)),
            std::string::npos)
      << st.error_message();
}

TEST(OperatorApiClusterTest, GetLogsIsNotForwardedToAReplicaListeningOnEveryAddress) {
  ManualClock clock;
  store::MemoryKv kv(clock);
  OrchestratorConfig ca = Config("a"), cb = Config("b");
  ca.grpc_listen = *HostPort::Parse("0.0.0.0:7400");
  TestReplica a(ca, clock, kv), b(cb, clock, kv);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  a.Connect("fra-1", "frankfurt", 50.11, 8.68, "127.77.1.0/24", {"127.77.1.1"});
  b.Sync();
  OrchestratorServiceImpl service(b.r());
  grpc::ServerContext ctx;
  v1::GetLogsRequest req;
  req.set_instance_id("i-1");
  req.set_node_id("fra-1");
  v1::GetLogsResponse resp;
  grpc::Status st = service.GetLogs(&ctx, &req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(st.error_message().find("replica a at 0.0.0.0:7400: it listens on every address"),
            std::string::npos)
      << st.error_message();
}

}  // namespace
}  // namespace prewarm::orchestrator
