#include "orchestrator/replica.h"

#include <pthread.h>

#include <chrono>

#include "common/logging.h"

namespace prewarm::orchestrator {
namespace {

constexpr int64_t kLeasePeriodMs = 100;

v1::ReplicaRecord MakeReplicaRecord(const OrchestratorConfig& c, const ReplicaOptions& o,
                                    const Clock& clock) {
  v1::ReplicaRecord r;
  r.set_replica_id(c.cluster.replica_id);
  r.set_dns_address(o.dns_address.empty() ? c.dns_listen.ToString() : o.dns_address);
  r.set_grpc_address(o.grpc_address.empty() ? c.grpc_listen.ToString() : o.grpc_address);
  r.set_http_address(o.http_address.empty() ? c.http_listen.ToString() : o.http_address);
  r.set_started_unix_ms(clock.NowMs());
  return r;
}

PresenceOptions MakePresenceOptions(const OrchestratorConfig& c) {
  PresenceOptions p;
  p.replica_lease_ms = c.cluster.replica_lease_ms;
  p.leader_lease_ms = c.cluster.leader_lease_ms;
  p.request_timeout_ms = c.cluster.request_timeout_ms;
  return p;
}

}  // namespace

Replica::Replica(const OrchestratorConfig& config, const Clock& clock, store::KvStore& kv,
                 SnapshotHolder& snapshots, ServiceTimeMeter* service_times, ReplicaOptions options)
    : config_(config),
      clock_(clock),
      options_(std::move(options)),
      kv_(kv),
      keys_(config.cluster.prefix),
      cache_(kv, keys_),
      writer_(kv, keys_),
      publisher_(config, clock, snapshots, heat_),
      presence_(writer_, clock, heat_, MakeReplicaRecord(config, options_, clock),
                MakePresenceOptions(config)),
      tracker_(clock),
      autoscaler_(config, clock, tracker_, heat_),
      sessions_(config, clock, cache_, writer_, presence_, service_times),
      cold_(config, clock, snapshots, cache_, writer_, presence_),
      prefetch_(config, clock, cache_, writer_),
      control_(config, clock, cache_, writer_, presence_, publisher_, autoscaler_) {
  cache_.AddListener([this](const ClusterData& before, const ClusterData& after,
                            const ClusterChange& change) { OnChange(before, after, change); });
}

Replica::~Replica() { Stop(); }

void Replica::OnChange(const ClusterData& before, const ClusterData& after,
                       const ClusterChange& change) {
  std::vector<v1::InstanceInfo> events = tracker_.Observe(before, after, change);
  publisher_.Publish(after, presence_.degraded());
  sessions_.OnChange(before, after, change);
  control_.OnChange(before, after, change);
  std::lock_guard<std::mutex> l(observer_mu_);
  if (!observer_) return;
  for (const auto& e : events) observer_(e);
}

void Replica::SetObserver(InstanceObserver observer) {
  std::lock_guard<std::mutex> l(observer_mu_);
  observer_ = std::move(observer);
}

absl::Status Replica::Start() {
  if (!config_.cluster.history_log.empty()) {
    ASSIGN_OR_RETURN(history_, HistoryRecorder::Open(config_.cluster.history_log, id(), clock_));
    sessions_.SetHistory(history_.get());
  }
  RETURN_IF_ERROR(cache_.Start(config_.cluster.start_timeout_ms));
  RETURN_IF_ERROR(presence_.Start());
  started_ = true;
  spdlog::info("replica {}: cluster store {} at revision {}, prefix {}", id(), kv_.Describe(),
               cache_.revision(), keys_.prefix());
  if (!options_.threads) return absl::OkStatus();
  control_.Start();
  lease_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "orch-lease");
    while (!stopping_.load()) {
      presence_.RunOnce();
      std::this_thread::sleep_for(std::chrono::milliseconds(kLeasePeriodMs));
    }
  });
  return absl::OkStatus();
}

void Replica::Stop() {
  if (stopping_.exchange(true)) return;
  control_.Stop();
  if (lease_thread_.joinable()) lease_thread_.join();
  if (started_) presence_.Stop();
  cache_.Stop();
}

void Replica::Abandon() {
  if (stopping_.exchange(true)) return;
  control_.Stop();
  if (lease_thread_.joinable()) lease_thread_.join();
  cache_.Stop();
}

absl::Status Replica::Sync(int64_t timeout_ms) {
  ASSIGN_OR_RETURN(store::RangeResult r, kv_.Get(keys_.Leader()));
  if (!cache_.WaitForRevision(r.revision, timeout_ms)) {
    return absl::DeadlineExceededError(fmt::format("watch did not reach revision {}", r.revision));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> Replica::Drain(const std::string& node) {
  std::shared_ptr<const ClusterData> d = cache_.Data();
  if (!d->nodes.contains(node) && d->SlotsUsed(node) == 0) {
    return absl::NotFoundError(fmt::format("no node '{}'", node));
  }
  v1::DrainRecord rec;
  rec.set_since_unix_ms(clock_.NowMs());
  rec.set_by("operator");
  ASSIGN_OR_RETURN(int64_t rev, writer_.PutDrain(node, rec));
  cache_.WaitForRevision(rev, config_.cluster.request_timeout_ms);
  control_.Wake();
  uint32_t count = 0;
  for (const auto& [id, inst] : d->instances) {
    count += inst->rec.node_id() == node && inst->rec.drained_unix_ms() == 0;
  }
  spdlog::info("node {} drained by operator: {} instances leave DNS", node, count);
  return count;
}

absl::StatusOr<bool> Replica::Undrain(const std::string& node) {
  std::shared_ptr<const ClusterData> d = cache_.Data();
  if (!d->nodes.contains(node) && !d->drains.contains(node)) {
    return absl::NotFoundError(fmt::format("no node '{}'", node));
  }
  ASSIGN_OR_RETURN(bool was, writer_.DeleteDrain(node));
  ASSIGN_OR_RETURN(store::RangeResult r, kv_.Get(keys_.Leader()));
  cache_.WaitForRevision(r.revision, config_.cluster.request_timeout_ms);
  if (was) spdlog::info("node {} undrained by operator: it takes new instances again", node);
  return was;
}

std::vector<v1::NodeInfo> Replica::ListNodes() const {
  std::shared_ptr<const ClusterData> d = cache_.Data();
  std::vector<v1::NodeInfo> out;
  for (const auto& [id, n] : d->nodes) {
    const v1::NodeRecord& rec = n->rec;
    v1::NodeInfo info;
    info.set_node_id(id);
    *info.mutable_location() = rec.registration().location();
    info.set_instance_slots(rec.registration().instance_slots());
    info.set_memory_bytes(rec.registration().memory_bytes());
    info.set_runtime(rec.registration().runtime());
    info.set_connected(true);
    info.set_draining(d->drains.contains(id));
    info.set_last_seen_unix_ms(rec.status().sent_unix_ms());
    info.set_slots_used(rec.status().slots_used());
    info.set_memory_used_bytes(rec.status().memory_used_bytes());
    info.set_replica_id(rec.replica_id());
    out.push_back(std::move(info));
  }
  for (const auto& [id, drain] : d->drains) {
    if (d->nodes.contains(id)) continue;
    v1::NodeInfo info;
    info.set_node_id(id);
    info.set_draining(true);
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<v1::InstanceInfo> Replica::ListInstances(const std::string& node,
                                                     const std::string& tmpl) const {
  std::shared_ptr<const ClusterData> d = cache_.Data();
  const int64_t now = clock_.NowMs();
  std::vector<v1::InstanceInfo> out;
  for (const auto& [id, inst] : d->instances) {
    if (!node.empty() && inst->rec.node_id() != node) continue;
    if (!tmpl.empty() && inst->rec.template_name() != tmpl) continue;
    v1::InstanceInfo info = InfoOf(*d, inst->rec, now);
    if (info.state_since_unix_ms() == 0) info.set_state_since_unix_ms(tracker_.StateSinceMs(id));
    out.push_back(std::move(info));
  }
  return out;
}

std::map<std::pair<std::string, v1::InstanceState>, int> Replica::InstancesByTemplate() const {
  std::shared_ptr<const ClusterData> d = cache_.Data();
  const int64_t now = clock_.NowMs();
  std::map<std::pair<std::string, v1::InstanceState>, int> out;
  for (const auto& [id, inst] : d->instances) {
    ++out[{inst->rec.template_name(), d->StateOf(inst->rec, now)}];
  }
  return out;
}

std::map<Replica::NodeKey, int> Replica::InstancesByNode() const {
  std::shared_ptr<const ClusterData> d = cache_.Data();
  const int64_t now = clock_.NowMs();
  std::map<NodeKey, int> out;
  for (const auto& [id, inst] : d->instances) {
    auto n = d->nodes.find(inst->rec.node_id());
    std::string region =
        n == d->nodes.end() ? "" : n->second->rec.registration().location().region();
    ++out[{inst->rec.node_id(), std::move(region), inst->rec.template_name(),
           d->StateOf(inst->rec, now)}];
  }
  return out;
}

std::map<v1::InstanceState, int> Replica::InstancesByState() const {
  std::map<v1::InstanceState, int> out;
  for (const auto& [key, n] : InstancesByTemplate()) out[key.second] += n;
  return out;
}

int Replica::ConnectedNodes() const { return static_cast<int>(cache_.Data()->nodes.size()); }

std::string Replica::Health() const {
  std::string why = presence_.degraded_reason();
  std::shared_ptr<const ClusterData> d = cache_.Data();
  std::string leader = d->leader ? d->leader->rec.replica_id() : "none";
  if (!why.empty()) {
    return fmt::format(
        "degraded: {}; serving DNS from the last snapshot (revision {}), ready "
        "instances only, cold path to origin, reconciler paused; replica={} role={}\n",
        why, d->revision, id(), presence_.leading() ? "leader" : "follower");
  }
  return fmt::format("ok nodes={} replica={} role={} leader={} store={} revision={}\n",
                     d->nodes.size(), id(), presence_.leading() ? "leader" : "follower", leader,
                     kv_.Describe(), d->revision);
}

}  // namespace prewarm::orchestrator
