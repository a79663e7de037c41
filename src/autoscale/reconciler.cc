#include "autoscale/reconciler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace prewarm::orchestrator {

const char* ScaleReasonName(ScaleReason r) {
  switch (r) {
    case ScaleReason::kPrefetch:
      return "prefetch";
    case ScaleReason::kPanic:
      return "panic";
    case ScaleReason::kStable:
      return "stable";
    case ScaleReason::kIdle:
      return "idle";
    case ScaleReason::kCapacity:
      return "capacity";
    case ScaleReason::kCount:
      break;
  }
  return "unknown";
}

const TemplatePolicy& ReconcilerConfig::Policy(const std::string& tmpl) const {
  auto it = templates.find(tmpl);
  return it == templates.end() ? default_template : it->second;
}

bool ViewNode::Supports(const std::string& tmpl) const {
  return templates.empty() ||
         std::find(templates.begin(), templates.end(), tmpl) != templates.end();
}

void ClusterView::Index() {
  region_nodes.assign(regions.size(), {});
  for (uint32_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].region < regions.size()) region_nodes[nodes[i].region].push_back(i);
  }
  region_order.assign(regions.size(), {});
  for (uint32_t r = 0; r < regions.size(); ++r) {
    auto& order = region_order[r];
    order.resize(regions.size());
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      if ((a == r) != (b == r)) return a == r;
      return geo::GreatCircleKm(regions[r].point, regions[a].point) <
             geo::GreatCircleKm(regions[r].point, regions[b].point);
    });
  }
}

Reconciler::History& Reconciler::HistoryFor(uint32_t index, const ViewKey& k) {
  if (index >= history_.size()) history_.resize(index + 1);
  Slot& s = history_[index];
  if (s.region == k.region && s.tmpl == k.tmpl) return s.h;
  // The key at this index changed: park the old history, adopt the key's own if parked.
  if (!s.tmpl.empty()) moved_[{s.region, s.tmpl}] = std::move(s.h);
  s.region = k.region;
  s.tmpl = k.tmpl;
  s.h = History{};
  auto it = moved_.find({k.region, k.tmpl});
  if (it != moved_.end()) {
    s.h = std::move(it->second);
    moved_.erase(it);
    return s.h;
  }
  // Still at its old index, not visited yet this pass: take it from there.
  for (size_t j = 0; j < history_.size(); ++j) {
    if (j != index && history_[j].region == k.region && history_[j].tmpl == k.tmpl) {
      s.h = std::move(history_[j].h);
      history_[j].tmpl.clear();
      break;
    }
  }
  return s.h;
}

void Reconciler::SampleRing::push_back(Sample s) {
  if (n_ == buf_.size()) {
    std::vector<Sample> grown(std::max<size_t>(8, buf_.size() * 2));
    for (size_t i = 0; i < n_; ++i) grown[i] = buf_[(head_ + i) & (buf_.size() - 1)];
    buf_ = std::move(grown);
    head_ = 0;
  }
  buf_[(head_ + n_) & (buf_.size() - 1)] = s;
  ++n_;
}

void Reconciler::Record(History& h, int64_t now_ms, double demand) {
  if (h.recorded_pass != 0 && h.recorded_pass + 1 < passes_) {
    // Skipped while quiet since: every sample since was 0. Fill in those of the passes
    // still within the window, as if each pass had recorded its own.
    for (const auto& [pass, t_ms] : pass_times_) {
      if (pass > h.recorded_pass && pass < passes_) h.samples.push_back({t_ms, 0.0});
    }
  }
  h.recorded_pass = passes_;
  h.samples.push_back({now_ms, demand});
  h.nonzero += demand != 0;
  while (!h.samples.empty() && h.samples.front().t_ms <= now_ms - config_.stable_window_ms) {
    h.nonzero -= h.samples.front().demand != 0;
    h.samples.pop_front();
  }
}

const TemplatePolicy& Reconciler::PolicyFor(uint32_t index, const ViewKey& k) {
  if (index >= policies_.size()) policies_.resize(index + 1);
  CachedPolicy& c = policies_[index];
  if (c.generation != generation_ || c.tmpl != k.tmpl) {
    c.tmpl = k.tmpl;
    c.policy = &config_.Policy(k.tmpl);
    c.generation = generation_;
  }
  return *c.policy;
}

Reconciler::Averages Reconciler::AveragesOf(const History& h, int64_t now_ms) const {
  if (h.nonzero == 0) return {};  // every sample is 0: so are both means
  // One pass, newest first, over both windows (the panic window is normally the shorter).
  const int64_t stable_from = now_ms - config_.stable_window_ms;
  const int64_t panic_from = now_ms - config_.panic_window_ms;
  const int64_t from = std::min(stable_from, panic_from);
  double stable_sum = 0, panic_sum = 0;
  int stable_n = 0, panic_n = 0;
  for (size_t i = 0; i < h.samples.size() && h.samples.newest(i).t_ms > from; ++i) {
    const Sample& sample = h.samples.newest(i);
    if (sample.t_ms > stable_from) {
      stable_sum += sample.demand;
      ++stable_n;
    }
    if (sample.t_ms > panic_from) {
      panic_sum += sample.demand;
      ++panic_n;
    }
  }
  return {stable_n == 0 ? 0 : stable_sum / stable_n, panic_n == 0 ? 0 : panic_sum / panic_n};
}

const PrefetchWindow* DueWindow(const ViewKey& k, const TemplatePolicy& tp, int64_t now_ms,
                                bool forecasts) {
  // Few windows and almost always one source: a small linear scan per source.
  const PrefetchWindow* best = nullptr;
  for (size_t s = 0; s < k.windows.size(); ++s) {
    const uint32_t source = k.windows[s].source;
    if (!forecasts && source == kForecastWindowSource) continue;
    bool seen = false;
    for (size_t e = 0; e < s && !seen; ++e) seen = k.windows[e].source == source;
    if (seen) continue;
    const PrefetchWindow* newest = nullptr;
    for (size_t i = s; i < k.windows.size(); ++i) {
      const PrefetchWindow& win = k.windows[i];
      if (win.source != source || now_ms < win.start_ms - tp.lead_ms || now_ms >= win.end_ms)
        continue;
      if (!newest || win.received_ms > newest->received_ms ||
          (win.received_ms == newest->received_ms && win.target > newest->target)) {
        newest = &win;
      }
    }
    if (newest && (!best || newest->target > best->target)) best = newest;
  }
  return best;
}

Reconciler::Want Reconciler::WantFor(const ClusterView& view, uint32_t key, int64_t now_ms) {
  return WantFor(view, key, config_.Policy(view.keys[key].tmpl), now_ms);
}

Reconciler::Want Reconciler::WantFor(const ClusterView& view, uint32_t key,
                                     const TemplatePolicy& tp, int64_t now_ms) {
  const ViewKey& k = view.keys[key];
  Want w;
  if (const PrefetchWindow* win = DueWindow(k, tp, now_ms, config_.proactive)) {
    w.prefetch = win->target;
  }
  if (config_.reactive) {
    History& h = HistoryFor(key, k);
    double per = std::max(1e-9, tp.concurrency * tp.target_utilisation);
    uint32_t ready = 0;
    for (const ViewInstance& i : k.instances) ready += i.state == ViewState::kReady;
    const Averages avg = AveragesOf(h, now_ms);
    double stable = avg.stable / per;
    double panic = avg.panic / per;
    // Knative: panic when the panic-window figure reaches threshold x the ready pods
    // (at least one, so that scaling from zero does not panic on the first request).
    if (panic >= config_.panic_threshold * std::max<uint32_t>(ready, 1) && panic >= 1) {
      if (h.panic_until_ms <= now_ms) ++counters_.panics;
      h.panic_until_ms = now_ms + config_.stable_window_ms;
    }
    if (h.panic_until_ms > now_ms) {
      // In panic the figure never drops below what it was.
      w.panic = true;
      h.panic_floor = std::max(h.panic_floor, static_cast<uint32_t>(std::ceil(panic - 1e-9)));
      w.reactive = h.panic_floor;
    } else {
      h.panic_floor = 0;
      w.reactive = static_cast<uint32_t>(std::ceil(stable - 1e-9));
    }
  }
  uint32_t cap = tp.max_per_key;
  w.prefetch = std::min(w.prefetch, cap);
  w.reactive = std::min(w.reactive, cap);
  return w;
}

std::optional<uint32_t> PlaceNew(const ClusterView& view, const ViewKey& key, bool* spilled) {
  if (key.region >= view.region_order.size()) return std::nullopt;
  for (uint32_t region : view.region_order[key.region]) {
    std::optional<uint32_t> best;
    uint32_t best_mine = 0;
    for (uint32_t n : view.region_nodes[region]) {
      const ViewNode& node = view.nodes[n];
      if (!node.schedulable || node.free_slots == 0 || !node.Supports(key.tmpl)) continue;
      uint32_t mine = 0;
      for (const ViewInstance& i : key.instances)
        mine += i.node == n && i.state != ViewState::kDraining;
      if (!best || mine < best_mine ||
          (mine == best_mine && node.free_slots > view.nodes[*best].free_slots)) {
        best = n;
        best_mine = mine;
      }
    }
    if (best) {
      *spilled = region != key.region;
      return best;
    }
  }
  return std::nullopt;
}

void Reconciler::BeginPass(ClusterView& view, int64_t now_ms) {
  ++counters_.ticks;
  ++passes_;
  pass_times_.emplace_back(passes_, now_ms);
  while (!pass_times_.empty() && pass_times_.front().second <= now_ms - config_.stable_window_ms)
    pass_times_.pop_front();
  if (view.region_order.size() != view.regions.size()) view.Index();
  if (wake_.size() < view.keys.size()) wake_.resize(view.keys.size(), kNextPass);
}

std::vector<Decision> Reconciler::Reconcile(ClusterView& view, int64_t now_ms) {
  BeginPass(view, now_ms);
  std::vector<Decision> out;
  for (uint32_t ki = 0; ki < view.keys.size(); ++ki) ReconcileKey(view, ki, now_ms, out);
  return out;
}

std::vector<Decision> Reconciler::Reconcile(ClusterView& view, int64_t now_ms,
                                            std::span<const uint32_t> visit) {
  BeginPass(view, now_ms);
  std::vector<Decision> out;
  for (uint32_t ki : visit) {
    if (ki < view.keys.size()) ReconcileKey(view, ki, now_ms, out);
  }
  return out;
}

int64_t Reconciler::WakeMs(uint32_t index) const {
  return index < wake_.size() ? wake_[index] : kNextPass;
}

void Reconciler::ReconcileKey(ClusterView& view, uint32_t ki, int64_t now_ms,
                              std::vector<Decision>& out) {
  ViewKey& k = view.keys[ki];
  int64_t& wake = wake_[ki];
  const size_t decided = out.size();
  // A quiet key (no instance, no window, no demand now or in its window, no panic) wants
  // nothing and has nothing to drain: skipped, its 0 sample recorded lazily (Record).
  // Most keys of a large trace are quiet most of the time.
  const bool quiet = k.instances.empty() && k.windows.empty() && k.demand == 0;
  History* h = nullptr;
  if (config_.reactive) {
    h = &HistoryFor(ki, k);
    if (quiet && h->recorded_pass != 0 && h->nonzero == 0 && h->panic_until_ms <= now_ms) {
      h->panic_floor = 0;  // as WantFor leaves a key out of panic
      wake = kNever;
      return;
    }
    Record(*h, now_ms, k.demand);
  } else if (quiet) {
    wake = kNever;
    return;
  }
  const TemplatePolicy& tp = PolicyFor(ki, k);
  Want w = WantFor(view, ki, tp, now_ms);
  // When this key next needs a pass with nothing of it changed: the next pass while its
  // demand window holds demand, it panics, or it wants more than it has; otherwise the
  // earliest window lead or end, keep-alive end, or last answer's expiry (below).
  wake = kNever;
  if (h != nullptr && (h->nonzero > 0 || h->panic_until_ms > now_ms)) wake = kNextPass;
  for (const PrefetchWindow& win : k.windows) {
    if (!config_.proactive && win.source == kForecastWindowSource) continue;
    const int64_t due = win.start_ms - tp.lead_ms;
    wake = std::min(wake, now_ms < due ? due : now_ms < win.end_ms ? win.end_ms : kNever);
  }
  uint32_t live = 0;
  for (const ViewInstance& i : k.instances) live += i.state != ViewState::kDraining;
  uint32_t want = w.total();
  if (want > live) {
    wake = kNextPass;
    ScaleReason why = w.prefetch >= w.reactive ? ScaleReason::kPrefetch
                      : w.panic                ? ScaleReason::kPanic
                                               : ScaleReason::kStable;
    const std::vector<std::string>* content = nullptr;
    if (why == ScaleReason::kPrefetch) {
      if (const PrefetchWindow* win = DueWindow(k, tp, now_ms, config_.proactive))
        content = &win->content;
    }
    for (uint32_t n = live; n < want; ++n) {
      bool spilled = false;
      std::optional<uint32_t> node = PlaceNew(view, k, &spilled);
      if (!node) {
        ++counters_.unplaceable;
        break;
      }
      Decision d;
      d.kind = Decision::kCreate;
      d.reason = spilled ? ScaleReason::kCapacity : why;
      d.key = ki;
      d.node = *node;
      if (content != nullptr) d.content = *content;
      --view.nodes[*node].free_slots;
      ++counters_.creates[static_cast<int>(d.reason)];
      out.push_back(std::move(d));
    }
  } else if (live > want) {
    // Most idle first; never one that serves or was busy within its keep-alive.
    const int64_t keepalive = k.keepalive_ms >= 0 ? k.keepalive_ms : tp.keepalive_ms;
    // Rank by recency of use: the r-th most recently busy keeps level r's keep-alive.
    std::vector<const ViewInstance*> ranked;
    for (const ViewInstance& i : k.instances) {
      if (i.state != ViewState::kDraining) ranked.push_back(&i);
    }
    std::sort(ranked.begin(), ranked.end(), [](const ViewInstance* a, const ViewInstance* b) {
      return a->last_busy_ms > b->last_busy_ms;
    });
    std::vector<const ViewInstance*> idle;
    for (size_t r = 0; r < ranked.size(); ++r) {
      const ViewInstance& i = *ranked[r];
      int64_t ka = keepalive;
      if (r >= 1 && !k.surplus_keepalive_ms.empty()) {
        ka = k.surplus_keepalive_ms[std::min(r - 1, k.surplus_keepalive_ms.size() - 1)];
      } else if (r >= 1 && tp.surplus_keepalive_ms >= 0) {
        ka = tp.surplus_keepalive_ms;
      }
      if (!i.used) ka = 0;
      if (i.state == ViewState::kReady && i.in_flight == 0) {
        if (now_ms - i.last_busy_ms >= ka) {
          idle.push_back(&i);
        } else {
          wake = std::min(wake, i.last_busy_ms + ka);
        }
      }
    }
    std::sort(idle.begin(), idle.end(), [](const ViewInstance* a, const ViewInstance* b) {
      return a->last_busy_ms < b->last_busy_ms;
    });
    size_t drains = std::min<size_t>(idle.size(), live - want);
    for (size_t j = 0; j < drains; ++j) {
      Decision d;
      d.kind = Decision::kDrain;
      d.reason = ScaleReason::kIdle;
      d.key = ki;
      d.node = idle[j]->node;
      d.instance = idle[j]->id;
      ++counters_.drains;
      out.push_back(std::move(d));
    }
  }
  for (const ViewInstance& i : k.instances) {
    if (i.state != ViewState::kDraining || i.destroy_ordered || i.in_flight != 0) continue;
    if (now_ms < i.answered_until_ms) {
      wake = std::min(wake, i.answered_until_ms);
      continue;
    }
    Decision d;
    d.kind = Decision::kDestroy;
    d.reason = ScaleReason::kIdle;
    d.key = ki;
    d.node = i.node;
    d.instance = i.id;
    ++counters_.destroys;
    out.push_back(std::move(d));
  }
  // What was decided changes the view (the caller applies it): look again next pass.
  if (out.size() != decided) wake = kNextPass;
}

}  // namespace prewarm::orchestrator
