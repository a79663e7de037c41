#include "orchestrator/node_sessions.h"

#include <algorithm>
#include <chrono>
#include <set>

#include "common/logging.h"

namespace prewarm::orchestrator {

// One agent stream. Its mutex orders the handler thread's reports against the watch
// thread's relays.
class NodeSession {
 public:
  std::string node_id;
  std::shared_ptr<NodeLink> link;
  std::string peer;
  bool authenticated = false;  // its certificate proved its node id
  std::mutex mu;
  v1::Register reg;                                   // guarded by mu (authenticated)
  int64_t lease = 0;                                  // guarded by mu
  int64_t kept_ms = 0;                                // guarded by mu: last keep-alive sent
  int64_t last_report_ms = 0;                         // guarded by mu
  int64_t last_write_ms = 0;                          // guarded by mu
  int64_t failing_since_ms = 0;                       // guarded by mu: keep-alives failing since
  bool has_status = false;                            // guarded by mu
  bool closed = false;                                // guarded by mu
  v1::NodeStatus status;                              // guarded by mu
  std::map<std::string, int64_t> creates;             // guarded by mu: id -> when sent
  std::set<std::string> destroys;                     // guarded by mu
  std::map<std::string, v1::InstanceState> reported;  // guarded by mu: last state per id
  std::set<std::string> forgotten;                    // guarded by mu: until the cache drops them
  // guarded by mu: the content each instance was given on this stream (Create, PreloadContent)
  std::map<std::string, std::set<std::string>> given;
};

namespace {

constexpr int64_t kUnchangedWriteMs = 1000;  // an unchanged status is written this often

bool ValidNodeId(const std::string& id) {
  if (id.empty() || id.size() > 48) return false;
  return std::all_of(id.begin(), id.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; });
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

// The status as it matters to other replicas: without the send time, so that an
// unchanged report is not a change.
bool SameStatus(v1::NodeStatus a, v1::NodeStatus b) {
  a.clear_sent_unix_ms();
  b.clear_sent_unix_ms();
  return a.SerializeAsString() == b.SerializeAsString();
}

}  // namespace

NodeSessions::NodeSessions(const OrchestratorConfig& config, const Clock& clock,
                           ClusterCache& cache, ClusterWriter& writer, Presence& presence,
                           ServiceTimeMeter* service_times)
    : config_(config),
      clock_(clock),
      cache_(cache),
      writer_(writer),
      presence_(presence),
      service_times_(service_times) {}

NodeSessions::~NodeSessions() = default;

void NodeSessions::Count(uint64_t SessionCounters::*field) {
  std::lock_guard<std::mutex> l(mu_);
  ++(counters_.*field);
}

absl::StatusOr<v1::Register> NodeSessions::Authenticate(v1::Register reg,
                                                        const security::Peer& peer) const {
  std::optional<Cidr> range;
  if (auto pinned = config_.node_ranges.find(reg.node_id()); pinned != config_.node_ranges.end()) {
    range = pinned->second;
  }
  if (peer.authenticated) {
    if (peer.role != security::Role::kAgent) {
      return absl::PermissionDeniedError(fmt::format(
          "{}: a {} certificate cannot connect as an agent", peer.Describe(), RoleName(peer.role)));
    }
    if (reg.node_id() != peer.name) {
      return absl::PermissionDeniedError(
          fmt::format("{}: its certificate names node '{}' but its Register claims '{}'",
                      peer.Describe(), peer.name, reg.node_id()));
    }
    if (peer.range) range = peer.range;
    if (!range) {
      return absl::PermissionDeniedError(fmt::format(
          "{}: neither its certificate nor the orchestrator's `nodes:` gives node '{}' an "
          "address range",
          peer.Describe(), reg.node_id()));
    }
  }
  if (range && reg.address_range() != range->ToString()) {
    return absl::PermissionDeniedError(
        fmt::format("{}: node '{}' registers address range {} but may only use {}", peer.Describe(),
                    reg.node_id(), reg.address_range(), range->ToString()));
  }
  return reg;
}

absl::StatusOr<std::shared_ptr<NodeSession>> NodeSessions::Open(v1::Register reg,
                                                                const v1::NodeStatus& first,
                                                                const security::Peer& peer,
                                                                std::shared_ptr<NodeLink> link) {
  absl::StatusOr<v1::Register> authed = Authenticate(std::move(reg), peer);
  absl::Status valid = authed.ok() ? ValidateRegister(*authed) : authed.status();
  if (valid.ok() && first.node_id() != authed->node_id()) {
    valid = absl::InvalidArgumentError(fmt::format(
        "the first status names node '{}', the Register '{}'", first.node_id(), authed->node_id()));
  }
  if (!valid.ok()) {
    Count(&SessionCounters::refused);
    return valid;
  }
  auto s = std::make_shared<NodeSession>();
  s->node_id = authed->node_id();
  s->link = std::move(link);
  s->peer = peer.Describe();
  s->authenticated = peer.authenticated;
  s->reg = *std::move(authed);
  absl::Status st;
  {
    std::lock_guard<std::mutex> sl(s->mu);
    s->status = first;
    s->status.clear_content();  // counts go to the event feed, not the record
    st = Register(*s);
  }
  if (!st.ok()) {
    Count(&SessionCounters::refused);
    return st;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    sessions_[s->node_id] = s;
    ++counters_.registrations;
  }
  spdlog::info("node {} registered from {} (region {}, {} slots, runtime {}, range {})", s->node_id,
               s->peer, s->reg.location().region(), s->reg.instance_slots(), s->reg.runtime(),
               s->reg.address_range());
  // The first status as any other: adoption, forgetting, relaying what its records imply.
  if (absl::Status reported = Report(*s, first); !reported.ok()) {
    Close(*s);
    return reported;
  }
  return s;
}

absl::Status NodeSessions::Register(NodeSession& s) {
  store::KvStore& kv = writer_.kv();
  auto lease = kv.GrantLease(config_.node_timeout_ms, config_.cluster.request_timeout_ms);
  presence_.ReportStoreResult(lease.status(), "node lease");
  if (!lease.ok())
    return absl::UnavailableError(fmt::format("cluster store: {}", lease.status().message()));
  v1::NodeRecord rec;
  *rec.mutable_registration() = s.reg;
  *rec.mutable_status() = s.status;
  rec.set_replica_id(presence_.replica_id());
  rec.set_connected_unix_ms(clock_.NowMs());
  rec.set_peer(s.peer);
  // An agent whose certificate proves its id takes its record over from a stream it left
  // (a replica that died, a connection it lost): it has one stream at a time. Without
  // certificates an impostor could, so the old stream's lease must end first.
  auto rev = writer_.RegisterNode(rec, *lease, /*take_over=*/s.authenticated);
  presence_.ReportStoreResult(rev.status(), "register");
  if (!rev.ok()) {
    (void)kv.Revoke(*lease, config_.cluster.request_timeout_ms);
    return rev.status();
  }
  if (!rev->replaced.empty()) {
    spdlog::info("node {}: its agent moved here; took its record over from {}", s.node_id,
                 rev->replaced);
  }
  s.lease = *lease;
  s.kept_ms = s.last_write_ms = clock_.NowMs();
  return absl::OkStatus();
}

void NodeSessions::Close(NodeSession& s) {
  int64_t lease = 0;
  {
    std::lock_guard<std::mutex> sl(s.mu);
    s.closed = true;
    lease = std::exchange(s.lease, 0);
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = sessions_.find(s.node_id);
    if (it != sessions_.end() && it->second.get() == &s) sessions_.erase(it);
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [id, p] : pending_logs_) {
      if (p.node == s.node_id && !p.answer) {
        p.answer = absl::UnavailableError(
            fmt::format("node {}'s agent disconnected before it answered", s.node_id));
      }
    }
    logs_cv_.notify_all();
  }
  spdlog::warn("node {} disconnected ({}); its instances leave DNS", s.node_id, s.peer);
  if (lease != 0) (void)writer_.kv().Revoke(lease, config_.cluster.request_timeout_ms);
}

absl::Status NodeSessions::Report(NodeSession& s, const v1::NodeStatus& reported) {
  if (reported.node_id() != s.node_id) {
    return absl::InvalidArgumentError(
        fmt::format("status for '{}' on the stream of '{}'", reported.node_id(), s.node_id));
  }
  std::shared_ptr<const ClusterData> d = cache_.Data();
  std::lock_guard<std::mutex> sl(s.mu);
  if (s.closed) return absl::CancelledError("stream closed");
  // The content counts are demand for the forecasters, not node state: to the feed, with
  // the region the node registered; the record and the history get the status without.
  v1::NodeStatus stripped;
  if (reported.content_size() > 0) {
    if (content_feed_ != nullptr) {
      content_feed_->AddContent(s.reg.location().region(), reported.content());
    }
    stripped = reported;
    stripped.clear_content();
  }
  const v1::NodeStatus& status = reported.content_size() > 0 ? stripped : reported;
  if (history_ != nullptr) history_->Report(status);
  IntegrateConnections(s, status);
  ApplyInstances(s, status, *d);
  absl::Status st = KeepAndWrite(s, status);
  s.status = status;
  s.has_status = true;
  s.last_report_ms = clock_.NowMs();
  Relay(s, *d);
  return st;
}

void NodeSessions::IntegrateConnections(NodeSession& s, const v1::NodeStatus& status) {
  if (service_times_ == nullptr || s.last_report_ms == 0) return;
  // Open connections held since this node's previous report (at most a few seconds: a
  // long silence is not evidence of connections held throughout).
  double dt_s =
      static_cast<double>(std::min<int64_t>(clock_.NowMs() - s.last_report_ms, 5'000)) / 1000.0;
  for (const auto& st : status.instances()) {
    if (st.active_connections() > 0) {
      service_times_->AddConnectionSeconds(st.template_name(), st.active_connections() * dt_s);
    }
  }
}

void NodeSessions::ApplyInstances(NodeSession& s, const v1::NodeStatus& status,
                                  const ClusterData& d) {
  const int64_t now = clock_.NowMs();
  const std::map<std::string, v1::InstanceState> before = s.reported;
  std::set<std::string> reported;
  for (const v1::InstanceStatus& st : status.instances()) {
    reported.insert(st.instance_id());
    auto rec = d.instances.find(st.instance_id());
    const bool known = rec != d.instances.end() && rec->second->rec.node_id() == s.node_id;
    if (st.state() == v1::INSTANCE_STATE_FAILED) {
      if (s.reported[st.instance_id()] != v1::INSTANCE_STATE_FAILED) {
        Fail(s, st, known ? rec->second : nullptr);
      }
    } else if (st.state() == v1::INSTANCE_STATE_GONE) {
      if (known) Forget(s, rec->second->rec, st.detail().empty() ? "gone" : st.detail());
    } else if (!known && !s.creates.contains(st.instance_id())) {
      Adopt(s, st);
    }
    s.reported[st.instance_id()] = st.state();
  }
  std::erase_if(s.reported, [&](const auto& kv) { return !reported.contains(kv.first); });
  // Instances of this node that its agent does not report: it lost them (one it reported
  // before is gone at once), or never got the order (a fresh reservation, or one just
  // relayed, gets a grace period).
  for (const auto& [id, rec] : d.instances) {
    if (rec->rec.node_id() != s.node_id || reported.contains(id)) continue;
    auto sent = s.creates.find(id);
    int64_t since =
        std::max(rec->rec.created_unix_ms(), sent == s.creates.end() ? 0 : sent->second);
    // An agent had it running (this stream or an earlier one, e.g. before the agent
    // restarted): it is lost, and a reservation is never started twice.
    if (before.contains(id) || d.reported.contains(id) || now - since >= kReservationGraceMs) {
      Forget(s, rec->rec, "no longer reported by its agent");
    }
  }
  std::erase_if(s.forgotten, [&](const std::string& id) { return !d.instances.contains(id); });
}

void NodeSessions::Fail(NodeSession& s, const v1::InstanceStatus& st,
                        const StoredPtr<v1::InstanceRecord>& rec) {
  const bool start = st.failure() == v1::FAILURE_KIND_START ||
                     (st.failure() == v1::FAILURE_KIND_UNSPECIFIED &&
                      s.reported[st.instance_id()] != v1::INSTANCE_STATE_READY);
  if (start) {
    Count(&SessionCounters::start_failures);
    spdlog::warn("instance {} on {} failed to start: {}; no new {} there for {} s",
                 st.instance_id(), s.node_id, st.detail(), st.template_name(),
                 config_.failure_backoff_ms / 1000);
    v1::BackoffRecord b;
    b.set_until_unix_ms(clock_.NowMs() + config_.failure_backoff_ms);
    b.set_instance_id(st.instance_id());
    b.set_reason(st.detail());
    if (config_.failure_backoff_ms > 0) {
      auto rev = writer_.PutBackoff(s.node_id, st.template_name(), b, config_.failure_backoff_ms);
      presence_.ReportStoreResult(rev.status(), "backoff");
    }
  } else {
    Count(&SessionCounters::crashes);
    spdlog::warn("instance {} on {} failed after serving ({}): {}", st.instance_id(), s.node_id,
                 st.failure() == v1::FAILURE_KIND_UNHEALTHY ? "unhealthy" : "crashed", st.detail());
  }
  if (rec) Forget(s, rec->rec, st.detail().empty() ? "failed" : st.detail());
}

void NodeSessions::Adopt(NodeSession& s, const v1::InstanceStatus& st) {
  v1::InstanceRecord rec;
  rec.set_instance_id(st.instance_id());
  rec.set_node_id(s.node_id);
  rec.set_template_name(st.template_name());
  rec.set_address(st.address());
  rec.set_port(s.reg.instance_port());
  rec.set_key_region(s.reg.location().region());
  rec.set_created_unix_ms(clock_.NowMs());
  rec.set_created_by(presence_.replica_id());
  rec.set_reason("adopted");
  rec.set_adopted(true);
  auto rev = writer_.Claim(rec, std::nullopt);
  presence_.ReportStoreResult(rev.status(), "adopt");
  if (rev.ok()) {
    Count(&SessionCounters::adopted);
    spdlog::info("adopted instance {} on {} ({}, {})", st.instance_id(), s.node_id,
                 st.template_name(), st.address());
  } else {
    spdlog::debug("adopting {} on {}: {}", st.instance_id(), s.node_id, rev.status().message());
  }
}

void NodeSessions::Forget(NodeSession& s, const v1::InstanceRecord& rec, const std::string& why) {
  if (!s.forgotten.insert(rec.instance_id()).second) return;  // the cache has not caught up
  auto rev = writer_.Forget(rec, std::nullopt);
  if (!rev.ok()) s.forgotten.erase(rec.instance_id());
  presence_.ReportStoreResult(rev.status(), "forget");
  if (rev.ok()) {
    Count(&SessionCounters::forgotten);
    spdlog::info("instance {} on {} forgotten: {}", rec.instance_id(), rec.node_id(), why);
  }
}

absl::Status NodeSessions::KeepAndWrite(NodeSession& s, const v1::NodeStatus& status) {
  const int64_t now = clock_.NowMs();
  if (s.lease == 0 || now - s.kept_ms >= config_.node_timeout_ms / 3) {
    auto ttl = s.lease == 0 ? absl::StatusOr<int64_t>(absl::NotFoundError("no lease"))
                            : writer_.kv().KeepAlive(s.lease, config_.cluster.request_timeout_ms);
    presence_.ReportStoreResult(ttl.status(), "node keep-alive");
    if (ttl.ok()) {
      s.kept_ms = now;
      s.failing_since_ms = 0;
    } else if (absl::IsNotFound(ttl.status())) {
      // Expired while the store was out of reach: register again (the key is gone).
      spdlog::warn("node {}: its lease expired; registering again", s.node_id);
      s.status = status;
      s.failing_since_ms = 0;
      return Register(s);
    } else {
      // The store is out of reach from here. Its lease will expire, and every other
      // replica will drop the node's instances: before that, end the stream so that the
      // agent moves to a replica that can reach the store.
      if (s.failing_since_ms == 0) s.failing_since_ms = now;
      if (now - s.failing_since_ms >= config_.node_timeout_ms * 2 / 3) {
        return absl::UnavailableError(fmt::format(
            "replica {} cannot reach the cluster store ({}); reconnect to another replica",
            presence_.replica_id(), ttl.status().message()));
      }
      return absl::OkStatus();
    }
  }
  if (SameStatus(status, s.status) && now - s.last_write_ms < kUnchangedWriteMs) {
    return absl::OkStatus();
  }
  v1::NodeRecord rec;
  *rec.mutable_registration() = s.reg;
  *rec.mutable_status() = status;
  rec.set_replica_id(presence_.replica_id());
  rec.set_peer(s.peer);
  auto rev = writer_.UpdateNode(rec, s.lease);
  presence_.ReportStoreResult(rev.status(), "node status");
  if (rev.ok()) s.last_write_ms = now;
  if (absl::IsFailedPrecondition(rev.status())) {
    return absl::FailedPreconditionError(
        fmt::format("node {}: its record is held by another stream; ending this one", s.node_id));
  }
  return absl::OkStatus();
}

void NodeSessions::Relay(NodeSession& s, const ClusterData& d) {
  if (!s.has_status || s.closed || !s.link) return;
  const int64_t now = clock_.NowMs();
  for (const auto& [id, stored] : d.instances) {
    const v1::InstanceRecord& rec = stored->rec;
    if (rec.node_id() != s.node_id) continue;
    const bool reported = s.reported.contains(id);
    v1::OrchestratorCommand cmd;
    if (rec.destroy_ordered()) {
      if (s.destroys.contains(id) || (!reported && !s.creates.contains(id))) continue;
      cmd.mutable_destroy()->set_instance_id(id);
      cmd.mutable_destroy()->set_reason(rec.drain_reason());
      s.destroys.insert(id);
      Count(&SessionCounters::destroys_sent);
    } else if (!reported && rec.drained_unix_ms() == 0 && !s.creates.contains(id) &&
               !d.reported.contains(id) && now - rec.created_unix_ms() < kReservationGraceMs) {
      auto* create = cmd.mutable_create();
      create->set_instance_id(id);
      create->set_template_name(rec.template_name());
      create->set_address(rec.address());
      for (const auto& c : rec.preload_content_ids()) create->add_preload_content_ids(c);
      s.creates[id] = now;
      s.given[id] = {rec.preload_content_ids().begin(), rec.preload_content_ids().end()};
      Count(&SessionCounters::creates_sent);
    } else if (!PreloadCommand(s, rec, cmd)) {
      continue;
    }
    s.link->Send(cmd);
  }
  std::erase_if(s.creates, [&](const auto& kv) {
    return !d.instances.contains(kv.first) && now - kv.second > 2 * kReservationGraceMs;
  });
  std::erase_if(s.given, [&](const auto& kv) {
    return !d.instances.contains(kv.first) && !s.creates.contains(kv.first);
  });
}

bool NodeSessions::PreloadCommand(NodeSession& s, const v1::InstanceRecord& rec,
                                  v1::OrchestratorCommand& cmd) {
  const std::string& id = rec.instance_id();
  auto state = s.reported.find(id);
  if (state == s.reported.end() || state->second != v1::INSTANCE_STATE_READY ||
      rec.drained_unix_ms() > 0 || rec.preload_content_ids().empty()) {
    return false;
  }
  // First seen running on this stream (nothing given): it may have missed a refresh while
  // its agent was away, so it gets its whole list once (see the header).
  std::set<std::string>& given = s.given[id];
  auto* preload = cmd.mutable_preload();
  for (const std::string& c : rec.preload_content_ids()) {
    if (!given.contains(c)) preload->add_content_ids(c);
  }
  if (preload->content_ids_size() == 0) return false;
  preload->set_instance_id(id);
  // The agent may evict what is no longer listed: an id listed again is sent again.
  given.clear();
  for (const std::string& c : rec.preload_content_ids()) {
    preload->add_current_content_ids(c);
    given.insert(c);
  }
  std::lock_guard<std::mutex> l(mu_);
  ++counters_.preloads_sent[rec.template_name()];
  counters_.preload_ids_sent[rec.template_name()] += preload->content_ids_size();
  return true;
}

void NodeSessions::OnChange(const ClusterData&, const ClusterData& after,
                            const ClusterChange& change) {
  std::set<std::string> nodes;
  for (const std::string& id : change.instances) {
    auto it = after.instances.find(id);
    if (it != after.instances.end()) nodes.insert(it->second->rec.node_id());
  }
  if (change.resync) {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [id, s] : sessions_) nodes.insert(id);
  }
  for (const std::string& node : nodes) {
    std::shared_ptr<NodeSession> s;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = sessions_.find(node);
      if (it == sessions_.end()) continue;
      s = it->second;
    }
    std::lock_guard<std::mutex> sl(s->mu);
    Relay(*s, after);
  }
}

absl::StatusOr<v1::Logs> NodeSessions::FetchLogs(const std::string& node,
                                                 const std::string& instance, uint32_t tail_lines,
                                                 int64_t timeout_ms) {
  std::shared_ptr<NodeSession> s;
  uint64_t request = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = sessions_.find(node);
    if (it != sessions_.end()) {
      s = it->second;
      request = next_logs_request_++;
      pending_logs_[request].node = node;
    }
  }
  if (!s) {
    std::shared_ptr<const ClusterData> d = cache_.Data();
    auto rec = d->nodes.find(node);
    if (rec == d->nodes.end()) {
      return absl::NotFoundError(fmt::format("node {}: no agent of that name is connected", node));
    }
    const std::string& holder = rec->second->rec.replica_id();
    auto replica = d->replicas.find(holder);
    std::string address = replica == d->replicas.end() ? "" : replica->second.grpc_address();
    return absl::UnavailableError(fmt::format(
        "node {}'s agent is connected to replica {}{}, not to this one ({}): ask that replica{}",
        node, holder, address.empty() ? "" : " at " + address, presence_.replica_id(),
        address.empty() ? "" : fmt::format(" (prewarm ctl --orchestrator {} logs ...)", address)));
  }
  v1::OrchestratorCommand cmd;
  cmd.mutable_fetch_logs()->set_request_id(request);
  cmd.mutable_fetch_logs()->set_instance_id(instance);
  cmd.mutable_fetch_logs()->set_tail_lines(tail_lines);
  {
    // A stream closing now fails the request (Close), one closed already never got it.
    std::lock_guard<std::mutex> sl(s->mu);
    if (s->closed || !s->link) {
      std::lock_guard<std::mutex> l(mu_);
      pending_logs_.erase(request);
      return absl::UnavailableError(fmt::format("node {}'s agent disconnected", node));
    }
    s->link->Send(cmd);
  }
  std::unique_lock<std::mutex> l(mu_);
  logs_cv_.wait_for(l, std::chrono::milliseconds(timeout_ms),
                    [&] { return pending_logs_[request].answer.has_value(); });
  PendingLogs p = std::move(pending_logs_[request]);
  pending_logs_.erase(request);
  if (p.answer) return *std::move(p.answer);
  return absl::DeadlineExceededError(fmt::format(
      "node {}'s agent did not answer within {} ms (an agent older than this orchestrator "
      "does not keep output)",
      node, timeout_ms));
}

std::optional<NodeSessions::Holder> NodeSessions::RemoteHolder(const std::string& node) const {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (sessions_.contains(node)) return std::nullopt;
  }
  std::shared_ptr<const ClusterData> d = cache_.Data();
  auto rec = d->nodes.find(node);
  if (rec == d->nodes.end()) return std::nullopt;
  const std::string& holder = rec->second->rec.replica_id();
  if (holder.empty() || holder == presence_.replica_id()) return std::nullopt;
  auto replica = d->replicas.find(holder);
  if (replica == d->replicas.end() || replica->second.grpc_address().empty()) return std::nullopt;
  return Holder{holder, replica->second.grpc_address()};
}

void NodeSessions::Answer(NodeSession& s, const v1::Logs& logs) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = pending_logs_.find(logs.request_id());
  if (it == pending_logs_.end() || it->second.node != s.node_id || it->second.answer) {
    spdlog::debug("node {}: dropping a logs answer nobody waits for ({})", s.node_id,
                  logs.request_id());
    return;
  }
  it->second.answer = logs;
  logs_cv_.notify_all();
}

SessionCounters NodeSessions::counters() const {
  std::lock_guard<std::mutex> l(mu_);
  return counters_;
}

int NodeSessions::connected() const {
  std::lock_guard<std::mutex> l(mu_);
  return static_cast<int>(sessions_.size());
}

}  // namespace prewarm::orchestrator
