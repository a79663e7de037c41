#include "orchestrator/cluster_cache.h"

#include <chrono>
#include <thread>

#include "common/logging.h"

namespace prewarm::orchestrator {
namespace {

template <typename T>
std::optional<T> Decode(const std::string& value) {
  T rec;
  if (!rec.ParseFromString(value)) return std::nullopt;
  return rec;
}

template <typename T>
StoredPtr<T> MakeStored(T rec, const store::KeyValue& kv) {
  auto s = std::make_shared<Stored<T>>();
  s->rec = std::move(rec);
  s->mod_revision = kv.mod_revision;
  s->create_revision = kv.create_revision;
  s->lease = kv.lease;
  return s;
}

// The states in which an agent has the instance: once seen in one, it ran.
bool Running(v1::InstanceState s) {
  return s == v1::INSTANCE_STATE_STARTING || s == v1::INSTANCE_STATE_READY ||
         s == v1::INSTANCE_STATE_DRAINING || s == v1::INSTANCE_STATE_FAILED;
}

}  // namespace

const v1::InstanceStatus* ClusterData::Observed(const v1::InstanceRecord& inst) const {
  auto n = nodes.find(inst.node_id());
  if (n == nodes.end()) return nullptr;
  for (const auto& st : n->second->rec.status().instances()) {
    if (st.instance_id() == inst.instance_id()) return &st;
  }
  return nullptr;
}

v1::InstanceState ClusterData::StateOf(const v1::InstanceRecord& inst, int64_t now_ms) const {
  if (inst.drained_unix_ms() > 0) return v1::INSTANCE_STATE_DRAINING;
  if (const v1::InstanceStatus* st = Observed(inst)) return st->state();
  if (reported.contains(inst.instance_id())) return v1::INSTANCE_STATE_GONE;
  return now_ms - inst.created_unix_ms() < kReservationGraceMs ? v1::INSTANCE_STATE_RESERVED
                                                               : v1::INSTANCE_STATE_GONE;
}

std::vector<std::string> ClusterData::FreeStandby(const std::string& node) const {
  std::vector<std::string> out;
  auto n = nodes.find(node);
  if (n == nodes.end()) return out;
  for (const std::string& a : n->second->rec.status().standby_addresses()) {
    if (!claims.contains({node, a})) out.push_back(a);
  }
  return out;
}

uint32_t ClusterData::SlotsUsed(const std::string& node) const {
  uint32_t used = 0;
  for (const auto& [id, inst] : instances) used += inst->rec.node_id() == node;
  return used;
}

bool ClusterData::BackingOff(const std::string& node, const std::string& tmpl,
                             int64_t now_ms) const {
  auto b = backoffs.find({node, tmpl});
  return b != backoffs.end() && b->second.until_unix_ms() > now_ms;
}

int64_t ClusterData::RemoteLastAnswerMs(const std::string& instance) const {
  int64_t last = 0;
  for (const auto& [replica, h] : heat) {
    auto it = h->rec.last_answer_unix_ms().find(instance);
    if (it != h->rec.last_answer_unix_ms().end()) last = std::max(last, it->second);
  }
  return last;
}

ClusterCache::~ClusterCache() { Stop(); }

absl::Status ClusterCache::Start(int64_t timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  absl::StatusOr<store::RangeResult> listing;
  for (int attempt = 0;; ++attempt) {
    listing = kv_.Get(keys_.prefix(), /*prefix=*/true);
    if (listing.ok() || std::chrono::steady_clock::now() >= deadline) break;
    if (attempt == 0) {
      spdlog::warn("cluster store {}: {}; retrying for up to {} s", kv_.Describe(),
                   listing.status().message(), timeout_ms / 1000);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (!listing.ok()) {
    return absl::UnavailableError(fmt::format("cluster store {}: cannot list {}: {}",
                                              kv_.Describe(), keys_.prefix(),
                                              listing.status().message()));
  }
  store::WatchBatch first;
  first.resync = true;
  first.revision = listing->revision;
  for (auto& kv : listing->kvs) first.events.push_back({store::WatchEvent::Type::kPut, kv});
  OnBatch(first);
  auto watch = kv_.Watch(keys_.prefix(), listing->revision + 1,
                         [this](const store::WatchBatch& b) { OnBatch(b); });
  if (!watch.ok()) return watch.status();
  watch_ = std::move(*watch);
  return absl::OkStatus();
}

void ClusterCache::Stop() { watch_.reset(); }

bool ClusterCache::WaitForRevision(int64_t revision, int64_t timeout_ms) const {
  std::unique_lock<std::mutex> l(rev_mu_);
  return rev_cv_.wait_for(l, std::chrono::milliseconds(timeout_ms),
                          [&] { return listened_revision_ >= revision; });
}

void ClusterCache::OnBatch(const store::WatchBatch& batch) {
  std::shared_ptr<const ClusterData> before = Data();
  ClusterChange change;
  auto after = std::make_shared<const ClusterData>(Apply(*before, batch, change));
  data_.store(after, std::memory_order_release);
  for (const Listener& l : listeners_) l(*before, *after, change);
  // Waiters learn of the revision only after the listeners ran: a cold-path claim that
  // waits for its revision then finds its instance in the published snapshot.
  {
    std::lock_guard<std::mutex> l(rev_mu_);
    listened_revision_ = after->revision;
  }
  rev_cv_.notify_all();
}

ClusterData ClusterCache::Apply(const ClusterData& base, const store::WatchBatch& batch,
                                ClusterChange& change) {
  ClusterData d;
  if (batch.resync) {
    change.resync = true;
    for (const auto& [id, n] : base.nodes) change.nodes.insert(id);
    for (const auto& [id, i] : base.instances) change.instances.insert(id);
    change.leader = change.prefetch = change.other = true;
  } else {
    d = base;
  }
  for (const store::WatchEvent& e : batch.events) ApplyEvent(d, e, change);
  if (batch.resync) {  // what was reported before stays true of the records that remain
    for (const std::string& id : base.reported) {
      if (d.instances.contains(id)) d.reported.insert(id);
    }
  }
  d.revision = std::max(base.revision, batch.revision);
  return d;
}

void ClusterCache::Skip(const std::string& key, const std::string& why) {
  skipped_.fetch_add(1);
  spdlog::warn("cluster store: skipping {}: {}", key, why);
}

void ClusterCache::ApplyEvent(ClusterData& d, const store::WatchEvent& e, ClusterChange& change) {
  const store::KeyValue& kv = e.kv;
  std::optional<ParsedKey> key = keys_.Parse(kv.key);
  if (!key) return Skip(kv.key, "not a key of this layout");
  const bool put = e.type == store::WatchEvent::Type::kPut;
  auto bad = [&] {
    Skip(kv.key, fmt::format("value of {} bytes does not parse", kv.value.size()));
  };
  switch (key->kind) {
    case KeyKind::kNode: {
      change.nodes.insert(key->a);
      d.nodes.erase(key->a);
      if (!put) return;
      auto rec = Decode<v1::NodeRecord>(kv.value);
      if (!rec || rec->registration().node_id() != key->a) return bad();
      for (const v1::InstanceStatus& st : rec->status().instances()) {
        if (Running(st.state()) && d.instances.contains(st.instance_id())) {
          d.reported.insert(st.instance_id());
        }
      }
      d.nodes[key->a] = MakeStored(std::move(*rec), kv);
      return;
    }
    case KeyKind::kInstance: {
      change.instances.insert(key->a);
      d.instances.erase(key->a);
      if (!put) {
        d.reported.erase(key->a);
        return;
      }
      auto rec = Decode<v1::InstanceRecord>(kv.value);
      if (!rec || rec->instance_id() != key->a || rec->node_id().empty()) return bad();
      auto stored = MakeStored(std::move(*rec), kv);
      if (const v1::InstanceStatus* st = d.Observed(stored->rec); st && Running(st->state())) {
        d.reported.insert(key->a);
      }
      d.instances[key->a] = std::move(stored);
      return;
    }
    case KeyKind::kLeader: {
      change.leader = true;
      d.leader.reset();
      if (!put) return;
      auto rec = Decode<v1::LeaderRecord>(kv.value);
      if (!rec) return bad();
      d.leader =
          Stored<v1::LeaderRecord>{std::move(*rec), kv.mod_revision, kv.create_revision, kv.lease};
      return;
    }
    case KeyKind::kPrefetch: {
      change.prefetch = true;
      d.prefetch.erase(kv.key);
      if (!put) return;
      auto rec = Decode<v1::PrefetchEntry>(kv.value);
      if (!rec) return bad();
      d.prefetch[kv.key] = MakeStored(std::move(*rec), kv);
      return;
    }
    default:
      change.other = true;
      break;
  }
  switch (key->kind) {
    case KeyKind::kDrain: {
      d.drains.erase(key->a);
      auto rec = put ? Decode<v1::DrainRecord>(kv.value) : std::nullopt;
      if (put && !rec) return bad();
      if (rec) d.drains[key->a] = std::move(*rec);
      return;
    }
    case KeyKind::kBackoff: {
      d.backoffs.erase({key->a, key->b});
      auto rec = put ? Decode<v1::BackoffRecord>(kv.value) : std::nullopt;
      if (put && !rec) return bad();
      if (rec) d.backoffs[{key->a, key->b}] = std::move(*rec);
      return;
    }
    case KeyKind::kClaim: {
      d.claims.erase({key->a, key->b});
      auto rec = put ? Decode<v1::ClaimRecord>(kv.value) : std::nullopt;
      if (put && (!rec || rec->instance_id().empty())) return bad();
      if (rec) d.claims[{key->a, key->b}] = rec->instance_id();
      return;
    }
    case KeyKind::kReplica: {
      d.replicas.erase(key->a);
      auto rec = put ? Decode<v1::ReplicaRecord>(kv.value) : std::nullopt;
      if (put && !rec) return bad();
      if (rec) d.replicas[key->a] = std::move(*rec);
      return;
    }
    case KeyKind::kHeat: {
      d.heat.erase(key->a);
      auto rec = put ? Decode<v1::HeatRecord>(kv.value) : std::nullopt;
      if (put && !rec) return bad();
      if (rec) d.heat[key->a] = MakeStored(std::move(*rec), kv);
      return;
    }
    default:
      return;
  }
}

}  // namespace prewarm::orchestrator
