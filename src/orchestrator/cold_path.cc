#include "orchestrator/cold_path.h"

#include <chrono>

#include "common/logging.h"

namespace prewarm::orchestrator {
namespace {

constexpr int kMaxClaimAttempts = 3;

}  // namespace

std::optional<ColdAnswer> ColdPath::Reserve(const std::string& tmpl, const ClientPlace& client) {
  const auto start = std::chrono::steady_clock::now();
  Outcome out = ReserveUntimed(tmpl, client);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  const char* outcome = !out.answer ? "origin" : out.reserved ? "reserved" : "existing";
  std::lock_guard<std::mutex> l(latency_mu_);
  auto it = latencies_
                .try_emplace({std::string(client.region), tmpl, outcome},
                             HistogramData(buckets::kStoreAnswer))
                .first;
  it->second.Observe(took.count());
  return out.answer;
}

std::map<ColdPath::LatencyKey, HistogramData> ColdPath::Latencies() const {
  std::lock_guard<std::mutex> l(latency_mu_);
  return latencies_;
}

ColdPath::Outcome ColdPath::ReserveUntimed(const std::string& tmpl, const ClientPlace& client) {
  if (presence_.degraded()) return {};
  std::lock_guard<std::mutex> l(mu_);
  // Re-decide: another DNS thread of this replica may have reserved one meanwhile, and
  // its reservation is in the snapshot by now (it waited for its watch).
  std::shared_ptr<const RoutingSnapshot> snap = snapshots_.Load();
  Pick pick = ChooseInstance(*snap, tmpl, client, ++random_);
  if (pick.instance != nullptr) {
    if (pick.instance->heat) {
      pick.instance->heat->last_answer_ms.store(clock_.NowMs(), std::memory_order_relaxed);
    }
    return {ColdAnswer{pick.instance->address, pick.instance->id}, false};
  }
  if (pick.kind != PickKind::kNeedCold) return {};
  std::optional<ColdAnswer> claimed = Claim(snap->nodes[*pick.cold_node].id, tmpl, client);
  return {claimed, claimed.has_value()};
}

std::optional<ColdAnswer> ColdPath::Claim(const std::string& node, const std::string& tmpl,
                                          const ClientPlace& client) {
  std::shared_ptr<const ClusterData> d = cache_.Data();
  auto n = d->nodes.find(node);
  if (n == d->nodes.end()) return std::nullopt;
  int attempts = 0;
  for (const std::string& addr : d->FreeStandby(node)) {
    if (++attempts > kMaxClaimAttempts) break;
    auto ip = IpAddr::Parse(addr);
    if (!ip.ok()) continue;
    v1::InstanceRecord rec;
    rec.set_instance_id(MakeInstanceId(node, tmpl));
    rec.set_node_id(node);
    rec.set_template_name(tmpl);
    rec.set_address(addr);
    rec.set_port(n->second->rec.registration().instance_port());
    rec.set_key_region(std::string(client.region));
    rec.set_created_unix_ms(clock_.NowMs());
    rec.set_created_by(presence_.replica_id());
    rec.set_reason("cold");
    rec.set_answered(true);
    auto rev = writer_.Claim(rec, std::nullopt, config_.cluster.claim_timeout_ms);
    presence_.ReportStoreResult(rev.status(), "cold-path claim");
    if (rev.ok()) {
      reservations_.fetch_add(1, std::memory_order_relaxed);
      if (!cache_.WaitForRevision(*rev, config_.cluster.claim_timeout_ms)) {
        spdlog::warn("cold path: claim of {} at revision {} not yet in the watch", addr, *rev);
      }
      return ColdAnswer{*ip, rec.instance_id()};
    }
    if (!absl::IsFailedPrecondition(rev.status())) {
      failures_.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("cold path: claim of {} on {} failed: {}; answering the origin", addr, node,
                   rev.status().message());
      return std::nullopt;
    }
    conflicts_.fetch_add(1, std::memory_order_relaxed);  // taken meanwhile: try the next
  }
  return std::nullopt;
}

}  // namespace prewarm::orchestrator
