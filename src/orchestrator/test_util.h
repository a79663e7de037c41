// Shared fixtures for orchestrator tests: a three-region config, an agent link that keeps
// the commands it was sent, and TestReplica: a replica over a given store whose agents are
// driven by hand (no sockets, no threads: each step is explicit).
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "orchestrator/config.h"
#include "orchestrator/replica.h"

namespace prewarm::orchestrator::testing {

inline constexpr const char* kThreeRegions = R"(
zone: edge.example.
origin: {addresses: [192.0.2.53]}
services:
  - {name: static, template: static}
  - {name: video}
regions:
  - {name: frankfurt, latitude: 50.11, longitude: 8.68}
  - {name: virginia, latitude: 38.95, longitude: -77.45}
  - {name: singapore, latitude: 1.35, longitude: 103.82}
networks:
  - {cidr: 192.0.2.0/24, region: frankfurt}
  - {cidr: 198.51.100.0/24, region: virginia}
  - {cidr: 203.0.113.0/24, region: singapore}
  - {cidr: 127.0.0.0/8, region: frankfurt}
default_region: frankfurt
)";

inline OrchestratorConfig ThreeRegionConfig() {
  return *ParseOrchestratorConfig(*YamlReader::FromString(kThreeRegions, "test.yaml"));
}

class RecordingLink final : public NodeLink {
 public:
  void Send(const v1::OrchestratorCommand& cmd) override {
    std::lock_guard<std::mutex> l(mu_);
    sent_.push_back(cmd);
  }
  std::vector<v1::OrchestratorCommand> Take() {
    std::lock_guard<std::mutex> l(mu_);
    return std::exchange(sent_, {});
  }

 private:
  std::mutex mu_;
  std::vector<v1::OrchestratorCommand> sent_;
};

inline v1::Register MakeRegister(const std::string& id, const std::string& region, double lat,
                                 double lon, const std::string& range, uint32_t slots = 4) {
  v1::Register r;
  r.set_node_id(id);
  r.mutable_location()->set_region(region);
  r.mutable_location()->set_latitude(lat);
  r.mutable_location()->set_longitude(lon);
  r.set_instance_slots(slots);
  r.set_memory_bytes(1ull << 30);
  r.set_runtime("fake");
  r.add_templates("static");
  r.add_templates("video");
  r.set_address_range(range);
  r.set_instance_port(80);
  return r;
}

// A replica whose agents a test plays: Connect registers a node on it, Report sends the
// node's status (remembered per node), Pass runs one control-loop pass. Every step waits
// until the replica's cache shows what the store has.
class TestReplica {
 public:
  // `threads`: the replica runs its control loop and keep-alives itself (real time).
  TestReplica(const OrchestratorConfig& config, const Clock& clock, store::KvStore& kv,
              bool threads = false)
      : config_(config),
        clock_(clock),
        replica_(config_, clock, kv, snaps_, nullptr, threads ? ReplicaOptions{} : NoThreads()) {}

  static ReplicaOptions NoThreads() {
    ReplicaOptions o;
    o.threads = false;
    return o;
  }
  absl::Status Start() { return replica_.Start(); }

  std::shared_ptr<RecordingLink> Connect(const std::string& id, const std::string& region,
                                         double lat, double lon, const std::string& range,
                                         std::vector<std::string> standby, uint32_t slots = 4) {
    auto link = std::make_shared<RecordingLink>();
    absl::Status st = TryConnect(id, region, lat, lon, range, std::move(standby), link, slots);
    EXPECT_TRUE(st.ok()) << st;
    return link;
  }
  // Like Connect, but returns the registration's error.
  absl::Status TryConnect(const std::string& id, const std::string& region, double lat, double lon,
                          const std::string& range, std::vector<std::string> standby,
                          std::shared_ptr<RecordingLink> link, uint32_t slots = 4,
                          const security::Peer& peer = security::Peer{}) {
    v1::NodeStatus& st = statuses_[id];
    st.set_node_id(id);
    st.clear_standby_addresses();
    for (auto& a : standby) st.add_standby_addresses(a);
    st.set_sent_unix_ms(clock_.NowMs());
    auto session =
        replica_.sessions().Open(MakeRegister(id, region, lat, lon, range, slots), st, peer, link);
    Sync();
    if (!session.ok()) return session.status();
    sessions_[id] = *session;
    return absl::OkStatus();
  }
  void Disconnect(const std::string& id) {
    replica_.sessions().Close(*sessions_.at(id));
    sessions_.erase(id);
    Sync();
  }
  // Sets the instance's reported state (adding it to the node's status) and sends it.
  void Report(const std::string& node, const std::string& id, v1::InstanceState s,
              const std::string& addr, const std::string& tmpl = "static", uint32_t active = 0) {
    v1::NodeStatus& st = statuses_[node];
    v1::InstanceStatus* found = nullptr;
    for (auto& i : *st.mutable_instances()) {
      if (i.instance_id() == id) found = &i;
    }
    if (found == nullptr) found = st.add_instances();
    found->set_instance_id(id);
    found->set_template_name(tmpl);
    found->set_address(addr);
    found->set_state(s);
    found->set_probe_ok(true);
    found->set_active_connections(active);
    EXPECT_TRUE(Send(node).ok());
  }
  void Unreport(const std::string& node, const std::string& id) {
    auto* list = statuses_[node].mutable_instances();
    for (int i = 0; i < list->size(); ++i) {
      if (list->Get(i).instance_id() == id) {
        list->DeleteSubrange(i, 1);
        break;
      }
    }
    EXPECT_TRUE(Send(node).ok());
  }
  void SetStandby(const std::string& node, std::vector<std::string> standby) {
    statuses_[node].clear_standby_addresses();
    for (auto& a : standby) statuses_[node].add_standby_addresses(a);
    EXPECT_TRUE(Send(node).ok());
  }
  absl::Status Send(const std::string& node) {
    statuses_[node].set_sent_unix_ms(clock_.NowMs());
    absl::Status st = replica_.sessions().Report(*sessions_.at(node), statuses_[node]);
    Sync();
    return st;
  }
  void Sync() { EXPECT_TRUE(replica_.Sync().ok()); }
  // Keep-alives, then one control pass (as leader if it can lead).
  uint32_t Pass() {
    Sync();
    replica_.presence().RunOnce();
    Sync();
    uint32_t created = replica_.control().RunOnce();
    Sync();
    return created;
  }
  std::optional<ColdAnswer> Cold(const std::string& region, geo::GeoPoint p) {
    return replica_.cold().Reserve("static", ClientPlace{region, p});
  }
  // Ready (or all answerable) instances of `tmpl` in the latest snapshot.
  int Answerable(const std::string& tmpl = "static", bool ready_only = false) {
    auto snap = snaps_.Load();
    if (!snap->instances.contains(tmpl)) return 0;
    int n = 0;
    for (const auto& r : snap->instances.at(tmpl)) n += !ready_only || r.ready;
    return n;
  }

  Replica& r() { return replica_; }
  NodeSession& session(const std::string& node) { return *sessions_.at(node); }
  SnapshotHolder& snaps() { return snaps_; }
  v1::NodeStatus& status(const std::string& node) { return statuses_[node]; }

 private:
  const OrchestratorConfig config_;
  const Clock& clock_;
  SnapshotHolder snaps_;
  Replica replica_;
  std::map<std::string, std::shared_ptr<NodeSession>> sessions_;
  std::map<std::string, v1::NodeStatus> statuses_;
};

// Leases that a manual clock never expires by accident (tests that jump hours ahead).
inline OrchestratorConfig WithLongLeases(OrchestratorConfig c) {
  c.node_timeout_ms = 30LL * 86400 * 1000;
  c.cluster.leader_lease_ms = 30LL * 86400 * 1000;
  c.cluster.replica_lease_ms = 30LL * 86400 * 1000;
  return c;
}

}  // namespace prewarm::orchestrator::testing
