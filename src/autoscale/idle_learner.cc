#include "autoscale/idle_learner.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "autoscale/reconciler.h"

namespace prewarm::orchestrator {

void IdleLearner::Add(int64_t idle_ms) {
  ++samples_;
  if (idle_ms < 0) idle_ms = 0;
  if (idle_ms >= options_.range_ms) {
    ++beyond_;
    if (recent_beyond_s_.size() >= 8) recent_beyond_s_.erase(recent_beyond_s_.begin());
    recent_beyond_s_.push_back(static_cast<double>(idle_ms) / 1000.0);
    return;
  }
  Bin& b = bins_[static_cast<uint32_t>(idle_ms / options_.bin_ms)];
  ++b.count;
  b.sum_s += static_cast<double>(idle_ms) / 1000.0;
}

IdlePlan IdleLearner::Plan(double cold_cost, double start_s, const UnloadHold& hold,
                           bool keep_only) const {
  IdlePlan best;
  if (samples_ < options_.min_samples) {
    best.keep_until_ms = options_.default_keepalive_ms;
    return best;
  }
  const double bin_s = static_cast<double>(options_.bin_ms) / 1000.0;
  // The observed bins plus the prior's: its weight split evenly over bins 0, 1, 3, 7, 15, ...
  // (log-spaced), each pseudo-period as long as its bin's middle.
  std::map<uint32_t, std::pair<double, double>> merged;  // bin -> (count, seconds)
  for (const auto& [bin, b] : bins_) merged[bin] = {b.count, b.sum_s};
  const uint32_t range_bins =
      static_cast<uint32_t>(std::max<int64_t>(1, options_.range_ms / options_.bin_ms));
  std::vector<uint32_t> prior_bins;
  for (uint64_t b = 0; b < range_bins; b = 2 * b + 1)
    prior_bins.push_back(static_cast<uint32_t>(b));
  double prior = options_.prior_weight > 0 ? options_.prior_weight : 0;
  for (uint32_t b : prior_bins) {
    double w = prior / static_cast<double>(prior_bins.size());
    auto& [count, secs] = merged[b];
    count += w;
    secs += w * (b + 0.5) * bin_s;
  }
  const double n = static_cast<double>(samples_) + prior;
  // Non-empty bins in order, with prefix sums of counts and of idle seconds.
  const size_t m = merged.size();
  std::vector<double> lower(m), upper(m), cum(m + 1, 0), sum(m + 1, 0);
  size_t j = 0;
  for (const auto& [bin, cs] : merged) {
    lower[j] = bin * bin_s;
    upper[j] = (bin + 1) * bin_s;
    cum[j + 1] = cum[j] + cs.first;
    sum[j + 1] = sum[j] + cs.second;
    ++j;
  }
  // What unloading at `first` s into an idle period (the lower edge of bin k) adds to the
  // plan's idle seconds: the instance is paid for until the hold lets it go, by every idle
  // period still running then (a bin that straddles that moment counts whole when its mean
  // is before it).
  auto held = [&](size_t k, double first) {
    const double gone = hold.GoneS(first);
    if (gone <= first) return 0.0;
    double extra = 0, counted = cum[k];
    for (size_t b = k; b < m && lower[b] < gone; ++b) {
      const double c = cum[b + 1] - cum[b], s = sum[b + 1] - sum[b];
      extra += upper[b] <= gone || s <= gone * c ? s - c * first : c * (gone - first);
      counted = cum[b + 1];
    }
    return extra + (n - counted) * (gone - first);
  };
  double best_cost = 0;
  auto consider = [&](double prewarm, double keep, double cold, double idle, double first) {
    double cost = cold_cost * cold + idle;
    if (best.learned && cost >= best_cost) return;
    best_cost = cost;
    best.learned = true;
    best.keep_first_ms = static_cast<int64_t>(std::llround(first * 1000));
    best.prewarm_ms = static_cast<int64_t>(std::llround(prewarm * 1000));
    best.keep_until_ms = static_cast<int64_t>(std::llround(keep * 1000));
    best.cold_share = cold / n;
    best.idle_s = idle / n;
  };
  // keep: warm through bins 0..J-1 (J = 0: unload at once).
  for (size_t J = 0; J <= m; ++J) {
    double keep = J == 0 ? 0 : upper[J - 1];
    double beyond = n - cum[J];
    consider(0, keep, beyond, sum[J] + beyond * keep + held(J, keep), 0);
  }
  // reload: warm through bins 0..k-1 (k = 0: unload at once), unloaded from there to the
  // lower edge of bin I (k <= I), warm again through bin J (I <= J). A key whose idle times
  // cluster in two places (an invocation that often comes back within a minute, and
  // otherwise after eight) keeps its instance for the first and reloads for the second.
  // The cost splits into a part of k alone,
  //   g(k) = sum[k] + (n - cum[k]) * K1(k) + held(k, K1(k)) - cold_cost * cum[k],
  // and a part of I and J, so the best k for each I is a running minimum: O(m^2) overall.
  double best_g = 0;
  size_t best_k = 0;
  for (size_t I = 0; I < m && !keep_only; ++I) {
    const double first_I = I == 0 ? 0 : upper[I - 1];
    const double g = sum[I] + (n - cum[I]) * first_I + held(I, first_I) - cold_cost * cum[I];
    if (I == 0 || g < best_g) {
      best_g = g;
      best_k = I;
    }
    double prewarm = lower[I];
    if (prewarm <= 0) continue;  // that is the keep shape
    // A stretch without data is evidence of no arrivals only once there are enough samples.
    const size_t k = samples_ >= options_.keep_first_min_samples ? best_k : 0;
    const double first = k == 0 ? 0 : upper[k - 1];
    const double held_k = held(k, first);
    const double before = cum[I] - cum[k];  // idle periods that end while unloaded: cold
    for (size_t J = I; J < m; ++J) {
      double keep = upper[J];
      double beyond = n - cum[J + 1];
      double warm = cum[J + 1] - cum[I];
      double idle = sum[k] + (n - cum[k]) * first + held_k + start_s * (n - cum[I]) +
                    (sum[J + 1] - sum[I]) - prewarm * warm + beyond * (keep - prewarm);
      consider(prewarm, keep, before + beyond, idle, first);
    }
  }
  // Out of range: reload around the forecast next long idle time. Scored on the samples
  // (in range: cold, unloaded at once; beyond: warm when inside the window, as the recent
  // long ones say) with the prior counted as cold.
  const double real = static_cast<double>(samples_);
  if (!keep_only && options_.beyond_share > 0 && !recent_beyond_s_.empty() &&
      static_cast<double>(beyond_) >= options_.beyond_share * real) {
    double f = 0;
    for (double v : recent_beyond_s_) f += v;
    f /= static_cast<double>(recent_beyond_s_.size());
    double lo = f * (1 - options_.beyond_margin), hi = f * (1 + options_.beyond_margin);
    double inside = 0, used = 0;
    for (double v : recent_beyond_s_) {
      if (v >= lo && v <= hi) {
        ++inside;
        used += v - lo;
      }
    }
    double share = inside / static_cast<double>(recent_beyond_s_.size());
    double warm = static_cast<double>(beyond_) * share;
    double per_warm_s = inside > 0 ? used / inside : 0;
    double cold = n - warm;
    double idle = static_cast<double>(beyond_) * start_s + warm * per_warm_s +
                  (static_cast<double>(beyond_) - warm) * (hi - lo) + held(0, 0);
    double cost = cold_cost * cold + idle;
    if (cost < best_cost) {
      best.keep_first_ms = 0;
      best.prewarm_ms = static_cast<int64_t>(std::llround(lo * 1000));
      best.keep_until_ms = static_cast<int64_t>(std::llround(hi * 1000));
      best.cold_share = cold / n;
      best.idle_s = idle / n;
      return best;  // the window has its own margin
    }
  }
  // Margins against the bins' granularity, as the hybrid histogram does.
  if (best.prewarm_ms > 0) {
    best.prewarm_ms = static_cast<int64_t>(best.prewarm_ms * (1 - options_.margin));
    best.keep_first_ms = static_cast<int64_t>(best.keep_first_ms * (1 + options_.margin));
  }
  best.keep_until_ms = static_cast<int64_t>(best.keep_until_ms * (1 + options_.margin));
  return best;
}

namespace {

// Replan after every new sample while there are few, then when the histogram has grown by
// a tenth (Plan is O(bins^2)). UINT64_MAX: never planned.
bool Stale(uint64_t planned_at, uint64_t samples) {
  return planned_at == UINT64_MAX ||
         (samples != planned_at && (samples < 20 || samples >= planned_at + planned_at / 10));
}

// A window of `target` instances over [start_ms, end_ms), decided at `received_ms`.
void AddWindow(ViewKey& key, int64_t received_ms, int64_t start_ms, int64_t end_ms, uint32_t target,
               uint32_t source) {
  PrefetchWindow win;
  win.start_ms = start_ms;
  win.end_ms = end_ms;
  win.target = target;
  win.received_ms = received_ms;
  win.source = source;
  key.windows.push_back(std::move(win));
}

// A reload plan's window for an idle period that began at `idle_since_ms`: `target`
// instances from the planned reload to the planned unload.
void AddReloadWindow(ViewKey& key, int64_t idle_since_ms, const IdlePlan& plan, uint32_t target,
                     uint32_t source) {
  AddWindow(key, idle_since_ms, idle_since_ms + plan.prewarm_ms, idle_since_ms + plan.keep_until_ms,
            target, source);
}

// The hybrid histogram's windows as a plan: a keep-alive, or unloaded at once and loaded
// again for the keep-alive window.
IdlePlan HybridPlan(const HybridWindows& w) {
  IdlePlan plan;
  plan.learned = w.mode != HybridWindows::Mode::kStandard;
  plan.prewarm_ms = w.prewarm_ms;
  plan.keep_until_ms = w.prewarm_ms + w.keepalive_ms;
  return plan;
}

// What a cold start's price is divided by for an instance of `memory_ratio` times the
// average memory.
double MemoryFactor(const LearnedKeepAliveConfig& config, double memory_ratio) {
  return std::pow(std::max(memory_ratio, 1e-3), config.memory_weight);
}

}  // namespace

LearnedKeepAlive::LearnedKeepAlive(const LearnedKeepAliveConfig& config, int64_t watching_since_ms)
    : learner_(config.learner), since_ms_(watching_since_ms) {
  if (config.planner == LearnedKeepAliveConfig::Planner::kHybridHistogram) {
    hybrid_.emplace(config.hybrid);
  }
}

void LearnedKeepAlive::Arrival(int64_t at_ms, bool cold) {
  ++arrivals_;
  colds_ += cold;
  if (idle_since_ms_ >= 0) {
    learner_.Add(at_ms - idle_since_ms_);
    // The hybrid histogram records only these: an arrival while another invocation of the
    // key runs ends no idle period.
    if (hybrid_) hybrid_->AddIdle(at_ms - idle_since_ms_);
    idle_since_ms_ = -1;
    // An activation: the last one's peak is final (Busy raises it only within its window).
    if (activation_ms_ >= 0 && activation_peak_ > 0) {
      const uint32_t peak = std::min(activation_peak_, kMaxBurstLevels);
      if (reached_.size() < peak) reached_.resize(peak, 0);
      for (uint32_t l = 0; l < peak; ++l) ++reached_[l];
    }
    activation_ms_ = at_ms;
    activation_peak_ = 0;
    burst_target_ = 0;
  } else if (ran_) {
    learner_.Add(0);  // it came while another invocation of the key ran
  }
}

const IdlePlan& LearnedKeepAlive::IdleBegins(int64_t at_ms, const LearnedKeepAliveConfig& config,
                                             double memory_ratio, double start_s,
                                             const UnloadHold& hold) {
  ran_ = true;
  idle_since_ms_ = at_ms;
  const uint64_t n = learner_.samples();
  if (hybrid_) {
    // Its windows, replanned for every idle period (its percentiles move with each one): a
    // keep-alive, or unloaded at once and loaded again for the keep-alive window.
    plan_ = HybridPlan(hybrid_->Windows());
    planned_at_ = n;
    ++plans_;
    return plan_;
  }
  if (!Stale(planned_at_, n)) return plan_;
  plan_ = learner_.Plan(ColdCost(config, memory_ratio, n, at_ms), start_s, hold);
  planned_at_ = n;
  ++plans_;
  return plan_;
}

double LearnedKeepAlive::ColdCost(const LearnedKeepAliveConfig& config, double memory_ratio,
                                  uint64_t samples, int64_t at_ms) const {
  double cold = config.cold_s / MemoryFactor(config, memory_ratio);
  if (config.weight != "start") {
    const double per_day = PerDay(samples, at_ms, config.day_ms);
    cold = config.weight == "key" ? cold / per_day : cold * (1 + config.mix_per_day / per_day);
  }
  return cold;
}

double LearnedKeepAlive::PerDay(uint64_t samples, int64_t at_ms, int64_t day_ms) const {
  const double days =
      std::max(static_cast<double>(at_ms - since_ms_) / static_cast<double>(day_ms), 1.0 / 24);
  return std::max(static_cast<double>(samples) / days, 1.0);
}

double LearnedKeepAlive::SurplusColdCost(const LearnedKeepAliveConfig& config, double memory_ratio,
                                         int64_t at_ms) const {
  double cold = config.surplus_cold_s / MemoryFactor(config, memory_ratio);
  const bool missing =
      static_cast<double>(colds_) >= config.cold_start_objective * static_cast<double>(arrivals_);
  if (config.surplus_per_day > 0 && (arrivals_ == 0 || !missing)) {
    cold *=
        std::min(1.0, config.surplus_per_day / PerDay(learner_.samples(), at_ms, config.day_ms));
  }
  return cold;
}

void LearnedKeepAlive::Busy(int64_t at_ms, uint32_t busy, const LearnedKeepAliveConfig& config,
                            double memory_ratio, double start_s, const UnloadHold& hold) {
  if (config.bursts && activation_ms_ >= 0) {
    BurstScaleOut(at_ms, busy, config, memory_ratio, start_s);
  }
  if (config.surplus_levels == 0) {
    busy_ = busy;
    return;
  }
  // Levels are made as they are first reached (most keys never serve two at once, and a
  // level's learner is most of a key's memory): a level not reached yet has no transition
  // to record, and Apply stops at the first level that has never been idle.
  const size_t reached = std::min<size_t>(config.surplus_levels, busy > 1 ? busy - 1 : 0);
  while (levels_.size() < reached) {
    levels_.push_back(Level{IdleLearner(config.learner), -1, IdlePlan{}, UINT64_MAX, {}});
    if (hybrid_) levels_.back().hybrid.emplace(config.hybrid);
  }
  // Level l (index l - 2) is in use while busy >= l.
  for (uint32_t l = 2; l < 2 + levels_.size(); ++l) {
    Level& lv = levels_[l - 2];
    bool was = busy_ >= l, is = busy >= l;
    if (was == is) continue;
    if (is) {
      if (lv.idle_since_ms >= 0) {
        lv.learner.Add(at_ms - lv.idle_since_ms);
        if (lv.hybrid) lv.hybrid->AddIdle(at_ms - lv.idle_since_ms);
      }
      lv.idle_since_ms = -1;
      continue;
    }
    lv.idle_since_ms = at_ms;
    if (lv.hybrid) {
      // Its own windows, for every idle period (as level 1's, IdleBegins).
      lv.plan = HybridPlan(lv.hybrid->Windows());
      lv.planned_at = lv.learner.samples();
      continue;
    }
    const uint64_t n = lv.learner.samples();
    if (!Stale(lv.planned_at, n)) continue;
    lv.plan = lv.learner.Plan(SurplusColdCost(config, memory_ratio, at_ms), start_s, hold);
    lv.planned_at = n;
  }
  busy_ = busy;
}

void LearnedKeepAlive::BurstScaleOut(int64_t at_ms, uint32_t busy,
                                     const LearnedKeepAliveConfig& config, double memory_ratio,
                                     double start_s) {
  if (at_ms - activation_ms_ >= config.burst_window_ms) {
    burst_target_ = 0;
    return;
  }
  if (busy <= activation_peak_) return;
  activation_peak_ = busy;
  burst_target_ = 0;
  const uint32_t b = std::min(busy, kMaxBurstLevels);
  if (reached_.size() < b || reached_[b - 1] < config.burst_min_samples) return;
  const double price = config.surplus_cold_s / MemoryFactor(config, memory_ratio);
  const double window_s = static_cast<double>(config.burst_window_ms) / 1000.0;
  // P(peak >= l | peak >= b) falls with l, and the test is monotone in it.
  for (uint32_t l = b + 1; l <= reached_.size(); ++l) {
    const double p = static_cast<double>(reached_[l - 1]) / static_cast<double>(reached_[b - 1]);
    if (p < config.burst_min_share || p * price <= start_s + (1 - p) * window_s) break;
    burst_target_ = l;
  }
  burst_end_ms_ = activation_ms_ + config.burst_window_ms;
}

void LearnedKeepAlive::Apply(ViewKey& key, uint32_t source) const {
  std::erase_if(key.windows, [&](const PrefetchWindow& w) {
    return w.source == source || w.source == kBurstWindowSource ||
           (w.source > kSurplusWindowSource &&
            w.source <= kSurplusWindowSource + 1 + levels_.size());
  });
  if (hybrid_) {
    ApplyHybrid(key, source);
    return;
  }
  if (burst_target_ > 0) {
    AddWindow(key, activation_ms_, activation_ms_, burst_end_ms_, burst_target_,
              kBurstWindowSource);
  }
  key.surplus_keepalive_ms.clear();
  // A surplus level keeps no longer than level 1 (it serves only on top of it).
  const int64_t level1 = planned_at_ == UINT64_MAX ? INT64_MAX : plan_.keepalive_ms();
  for (uint32_t l = 2; l < 2 + levels_.size(); ++l) {
    const Level& lv = levels_[l - 2];
    if (lv.planned_at == UINT64_MAX) break;  // never idle yet: level 1's
    key.surplus_keepalive_ms.push_back(std::min(lv.plan.keepalive_ms(), level1));
    if (lv.plan.reload() && lv.idle_since_ms >= 0) {
      AddReloadWindow(key, lv.idle_since_ms, lv.plan, l, kSurplusWindowSource + l);
    }
  }
  if (planned_at_ == UINT64_MAX) {
    key.keepalive_ms = -1;  // never idle yet: the template's keep-alive
    return;
  }
  // A reload keeps idle instances for its first stretch (0: unloads at once; also surplus
  // ones while others still serve); once the whole key is idle, it loads one instance
  // again before the expected next arrival.
  key.keepalive_ms = plan_.keepalive_ms();
  if (plan_.reload() && idle_since_ms_ >= 0) {
    AddReloadWindow(key, idle_since_ms_, plan_, 1, source);
  }
}

void LearnedKeepAlive::ApplyHybrid(ViewKey& key, uint32_t source) const {
  // Every idle instance may go at once: the windows alone say how many stay. Each idle
  // level (the key's first instance, a concurrency rank above it) wants one idle instance
  // loaded while inside its own window; instances are interchangeable, so which one a
  // level keeps does not matter, only how many (as the simulator's baseline counts them).
  key.keepalive_ms = 0;
  key.surplus_keepalive_ms.clear();
  std::vector<std::pair<int64_t, int64_t>> loaded;  // [from, to) per idle level
  int64_t received = 0;
  auto add = [&](int64_t idle_since, const IdlePlan& plan) {
    if (idle_since < 0 || plan.keep_until_ms <= plan.prewarm_ms) return;
    loaded.emplace_back(idle_since + plan.prewarm_ms, idle_since + plan.keep_until_ms);
    received = std::max(received, idle_since);
  };
  // Level 1 is idle while nothing serves: live, a connection can be seen a poll before the
  // DNS answer that ends the idle period (Arrival), and the key is serving from then on.
  if (planned_at_ != UINT64_MAX && busy_ == 0) add(idle_since_ms_, plan_);
  for (const Level& lv : levels_) {
    if (lv.planned_at != UINT64_MAX) add(lv.idle_since_ms, lv.plan);
  }
  // The instances serving stay whatever the windows say: live, a client that was just
  // answered may not have connected yet, and its instance looks idle to the reconciler.
  if (busy_ > 0) AddWindow(key, received, 0, INT64_MAX, busy_, source);
  if (loaded.empty()) return;
  // One window per stretch over which the number of levels inside their windows is
  // constant: the instances serving, plus that many idle.
  std::vector<int64_t> edges;
  for (const auto& [from, to] : loaded) {
    edges.push_back(from);
    edges.push_back(to);
  }
  std::sort(edges.begin(), edges.end());
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
  for (size_t e = 0; e + 1 < edges.size(); ++e) {
    uint32_t inside = 0;
    for (const auto& [from, to] : loaded) inside += from <= edges[e] && edges[e] < to;
    if (inside > 0) AddWindow(key, received, edges[e], edges[e + 1], busy_ + inside, source);
  }
}

}  // namespace prewarm::orchestrator
