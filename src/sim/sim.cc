#include "sim/sim.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>
#include <optional>
#include <string_view>
#include <utility>

#include "autoscale/placement.h"
#include "fmt/format.h"
#include "sim/key_rates.h"

namespace prewarm::sim {

using orchestrator::ClusterView;
using orchestrator::ScaleReason;
using orchestrator::ViewInstance;
using orchestrator::ViewKey;
using orchestrator::ViewState;

namespace {

// A uniform double in (0, 1) from 53 random bits: the same on every standard library.
double Uniform01(std::mt19937_64& rng) {
  return (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53;
}

// Inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9
// after one Newton step is not needed at this precision).
double NormalQuantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  const double lo = 0.02425, hi = 1 - lo;
  if (p < lo) {
    double q = std::sqrt(-2 * std::log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > hi) {
    double q = std::sqrt(-2 * std::log(1 - p));
    return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

constexpr double kZ99 = 2.3263478740408408;  // standard normal 99th percentile

// Latency histogram geometry: bucket i covers [1.01^i, 1.01^(i+1)) µs.
constexpr double kBucketBase = 1.01;
const double kLogBase = std::log(kBucketBase);
constexpr size_t kBuckets = 2400;  // up to ~2.3e10 µs

}  // namespace

SimTimeUs StartTime::Sample(std::mt19937_64& rng) const {
  if (median_s <= 0 && p99_s <= 0) return 0;  // instant loads (the minute model)
  double mu = std::log(std::max(median_s, 1e-6));
  double sigma = std::max(0.0, (std::log(std::max(p99_s, median_s)) - mu) / kZ99);
  double s = std::exp(mu + sigma * NormalQuantile(Uniform01(rng)));
  return std::max<SimTimeUs>(1, static_cast<SimTimeUs>(s * 1e6));
}

namespace {

// "MEDIAN_S,P99_S": start times measured elsewhere (a live run under its own load).
absl::StatusOr<StartTime> Measured(const std::string& spec) {
  const size_t comma = spec.find(',');
  auto number = [](std::string_view text) -> std::optional<double> {
    double v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v)) {
      return std::nullopt;
    }
    return v;
  };
  std::optional<double> median, p99;
  if (comma != std::string::npos) {
    median = number(std::string_view(spec).substr(0, comma));
    p99 = number(std::string_view(spec).substr(comma + 1));
  }
  if (!median || !p99 || *median <= 0 || *p99 < *median) {
    return absl::InvalidArgumentError(fmt::format(
        "runtime 'measured:{}': want measured:MEDIAN_S,P99_S with 0 < median <= p99", spec));
  }
  return StartTime{*median, *p99};
}

}  // namespace

absl::StatusOr<StartContention> StartContention::Parse(const std::string& spec) {
  if (spec == "none") return StartContention{};
  size_t colon = spec.find(':');
  std::string scope = spec.substr(0, colon);
  if (colon == std::string::npos || (scope != "node" && scope != "host")) {
    return absl::InvalidArgumentError(fmt::format(
        "start contention '{}': expected none, node:CORES or host:CORES (e.g. host:2)", spec));
  }
  std::string n = spec.substr(colon + 1);
  char* end = nullptr;
  unsigned long cores = std::strtoul(n.c_str(), &end, 10);
  if (n.empty() || *end != '\0' || cores < 1 || cores > 4096) {
    return absl::InvalidArgumentError(
        fmt::format("start contention '{}': CORES must be a whole number from 1 to 4096", spec));
  }
  return StartContention{static_cast<uint32_t>(cores), scope == "host"};
}

std::string StartContention::ToString() const {
  if (cores == 0) return "none";
  return fmt::format("{}:{}", host ? "host" : "node", cores);
}

absl::StatusOr<StartTime> StartTime::Named(const std::string& runtime) {
  if (runtime == "oci") return StartTime{0.045, 0.090};
  if (runtime == "qemu") return StartTime{2.7, 3.5};
  if (runtime == "qemu-restore") return StartTime{0.37, 0.6};
  if (runtime == "qemu-clone") return StartTime{0.21, 0.4};
  constexpr std::string_view kMeasured = "measured:";
  if (runtime.rfind(kMeasured, 0) == 0) return Measured(runtime.substr(kMeasured.size()));
  return absl::InvalidArgumentError(fmt::format(
      "unknown runtime '{}' (oci, qemu, qemu-restore, qemu-clone, measured:MEDIAN_S,P99_S)",
      runtime));
}

void LatencyHistogram::Add(SimTimeUs us) {
  if (buckets_.empty()) buckets_.assign(kBuckets, 0);
  double v = std::max<double>(1, static_cast<double>(us));
  size_t i = std::min(kBuckets - 1, static_cast<size_t>(std::log(v) / kLogBase));
  ++buckets_[i];
  ++count_;
}

double LatencyHistogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::pow(kBucketBase, static_cast<double>(i) + 0.5) / 1e6;
  }
  return std::pow(kBucketBase, static_cast<double>(kBuckets)) / 1e6;
}

geo::GeoPoint RegionPoint(const std::string& name) {
  static const std::map<std::string, geo::GeoPoint> kKnown = {
      {"us-west", {37.4, -122.1}},   {"us-east", {38.9, -77.4}},
      {"us-central", {41.9, -87.6}}, {"eu-west", {48.9, 2.35}},
      {"eu-central", {50.1, 8.7}},   {"eu-north", {59.3, 18.1}},
      {"ap-east", {22.3, 114.2}},    {"ap-northeast", {35.7, 139.7}},
      {"ap-south", {19.1, 72.9}},    {"ap-southeast", {1.35, 103.8}},
      {"sa-east", {-23.5, -46.6}},   {"af-south", {-33.9, 18.4}},
      {"au-east", {-33.9, 151.2}}};
  auto it = kKnown.find(name);
  if (it != kKnown.end()) return it->second;
  // Stable pseudo-coordinates from the name (FNV-1a).
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return {static_cast<double>(h % 12000) / 100.0 - 60.0,
          static_cast<double>((h / 12000) % 36000) / 100.0 - 180.0};
}

// --- PolicyContext --------------------------------------------------------------------

SimTimeUs PolicyContext::now() const { return sim_.now_; }
int64_t PolicyContext::now_unix_ms() const { return sim_.w_.start_unix_ms + sim_.now_ / 1000; }
const Workload& PolicyContext::workload() const { return sim_.w_; }
const SimConfig& PolicyContext::config() const { return sim_.config_; }
ClusterView& PolicyContext::view() { return sim_.view_; }

bool PolicyContext::Prewarm(uint32_t key, ScaleReason reason, std::optional<uint32_t> node) {
  if (!node) {
    bool spilled = false;
    node = orchestrator::PlaceNew(sim_.view_, sim_.view_.keys[key], &spilled);
    if (!node) return false;
    if (spilled && reason != ScaleReason::kIdle) reason = ScaleReason::kCapacity;
  }
  if (sim_.view_.nodes[*node].free_slots == 0) return false;
  --sim_.view_.nodes[*node].free_slots;
  sim_.StartInstance(key, *node, reason);
  return true;
}

void PolicyContext::Drain(const std::string& instance_id, ScaleReason reason) {
  auto slot = sim_.SlotOf(instance_id);
  if (!slot) return;
  if (sim_.Inst(*slot).state == ViewState::kDraining) return;
  ++sim_.result_.decisions[fmt::format("drain:{}", orchestrator::ScaleReasonName(reason))];
  sim_.DrainSlot(*slot);
}

void PolicyContext::WakeAt(uint32_t key, SimTimeUs at) {
  sim_.Push(std::max(at, sim_.now_), Simulator::Ev::kWakeup, key);
}

double PolicyContext::TakeDemand(uint32_t key) {
  auto& l = sim_.load_[key];
  l.area += static_cast<double>(l.conc) * static_cast<double>(sim_.now_ - l.last);
  l.last = sim_.now_;
  double span = static_cast<double>(sim_.now_ - l.taken);
  double d = span > 0 ? l.area / span : static_cast<double>(l.conc);
  l.area = 0;
  l.taken = sim_.now_;
  return d;
}

uint64_t PolicyContext::StepArrivals(uint32_t key) const { return sim_.load_[key].step_arrivals; }

bool PolicyContext::TakeChanged(uint32_t key) {
  return std::exchange(sim_.load_[key].changed, false);
}

// --- Simulator ------------------------------------------------------------------------

Simulator::Simulator(const Workload& w, SimConfig config)
    : w_(w),
      config_(std::move(config)),
      rng_(config_.seed ^ 0x5eed5eed5eedull),
      route_rng_(config_.seed ^ 0x7007e7007e70ull) {
  BuildTopology();
}

void Simulator::BuildTopology() {
  for (const auto& r : w_.regions) view_.regions.push_back({r, RegionPoint(r)});
  size_t nregions = std::max<size_t>(1, view_.regions.size());
  if (view_.regions.empty()) view_.regions.push_back({"default", {0, 0}});
  int nodes = config_.nodes > 0 ? config_.nodes : static_cast<int>(3 * nregions);
  for (int i = 0; i < nodes; ++i) {
    uint32_t region = static_cast<uint32_t>(static_cast<size_t>(i) % nregions);
    view_.nodes.push_back({fmt::format("{}-{}", view_.regions[region].name, i / nregions + 1),
                           region,
                           config_.slots_per_node,
                           true,
                           {}});
  }
  for (const KeySpec& k : w_.keys) {
    auto it = std::find_if(view_.regions.begin(), view_.regions.end(),
                           [&](const auto& r) { return r.name == k.region; });
    uint32_t region =
        it == view_.regions.end() ? 0 : static_cast<uint32_t>(it - view_.regions.begin());
    ViewKey vk;
    vk.region = region;
    vk.tmpl = k.tmpl;
    view_.keys.push_back(std::move(vk));
  }
  view_.Index();
  if (config_.contention.cores > 0) {
    start_groups_.assign(config_.contention.host ? 1 : view_.nodes.size(), {});
  }
  load_.assign(w_.keys.size(), {});
  result_.keys.assign(w_.keys.size(), {});
}

void Simulator::Push(SimTimeUs t, Ev type, uint32_t a, uint32_t gen) {
  events_.push(Event{t, seq_++, type, a, gen});
}

ViewInstance& Simulator::Inst(uint32_t slot) {
  const Slot& s = slots_[slot];
  return view_.keys[s.key].instances[s.pos];
}

std::optional<uint32_t> Simulator::SlotOf(const std::string& id) const {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), v);
  if (ec != std::errc() || p != id.data() + id.size() || v >= slots_.size() || !slots_[v].alive) {
    return std::nullopt;
  }
  return v;
}

void Simulator::AddWaste(const Slot& s, SimTimeUs from, SimTimeUs to) {
  from = std::max(from, measure_from_us_);
  if (to <= from) return;
  double mb_s = s.mem_mb * static_cast<double>(to - from) / 1e6;
  result_.wasted_mb_s += mb_s;
  result_.keys[s.key].wasted_mb_s += mb_s;
}

void Simulator::AddLoaded(const Slot& s, SimTimeUs from, SimTimeUs to) {
  from = std::max(from, measure_from_us_);
  if (to > from) result_.loaded_mb_s += s.mem_mb * static_cast<double>(to - from) / 1e6;
}

void Simulator::ChangeLoad(uint32_t key, int delta) {
  KeyLoad& l = load_[key];
  l.area += static_cast<double>(l.conc) * static_cast<double>(now_ - l.last);
  l.last = now_;
  l.conc = static_cast<uint32_t>(static_cast<int>(l.conc) + delta);
}

uint32_t Simulator::StartInstance(uint32_t key, uint32_t node, ScaleReason reason) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[slot];
  s.key = key;
  s.alive = true;
  ++s.gen;
  s.mem_mb = w_.keys[key].memory_mb;
  s.loaded_at = now_;
  s.idle_since = now_;
  s.waiting.clear();
  auto& insts = view_.keys[key].instances;
  Touch(key);
  s.pos = static_cast<uint32_t>(insts.size());
  ViewInstance vi;
  vi.id = std::to_string(slot);
  vi.node = node;
  vi.state = ViewState::kStarting;
  vi.last_busy_ms = now_ / 1000;
  vi.state_since_ms = now_ / 1000;
  insts.push_back(std::move(vi));
  if (Measured(now_)) ++result_.starts;
  ++result_.decisions[fmt::format("create:{}", orchestrator::ScaleReasonName(reason))];
  SimTimeUs alone = config_.start.Sample(rng_);
  if (config_.contention.cores == 0) {
    Push(now_ + alone, Ev::kReady, slot, s.gen);
    return slot;
  }
  const uint32_t group = GroupOf(node);
  StartGroup& g = start_groups_[group];
  AdvanceGroup(g);
  g.active.push_back({g.work + static_cast<double>(alone), slot, s.gen});
  PlanGroup(group);
  return slot;
}

uint32_t Simulator::GroupOf(uint32_t node) const { return config_.contention.host ? 0 : node; }

// Each of the group's active starts runs at cores / k, at most full speed.
double Simulator::ShareRate(const StartGroup& g) const {
  const double k = static_cast<double>(g.active.size());
  return k <= config_.contention.cores ? 1.0 : config_.contention.cores / k;
}

void Simulator::AdvanceGroup(StartGroup& g) {
  g.work += ShareRate(g) * static_cast<double>(now_ - g.last);
  g.last = now_;
}

// One pending event per group: when its first active start is done at the current rate.
void Simulator::PlanGroup(uint32_t group) {
  StartGroup& g = start_groups_[group];
  ++g.version;
  if (g.active.empty()) return;
  const double first =
      std::min_element(g.active.begin(), g.active.end(), [](const auto& a, const auto& b) {
        return a.done < b.done;
      })->done;
  auto wait = static_cast<SimTimeUs>(std::ceil(std::max(0.0, first - g.work) / ShareRate(g)));
  Push(now_ + wait, Ev::kStartsDone, group, g.version);
}

void Simulator::OnStartsDone(uint32_t group, uint32_t version) {
  StartGroup& g = start_groups_[group];
  if (g.version != version) return;  // re-planned since
  AdvanceGroup(g);
  std::vector<StartGroup::Active> done;
  // Whole µs: a start due within the rounding of the wait is done.
  std::erase_if(g.active, [&](const StartGroup::Active& a) {
    if (a.done > g.work + 1.0) return false;
    done.push_back(a);
    return true;
  });
  PlanGroup(group);
  for (const auto& a : done) {
    if (slots_[a.slot].alive && slots_[a.slot].gen == a.gen) OnReady(a.slot);
  }
}

// A start that ends before it is done (destroyed while starting) stops taking its share.
void Simulator::LeaveGroup(uint32_t slot) {
  if (config_.contention.cores == 0) return;
  const uint32_t group = GroupOf(Inst(slot).node);
  StartGroup& g = start_groups_[group];
  AdvanceGroup(g);
  size_t before = g.active.size();
  std::erase_if(g.active, [&](const StartGroup::Active& a) {
    return a.slot == slot && a.gen == slots_[slot].gen;
  });
  if (g.active.size() != before) PlanGroup(group);
}

void Simulator::BeginServe(uint32_t slot, SimTimeUs arrival, SimTimeUs service) {
  Push(now_ + service, Ev::kComplete, slot, slots_[slot].gen);
  if (Measured(arrival)) latency_.Add(now_ - arrival + service);
}

void Simulator::OnReady(uint32_t slot) {
  Slot& s = slots_[slot];
  ViewInstance& vi = Inst(slot);
  Touch(s.key);
  if (vi.state == ViewState::kStarting) vi.state = ViewState::kReady;
  vi.state_since_ms = now_ / 1000;
  for (const auto& [arrival, service] : s.waiting) BeginServe(slot, arrival, service);
  s.waiting.clear();
  if (vi.state == ViewState::kDraining) MaybeDestroy(slot);
}

void Simulator::OnComplete(uint32_t slot, Policy& policy) {
  Slot& s = slots_[slot];
  ViewInstance& vi = Inst(slot);
  Touch(s.key);
  --vi.in_flight;
  vi.last_busy_ms = now_ / 1000;
  ChangeLoad(s.key, -1);
  if (vi.in_flight == 0) {
    s.idle_since = now_;
    if (vi.state == ViewState::kDraining) {
      MaybeDestroy(slot);
    } else {
      ViewInstance copy = vi;  // the policy may add instances, moving `vi`
      policy.OnIdle(*ctx_, s.key, copy);
    }
  }
}

void Simulator::DrainSlot(uint32_t slot) {
  ViewInstance& vi = Inst(slot);
  Touch(slots_[slot].key);
  vi.state = ViewState::kDraining;
  vi.state_since_ms = now_ / 1000;
  // answered_until_ms already holds ExpiredMs(last routed request), the first term of
  // AnswerHold::UntilMs; the drain's settling is the second.
  vi.answered_until_ms = std::max(vi.answered_until_ms, config_.answers.UntilMs(0, now_ / 1000));
  MaybeDestroy(slot);
}

void Simulator::MaybeDestroy(uint32_t slot) {
  Slot& s = slots_[slot];
  ViewInstance& vi = Inst(slot);
  if (vi.in_flight > 0 || !s.waiting.empty()) return;  // OnComplete comes back here
  SimTimeUs due = vi.answered_until_ms * 1000;
  if (now_ >= due) {
    Destroy(slot);
  } else {
    Push(due, Ev::kDestroyDue, slot, s.gen);
  }
}

void Simulator::Destroy(uint32_t slot) {
  Slot& s = slots_[slot];
  ViewInstance& vi = Inst(slot);
  if (vi.state == ViewState::kStarting || vi.state == ViewState::kDraining) LeaveGroup(slot);
  AddLoaded(s, s.loaded_at, now_);
  if (vi.in_flight == 0) AddWaste(s, s.idle_since, now_);
  ++view_.nodes[vi.node].free_slots;
  Touch(s.key);
  auto& insts = view_.keys[s.key].instances;
  // Erase keeping creation order (routing packs onto the oldest instances).
  for (uint32_t p = s.pos + 1; p < insts.size(); ++p) {
    slots_[static_cast<uint32_t>(std::stoul(insts[p].id))].pos = p - 1;
  }
  insts.erase(insts.begin() + s.pos);
  s.alive = false;
  ++s.gen;
  free_slots_.push_back(slot);
}

std::optional<uint32_t> Simulator::RouteLive(const ViewKey& key, ViewState state) {
  route_candidates_.clear();
  for (const ViewInstance& vi : key.instances) {
    if (vi.state == state) route_candidates_.push_back(&vi);
  }
  if (route_candidates_.empty()) return std::nullopt;
  const size_t i =
      orchestrator::PowerOfTwoIndex(route_candidates_.size(), route_rng_(),
                                    [&](size_t c) { return route_candidates_[c]->in_flight; });
  return static_cast<uint32_t>(std::stoul(route_candidates_[i]->id));
}

void Simulator::HandleArrival(const Arrival& a, Policy& policy) {
  const KeySpec& spec = w_.keys[a.key];
  ViewKey& key = view_.keys[a.key];
  KeyLoad& load = load_[a.key];
  ++load.cur_step_arrivals;
  load.changed = true;
  bool measured = Measured(now_);
  KeyStats& ks = result_.keys[a.key];
  if (measured) {
    ks.arrivals += a.invocations;
    result_.arrivals += a.invocations;
  }
  std::optional<uint32_t> slot;
  bool cold = false;
  if (config_.routing == Routing::kLive) {
    slot = RouteLive(key, ViewState::kReady);
    if (!slot) {
      slot = RouteLive(key, ViewState::kStarting);
      cold = slot.has_value();
    }
  } else {
    for (const ViewInstance& vi : key.instances) {
      if (vi.state == ViewState::kReady && vi.in_flight < spec.concurrency) {
        slot = static_cast<uint32_t>(std::stoul(vi.id));
        break;
      }
    }
    if (!slot) {
      for (const ViewInstance& vi : key.instances) {
        if (vi.state == ViewState::kStarting && vi.in_flight < spec.concurrency) {
          slot = static_cast<uint32_t>(std::stoul(vi.id));
          cold = true;
          break;
        }
      }
    }
  }
  if (!slot) {
    bool spilled = false;
    std::optional<uint32_t> node = orchestrator::PlaceNew(view_, key, &spilled);
    if (!node) {
      if (measured) {
        ++result_.origin;
        latency_.Add(static_cast<SimTimeUs>(config_.origin_latency_s * 1e6) + a.service_us);
      }
      policy.OnArrival(*ctx_, a.key, true);
      return;
    }
    --view_.nodes[*node].free_slots;
    slot = StartInstance(a.key, *node, spilled ? ScaleReason::kCapacity : ScaleReason::kStable);
    ++result_.decisions["cold-path"];
    cold = true;
  }
  Slot& s = slots_[*slot];
  ViewInstance& vi = Inst(*slot);
  if (vi.in_flight == 0) AddWaste(s, s.idle_since, now_);
  ++vi.in_flight;
  vi.used = true;
  vi.last_busy_ms = now_ / 1000;
  vi.answered_until_ms = std::max(vi.answered_until_ms, config_.answers.ExpiredMs(now_ / 1000));
  ChangeLoad(a.key, +1);
  if (vi.state == ViewState::kReady) {
    BeginServe(*slot, now_, a.service_us);
  } else {
    s.waiting.emplace_back(now_, a.service_us);
  }
  if (cold && measured) {
    ++ks.cold;
    ++result_.cold;
  }
  policy.OnArrival(*ctx_, a.key, cold);
}

SimResult Simulator::Run(Policy& policy) {
  auto wall0 = std::chrono::steady_clock::now();
  std::clock_t cpu0 = std::clock();
  ctx_ = std::make_unique<PolicyContext>(*this);
  const SimTimeUs step_us = w_.step_ms * 1000;
  end_ = static_cast<SimTimeUs>(w_.steps()) * step_us;
  measure_from_us_ = config_.measure_from_ms * 1000;
  result_.workload = w_.name;
  result_.policy = policy.name();
  result_.params = policy.params();
  policy.Begin(*ctx_);
  if (policy.tick_ms() > 0) Push(policy.tick_ms() * 1000, Ev::kTick, 0);
  for (size_t s = 1; s <= w_.steps(); ++s) Push(static_cast<SimTimeUs>(s) * step_us, Ev::kStep, 0);
  ArrivalStream arrivals(w_, config_.seed);
  Arrival next;
  bool have = arrivals.Next(next);
  uint64_t events = 0;
  while (have || !events_.empty()) {
    bool take_arrival = have && (events_.empty() || next.t < events_.top().t);
    if (take_arrival) {
      now_ = next.t;
      HandleArrival(next, policy);
      have = arrivals.Next(next);
      ++events;
      continue;
    }
    Event e = events_.top();
    events_.pop();
    if (e.t > end_ && e.type != Ev::kComplete && e.type != Ev::kReady && e.type != Ev::kStartsDone)
      continue;
    now_ = e.t;
    ++events;
    switch (e.type) {
      case Ev::kReady:
        if (slots_[e.a].alive && slots_[e.a].gen == e.gen) OnReady(e.a);
        break;
      case Ev::kStartsDone:
        OnStartsDone(e.a, e.gen);
        break;
      case Ev::kComplete:
        if (slots_[e.a].alive && slots_[e.a].gen == e.gen) OnComplete(e.a, policy);
        break;
      case Ev::kDestroyDue:
        if (slots_[e.a].alive && slots_[e.a].gen == e.gen) MaybeDestroy(e.a);
        break;
      case Ev::kWakeup:
        policy.OnWakeup(*ctx_, e.a);
        break;
      case Ev::kTick:
        policy.OnTick(*ctx_);
        Push(now_ + policy.tick_ms() * 1000, Ev::kTick, 0);
        break;
      case Ev::kStep: {
        for (auto& l : load_) {
          l.step_arrivals = l.cur_step_arrivals;
          l.cur_step_arrivals = 0;
        }
        policy.OnStep(*ctx_, static_cast<size_t>(e.t / step_us) - 1);
        break;
      }
    }
  }
  // Close the books at the end of the trace (requests still running end after it).
  now_ = std::max(now_, end_);
  for (uint32_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i].alive) continue;
    AddLoaded(slots_[i], slots_[i].loaded_at, now_);
    if (Inst(i).in_flight == 0) AddWaste(slots_[i], slots_[i].idle_since, now_);
  }
  result_.events = events;
  result_.sim_seconds = static_cast<double>(end_ - measure_from_us_) / 1e6;
  result_.cold_rate = result_.arrivals ? static_cast<double>(result_.cold) / result_.arrivals : 0;
  result_.cold_rate_p75 = ColdRateP75(result_.keys);
  result_.latency_p50_s = latency_.Quantile(0.5);
  result_.latency_p90_s = latency_.Quantile(0.9);
  result_.latency_p99_s = latency_.Quantile(0.99);
  result_.latency_p999_s = latency_.Quantile(0.999);
  policy.Finish(*ctx_, result_);
  result_.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  (void)cpu0;
  return result_;
}

}  // namespace prewarm::sim
