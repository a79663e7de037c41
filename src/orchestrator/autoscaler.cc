#include "orchestrator/autoscaler.h"

#include <algorithm>
#include <set>
#include <string_view>

#include "common/logging.h"

namespace prewarm::orchestrator {
namespace {

constexpr int64_t kUnmeasuredLeadMs = 24 * 3600 * 1000LL;  // the furthest a window may start
constexpr int64_t kTickSlackMs = 1000;                     // the control loop's period
constexpr int64_t kHeatSlackMs = 1000;  // other replicas publish their answers this often

// A template's policy: the default, with the template's own settings (its keep-alive on
// the policy's clock, as the autoscaler's: `time_scale`).
void SetTemplatePolicy(ReconcilerConfig& rc, const std::string& name, const TemplateInfo& info,
                       double time_scale) {
  TemplatePolicy& tp = rc.templates.try_emplace(name, rc.default_template).first->second;
  tp.concurrency = info.concurrency;
  tp.keepalive_ms = info.keepalive_ms > 0 ? OnPolicyClockMs(info.keepalive_ms, time_scale)
                                          : rc.default_template.keepalive_ms;
}

ReconcilerConfig LiveReconcilerConfig(const OrchestratorConfig& c) {
  ReconcilerConfig rc = MakeReconcilerConfig(c.autoscaler);  // what the simulator starts from
  rc.default_template.concurrency = 10;
  rc.default_template.max_per_key = c.max_prefetch_target;
  // Until a template's start time is measured, act on the newest forecast window as soon as
  // it arrives (every window that has not ended is due); SetLeads puts the measured lead.
  rc.default_template.lead_ms = kUnmeasuredLeadMs;
  for (const auto& [name, info] : c.templates)
    SetTemplatePolicy(rc, name, info, c.autoscaler.time_scale);
  return rc;
}

ViewState ToViewState(v1::InstanceState s) {
  switch (s) {
    case v1::INSTANCE_STATE_READY:
      return ViewState::kReady;
    case v1::INSTANCE_STATE_DRAINING:
      return ViewState::kDraining;
    default:
      return ViewState::kStarting;
  }
}

}  // namespace

v1::InstanceInfo InfoOf(const ClusterData& d, const v1::InstanceRecord& rec, int64_t now_ms) {
  v1::InstanceInfo info;
  info.set_instance_id(rec.instance_id());
  info.set_node_id(rec.node_id());
  info.set_template_name(rec.template_name());
  info.set_address(rec.address());
  info.set_port(rec.port());
  info.set_state(d.StateOf(rec, now_ms));
  const v1::InstanceStatus* st = d.Observed(rec);
  if (rec.drained_unix_ms() > 0) {
    info.set_detail(rec.drain_reason());
    info.set_state_since_unix_ms(rec.drained_unix_ms());
  } else if (st != nullptr) {
    info.set_detail(st->detail());
  } else {
    info.set_detail(info.state() == v1::INSTANCE_STATE_RESERVED ? "reserved" : "never reported");
    info.set_state_since_unix_ms(rec.created_unix_ms());
  }
  if (st != nullptr) info.set_active_connections(st->active_connections());
  return info;
}

std::vector<v1::InstanceInfo> InstanceTracker::Observe(const ClusterData& before,
                                                       const ClusterData& after,
                                                       const ClusterChange& change) {
  const int64_t now = clock_.NowMs();
  std::set<std::string> ids = change.instances;
  for (const std::string& node : change.nodes) {
    if (before.nodes.contains(node) && !after.nodes.contains(node)) {
      std::lock_guard<std::mutex> l(mu_);
      ++nodes_departed_;
    }
    for (const auto* d : {&before, &after}) {
      auto n = d->nodes.find(node);
      if (n == d->nodes.end()) continue;
      for (const auto& st : n->second->rec.status().instances()) ids.insert(st.instance_id());
    }
  }
  for (const auto& [id, inst] : after.instances) {
    if (change.nodes.contains(inst->rec.node_id())) ids.insert(id);
  }
  std::vector<v1::InstanceInfo> out;
  std::lock_guard<std::mutex> l(mu_);
  for (const std::string& id : ids) {
    auto rec = after.instances.find(id);
    if (rec == after.instances.end()) {
      auto old = seen_.find(id);
      if (old == seen_.end()) continue;
      auto gone = before.instances.find(id);
      if (gone != before.instances.end()) {
        v1::InstanceInfo info = InfoOf(before, gone->second->rec, now);
        info.set_state(v1::INSTANCE_STATE_GONE);
        info.set_detail("forgotten");
        info.set_state_since_unix_ms(now);
        out.push_back(std::move(info));
      }
      seen_.erase(old);
      continue;
    }
    v1::InstanceInfo info = InfoOf(after, rec->second->rec, now);
    if (const v1::InstanceStatus* st = after.Observed(rec->second->rec);
        st != nullptr && st->memory_bytes() > 0) {
      double mb = static_cast<double>(st->memory_bytes()) / (1024.0 * 1024.0);
      auto [e, fresh] = memory_mb_ewma_.emplace(rec->second->rec.template_name(), mb);
      if (!fresh) e->second = 0.8 * e->second + 0.2 * mb;
    }
    Seen& s = seen_[id];
    if (info.active_connections() > 0) s.last_active_ms = now;
    if (info.state() == s.state) continue;
    if (info.state() == v1::INSTANCE_STATE_READY && !rec->second->rec.adopted()) {
      // Reservation to READY: the template's start time, the lead the reconciler acts with.
      double took = static_cast<double>(now - rec->second->rec.created_unix_ms());
      auto [e, fresh] = start_ms_ewma_.emplace(rec->second->rec.template_name(), took);
      if (!fresh) e->second = 0.8 * e->second + 0.2 * took;
    }
    s.state = info.state();
    s.state_since_ms = now;
    info.set_state_since_unix_ms(now);
    out.push_back(std::move(info));
  }
  return out;
}

int64_t InstanceTracker::LastActiveMs(const std::string& id) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = seen_.find(id);
  return it == seen_.end() ? 0 : it->second.last_active_ms;
}

int64_t InstanceTracker::StateSinceMs(const std::string& id) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = seen_.find(id);
  return it == seen_.end() ? 0 : it->second.state_since_ms;
}

std::map<std::string, int64_t> InstanceTracker::StartTimesMs() const {
  std::lock_guard<std::mutex> l(mu_);
  std::map<std::string, int64_t> out;
  for (const auto& [t, ms] : start_ms_ewma_) out[t] = static_cast<int64_t>(ms);
  return out;
}

std::map<std::string, double> InstanceTracker::MemoryMb() const {
  std::lock_guard<std::mutex> l(mu_);
  return memory_mb_ewma_;
}

uint64_t InstanceTracker::nodes_departed() const {
  std::lock_guard<std::mutex> l(mu_);
  return nodes_departed_;
}

LiveAutoscaler::LiveAutoscaler(const OrchestratorConfig& config, const Clock& clock,
                               const InstanceTracker& tracker, const HeatBoard& heat)
    : config_(config),
      clock_(clock),
      tracker_(tracker),
      heat_(heat),
      reconciler_(LiveReconcilerConfig(config)),
      learned_config_(OnPolicyClock(config.autoscaler).learned),
      started_ms_(clock.NowMs()) {
  hold_.ttl_ms = int64_t{std::max(config.stable_ttl_s, config.short_ttl_s)} * 1000;
  hold_.slack_ms = 1000 + kHeatSlackMs;  // clocks, and other replicas' heat
}

int64_t LiveAutoscaler::LastAnswerMs(const ClusterData& d, const v1::InstanceRecord& rec) const {
  return std::max({heat_.LocalLastAnswerMs(rec.instance_id()),
                   d.RemoteLastAnswerMs(rec.instance_id()),
                   rec.answered() ? rec.created_unix_ms() : int64_t{0}});
}

int64_t LiveAutoscaler::AnsweredUntilMs(const ClusterData& d, const v1::InstanceRecord& rec) const {
  return std::max(hold_.UntilMs(LastAnswerMs(d, rec), rec.drained_unix_ms()), heat_gap_until_ms_);
}

void LiveAutoscaler::NoteHeatGaps(const ClusterData& d, int64_t now, int64_t term) {
  bool gap = !term_ || *term_ != term;
  std::set<std::string> publishers;
  for (const auto& [replica, record] : d.heat) publishers.insert(replica);
  for (const std::string& r : heat_publishers_) gap = gap || !publishers.contains(r);
  term_ = term;
  heat_publishers_ = std::move(publishers);
  if (gap) heat_gap_until_ms_ = std::max(heat_gap_until_ms_, hold_.ExpiredMs(now));
}

void LiveAutoscaler::AddReloadedTemplates() {
  if (!live_) return;
  const std::shared_ptr<const OrchestratorConfig> live = live_();
  for (const auto& [name, info] : live->templates) {
    if (!config_.templates.contains(name)) {
      SetTemplatePolicy(reconciler_.mutable_config(), name, info, config_.autoscaler.time_scale);
    }
  }
}

void LiveAutoscaler::SetLeads() {
  // The lead: each template's measured start time, plus one pass (a due window may wait
  // that long for the next one).
  for (const auto& [tmpl, ms] : tracker_.StartTimesMs()) {
    auto& templates = reconciler_.mutable_config().templates;
    auto it = templates.find(tmpl);
    if (it == templates.end())
      it = templates.emplace(tmpl, reconciler_.config().default_template).first;
    it->second.lead_ms = ms + kTickSlackMs;
  }
}

ClusterView LiveAutoscaler::BuildView(const ClusterData& d, int64_t now,
                                      std::map<std::string, uint32_t>& region_index, const KeyOf&) {
  ClusterView view;
  auto region_of = [&](const std::string& name, geo::GeoPoint p) {
    auto [it, fresh] = region_index.emplace(name, static_cast<uint32_t>(view.regions.size()));
    if (fresh) view.regions.push_back({name, p});
    return it->second;
  };
  for (const auto& r : config_.regions) region_of(r.name, r.point);
  std::map<std::string, uint32_t> used;
  for (const auto& [id, inst] : d.instances) ++used[inst->rec.node_id()];
  for (const auto& [id, stored] : d.nodes) {
    const v1::Register& reg = stored->rec.registration();
    ViewNode vn;
    vn.id = id;
    vn.region =
        region_of(reg.location().region(), {reg.location().latitude(), reg.location().longitude()});
    uint32_t slots = reg.instance_slots() > used[id] ? reg.instance_slots() - used[id] : 0;
    vn.free_slots = std::min<uint32_t>(slots, static_cast<uint32_t>(d.FreeStandby(id).size()));
    vn.schedulable = !d.drains.contains(id);
    for (const auto& t : reg.templates()) {
      if (!d.BackingOff(id, t, now)) vn.templates.push_back(t);
    }
    if (vn.templates.empty()) vn.schedulable = false;  // empty would mean "any"
    view.nodes.push_back(std::move(vn));
  }
  return view;
}

void LiveAutoscaler::AddInstances(const ClusterData& d, int64_t now, ClusterView& view,
                                  const std::map<std::string, uint32_t>& node_index,
                                  const std::map<std::string, uint32_t>& region_index,
                                  const KeyOf& key_of) {
  for (const auto& [id, stored] : d.instances) {
    const v1::InstanceRecord& inst = stored->rec;
    auto ni = node_index.find(inst.node_id());
    v1::InstanceState s = d.StateOf(inst, now);
    if (ni == node_index.end() || s == v1::INSTANCE_STATE_GONE || s == v1::INSTANCE_STATE_FAILED)
      continue;
    uint32_t region = view.nodes[ni->second].region;
    if (auto kr = region_index.find(inst.key_region()); kr != region_index.end())
      region = kr->second;
    ViewKey& k = view.keys[key_of(region, inst.template_name())];
    const v1::InstanceStatus* observed = d.Observed(inst);
    const int64_t answered = LastAnswerMs(d, inst);
    const int64_t active = tracker_.LastActiveMs(id);
    const int64_t since = tracker_.StateSinceMs(id);
    ViewInstance vi;
    vi.id = id;
    vi.node = ni->second;
    vi.state = ToViewState(s);
    vi.in_flight = observed != nullptr ? observed->active_connections() : 0;
    vi.last_busy_ms = std::max({answered, active, inst.created_unix_ms(),
                                s == v1::INSTANCE_STATE_READY ? since : int64_t{0}});
    vi.used = inst.adopted() || answered > 0 || active > 0;
    vi.answered_until_ms = AnsweredUntilMs(d, inst);
    vi.state_since_ms = since > 0 ? since : inst.created_unix_ms();
    vi.destroy_ordered = inst.destroy_ordered();
    k.demand += vi.in_flight;
    k.instances.push_back(std::move(vi));
  }
}

LiveAutoscaler::Plan LiveAutoscaler::Decide(const ClusterData& d, int64_t now, int64_t term) {
  std::map<std::string, uint32_t> region_index;
  Plan plan;
  ClusterView& view = plan.view;
  std::map<std::pair<uint32_t, std::string>, uint32_t> key_index;
  KeyOf key_of = [&](uint32_t region, const std::string& tmpl) {
    auto [it, fresh] =
        key_index.emplace(std::make_pair(region, tmpl), static_cast<uint32_t>(view.keys.size()));
    if (fresh) {
      ViewKey k;
      k.region = region;
      k.tmpl = tmpl;
      view.keys.push_back(std::move(k));
    }
    return it->second;
  };
  NoteHeatGaps(d, now, term);
  view = BuildView(d, now, region_index, key_of);
  std::map<std::string, uint32_t> node_index;
  for (uint32_t i = 0; i < view.nodes.size(); ++i) node_index[view.nodes[i].id] = i;
  AddInstances(d, now, view, node_index, region_index, key_of);
  for (const auto& [key, e] : d.prefetch) {
    const auto& r = e->rec.request();
    auto ri = region_index.find(r.region());
    if (ri == region_index.end() || r.window_end_unix_ms() <= now) continue;
    ViewKey& k = view.keys[key_of(ri->second, r.template_name())];
    k.windows.push_back({r.window_start_unix_ms(),
                         r.window_end_unix_ms(),
                         r.target_concurrency(),
                         {r.content_ids().begin(), r.content_ids().end()},
                         e->rec.received_unix_ms()});
  }
  if (config_.autoscaler.learned_keepalive) LearnKeepAlives(d, view, key_of, now);
  view.Index();
  AddReloadedTemplates();
  SetLeads();
  plan.decisions = reconciler_.Reconcile(view, now);
  plan.refreshes = PlanContentRefreshes(d, view, reconciler_.config(), now);
  return plan;
}

std::vector<ContentRefresh> PlanContentRefreshes(const ClusterData& d, const ClusterView& view,
                                                 const ReconcilerConfig& config, int64_t now_ms) {
  std::vector<ContentRefresh> out;
  for (uint32_t ki = 0; ki < view.keys.size(); ++ki) {
    const ViewKey& k = view.keys[ki];
    if (k.windows.empty()) continue;
    const PrefetchWindow* win = DueWindow(k, config.Policy(k.tmpl), now_ms, config.proactive);
    if (win == nullptr || win->content.empty()) continue;
    for (const ViewInstance& vi : k.instances) {
      if (vi.state != ViewState::kReady || vi.destroy_ordered) continue;
      auto rec = d.instances.find(vi.id);
      if (rec == d.instances.end() || rec->second->rec.drained_unix_ms() > 0) continue;
      const auto& given = rec->second->rec.preload_content_ids();
      const std::set<std::string_view> had(given.begin(), given.end());
      size_t added = 0;
      for (const std::string& c : win->content) added += !had.contains(c);
      if (added == 0) continue;
      out.push_back({ki, vi.id, win->content, added});
    }
  }
  return out;
}

void LiveAutoscaler::LearnKeepAlives(const ClusterData& d, ClusterView& view, const KeyOf& key_of,
                                     int64_t now) {
  // No answer and no connection this long after the latest one: the key's requests ended.
  constexpr int64_t kIdleGraceMs = 1'000;
  // Keys that have no instance left but a reload or a timer's firing planned must be in
  // the view.
  for (auto& [name, lk] : learned_) {
    if (!lk.key.Pending(now)) continue;
    auto r = std::find_if(view.regions.begin(), view.regions.end(),
                          [&](const ViewRegion& vr) { return vr.name == name.first; });
    if (r != view.regions.end())
      key_of(static_cast<uint32_t>(r - view.regions.begin()), name.second);
  }
  const auto start_times = tracker_.StartTimesMs();
  const auto memory = tracker_.MemoryMb();
  double mean_mb = 0;
  for (const auto& [tmpl, mb] : memory) mean_mb += mb;
  if (!memory.empty()) mean_mb /= static_cast<double>(memory.size());
  for (ViewKey& k : view.keys) {
    std::pair<std::string, std::string> name{view.regions[k.region].name, k.tmpl};
    auto it = learned_.find(name);
    if (it == learned_.end()) {
      it = learned_.emplace(name, LearnedKey{KeyAutoscaler(learned_config_, started_ms_), 0, 0})
               .first;
    }
    LearnedKey& lk = it->second;
    KeyInputs in;
    in.hold = UnloadHoldOf(hold_);
    if (auto st = start_times.find(k.tmpl); st != start_times.end())
      in.start_s = st->second / 1000.0;
    if (auto m = memory.find(k.tmpl); m != memory.end())
      in.memory_ratio = MemoryRatio(m->second, mean_mb);
    // Arrivals are DNS answers naming one of the key's instances (a client resolves before
    // it connects); status reports with open connections keep it serving.
    int64_t answered = 0, active = 0;
    bool answered_cold = false;  // the latest answer named an instance still starting
    uint32_t busy = 0;           // instances with open connections
    for (const ViewInstance& vi : k.instances) {
      auto inst = d.instances.find(vi.id);
      if (inst == d.instances.end()) continue;
      const int64_t answer = LastAnswerMs(d, inst->second->rec);
      if (answer > answered) {
        answered = answer;
        answered_cold = vi.state != ViewState::kReady;
      }
      active = std::max(active, tracker_.LastActiveMs(vi.id));
      busy += vi.in_flight > 0;
    }
    if (answered > lk.answered_ms) {
      lk.key.Arrival(answered, answered_cold, in);
      lk.answered_ms = answered;
    }
    lk.seen_ms = std::max({lk.seen_ms, answered, active});
    // A client answered within the grace may not have connected yet: one instance serves.
    if (busy == 0 && lk.seen_ms > 0 && now - lk.seen_ms < kIdleGraceMs) busy = 1;
    const bool was = lk.key.serving();
    // An idle period begins at the last sign of traffic.
    lk.key.Serving(busy == 0 ? lk.seen_ms : now, busy, in);
    if (was && busy == 0) {
      const IdlePlan& plan = lk.key.keepalive().plan();
      spdlog::debug("learned keep-alive {}/{}: {} then keep until {} s idle", name.first,
                    name.second,
                    plan.reload() ? fmt::format("keep {} s, reload at {} s",
                                                plan.keep_first_ms / 1000, plan.prewarm_ms / 1000)
                                  : std::string("keep"),
                    plan.keep_until_ms / 1000);
    }
    lk.key.Apply(k, now, in);
  }
}

}  // namespace prewarm::orchestrator
