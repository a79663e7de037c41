#include "orchestrator/presence.h"

#include "common/logging.h"

namespace prewarm::orchestrator {
namespace {

bool StoreUnreachable(const absl::Status& st) {
  return absl::IsUnavailable(st) || absl::IsDeadlineExceeded(st) || absl::IsUnknown(st) ||
         absl::IsCancelled(st);
}

}  // namespace

Presence::Presence(ClusterWriter& writer, const Clock& clock, HeatBoard& heat, v1::ReplicaRecord me,
                   PresenceOptions options)
    : writer_(writer), clock_(clock), heat_(heat), me_(std::move(me)), opts_(options) {}

absl::Status Presence::Start() { return Register(); }

absl::Status Presence::Register() {
  store::KvStore& kv = writer_.kv();
  ASSIGN_OR_RETURN(int64_t lease, kv.GrantLease(opts_.replica_lease_ms, opts_.request_timeout_ms));
  auto put = kv.Put(writer_.keys().Replica(me_.replica_id()), me_.SerializeAsString(), lease,
                    opts_.request_timeout_ms);
  if (!put.ok()) {
    (void)kv.Revoke(lease, opts_.request_timeout_ms);
    return put.status();
  }
  absl::MutexLock l(&mu_);
  session_lease_ = lease;
  session_kept_ms_ = clock_.NowMs();
  heat_sent_.clear();  // the old heat record went with the old lease
  return absl::OkStatus();
}

void Presence::RunOnce() {
  KeepSession();
  KeepLeader();
  PublishHeat();
}

void Presence::KeepSession() {
  int64_t lease = 0;
  {
    absl::MutexLock l(&mu_);
    if (clock_.NowMs() - session_kept_ms_ < opts_.replica_lease_ms / 4) return;
    lease = session_lease_;
  }
  const int64_t sent = clock_.NowMs();
  absl::Status st = lease == 0 ? absl::NotFoundError("no session lease")
                               : writer_.kv().KeepAlive(lease, opts_.request_timeout_ms).status();
  if (absl::IsNotFound(st)) {
    // The lease expired (the store was unreachable for longer than its TTL): our replica
    // and heat records are gone; register again.
    spdlog::warn("replica {}: session lease expired; registering again", me_.replica_id());
    st = Register();
  } else if (st.ok()) {
    absl::MutexLock l(&mu_);
    session_kept_ms_ = sent;
  }
  ReportStoreResult(st, "session keep-alive");
}

void Presence::KeepLeader() {
  int64_t lease = 0;
  {
    absl::MutexLock l(&mu_);
    if (!fence_) return;
    const int64_t now = clock_.NowMs();
    if (now >= leader_kept_ms_ + leader_ttl_ms_ * 3 / 4) {
      spdlog::warn("replica {}: leader lease not confirmed for {} ms; stepping down",
                   me_.replica_id(), now - leader_kept_ms_);
      fence_.reset();
      return;
    }
    if (now - leader_kept_ms_ < leader_ttl_ms_ / 5) return;
    lease = leader_lease_;
  }
  const int64_t sent = clock_.NowMs();
  auto ttl = writer_.kv().KeepAlive(lease, std::max<int64_t>(opts_.leader_lease_ms / 3, 100));
  if (ttl.ok()) {
    absl::MutexLock l(&mu_);
    leader_kept_ms_ = sent;
    leader_ttl_ms_ = *ttl;
    return;
  }
  if (absl::IsNotFound(ttl.status())) StepDown("leader lease expired");
  ReportStoreResult(ttl.status(), "leader keep-alive");
}

bool Presence::TryLead() {
  if (leading()) return true;
  store::KvStore& kv = writer_.kv();
  auto lease = kv.GrantLease(opts_.leader_lease_ms, opts_.request_timeout_ms);
  if (!lease.ok()) {
    ReportStoreResult(lease.status(), "leader lease");
    return false;
  }
  const int64_t sent = clock_.NowMs();
  v1::LeaderRecord rec;
  rec.set_replica_id(me_.replica_id());
  rec.set_since_unix_ms(sent);
  auto fence = writer_.Campaign(rec, *lease);
  ReportStoreResult(fence.status(), "campaign");
  if (!fence.ok() || !fence->has_value()) {
    (void)kv.Revoke(*lease, opts_.request_timeout_ms);
    return false;
  }
  // The granted TTL may exceed what was asked (etcd's minimum); one keep-alive learns it.
  auto ttl = kv.KeepAlive(*lease, opts_.request_timeout_ms);
  absl::MutexLock l(&mu_);
  leader_lease_ = *lease;
  leader_kept_ms_ = sent;
  leader_ttl_ms_ = ttl.ok() ? *ttl : opts_.leader_lease_ms;
  fence_ = **fence;
  ++elections_won_;
  spdlog::info("replica {}: now the leader (fence {})", me_.replica_id(),
               fence_->leader_create_revision);
  return true;
}

std::optional<Fence> Presence::fence() const {
  absl::MutexLock l(&mu_);
  if (!fence_ || clock_.NowMs() >= leader_kept_ms_ + leader_ttl_ms_ * 3 / 4) return std::nullopt;
  return fence_;
}

void Presence::StepDown(const std::string& why) {
  int64_t lease = 0;
  std::optional<Fence> fence;
  {
    absl::MutexLock l(&mu_);
    if (!fence_) return;
    fence = std::exchange(fence_, std::nullopt);
    lease = std::exchange(leader_lease_, 0);
  }
  spdlog::warn("replica {}: stepping down as leader: {}", me_.replica_id(), why);
  (void)writer_.Resign(*fence);
  (void)writer_.kv().Revoke(lease, opts_.request_timeout_ms);
}

void Presence::Stop() {
  StepDown("stopping");
  int64_t lease = 0;
  {
    absl::MutexLock l(&mu_);
    lease = std::exchange(session_lease_, 0);
  }
  if (lease != 0) (void)writer_.kv().Revoke(lease, opts_.request_timeout_ms);
}

void Presence::PublishHeat() {
  int64_t lease = 0;
  std::map<std::string, int64_t> answers = heat_.LastAnswers();
  {
    absl::MutexLock l(&mu_);
    const int64_t now = clock_.NowMs();
    if (now - heat_published_ms_ < opts_.heat_period_ms || answers == heat_sent_) return;
    heat_published_ms_ = now;
    lease = session_lease_;
  }
  if (lease == 0) return;
  v1::HeatRecord rec;
  for (const auto& [id, t] : answers) (*rec.mutable_last_answer_unix_ms())[id] = t;
  auto put =
      writer_.PutLeased(writer_.keys().Heat(me_.replica_id()), rec.SerializeAsString(), lease);
  ReportStoreResult(put.status(), "heat");
  if (put.ok()) {
    absl::MutexLock l(&mu_);
    heat_sent_ = std::move(answers);
  }
}

void Presence::ReportStoreResult(const absl::Status& st, std::string_view what) {
  absl::MutexLock l(&mu_);
  const int64_t now = clock_.NowMs();
  if (st.ok()) {
    if (!degraded_.empty()) {
      spdlog::info("replica {}: cluster store reachable again after {} ms", me_.replica_id(),
                   now - failing_since_ms_);
    }
    degraded_.clear();
    failing_since_ms_ = 0;
    return;
  }
  if (!StoreUnreachable(st)) return;
  if (failing_since_ms_ == 0) failing_since_ms_ = now;
  last_failure_ = fmt::format("{}: {}", what, st.message());
  if (now - failing_since_ms_ < opts_.degrade_after_ms) return;
  if (degraded_.empty()) {
    spdlog::warn(
        "replica {}: cluster store unreachable for {} ms ({}); serving DNS from the "
        "last snapshot, cold path to origin, reconciler paused",
        me_.replica_id(), now - failing_since_ms_, last_failure_);
  }
  degraded_ = last_failure_;
}

bool Presence::degraded() const {
  absl::MutexLock l(&mu_);
  return !degraded_.empty();
}

std::string Presence::degraded_reason() const {
  absl::MutexLock l(&mu_);
  if (degraded_.empty()) return "";
  return fmt::format("cluster store unreachable for {} ms ({})", clock_.NowMs() - failing_since_ms_,
                     degraded_);
}

int64_t Presence::session_lease() const {
  absl::MutexLock l(&mu_);
  return session_lease_;
}

uint64_t Presence::elections_won() const {
  absl::MutexLock l(&mu_);
  return elections_won_;
}

}  // namespace prewarm::orchestrator
