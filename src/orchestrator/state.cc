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

namespace {

constexpr int64_t kUnmeasuredLeadMs = 24 * 3600 * 1000LL;  // the furthest a window may start
constexpr int64_t kTickSlackMs = 1000;                     // the tick thread's period

ReconcilerConfig MakeReconcilerConfig(const OrchestratorConfig& c) {
  ReconcilerConfig rc;
  rc.proactive = c.autoscaler.proactive;
  rc.reactive = c.autoscaler.reactive;
  rc.stable_window_ms = c.autoscaler.stable_window_ms;
  rc.panic_window_ms = c.autoscaler.panic_window_ms;
  rc.panic_threshold = c.autoscaler.panic_threshold;
  rc.default_template.keepalive_ms = c.keepalive_ms;
  rc.default_template.target_utilisation = c.autoscaler.target_utilisation;
  rc.default_template.concurrency = 10;
  rc.default_template.max_per_key = c.max_prefetch_target;
  // Until a template's start time is measured, act on the newest forecast window as soon as
  // it arrives (every window that has not ended is due); see Reconcile for the measured lead.
  rc.default_template.lead_ms = kUnmeasuredLeadMs;
  for (const auto& [name, info] : c.templates) {
    TemplatePolicy tp = rc.default_template;
    tp.concurrency = info.concurrency;
    if (info.keepalive_ms > 0) tp.keepalive_ms = info.keepalive_ms;
    rc.templates[name] = tp;
  }
  return rc;
}

ViewState ToViewState(v1::InstanceState s) {
  switch (s) {
    case v1::INSTANCE_STATE_READY: return ViewState::kReady;
    case v1::INSTANCE_STATE_DRAINING: return ViewState::kDraining;
    default: return ViewState::kStarting;
  }
}

}  // namespace

ClusterState::ClusterState(const OrchestratorConfig& config, const Clock& clock,
                           SnapshotHolder& snapshots)
    : config_(config), clock_(clock), snapshots_(snapshots), reconciler_(MakeReconcilerConfig(config)),
      started_ms_(clock.NowMs()) {}

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
    if (service_times_ != nullptr && node.last_seen_ms > 0) {
      // Open connections held since this node's previous report (at most a few seconds:
      // a long silence is not evidence of connections held throughout).
      double dt_s = static_cast<double>(std::min<int64_t>(clock_.NowMs() - node.last_seen_ms, 5'000)) / 1000.0;
      for (const auto& st : status.instances()) {
        if (st.active_connections() > 0) {
          service_times_->AddConnectionSeconds(st.template_name(), st.active_connections() * dt_s);
        }
      }
    }
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
    inst.adopted = true;
    it = instances_.emplace(st.instance_id(), std::move(inst)).first;
  }
  Instance& inst = it->second;
  inst.probe_ok = st.probe_ok();
  inst.info.set_active_connections(st.active_connections());
  if (st.active_connections() > 0) inst.last_active_ms = clock_.NowMs();
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
  if (st.state() == v1::INSTANCE_STATE_READY && inst.info.state() != v1::INSTANCE_STATE_READY) {
    // Reservation to READY: the template's start time, the lead the reconciler acts with.
    double took = static_cast<double>(clock_.NowMs() - inst.created_ms);
    auto [e, fresh] = start_ms_ewma_.emplace(st.template_name(), took);
    if (!fresh) e->second = 0.8 * e->second + 0.2 * took;
  }
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
                                              const std::vector<std::string>& content,
                                              const std::string& key_region, bool answered) {
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
  inst.key_region = key_region.empty() ? n.reg.location().region() : key_region;
  SetState(inst, v1::INSTANCE_STATE_RESERVED, "reserved");
  if (answered) inst.heat->last_answer_ms.store(inst.created_ms, std::memory_order_relaxed);
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
    if (pick.instance != nullptr) {
      if (pick.instance->heat) pick.instance->heat->last_answer_ms.store(clock_.NowMs(), std::memory_order_relaxed);
      return pick.instance->address;
    }
    if (pick.kind != PickKind::kNeedCold) return std::nullopt;
    out = ReserveOn(snap->nodes[*pick.cold_node].id, tmpl, {}, std::string(client.region), /*answered=*/true);
    Publish();
  }
  Notify();
  return out;
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
  // Remove from DNS now; destroy only once every answer that named it has expired
  // (AnsweredUntilMs: a DNS thread may still answer from the previous snapshot).
  inst.drained_at_ms = clock_.NowMs();
  ++counters_.drains;
  SetState(inst, v1::INSTANCE_STATE_DRAINING, why);
}

void ClusterState::Tick(const std::vector<v1::PrefetchEntry>& prefetch) {
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
    Reconcile(prefetch);
    Publish();
  }
  Notify();
}

int64_t ClusterState::AnsweredUntilMs(const Instance& inst) const {
  int64_t last = std::max(inst.heat->last_answer_ms.load(std::memory_order_relaxed), inst.drained_at_ms);
  // The longest TTL any answer naming it can carry, plus a second for clock skew.
  return last + int64_t{std::max(config_.stable_ttl_s, config_.short_ttl_s)} * 1000 + 1000;
}

void ClusterState::Reconcile(const std::vector<v1::PrefetchEntry>& prefetch) {
  const int64_t now = clock_.NowMs();
  // The view: regions from the config (plus any a node reports that it lacks), connected
  // nodes, one key per (region, template) that has instances or a forecast window.
  ClusterView view;
  std::map<std::string, uint32_t> region_index;
  auto region_of = [&](const std::string& name, geo::GeoPoint p) {
    auto [it, fresh] = region_index.emplace(name, static_cast<uint32_t>(view.regions.size()));
    if (fresh) view.regions.push_back({name, p});
    return it->second;
  };
  for (const auto& r : config_.regions) region_of(r.name, r.point);
  std::map<std::string, uint32_t> node_index;
  std::map<std::string, uint32_t> used;
  for (const auto& [id, inst] : instances_) ++used[inst.info.node_id()];
  for (const auto& [id, n] : nodes_) {
    if (!n.connected) continue;
    const auto& loc = n.reg.location();
    ViewNode vn;
    vn.id = id;
    vn.region = region_of(loc.region(), {loc.latitude(), loc.longitude()});
    uint32_t free_addr = 0;
    for (const IpAddr& a : n.standby) {
      bool taken = std::any_of(instances_.begin(), instances_.end(), [&](const auto& kv) {
        return kv.second.info.node_id() == id && kv.second.info.address() == a.ToString();
      });
      free_addr += !taken;
    }
    uint32_t slots = n.reg.instance_slots() > used[id] ? n.reg.instance_slots() - used[id] : 0;
    vn.free_slots = std::min(slots, free_addr);
    vn.schedulable = !n.draining && n.link != nullptr;
    for (const auto& t : n.reg.templates()) {
      auto b = n.backoff_until_ms.find(t);
      if (b == n.backoff_until_ms.end() || b->second <= now) vn.templates.push_back(t);
    }
    if (vn.templates.empty()) vn.schedulable = false;  // empty would mean "any"
    node_index[id] = static_cast<uint32_t>(view.nodes.size());
    view.nodes.push_back(std::move(vn));
  }
  std::map<std::pair<uint32_t, std::string>, uint32_t> key_index;
  auto key_of = [&](uint32_t region, const std::string& tmpl) {
    auto [it, fresh] = key_index.emplace(std::make_pair(region, tmpl), static_cast<uint32_t>(view.keys.size()));
    if (fresh) {
      ViewKey k;
      k.region = region;
      k.tmpl = tmpl;
      view.keys.push_back(std::move(k));
    }
    return it->second;
  };
  for (const auto& [id, inst] : instances_) {
    auto ni = node_index.find(inst.info.node_id());
    if (ni == node_index.end()) continue;
    uint32_t region = view.nodes[ni->second].region;
    if (auto kr = region_index.find(inst.key_region); kr != region_index.end()) region = kr->second;
    ViewKey& k = view.keys[key_of(region, inst.info.template_name())];
    ViewInstance vi;
    vi.id = id;
    vi.node = ni->second;
    vi.state = ToViewState(inst.info.state());
    vi.in_flight = inst.info.active_connections();
    int64_t answered = inst.heat->last_answer_ms.load(std::memory_order_relaxed);
    vi.last_busy_ms = std::max({answered, inst.last_active_ms, inst.created_ms,
                                inst.info.state() == v1::INSTANCE_STATE_READY ? inst.info.state_since_unix_ms() : 0});
    vi.used = inst.adopted || answered > 0 || inst.last_active_ms > 0;
    vi.answered_until_ms = AnsweredUntilMs(inst);
    vi.state_since_ms = inst.info.state_since_unix_ms();
    vi.destroy_ordered = inst.destroy_sent;
    k.demand += inst.info.active_connections();
    k.instances.push_back(std::move(vi));
  }
  for (const auto& e : prefetch) {
    const auto& r = e.request();
    auto ri = region_index.find(r.region());
    if (ri == region_index.end()) continue;
    ViewKey& k = view.keys[key_of(ri->second, r.template_name())];
    k.windows.push_back({r.window_start_unix_ms(), r.window_end_unix_ms(), r.target_concurrency(),
                         {r.content_ids().begin(), r.content_ids().end()}, e.received_unix_ms()});
  }
  if (config_.autoscaler.learned_keepalive) LearnKeepAlives(view, key_of);
  view.Index();
  // The lead: each template's measured start time, plus one tick (a due window may wait
  // that long for the next pass).
  for (const auto& [tmpl, ms] : start_ms_ewma_) {
    auto& templates = reconciler_.mutable_config().templates;
    auto it = templates.find(tmpl);
    if (it == templates.end()) it = templates.emplace(tmpl, reconciler_.config().default_template).first;
    it->second.lead_ms = static_cast<int64_t>(ms) + kTickSlackMs;
  }
  for (const Decision& d : reconciler_.Reconcile(view, now)) {
    const ViewKey& k = view.keys[d.key];
    const std::string& node_id = view.nodes[d.node].id;
    switch (d.kind) {
      case Decision::kCreate: {
        auto addr = ReserveOn(node_id, k.tmpl, d.content, view.regions[k.region].name);
        spdlog::info("reconciler: create {} in {} on {} ({}){}", k.tmpl, view.regions[k.region].name,
                     node_id, ScaleReasonName(d.reason), addr ? "" : ": no free address");
        break;
      }
      case Decision::kDrain: {
        auto it = instances_.find(d.instance);
        if (it == instances_.end()) break;
        spdlog::info("reconciler: drain {} ({}: idle past keep-alive, not in a forecast window)",
                     d.instance, ScaleReasonName(d.reason));
        StartDrain(it->second, "idle past keep-alive");
        break;
      }
      case Decision::kDestroy: {
        auto it = instances_.find(d.instance);
        auto n = nodes_.find(node_id);
        if (it == instances_.end() || n == nodes_.end() || !n->second.link) break;
        v1::OrchestratorCommand cmd;
        cmd.mutable_destroy()->set_instance_id(d.instance);
        cmd.mutable_destroy()->set_reason(it->second.info.detail());
        n->second.link->Send(cmd);
        it->second.destroy_sent = true;
        ++counters_.destroys;
        spdlog::info("reconciler: destroy {} (its DNS answers have expired)", d.instance);
        break;
      }
    }
  }
}

void ClusterState::LearnKeepAlives(
    ClusterView& view, const std::function<uint32_t(uint32_t, const std::string&)>& key_of) {
  constexpr int64_t kIdleGraceMs = 1'000;  // no answer and no connection this long: idle
  const int64_t now = clock_.NowMs();
  // Keys that have no instance left but a reload planned must be in the view.
  const bool timers = config_.autoscaler.learned.timers;
  for (auto& [name, lk] : learned_) {
    bool reload = lk.keepalive.idle() && lk.keepalive.plan().reload();
    if (!reload && !(timers && lk.timers.NextFiring(now))) continue;
    auto r = std::find_if(view.regions.begin(), view.regions.end(),
                          [&](const ViewRegion& vr) { return vr.name == name.first; });
    if (r != view.regions.end()) key_of(static_cast<uint32_t>(r - view.regions.begin()), name.second);
  }
  for (ViewKey& k : view.keys) {
    std::pair<std::string, std::string> name{view.regions[k.region].name, k.tmpl};
    auto it = learned_.find(name);
    if (it == learned_.end()) {
      it = learned_.emplace(name, LearnedKey{LearnedKeepAlive(config_.autoscaler.learned, started_ms_),
                                             TimerDetector(TimerDetectorOptions{}, started_ms_), 0, false, 0})
               .first;
    }
    LearnedKey& lk = it->second;
    // The key's latest sign of traffic: a DNS answer naming one of its instances, or a
    // status report with open connections.
    int64_t latest = 0;
    bool latest_cold = false;  // the latest sign came from an instance still starting
    uint32_t in_flight = 0, busy_instances = 0;
    for (const ViewInstance& vi : k.instances) {
      auto inst = instances_.find(vi.id);
      if (inst == instances_.end()) continue;
      const int64_t sign =
          std::max(inst->second.heat->last_answer_ms.load(std::memory_order_relaxed),
                   inst->second.last_active_ms);
      if (sign > latest) {
        latest = sign;
        latest_cold = vi.state != ViewState::kReady;
      }
      in_flight += vi.in_flight;
      busy_instances += vi.in_flight > 0;
    }
    if (latest > lk.seen_ms) {
      if (!lk.busy) {
        lk.keepalive.Arrival(latest, latest_cold);
        lk.timers.Arrival(latest);
      }
      lk.busy = true;
      lk.seen_ms = latest;
    }
    double start_s = 1.0;
    if (auto st = start_ms_ewma_.find(k.tmpl); st != start_ms_ewma_.end()) start_s = st->second / 1000;
    if (lk.busy && in_flight == 0 && now - lk.seen_ms >= kIdleGraceMs) {
      lk.busy = false;
      const IdlePlan& plan = lk.keepalive.IdleBegins(lk.seen_ms, config_.autoscaler.learned, 1.0, start_s);
      spdlog::debug("learned keep-alive {}/{}: {} then keep until {} s idle", name.first,
                    name.second,
                    plan.reload() ? fmt::format("keep {} s, reload at {} s",
                                                plan.keep_first_ms / 1000, plan.prewarm_ms / 1000)
                                  : std::string("keep"),
                    plan.keep_until_ms / 1000);
    }
    // Surplus levels (after level 1's plan: they keep no longer than it).
    uint32_t busy = lk.busy ? std::max<uint32_t>(busy_instances, 1) : 0;
    if (busy != lk.busy_instances) {
      lk.keepalive.Busy(now, busy, config_.autoscaler.learned, 1.0, start_s);
      lk.busy_instances = busy;
    }
    lk.keepalive.Apply(k, kLearnedWindowSource);
    if (timers) lk.timers.Apply(k, now, lk.keepalive.ColdCost(config_.autoscaler.learned, 1.0, now), start_s);
  }
}

ReconcilerCounters ClusterState::reconciler_counters() const {
  absl::MutexLock l(&mu_);
  return reconciler_.counters();
}

std::map<std::string, int64_t> ClusterState::StartTimesMs() const {
  absl::MutexLock l(&mu_);
  std::map<std::string, int64_t> out;
  for (const auto& [t, ms] : start_ms_ewma_) out[t] = static_cast<int64_t>(ms);
  return out;
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
