#include "orchestrator/control_loop.h"

#include <pthread.h>

#include <chrono>
#include <random>

#include "common/logging.h"

namespace prewarm::orchestrator {
namespace {

constexpr int64_t kPassPeriodMs = 1000;
constexpr int64_t kCatchUpMs = 2000;

}  // namespace

ControlLoop::ControlLoop(const OrchestratorConfig& config, const Clock& clock, ClusterCache& cache,
                         ClusterWriter& writer, Presence& presence, SnapshotPublisher& publisher,
                         LiveAutoscaler& autoscaler)
    : config_(config),
      clock_(clock),
      cache_(cache),
      writer_(writer),
      presence_(presence),
      publisher_(publisher),
      autoscaler_(autoscaler) {}

ControlLoop::~ControlLoop() { Stop(); }

void ControlLoop::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void ControlLoop::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ControlLoop::Wake() {
  {
    std::lock_guard<std::mutex> l(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

void ControlLoop::OnChange(const ClusterData& before, const ClusterData& after,
                           const ClusterChange& change) {
  {
    std::lock_guard<std::mutex> l(mu_);
    const int64_t now = clock_.NowMs();
    for (const std::string& node : change.nodes) {
      if (after.nodes.contains(node)) {
        node_gone_since_.erase(node);
      } else if (before.nodes.contains(node) || change.resync) {
        node_gone_since_.emplace(node, now);
      }
    }
  }
  Wake();
}

void ControlLoop::Loop() {
  pthread_setname_np(pthread_self(), "orch-control");
  for (;;) {
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_for(l, std::chrono::milliseconds(kPassPeriodMs), [&] { return stopping_ || wake_; });
      if (stopping_) return;
      wake_ = false;
      running_ = true;
    }
    uint32_t created = RunOnce();
    {
      std::lock_guard<std::mutex> l(mu_);
      running_ = false;
      ++passes_done_;
      last_created_ = created;
    }
    cv_.notify_all();
  }
}

uint32_t ControlLoop::WakeAndWait(int64_t timeout_ms) {
  std::unique_lock<std::mutex> l(mu_);
  // A pass already running may have read the cache before the caller's write: then the
  // one after it is the one that sees it.
  const uint64_t target = passes_done_ + (running_ ? 2 : 1);
  wake_ = true;
  cv_.notify_all();
  bool done = cv_.wait_for(l, std::chrono::milliseconds(timeout_ms),
                           [&] { return stopping_ || passes_done_ >= target; });
  return done && passes_done_ >= target ? last_created_ : 0;
}

uint32_t ControlLoop::RunOnce() {
  std::lock_guard<std::mutex> run(run_mu_);
  const bool degraded = presence_.degraded();
  std::shared_ptr<const ClusterData> d = cache_.Data();
  const int64_t now = clock_.NowMs();
  uint32_t created = 0;
  if (!degraded && !holding_.load()) {
    if (!d->leader && !presence_.leading()) presence_.TryLead();
    std::optional<Fence> fence = presence_.fence();
    if (fence && d->leader && d->leader->create_revision != fence->leader_create_revision &&
        cache_.revision() >= fence->leader_create_revision) {
      presence_.StepDown("the leader key in the store is not ours");
      fence.reset();
    }
    if (fence) {
      created = Pass(*d, *fence, now);
      CatchUp();
    }
  }
  publisher_.Publish(*cache_.Data(), degraded);
  last_pass_ms_.store(now);
  return created;
}

void ControlLoop::CatchUp() {
  if (last_write_revision_ > 0 && !cache_.WaitForRevision(last_write_revision_, kCatchUpMs)) {
    spdlog::warn("control loop: the watch is behind our writes (revision {} not seen yet)",
                 last_write_revision_);
  }
}

uint32_t ControlLoop::Pass(const ClusterData& d, const Fence& fence, int64_t now) {
  {
    std::lock_guard<std::mutex> l(mu_);
    ++counters_.passes;
  }
  DrainDrainedNodes(d, fence, now);
  Collect(d, fence, now);
  LiveAutoscaler::Plan plan = autoscaler_.Decide(d, now, fence.leader_create_revision);
  uint32_t created = Execute(d, plan, fence, now);
  if (presence_.fence()) Refresh(d, plan, fence, now);
  return created;
}

void ControlLoop::Refresh(const ClusterData& d, const LiveAutoscaler::Plan& plan,
                          const Fence& fence, int64_t now) {
  for (const ContentRefresh& r : plan.refreshes) {
    const ViewKey& k = plan.view.keys[r.key];
    bool ok = Mark(
        d, r.instance, fence,
        [&](v1::InstanceRecord& rec) {
          rec.clear_preload_content_ids();
          for (const std::string& c : r.content) rec.add_preload_content_ids(c);
        },
        "preload");
    auto rec = d.instances.find(r.instance);
    Note({.seq = 0,
          .unix_ms = now,
          .kind = "preload",
          .reason = ScaleReasonName(ScaleReason::kPrefetch),
          .region = plan.view.regions[k.region].name,
          .tmpl = k.tmpl,
          .node = rec != d.instances.end() ? rec->second->rec.node_id() : "",
          .instance = r.instance,
          .ok = ok,
          .detail = fmt::format("{} new of {} content ids", r.added, r.content.size())});
    if (ok) {
      spdlog::info("reconciler: preload {} new content ids into {} ({} in {})", r.added, r.instance,
                   k.tmpl, plan.view.regions[k.region].name);
      std::lock_guard<std::mutex> l(mu_);
      ++counters_.refreshes;
    }
    if (!presence_.fence()) break;  // lost the lead mid-pass: stop writing
  }
}

bool ControlLoop::Mark(const ClusterData& d, const std::string& id, const Fence& fence,
                       const std::function<void(v1::InstanceRecord&)>& change,
                       std::string_view what) {
  auto it = d.instances.find(id);
  if (it == d.instances.end()) return false;
  v1::InstanceRecord rec = it->second->rec;
  change(rec);
  auto rev = writer_.Update(rec, it->second->mod_revision, fence);
  presence_.ReportStoreResult(rev.status(), what);
  if (!rev.ok()) {
    std::lock_guard<std::mutex> l(mu_);
    ++counters_.write_conflicts;
    spdlog::info("control loop: {} {}: {}", what, id, rev.status().message());
    return false;
  }
  last_write_revision_ = std::max(last_write_revision_, *rev);
  return true;
}

void ControlLoop::DrainDrainedNodes(const ClusterData& d, const Fence& fence, int64_t now) {
  for (const auto& [id, inst] : d.instances) {
    if (!d.drains.contains(inst->rec.node_id()) || inst->rec.drained_unix_ms() > 0) continue;
    bool ok = Mark(
        d, id, fence,
        [&](v1::InstanceRecord& r) {
          r.set_drained_unix_ms(now);
          r.set_drain_reason("node drained by operator");
        },
        "drain");
    const v1::InstanceRecord& rec = inst->rec;
    Note({.seq = 0,
          .unix_ms = now,
          .kind = "drain",
          .reason = "operator",
          .region = rec.key_region(),
          .tmpl = rec.template_name(),
          .node = rec.node_id(),
          .instance = id,
          .ok = ok,
          .detail = "node drained by operator"});
    if (ok) {
      std::lock_guard<std::mutex> l(mu_);
      ++counters_.drains;
    }
  }
}

void ControlLoop::Collect(const ClusterData& d, const Fence& fence, int64_t now) {
  std::map<std::string, int64_t> gone;
  {
    std::lock_guard<std::mutex> l(mu_);
    gone = node_gone_since_;
  }
  for (const auto& [id, inst] : d.instances) {
    const std::string& node = inst->rec.node_id();
    if (d.nodes.contains(node)) continue;
    auto since = gone.find(node);
    if (since == gone.end()) {
      std::lock_guard<std::mutex> l(mu_);
      node_gone_since_.emplace(node, now);  // absent since before this replica knew
      continue;
    }
    if (now - since->second < config_.cluster.node_forget_ms) continue;
    auto rev = writer_.Forget(inst->rec, fence);
    if (rev.ok()) {
      last_write_revision_ = std::max(last_write_revision_, *rev);
      std::lock_guard<std::mutex> l(mu_);
      ++counters_.forgotten;
      spdlog::info("control loop: forgot {} (node {} gone for {} s)", id, node,
                   (now - since->second) / 1000);
    }
  }
  std::vector<std::string> ended;
  for (const auto& [key, e] : d.prefetch) {
    if (e->rec.request().window_end_unix_ms() <= now) ended.push_back(key);
  }
  if (!ended.empty()) {
    auto rev = writer_.DeleteKeys(ended, fence);
    if (rev.ok()) last_write_revision_ = std::max(last_write_revision_, *rev);
  }
}

bool ControlLoop::Create(const ClusterData& d, const ViewKey& k, const std::string& region,
                         const Decision& dec, const std::string& node, std::set<std::string>& taken,
                         const Fence& fence, int64_t now) {
  auto n = d.nodes.find(node);
  if (n == d.nodes.end()) return false;
  for (const std::string& addr : d.FreeStandby(node)) {
    if (!taken.insert(node + "/" + addr).second) continue;
    v1::InstanceRecord rec;
    rec.set_instance_id(MakeInstanceId(node, k.tmpl));
    rec.set_node_id(node);
    rec.set_template_name(k.tmpl);
    rec.set_key_region(region);
    rec.set_address(addr);
    rec.set_port(n->second->rec.registration().instance_port());
    rec.set_created_unix_ms(now);
    rec.set_created_by(presence_.replica_id());
    rec.set_reason(ScaleReasonName(dec.reason));
    for (const auto& c : dec.content) rec.add_preload_content_ids(c);
    auto rev = writer_.Claim(rec, fence);
    presence_.ReportStoreResult(rev.status(), "claim");
    if (rev.ok()) {
      last_write_revision_ = std::max(last_write_revision_, *rev);
      return true;
    }
    if (!absl::IsFailedPrecondition(rev.status()) || !presence_.fence()) return false;
  }
  return false;
}

uint32_t ControlLoop::Execute(const ClusterData& d, const LiveAutoscaler::Plan& plan,
                              const Fence& fence, int64_t now) {
  uint32_t created = 0;
  std::set<std::string> taken;  // addresses claimed in this pass
  for (const Decision& dec : plan.decisions) {
    const ViewKey& k = plan.view.keys[dec.key];
    const std::string& node = plan.view.nodes[dec.node].id;
    const std::string& region = plan.view.regions[k.region].name;
    auto note = [&](const char* kind, const std::string& instance, bool ok, const char* detail) {
      Note({.seq = 0,
            .unix_ms = now,
            .kind = kind,
            .reason = ScaleReasonName(dec.reason),
            .region = region,
            .tmpl = k.tmpl,
            .node = node,
            .instance = instance,
            .ok = ok,
            .detail = detail});
    };
    switch (dec.kind) {
      case Decision::kCreate: {
        bool ok = Create(d, k, region, dec, node, taken, fence, now);
        spdlog::info("reconciler: create {} in {} on {} ({}){}", k.tmpl, region, node,
                     ScaleReasonName(dec.reason), ok ? "" : ": no free address");
        created += ok;
        note("create", "", ok, ok ? "" : "no free address");
        break;
      }
      case Decision::kDrain: {
        spdlog::info("reconciler: drain {} ({}: idle past keep-alive, not in a forecast window)",
                     dec.instance, ScaleReasonName(dec.reason));
        bool ok = Mark(
            d, dec.instance, fence,
            [&](v1::InstanceRecord& r) {
              r.set_drained_unix_ms(now);
              r.set_drain_reason("idle past keep-alive");
            },
            "drain");
        note("drain", dec.instance, ok, "idle past keep-alive, not in a forecast window");
        std::lock_guard<std::mutex> l(mu_);
        counters_.drains += ok;
        break;
      }
      case Decision::kDestroy: {
        bool ok = Mark(
            d, dec.instance, fence, [](v1::InstanceRecord& r) { r.set_destroy_ordered(true); },
            "destroy");
        if (ok) spdlog::info("reconciler: destroy {} (its DNS answers have expired)", dec.instance);
        note("destroy", dec.instance, ok, "drained, and its DNS answers have expired");
        std::lock_guard<std::mutex> l(mu_);
        counters_.destroys += ok;
        break;
      }
    }
    if (!presence_.fence()) break;  // lost the lead mid-pass: stop writing
  }
  std::lock_guard<std::mutex> l(mu_);
  counters_.creates += created;
  return created;
}

void ControlLoop::Note(DecisionRecord r) {
  std::lock_guard<std::mutex> l(mu_);
  r.seq = ++decision_seq_;
  recent_.Push(std::move(r));
}

std::vector<DecisionRecord> ControlLoop::RecentDecisions() const {
  std::lock_guard<std::mutex> l(mu_);
  return recent_.ToVector();
}

ControlCounters ControlLoop::counters() const {
  std::lock_guard<std::mutex> l(mu_);
  return counters_;
}

}  // namespace prewarm::orchestrator
