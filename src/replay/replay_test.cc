// `prewarm replay` against an in-process authority (dns::DnsServer over a StaticResolver)
// and the real static server (workload::StaticServer), both on loopback.
#include "replay/replay.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "dns/server.h"
#include "dns/static_resolver.h"
#include "gtest/gtest.h"
#include "replay/dns_client.h"
#include "sim/slice.h"
#include "workload/static_server.h"

namespace prewarm::replay {
namespace {

namespace fs = std::filesystem;

// A random 127.76.x.y so parallel runs do not collide.
IpAddr RandomLoopback() {
  std::random_device rd;
  return IpAddr::V4((127u << 24) | (76u << 16) | (1 + rd() % 250) << 8 | (1 + rd() % 250));
}

// One key per service name, all in region "r", one minute each.
sim::Workload Minute(const std::vector<std::pair<std::string, uint32_t>>& keys) {
  sim::Workload w;
  w.name = "test";
  w.regions = {"r"};
  for (const auto& [name, count] : keys) {
    sim::KeySpec k;
    k.region = "r";
    k.tmpl = name;
    k.memory_mb = 64;
    w.keys.push_back(k);
    w.counts.push_back({count});
  }
  return w;
}

// `w` at `speed` trace seconds per wall second, each GET taking a millisecond.
sim::Workload Fast(const sim::Workload& w, double speed) {
  auto c = sim::Compress(w, {.speed = speed, .service_s = 0.001});
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : w;
}

class ReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("prewarm-replay-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "index.html") << "hello";
    http_ = RandomLoopback();
    auto listener = ListenTcp(http_, 8080);
    ASSERT_TRUE(listener.ok()) << listener.status();
    listener_ = std::move(*listener);
    resolver_ = std::make_unique<dns::StaticResolver>(
        std::map<std::string, dns::ServiceAnswer, std::less<>>{
            {"fn-a", dns::ServiceAnswer{{http_}, 5, 24}},
            {"fn-b", dns::ServiceAnswer{{http_}, 5, 24}},
            {"far", dns::ServiceAnswer{{*IpAddr::Parse("192.0.2.1")}, 5, 24}}});
    dns::ZoneConfig zone;
    zone.ns = {dns::NsRecord{"ns1.edge.example.", {*IpAddr::Parse("127.0.0.1")}}};
    auto authority = dns::Authority::Create(zone, *resolver_);
    ASSERT_TRUE(authority.ok()) << authority.status();
    authority_ = std::move(*authority);
    dns::ServerOptions so;
    so.listen = HostPort{*IpAddr::Parse("127.0.0.1"), 0};
    so.udp_threads = 1;
    so.tcp = false;
    dns_ = std::make_unique<dns::DnsServer>(so, *authority_);
    ASSERT_TRUE(dns_->Start().ok());
    options_.dns = HostPort{*IpAddr::Parse("127.0.0.1"), dns_->port()};
    options_.ecs["r"] = *Cidr::Parse("192.0.2.0/24");
    options_.workers = 4;
  }

  void TearDown() override {
    StopHttp();
    dns_->Stop();
    fs::remove_all(dir_);
  }

  // prewarm-httpd's server on the listening socket, as the agent hands it over.
  void StartHttp() {
    stop_ = ::eventfd(0, EFD_CLOEXEC);
    workload::ServerOptions so;
    so.root = dir_.string();
    server_ = std::make_unique<workload::StaticServer>(so, listener_.get(), stop_);
    thread_ = std::thread([this] { server_->Run(); });
  }
  void StopHttp() {
    if (!thread_.joinable()) return;
    uint64_t one = 1;
    (void)::write(stop_, &one, sizeof one);
    thread_.join();
    ::close(stop_);
  }

  fs::path dir_;
  IpAddr http_;
  ScopedFd listener_;
  std::unique_ptr<dns::StaticResolver> resolver_;
  std::unique_ptr<dns::Authority> authority_;
  std::unique_ptr<dns::DnsServer> dns_;
  std::unique_ptr<workload::StaticServer> server_;
  std::thread thread_;
  int stop_ = -1;
  ReplayOptions options_;
};

TEST_F(ReplayTest, EveryArrivalIsAQueryAndAGetToTheAnswer) {
  StartHttp();
  sim::Workload w = Fast(Minute({{"fn-a", 5}, {"fn-b", 3}}), 600);  // a minute in 0.1 s
  auto r = Replay(w, options_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sent, 8u);
  EXPECT_EQ(r->answered, 8u) << ToJson(w, options_, *r);
  EXPECT_EQ(r->errors, 0u);
  EXPECT_EQ(r->keys[0].arrivals, 5u);
  EXPECT_EQ(r->keys[1].arrivals, 3u);
  // The server was up before any request: none waited for a start, all say so.
  EXPECT_EQ(r->cold, 0u);
  EXPECT_EQ(r->unmarked, 0u);
  for (const auto& q : r->requests) {
    EXPECT_EQ(q.http_status, 200);
    EXPECT_EQ(q.address, http_.ToString());
    EXPECT_EQ(q.queued_ms, 0);
    EXPECT_GE(q.ttfb_ms, 0);
  }
  EXPECT_TRUE(r->ttfb_ms.contains("p99"));
  // The same seed gives the same arrival times: the simulator's, at the same speed, and
  // each is recorded at its trace time.
  sim::ArrivalStream arrivals(w, options_.seed);
  sim::Arrival a;
  for (const auto& q : r->requests) {
    ASSERT_TRUE(arrivals.Next(a));
    EXPECT_EQ(q.key, a.key);
    EXPECT_DOUBLE_EQ(q.trace_s, static_cast<double>(a.t) / 1e6 * 600);
  }
}

TEST_F(ReplayTest, RequestsThatWaitForTheServerToStartAreCold) {
  sim::Workload w = Fast(Minute({{"fn-a", 4}}), 60'000);  // every arrival in 1 ms
  std::thread late([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a slow start
    StartHttp();
  });
  auto r = Replay(w, options_);
  late.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->answered, 4u);
  EXPECT_EQ(r->cold, 4u) << ToJson(w, options_, *r);
  EXPECT_DOUBLE_EQ(r->cold_rate, 1.0);
  EXPECT_DOUBLE_EQ(r->cold_rate_p75, 1.0);
  for (const auto& q : r->requests) EXPECT_GT(q.queued_ms, 0);
}

TEST_F(ReplayTest, FailuresAreRecordedPerRequestNeverFatal) {
  // No HTTP server (the listening socket closed: connects are refused), an unknown
  // service (NXDOMAIN), an answer off loopback (never contacted).
  options_.http_timeout_ms = 200;
  listener_ = ScopedFd();  // closed: connects are refused
  sim::Workload w = Fast(Minute({{"fn-a", 2}, {"nosuch", 2}, {"far", 2}}), 600);
  auto r = Replay(w, options_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sent, 6u);
  EXPECT_EQ(r->answered, 0u);
  EXPECT_EQ(r->error_kinds["connect"], 2u);
  EXPECT_EQ(r->error_kinds["dns"], 2u);
  EXPECT_EQ(r->error_kinds["not loopback"], 2u);
}

TEST_F(ReplayTest, RefusesBadOptionsBeforeSendingAnything) {
  sim::Workload w = Minute({{"fn-a", 1}});
  ReplayOptions o = options_;
  o.dns = *HostPort::Parse("192.0.2.53:53");
  EXPECT_NE(Replay(w, o).status().message().find("loopback"), std::string::npos);
  o = options_;
  o.ecs.clear();
  EXPECT_NE(Replay(w, o).status().message().find("--ecs"), std::string::npos);
  sim::Workload stopped = w;
  stopped.speed = 0;
  EXPECT_FALSE(Replay(stopped, options_).ok());
  o = options_;
  o.metrics_url = "http://192.0.2.1:9400/metrics";
  EXPECT_FALSE(Replay(w, o).ok());
}

TEST_F(ReplayTest, BoundedByMaxRequests) {
  StartHttp();
  options_.max_requests = 3;
  sim::Workload w = Fast(Minute({{"fn-a", 50}}), 600);
  auto r = Replay(w, options_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sent, 3u);
  EXPECT_TRUE(r->stopped_early);
}

TEST_F(ReplayTest, TheWarmUpIsReplayedButCountedApart) {
  // fn-a: 4 arrivals in minute 0, 3 in minute 1; a one-minute warm-up. No server listens,
  // so every request fails: the warm-up's 4 failures are counted apart from the 3 measured.
  options_.http_timeout_ms = 200;
  listener_ = ScopedFd();
  sim::Workload w = Minute({{"fn-a", 4}});
  w.counts[0].push_back(3);
  w = Fast(w, 600);
  options_.warmup_s = 60;
  auto r = Replay(w, options_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->requests.size(), 7u);  // every request is sent and kept
  EXPECT_EQ(r->warmup_sent, 4u);
  EXPECT_EQ(r->warmup_errors, 4u);
  EXPECT_EQ(r->sent, 3u);
  EXPECT_EQ(r->errors, 3u);
  EXPECT_EQ(r->error_kinds["connect"], 3u);
  // A warm-up as long as the trace leaves nothing to measure.
  options_.warmup_s = 120;
  EXPECT_NE(Replay(w, options_).status().message().find("--warmup"), std::string::npos);
}

// A replay stands for many resolvers behind one source address, so the authority's response
// rate limit would drop or truncate most of its queries. Like a resolver, it sends a DNS
// Cookie and, once it holds the server's cookie, is exempt: every query is answered.
TEST(ReplayDnsClientTest, ACookieKeepsARateLimitedServerAnswering) {
  dns::StaticResolver resolver(std::map<std::string, dns::ServiceAnswer, std::less<>>{
      {"fn-a", dns::ServiceAnswer{{*IpAddr::Parse("127.0.0.1")}, 5, 24}}});
  dns::ZoneConfig zone;
  zone.ns = {dns::NsRecord{"ns1.edge.example.", {*IpAddr::Parse("127.0.0.1")}}};
  zone.rrl = {.responses_per_s = 2, .slip = 2};
  auto authority = dns::Authority::Create(zone, resolver);
  ASSERT_TRUE(authority.ok()) << authority.status();
  dns::ServerOptions so;
  so.listen = HostPort{*IpAddr::Parse("127.0.0.1"), 0};
  so.udp_threads = 1;
  so.tcp = false;
  dns::DnsServer server(so, **authority);
  ASSERT_TRUE(server.Start().ok());
  const HostPort at{*IpAddr::Parse("127.0.0.1"), server.port()};
  DnsQueryOptions o;
  o.timeout_ms = 2000;
  int answered = 0;
  for (int i = 0; i < 40; ++i) {
    auto a = QueryA(at, "fn-a.edge.example", Cidr::Parse("192.0.2.0/24").value(), o);
    EXPECT_TRUE(a.ok()) << i << ": " << a.status();
    answered += a.ok() && a->addresses.size() == 1;
  }
  EXPECT_EQ(answered, 40);
  server.Stop();
}

TEST(InstancesByTemplateTest, SumsTheStatesThatHoldMemory) {
  const std::string text =
      "# TYPE prewarm_template_instances gauge\n"
      "prewarm_template_instances{template=\"fn-a\",state=\"ready\"} 2\n"
      "prewarm_template_instances{template=\"fn-a\",state=\"starting\"} 1\n"
      "prewarm_template_instances{template=\"fn-a\",state=\"failed\"} 7\n"
      "prewarm_template_instances{template=\"fn-b\",state=\"draining\"} 1\n"
      "prewarm_template_instances{template=\"fn-c\",state=\"ready\"} NaN\n"
      "prewarm_instances{state=\"ready\"} 3\n";
  auto m = InstancesByTemplate(text);
  EXPECT_EQ(m.size(), 2u);
  EXPECT_DOUBLE_EQ(m["fn-a"], 3);
  EXPECT_DOUBLE_EQ(m["fn-b"], 1);
}

}  // namespace
}  // namespace prewarm::replay
