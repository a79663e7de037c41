#include "orchestrator/state.h"

#include <algorithm>

#include "common/logging.h"
#include "fmt/format.h"

namespace prewarm::orchestrator {
namespace {

// A reservation the agent has not reported yet is given this long before it is dropped.
constexpr int64_t kReservationGraceMs = 5'000;

bool ValidNodeId(const std::string& id) {
  if (id.empty() || id.size() > 48) return false;
  return std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_';
  });
}

absl::Status ValidateRegister(const v1::Register& reg) {
  if (!ValidNodeId(reg.node_id())) {
    return absl::InvalidArgumentError(
        fmt::format("register: node_id '{}' must be 1-48 of [A-Za-z0-9_-]", reg.node_id()));
  }
  const auto& loc = reg.location();
  if (loc.region().empty()) return absl::InvalidArgumentError("register: location.region is empty");
  if (loc.latitude() < -90 || loc.latitude() > 90 || loc.longitude() < -180 ||
      loc.longitude() > 180) {
    return absl::InvalidArgumentError("register: latitude/longitude out of range");
  }
  if (reg.instance_slots() == 0) return absl::InvalidArgumentError("register: instance_slots is 0");
  auto range = Cidr::Parse(reg.address_range());
  if (!range.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("register: address_range: {}", range.status().message()));
  }
  if (reg.instance_port() == 0 || reg.instance_port() > 65535) {
    return absl::InvalidArgumentError("register: instance_port out of range");
  }
  return absl::OkStatus();
}

}  // namespace

ClusterState::ClusterState(const OrchestratorConfig& config, const Clock& clock,
                           SnapshotHolder& snapshots)
    : config_(config), clock_(clock), snapshots_(snapshots) {}

void ClusterState::SetObserver(InstanceObserver observer) {
  absl::MutexLock l(&observer_mu_);
  observer_ = std::move(observer);
}

absl::Status ClusterState::RegisterNode(const v1::Register& reg, std::shared_ptr<NodeLink> link) {
  RETURN_IF_ERROR(ValidateRegister(reg));
  {
    absl::MutexLock l(&mu_);
    Node& n = nodes_[reg.node_id()];
    bool was_connected = n.connected;
    n.reg = reg;
    n.link = std::move(link);
    n.connected = true;
    n.last_seen_ms = clock_.NowMs();
    n.standby.clear();
    spdlog::info("node {} {} (region {}, {} slots, runtime {})", reg.node_id(),
                 was_connected ? "reconnected" : "registered", reg.location().region(),
                 reg.instance_slots(), reg.runtime());
    Publish();
  }
  Notify();
  return absl::OkStatus();
}

void ClusterState::NodeDisconnected(const std::string& node_id, const NodeLink* link) {
  {
    absl::MutexLock l(&mu_);
    auto it = nodes_.find(node_id);
    if (it == nodes_.end() || it->second.link.get() != link) return;
    it->second.connected = false;
    it->second.link.reset();
    spdlog::warn("node {} disconnected; its instances leave DNS", node_id);
    ForgetNodeInstances(node_id, "node disconnected");
    Publish();
  }
  Notify();
}

absl::Status ClusterState::ApplyStatus(const v1::NodeStatus& status) {
  {
    absl::MutexLock l(&mu_);
    auto it = nodes_.find(status.node_id());
    if (it == nodes_.end() || !it->second.connected) {
      return absl::FailedPreconditionError(
          fmt::format("status from unregistered node '{}'", status.node_id()));
    }
    Node& node = it->second;
    node.last_seen_ms = clock_.NowMs();
    node.last_status = status;
    node.standby.clear();
    for (const auto& a : status.standby_addresses()) {
      auto ip = IpAddr::Parse(a);
      if (ip.ok()) node.standby.push_back(*ip);
    }
    std::set<std::string> reported;
    for (const auto& st : status.instances()) {
      reported.insert(st.instance_id());
      ApplyInstance(node, st);
    }
    int64_t now = clock_.NowMs();
    for (auto i = instances_.begin(); i != instances_.end();) {
      Instance& inst = i->second;
      bool ours = inst.info.node_id() == status.node_id();
      bool young = inst.info.state() == v1::INSTANCE_STATE_RESERVED &&
                   now - inst.created_ms < kReservationGraceMs;
      if (ours && !reported.count(i->first) && !young) {
        SetState(inst, v1::INSTANCE_STATE_GONE, "no longer reported by its agent");
        i = instances_.erase(i);
      } else {
        ++i;
      }
    }
    Publish();
  }
  Notify();
  return absl::OkStatus();
}

void ClusterState::ApplyInstance(Node& node, const v1::InstanceStatus& st) {
  auto it = instances_.find(st.instance_id());
  if (it == instances_.end()) {
    if (st.state() == v1::INSTANCE_STATE_GONE || st.state() == v1::INSTANCE_STATE_FAILED) return;
    // An instance we did not order (e.g. the orchestrator restarted): adopt it.
    Instance inst;
    inst.info.set_instance_id(st.instance_id());
    inst.info.set_node_id(node.reg.node_id());
    inst.info.set_template_name(st.template_name());
    inst.info.set_address(st.address());
    inst.info.set_port(node.reg.instance_port());
    inst.created_ms = clock_.NowMs();
    it = instances_.emplace(st.instance_id(), std::move(inst)).first;
  }
  Instance& inst = it->second;
  inst.probe_ok = st.probe_ok();
  inst.info.set_active_connections(st.active_connections());
  inst.heat->load.store(st.active_connections(), std::memory_order_relaxed);
  if (st.state() == v1::INSTANCE_STATE_FAILED) {
    node.backoff_until_ms[st.template_name()] = clock_.NowMs() + config_.failure_backoff_ms;
    ++counters_.start_failures;
    spdlog::warn("instance {} on {} failed: {}", st.instance_id(), node.reg.node_id(), st.detail());
    SetState(inst, v1::INSTANCE_STATE_FAILED, st.detail());
    instances_.erase(it);
    return;
  }
  if (st.state() == v1::INSTANCE_STATE_GONE) {
    SetState(inst, v1::INSTANCE_STATE_GONE, st.detail());
    instances_.erase(it);
    return;
  }
  // Our DRAINING decision stands until the agent confirms the destroy.
  if (inst.info.state() == v1::INSTANCE_STATE_DRAINING) return;
  if (st.state() != inst.info.state()) SetState(inst, st.state(), st.detail());
}

void ClusterState::SetState(Instance& inst, v1::InstanceState s, std::string detail) {
  inst.info.set_state(s);
  inst.info.set_detail(std::move(detail));
  inst.info.set_state_since_unix_ms(clock_.NowMs());
  pending_events_.push_back(inst.info);
}

void ClusterState::ForgetNodeInstances(const std::string& node_id, const std::string& why) {
  for (auto i = instances_.begin(); i != instances_.end();) {
    if (i->second.info.node_id() == node_id) {
      SetState(i->second, v1::INSTANCE_STATE_GONE, why);
      i = instances_.erase(i);
    } else {
      ++i;
    }
  }
}

bool ClusterState::CanReserve(const Node& n, const std::string& tmpl) const {
  if (!n.connected || n.draining) return false;
  if (!tmpl.empty()) {
    const auto& t = n.reg.templates();
    if (std::find(t.begin(), t.end(), tmpl) == t.end()) return false;
    auto b = n.backoff_until_ms.find(tmpl);
    if (b != n.backoff_until_ms.end() && b->second > clock_.NowMs()) return false;
  }
  uint32_t used = 0;
  for (const auto& [id, inst] : instances_) used += inst.info.node_id() == n.reg.node_id();
  return used < n.reg.instance_slots() && FreeStandby(n).has_value();
}

std::optional<IpAddr> ClusterState::FreeStandby(const Node& n) const {
  for (const IpAddr& a : n.standby) {
    bool taken = std::any_of(instances_.begin(), instances_.end(), [&](const auto& kv) {
      return kv.second.info.node_id() == n.reg.node_id() && kv.second.info.address() == a.ToString();
    });
    if (!taken) return a;
  }
  return std::nullopt;
}

std::optional<IpAddr> ClusterState::ReserveOn(const std::string& node_id, const std::string& tmpl,
                                              const std::vector<std::string>& content) {
  Node& n = nodes_.at(node_id);
  std::optional<IpAddr> addr = FreeStandby(n);
  if (!addr || !n.link) return std::nullopt;
  Instance inst;
  std::string id = fmt::format("{}-{}-{}", node_id, tmpl, next_instance_++);
  inst.info.set_instance_id(id);
  inst.info.set_node_id(node_id);
  inst.info.set_template_name(tmpl);
  inst.info.set_address(addr->ToString());
  inst.info.set_port(n.reg.instance_port());
  inst.created_ms = clock_.NowMs();
  SetState(inst, v1::INSTANCE_STATE_RESERVED, "reserved");
  instances_.emplace(id, std::move(inst));
  v1::OrchestratorCommand cmd;
  auto* create = cmd.mutable_create();
  create->set_instance_id(id);
  create->set_template_name(tmpl);
  create->set_address(addr->ToString());
  for (const auto& c : content) create->add_preload_content_ids(c);
  n.link->Send(cmd);
  ++counters_.reservations;
  return addr;
}

std::optional<IpAddr> ClusterState::ReserveCold(const std::string& tmpl, const ClientPlace& client) {
  std::optional<IpAddr> out;
  {
    absl::MutexLock l(&mu_);
    // Re-decide under the lock: another DNS thread may have reserved one meanwhile.
    std::shared_ptr<RoutingSnapshot> snap = BuildSnapshot();
    Pick pick = ChooseInstance(*snap, tmpl, client, next_instance_);
    if (pick.instance != nullptr) return pick.instance->address;
    if (pick.kind != PickKind::kNeedCold) return std::nullopt;
    out = ReserveOn(snap->nodes[*pick.cold_node].id, tmpl, {});
    Publish();
  }
  Notify();
  return out;
}

absl::StatusOr<uint32_t> ClusterState::EnsureWarm(const std::string& region, const std::string& tmpl,
                                                  uint32_t target,
                                                  const std::vector<std::string>& content) {
  const RegionConfig* rc = config_.FindRegion(region);
  if (rc == nullptr) return absl::InvalidArgumentError(fmt::format("unknown region '{}'", region));
  uint32_t ordered = 0;
  {
    absl::MutexLock l(&mu_);
    uint32_t have = 0;
    for (const auto& [id, inst] : instances_) {
      const auto n = nodes_.find(inst.info.node_id());
      bool live = inst.info.state() != v1::INSTANCE_STATE_DRAINING;
      have += live && inst.info.template_name() == tmpl && n != nodes_.end() &&
              n->second.reg.location().region() == region;
    }
    while (have + ordered < target) {
      std::shared_ptr<RoutingSnapshot> snap = BuildSnapshot();
      std::optional<uint32_t> node = ChooseNodeForNew(*snap, tmpl, ClientPlace{region, rc->point});
      if (!node || !CanReserve(nodes_.at(snap->nodes[*node].id), tmpl)) break;
      if (!ReserveOn(snap->nodes[*node].id, tmpl, content)) break;
      ++ordered;
    }
    Publish();
  }
  Notify();
  return ordered;
}

absl::StatusOr<uint32_t> ClusterState::Drain(const std::string& node_id) {
  uint32_t count = 0;
  {
    absl::MutexLock l(&mu_);
    auto it = nodes_.find(node_id);
    if (it == nodes_.end()) return absl::NotFoundError(fmt::format("no node '{}'", node_id));
    it->second.draining = true;
    for (auto& [id, inst] : instances_) {
      if (inst.info.node_id() == node_id && inst.info.state() != v1::INSTANCE_STATE_DRAINING) {
        StartDrain(inst, "node drained by operator");
        ++count;
      }
    }
    Publish();
  }
  Notify();
  return count;
}

void ClusterState::StartDrain(Instance& inst, const std::string& why) {
  // Remove from DNS now; destroy only once every answer that named it has expired.
  inst.destroy_at_ms = clock_.NowMs() + int64_t{config_.stable_ttl_s} * 1000 + 1000;
  ++counters_.drains;
  SetState(inst, v1::INSTANCE_STATE_DRAINING, why);
}

void ClusterState::Tick() {
  {
    absl::MutexLock l(&mu_);
    int64_t now = clock_.NowMs();
    for (auto& [id, node] : nodes_) {
      if (node.connected && now - node.last_seen_ms > config_.node_timeout_ms) {
        spdlog::warn("node {} silent for {} ms; removing its instances from DNS", id,
                     now - node.last_seen_ms);
        node.connected = false;
        ++counters_.nodes_expired;
        ForgetNodeInstances(id, "node lease expired");
      }
    }
    for (auto& [id, inst] : instances_) {
      int64_t last = std::max(inst.heat->last_answer_ms.load(std::memory_order_relaxed),
                              inst.info.state_since_unix_ms());
      if (inst.info.state() == v1::INSTANCE_STATE_READY && now - last > config_.keepalive_ms &&
          inst.info.active_connections() == 0) {
        StartDrain(inst, "idle past keep-alive");
      }
      if (inst.info.state() == v1::INSTANCE_STATE_DRAINING && !inst.destroy_sent &&
          now >= inst.destroy_at_ms) {
        auto n = nodes_.find(inst.info.node_id());
        if (n != nodes_.end() && n->second.link) {
          v1::OrchestratorCommand cmd;
          cmd.mutable_destroy()->set_instance_id(id);
          cmd.mutable_destroy()->set_reason(inst.info.detail());
          n->second.link->Send(cmd);
          inst.destroy_sent = true;
          ++counters_.destroys;
        }
      }
    }
    Publish();
  }
  Notify();
}

std::shared_ptr<RoutingSnapshot> ClusterState::BuildSnapshot() const {
  auto snap = std::make_shared<RoutingSnapshot>();
  snap->version = version_;
  std::map<std::string, uint32_t> index;
  for (const auto& [id, n] : nodes_) {
    if (!n.connected) continue;
    index[id] = static_cast<uint32_t>(snap->nodes.size());
    RoutedNode rn{id, n.reg.location().region(),
                  {n.reg.location().latitude(), n.reg.location().longitude()}, CanReserve(n, ""), {}};
    for (const auto& t : n.reg.templates()) {
      if (CanReserve(n, t)) rn.templates.insert(t);
    }
    snap->nodes.push_back(std::move(rn));
  }
  for (const auto& [id, inst] : instances_) {
    auto s = inst.info.state();
    bool answerable = s == v1::INSTANCE_STATE_RESERVED || s == v1::INSTANCE_STATE_STARTING ||
                      (s == v1::INSTANCE_STATE_READY && inst.probe_ok);
    auto ni = index.find(inst.info.node_id());
    if (!answerable || ni == index.end()) continue;
    auto addr = IpAddr::Parse(inst.info.address());
    if (!addr.ok()) continue;
    snap->instances[inst.info.template_name()].push_back(
        RoutedInstance{id, *addr, ni->second, s == v1::INSTANCE_STATE_READY, inst.heat});
  }
  return snap;
}

void ClusterState::Publish() {
  ++version_;
  snapshots_.Store(BuildSnapshot());
}

void ClusterState::Notify() {
  std::vector<v1::InstanceInfo> events;
  {
    absl::MutexLock l(&mu_);
    events.swap(pending_events_);
  }
  absl::MutexLock l(&observer_mu_);
  if (!observer_) return;
  for (const auto& e : events) observer_(e);
}

std::vector<v1::NodeInfo> ClusterState::ListNodes() const {
  absl::MutexLock l(&mu_);
  std::vector<v1::NodeInfo> out;
  for (const auto& [id, n] : nodes_) {
    v1::NodeInfo info;
    info.set_node_id(id);
    *info.mutable_location() = n.reg.location();
    info.set_instance_slots(n.reg.instance_slots());
    info.set_memory_bytes(n.reg.memory_bytes());
    info.set_runtime(n.reg.runtime());
    info.set_connected(n.connected);
    info.set_draining(n.draining);
    info.set_last_seen_unix_ms(n.last_seen_ms);
    info.set_slots_used(n.last_status.slots_used());
    info.set_memory_used_bytes(n.last_status.memory_used_bytes());
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<v1::InstanceInfo> ClusterState::ListInstances(const std::string& node,
                                                          const std::string& tmpl) const {
  absl::MutexLock l(&mu_);
  std::vector<v1::InstanceInfo> out;
  for (const auto& [id, inst] : instances_) {
    if (!node.empty() && inst.info.node_id() != node) continue;
    if (!tmpl.empty() && inst.info.template_name() != tmpl) continue;
    out.push_back(inst.info);
  }
  return out;
}

std::map<v1::InstanceState, int> ClusterState::InstancesByState() const {
  absl::MutexLock l(&mu_);
  std::map<v1::InstanceState, int> out;
  for (const auto& [id, inst] : instances_) ++out[inst.info.state()];
  return out;
}

int ClusterState::ConnectedNodes() const {
  absl::MutexLock l(&mu_);
  int n = 0;
  for (const auto& [id, node] : nodes_) n += node.connected;
  return n;
}

StateCounters ClusterState::counters() const {
  absl::MutexLock l(&mu_);
  return counters_;
}

}  // namespace prewarm::orchestrator
