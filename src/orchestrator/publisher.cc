#include "orchestrator/publisher.h"

#include <algorithm>

namespace prewarm::orchestrator {

std::shared_ptr<InstanceHeat> HeatBoard::For(const std::string& instance) {
  std::lock_guard<std::mutex> l(mu_);
  auto& h = heat_[instance];
  if (!h) h = std::make_shared<InstanceHeat>();
  return h;
}

std::shared_ptr<InstanceHeat> HeatBoard::Find(const std::string& instance) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = heat_.find(instance);
  return it == heat_.end() ? nullptr : it->second;
}

void HeatBoard::Retain(const ClusterData& data) {
  std::lock_guard<std::mutex> l(mu_);
  std::erase_if(heat_, [&](const auto& kv) { return !data.instances.contains(kv.first); });
}

std::map<std::string, int64_t> HeatBoard::LastAnswers() const {
  std::lock_guard<std::mutex> l(mu_);
  std::map<std::string, int64_t> out;
  for (const auto& [id, h] : heat_) {
    int64_t t = h->last_answer_ms.load(std::memory_order_relaxed);
    if (t > 0) out[id] = t;
  }
  return out;
}

int64_t HeatBoard::LocalLastAnswerMs(const std::string& instance) const {
  auto h = Find(instance);
  return h ? h->last_answer_ms.load(std::memory_order_relaxed) : 0;
}

void SnapshotPublisher::Publish(const ClusterData& data, bool degraded) {
  std::lock_guard<std::mutex> l(mu_);
  std::shared_ptr<RoutingSnapshot> snap = Build(data, degraded);
  snap->version = ++version_;
  snapshots_.Store(std::move(snap));
  heat_.Retain(data);
  if (after_publish_) after_publish_();
}

std::shared_ptr<RoutingSnapshot> SnapshotPublisher::Build(const ClusterData& data,
                                                          bool degraded) const {
  const int64_t now = clock_.NowMs();
  auto snap = std::make_shared<RoutingSnapshot>();
  std::map<std::string, uint32_t> used;
  for (const auto& [id, inst] : data.instances) ++used[inst->rec.node_id()];
  std::map<std::string, uint32_t> index;
  for (const auto& [id, stored] : data.nodes) {
    const v1::Register& reg = stored->rec.registration();
    index[id] = static_cast<uint32_t>(snap->nodes.size());
    bool room = !degraded && !data.drains.contains(id) && used[id] < reg.instance_slots() &&
                !data.FreeStandby(id).empty();
    RoutedNode rn{id,
                  reg.location().region(),
                  {reg.location().latitude(), reg.location().longitude()},
                  room,
                  {},
                  AF_INET};
    if (auto range = Cidr::Parse(reg.address_range()); range.ok()) {
      rn.family = range->base.family();
    }
    for (const auto& t : reg.templates()) {
      if (room && !data.BackingOff(id, t, now)) rn.templates.insert(t);
    }
    snap->nodes.push_back(std::move(rn));
  }
  for (const auto& [id, stored] : data.instances) {
    const v1::InstanceRecord& inst = stored->rec;
    auto ni = index.find(inst.node_id());
    if (ni == index.end()) continue;
    v1::InstanceState s = data.StateOf(inst, now);
    const v1::InstanceStatus* observed = data.Observed(inst);
    bool ready = s == v1::INSTANCE_STATE_READY && observed != nullptr && observed->probe_ok();
    bool starting = s == v1::INSTANCE_STATE_RESERVED || s == v1::INSTANCE_STATE_STARTING;
    if (!ready && (degraded || !starting)) continue;
    auto addr = IpAddr::Parse(inst.address());
    if (!addr.ok()) continue;
    std::shared_ptr<InstanceHeat> heat = heat_.For(id);
    if (observed != nullptr)
      heat->load.store(observed->active_connections(), std::memory_order_relaxed);
    snap->instances[inst.template_name()].push_back(
        RoutedInstance{id, *addr, ni->second, ready, std::move(heat)});
  }
  return snap;
}

}  // namespace prewarm::orchestrator
