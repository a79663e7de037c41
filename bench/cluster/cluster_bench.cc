// cluster_bench: what the cluster store costs, the memory store and etcd side by side in
// one run, on the code that ships (src/orchestrator's Replica and Orchestrator).
//
//   cold-path   ColdPath::Reserve as a DNS thread runs it when nothing is near the client:
//               re-pick, claim a standby address in one store transaction, wait for the
//               watch to show it. N reservations, each forgotten before the next; p50/p99.
//   throughput  100 agents (agent::Agent, fake runtime, gRPC streams) on one replica; a
//               prefetch window asks for 4 instances per node, then for none: every
//               instance is reserved, started, ready, drained, destroyed and forgotten.
//               Instance state changes per second as the replica observes them.
//
// etcd: 3 members (Debian's etcd, store/etcd_cluster.h) with mutual TLS on every link, as
// `prewarm up --cluster` runs them. Usage: cluster_bench [cold-path|throughput|all] [--n N]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "cli/daemons.h"
#include "common/logging.h"
#include "fmt/format.h"
#include "orchestrator/orchestrator.h"
#include "orchestrator/replica.h"
#include "security/cluster_certs.h"
#include "security/tls.h"
#include "store/etcd_cluster.h"
#include "store/etcd_kv.h"
#include "store/memory_kv.h"

namespace prewarm::bench {
namespace {

using Clock = std::chrono::steady_clock;

// A temporary directory, removed at the end.
struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/prewarm-cluster-bench.XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

// An etcd cluster with mutual TLS and a client of it.
class Etcd {
 public:
  absl::Status Start(const std::string& dir) {
    security::ClusterPlan plan;
    store::EtcdClusterOptions opts = store::ProcessLocalClusterOptions(3, 41);
    security::Member etcd{"etcd", {"localhost"}, {*IpAddr::Parse("127.0.0.1")}};
    for (const auto& ip : opts.ips) etcd.ips.push_back(*IpAddr::Parse(ip));
    plan.etcd_members = {etcd};
    plan.orchestrators = {{"orchestrator-1", {"localhost"}, {*IpAddr::Parse("127.0.0.1")}}};
    RETURN_IF_ERROR(security::InitCertDir(dir, plan, false).status());
    tls_ = {dir + "/ca.crt", dir + "/orchestrator-1.crt", dir + "/orchestrator-1.key"};
    opts.tls = {dir + "/ca.crt", dir + "/etcd.crt", dir + "/etcd.key"};
    cluster_ = std::make_unique<store::EtcdCluster>(opts);
    return cluster_->Start();
  }
  absl::StatusOr<std::unique_ptr<store::KvStore>> Client() {
    store::EtcdKvOptions ko;
    ko.endpoints = cluster_->ClientEndpoints();
    ko.request_timeout_ms = 2000;
    ASSIGN_OR_RETURN(ko.credentials, security::ChannelCredentials(tls_, ko.endpoints.front()));
    ASSIGN_OR_RETURN(auto kv, store::EtcdKv::Create(ko));
    return std::unique_ptr<store::KvStore>(std::move(kv));
  }
  std::vector<std::string> endpoints() const { return cluster_->ClientEndpoints(); }
  const security::TlsConfig& tls() const { return tls_; }

 private:
  security::TlsConfig tls_;
  std::unique_ptr<store::EtcdCluster> cluster_;
};

class NullLink final : public orchestrator::NodeLink {
 public:
  void Send(const v1::OrchestratorCommand&) override {}
};

orchestrator::OrchestratorConfig Config(const std::string& yaml) {
  auto r = YamlReader::FromString(yaml, "bench.yaml");
  auto c = orchestrator::ParseOrchestratorConfig(*r);
  if (!c.ok()) {
    std::cerr << c.status() << "\n";
    std::exit(2);
  }
  return *c;
}

constexpr const char* kOneRegion = R"(
services: [{name: static, template: static}]
regions: [{name: frankfurt, latitude: 50.11, longitude: 8.68}]
networks: [{cidr: 127.0.0.0/8, region: frankfurt}]
origin: {addresses: [127.0.0.1], check: false}
)";

struct Percentiles {
  double p50 = 0, p99 = 0, mean = 0;
};
Percentiles Of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  Percentiles p;
  if (v.empty()) return p;
  p.p50 = v[(v.size() - 1) / 2];
  p.p99 = v[static_cast<size_t>((v.size() - 1) * 0.99)];
  for (double x : v) p.mean += x / v.size();
  return p;
}

// N cold-path reservations on one replica over `kv`; latencies in ms.
absl::StatusOr<std::vector<double>> ColdPath(store::KvStore& kv, int n) {
  orchestrator::OrchestratorConfig config = Config(kOneRegion);
  config.cluster.claim_timeout_ms = 2000;
  orchestrator::SnapshotHolder snaps;
  orchestrator::Replica replica(config, RealClock::Get(), kv, snaps, nullptr);
  RETURN_IF_ERROR(replica.Start());
  v1::Register reg;
  reg.set_node_id("fra-1");
  reg.mutable_location()->set_region("frankfurt");
  reg.mutable_location()->set_latitude(50.11);
  reg.mutable_location()->set_longitude(8.68);
  reg.set_instance_slots(8);
  reg.add_templates("static");
  reg.set_address_range("127.81.0.0/16");
  reg.set_instance_port(80);
  v1::NodeStatus status;
  status.set_node_id("fra-1");
  for (int i = 1; i <= 4; ++i) status.add_standby_addresses(fmt::format("127.81.0.{}", i));
  ASSIGN_OR_RETURN(auto session, replica.sessions().Open(reg, status, security::Peer{},
                                                          std::make_shared<NullLink>()));
  RETURN_IF_ERROR(replica.Sync());
  std::vector<double> ms;
  orchestrator::ClientPlace client{"frankfurt", {50.11, 8.68}};
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    auto answer = replica.cold().Reserve("static", client);
    auto t1 = Clock::now();
    if (!answer) return absl::InternalError("the cold path reserved nothing");
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    auto data = replica.cache().Data();
    auto rec = data->instances.find(answer->instance);
    if (rec == data->instances.end()) return absl::InternalError("reservation not in the cache");
    RETURN_IF_ERROR(replica.writer().Forget(rec->second->rec, std::nullopt).status());
    RETURN_IF_ERROR(replica.Sync());
    replica.control().RunOnce();  // republish: the reservation leaves the snapshot
    if (i % 50 == 0) RETURN_IF_ERROR(replica.sessions().Report(*session, status));  // lease
  }
  replica.sessions().Close(*session);
  replica.Stop();
  return ms;
}

void PrintColdPath(const std::string& what, const std::vector<double>& ms) {
  Percentiles p = Of(ms);
  std::cout << fmt::format("cold path {:<7} n={} p50 {:.3f} ms  p99 {:.3f} ms  mean {:.3f} ms\n",
                           what, ms.size(), p.p50, p.p99, p.mean);
}

// Instance states as the replica sees them, and every change counted.
class Census {
 public:
  void Observe(const v1::InstanceInfo& i) {
    std::lock_guard<std::mutex> l(mu_);
    ++changes_;
    if (i.state() == v1::INSTANCE_STATE_GONE || i.state() == v1::INSTANCE_STATE_FAILED) {
      state_.erase(i.instance_id());
    } else {
      state_[i.instance_id()] = i.state();
    }
  }
  int Count(v1::InstanceState s) {
    std::lock_guard<std::mutex> l(mu_);
    return static_cast<int>(std::count_if(state_.begin(), state_.end(),
                                          [&](const auto& kv) { return kv.second == s; }));
  }
  int Live() {
    std::lock_guard<std::mutex> l(mu_);
    return static_cast<int>(state_.size());
  }
  uint64_t changes() {
    std::lock_guard<std::mutex> l(mu_);
    return changes_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, v1::InstanceState> state_;
  uint64_t changes_ = 0;
};

template <typename Pred>
bool WaitFor(int seconds, Pred pred) {
  for (int i = 0; i < seconds * 20; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

absl::Status Prefetch(orchestrator::Replica& r, uint32_t target) {
  v1::SubmitPrefetchRequest req;
  auto* w = req.add_requests();
  w->set_region("frankfurt");
  w->set_template_name("static");
  w->set_window_start_unix_ms(RealClock::Get().NowMs());
  w->set_window_end_unix_ms(RealClock::Get().NowMs() + 3'600'000);
  w->set_target_concurrency(target);
  w->set_quantile(0.9);
  RETURN_IF_ERROR(r.prefetch().Accept(req).status());
  r.control().Wake();
  return absl::OkStatus();
}

struct ThroughputResult {
  uint64_t up_changes = 0;    // reserved, starting, ready: every instance
  double up_seconds = 0;      // the window asks for them -> all ready
  uint64_t down_changes = 0;  // draining, gone
  double down_seconds = 0;    // the window asks for none -> all gone (includes the wait for
                              // every DNS answer naming them to expire: TTL 1 s + 2 s slack)
};

absl::StatusOr<ThroughputResult> Throughput(const std::string& store_yaml, int agents, int per_node,
                                            const std::string& dir) {
  orchestrator::OrchestratorConfig config = Config(std::string(kOneRegion) + R"(
dns: {listen: 127.0.0.1:5690, udp_threads: 1, tcp: false}
grpc: {listen: 127.0.0.1:7690}
http: {listen: 127.0.0.1:9690}
ttl: {stable_s: 1, short_s: 1}
keepalive_s: 1
max_prefetch_target: 100000
autoscaler: {reactive: false}
cluster: {replica_id: bench, store: )" + store_yaml + "}\n");
  Census census;
  orchestrator::Orchestrator orch(config, RealClock::Get());
  orch.SetObserver([&](const v1::InstanceInfo& i) { census.Observe(i); });
  RETURN_IF_ERROR(orch.Start());
  std::vector<std::unique_ptr<cli::AgentProcess>> procs;
  for (int i = 0; i < agents; ++i) {
    std::string yaml = fmt::format(R"(
node: {{id: n{0}, region: frankfurt, latitude: 50.11, longitude: 8.68}}
orchestrator: 127.0.0.1:7690
capacity: {{slots: {1}, memory: 1GiB}}
addresses: {{range: 127.83.{0}.0/24, port: 8093, standby: {1}, quarantine_s: 1}}
runtime: {{kind: fake, state_dir: {2}/agent-{0}, cache_dir: {2}/cache}}
log_level: warn
templates: [{{name: static, command: [/bin/true], memory: 16MiB, scratch: 1MiB, probe: /healthz}}]
)", i, per_node, dir);
    ASSIGN_OR_RETURN(auto r, YamlReader::FromString(yaml, "agent.yaml"));
    ASSIGN_OR_RETURN(auto ac, agent::ParseAgentConfig(r));
    ASSIGN_OR_RETURN(auto p, cli::AgentProcess::Create(ac));
    RETURN_IF_ERROR(p->Start());
    procs.push_back(std::move(p));
  }
  orchestrator::Replica& replica = orch.replica();
  if (!WaitFor(60, [&] { return replica.ConnectedNodes() == agents; })) {
    return absl::DeadlineExceededError(fmt::format("{} of {} agents registered", replica.ConnectedNodes(), agents));
  }
  const int want = agents * per_node;
  const uint64_t before = census.changes();
  auto t0 = Clock::now();
  RETURN_IF_ERROR(Prefetch(replica, want));
  if (!WaitFor(180, [&] { return census.Count(v1::INSTANCE_STATE_READY) >= want; })) {
    return absl::DeadlineExceededError(fmt::format("{} of {} ready", census.Count(v1::INSTANCE_STATE_READY), want));
  }
  auto t1 = Clock::now();
  const uint64_t up = census.changes() - before;
  RETURN_IF_ERROR(Prefetch(replica, 0));
  if (!WaitFor(180, [&] { return census.Live() == 0; })) {
    return absl::DeadlineExceededError(fmt::format("{} still live", census.Live()));
  }
  auto t2 = Clock::now();
  ThroughputResult out;
  out.up_changes = up;
  out.down_changes = census.changes() - before - up;
  out.up_seconds = std::chrono::duration<double>(t1 - t0).count();
  out.down_seconds = std::chrono::duration<double>(t2 - t1).count();
  for (auto& p : procs) p->Stop();
  orch.Stop();
  return out;
}

}  // namespace

int RunThroughput(int agents, int per_node) {
  TempDir dir;
  Etcd etcd;
  if (auto st = etcd.Start(dir.path + "/certs"); !st.ok()) {
    std::cerr << "etcd: " << st << "\n";
    return 1;
  }
  std::string etcd_yaml = fmt::format(
      "{{kind: etcd, endpoints: [{}], tls: {{ca: {}, cert: {}, key: {}}}}}",
      fmt::join(etcd.endpoints(), ", "), etcd.tls().ca_file, etcd.tls().cert_file, etcd.tls().key_file);
  auto mem = Throughput("{kind: memory}", agents, per_node, dir.path + "/mem");
  if (!mem.ok()) {
    std::cerr << "memory: " << mem.status() << "\n";
    return 1;
  }
  auto etc = Throughput(etcd_yaml, agents, per_node, dir.path + "/etcd");
  if (!etc.ok()) {
    std::cerr << "etcd: " << etc.status() << "\n";
    return 1;
  }
  for (const auto& [what, r] : {std::pair{"memory", *mem}, std::pair{"etcd", *etc}}) {
    std::cout << fmt::format(
        "throughput {:<7} {} agents x {} instances: up {} state changes in {:.2f} s = {:.0f}/s; "
        "down {} in {:.2f} s (waits out the answers' TTL)\n",
        what, agents, per_node, r.up_changes, r.up_seconds, r.up_changes / r.up_seconds,
        r.down_changes, r.down_seconds);
  }
  std::cout << fmt::format("throughput etcd/memory (up): {:.2f}x\n",
                           (etc->up_changes / etc->up_seconds) / (mem->up_changes / mem->up_seconds));
  return 0;
}

int RunColdPath(int n) {
  TempDir dir;
  Etcd etcd;
  if (auto st = etcd.Start(dir.path + "/certs"); !st.ok()) {
    std::cerr << "etcd: " << st << "\n";
    return 1;
  }
  store::MemoryKv memory(RealClock::Get());
  auto etcd_kv = etcd.Client();
  if (!etcd_kv.ok()) {
    std::cerr << etcd_kv.status() << "\n";
    return 1;
  }
  auto mem = ColdPath(memory, n);
  auto etc = ColdPath(**etcd_kv, n);
  if (!mem.ok() || !etc.ok()) {
    std::cerr << (mem.ok() ? etc.status() : mem.status()) << "\n";
    return 1;
  }
  PrintColdPath("memory", *mem);
  PrintColdPath("etcd", *etc);
  Percentiles m = Of(*mem), e = Of(*etc);
  std::cout << fmt::format("cold path etcd/memory: p50 {:.1f}x, p99 {:.1f}x (etcd: 3 members, "
                           "mutual TLS, data on tmpfs)\n",
                           e.p50 / m.p50, e.p99 / m.p99);
  return 0;
}

}  // namespace prewarm::bench

int main(int argc, char** argv) {
  prewarm::InitLogging("warn");
  std::string what = argc > 1 ? argv[1] : "all";
  int n = 300;
  int agents = 100;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--n") n = std::atoi(argv[i + 1]);
    if (flag == "--agents") agents = std::atoi(argv[i + 1]);
  }
  int rc = 0;
  if (what == "cold-path" || what == "all") rc |= prewarm::bench::RunColdPath(n);
  if (what == "throughput" || what == "all") rc |= prewarm::bench::RunThroughput(agents, 4);
  return rc;
}
