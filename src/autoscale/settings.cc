#include "autoscale/settings.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_join.h"
#include "common/status.h"
#include "fmt/format.h"

namespace prewarm::orchestrator {
namespace {

using Kind = Setting::Kind;

absl::Status Bad(std::string_view name, std::string_view value, std::string_view why) {
  return absl::InvalidArgumentError(fmt::format("{}: '{}' {}", name, value, why));
}

absl::StatusOr<double> ParseNumber(std::string_view name, std::string_view v) {
  std::string s(v);
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(d)) {
    return Bad(name, v, "is not a number");
  }
  return d;
}

absl::StatusOr<bool> ParseBool(std::string_view name, std::string_view v) {
  if (v == "true" || v == "on" || v == "yes") return true;
  if (v == "false" || v == "off" || v == "no") return false;
  return Bad(name, v, "is not a boolean (true/false, on/off)");
}

std::string Num(double d) { return fmt::format("{}", d); }

template <typename F>
Setting Bool(std::string name, F field, std::string help) {
  Setting s{std::move(name), Kind::kBool,     0,       1,       {},
            false,           std::move(help), nullptr, nullptr, nullptr};
  s.set = [name = s.name, field](AutoscalerSettings& a, std::string_view v) -> absl::Status {
    ASSIGN_OR_RETURN(field(a), ParseBool(name, v));
    return absl::OkStatus();
  };
  s.get = [field](const AutoscalerSettings& a) {
    return field(const_cast<AutoscalerSettings&>(a)) ? std::string("true") : std::string("false");
  };
  return s;
}

template <typename F>
Setting Double(std::string name, F field, double min, double max, std::string help) {
  Setting s{std::move(name), Kind::kDouble,   min,     max,     {},
            false,           std::move(help), nullptr, nullptr, nullptr};
  s.set = [name = s.name, field, min, max](AutoscalerSettings& a,
                                           std::string_view v) -> absl::Status {
    ASSIGN_OR_RETURN(double d, ParseNumber(name, v));
    if (d < min || d > max) return Bad(name, v, fmt::format("must be in [{}, {}]", min, max));
    field(a) = d;
    return absl::OkStatus();
  };
  s.get = [field](const AutoscalerSettings& a) {
    return Num(field(const_cast<AutoscalerSettings&>(a)));
  };
  return s;
}

// A whole count into an integer field of type T; with `off`, "off" means never (T's max).
template <typename T, typename F>
Setting Count(std::string name, F field, double min, double max, bool off, std::string help) {
  Setting s{std::move(name), Kind::kCount, min,     max,    {}, off,
            std::move(help), nullptr,      nullptr, nullptr};
  s.set = [name = s.name, field, min, max, off](AutoscalerSettings& a,
                                                std::string_view v) -> absl::Status {
    if (off && v == "off") {
      field(a) = std::numeric_limits<T>::max();
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(double d, ParseNumber(name, v));
    if (d != std::floor(d) || d < min || d > max) {
      return Bad(
          name, v,
          fmt::format("must be a whole number in [{}, {}]{}", min, max, off ? " or off" : ""));
    }
    field(a) = static_cast<T>(d);
    return absl::OkStatus();
  };
  s.get = [field, off](const AutoscalerSettings& a) {
    T v = field(const_cast<AutoscalerSettings&>(a));
    if (off && v == std::numeric_limits<T>::max()) return std::string("off");
    return fmt::format("{}", v);
  };
  return s;
}

// A duration held in ms (int64_t) or in seconds (double).
template <typename F>
Setting Seconds(std::string name, F field, double min_s, double max_s, std::string help) {
  Setting s{std::move(name), Kind::kSeconds,  min_s,   max_s,   {},
            false,           std::move(help), nullptr, nullptr, nullptr};
  s.set = [name = s.name, field, min_s, max_s](AutoscalerSettings& a,
                                               std::string_view v) -> absl::Status {
    auto ms = ParseDurationMs(v);
    if (!ms.ok()) return Bad(name, v, "is not a duration (seconds, or 1500ms, 90s, 10m, 2h, 1d)");
    const double sec = static_cast<double>(*ms) / 1000.0;
    if (sec < min_s || sec > max_s) {
      return Bad(name, v, fmt::format("must be between {} s and {} s", min_s, max_s));
    }
    auto& f = field(a);
    if constexpr (std::is_same_v<std::decay_t<decltype(f)>, double>) {
      f = sec;
    } else {
      f = *ms;
    }
    return absl::OkStatus();
  };
  s.get = [field](const AutoscalerSettings& a) {
    const auto& f = field(const_cast<AutoscalerSettings&>(a));
    if constexpr (std::is_same_v<std::decay_t<decltype(f)>, double>) {
      return Num(f);
    } else {
      return Num(static_cast<double>(f) / 1000.0);
    }
  };
  s.scale = [field](AutoscalerSettings& a, double k) {
    auto& f = field(a);
    if constexpr (std::is_same_v<std::decay_t<decltype(f)>, double>) {
      f /= k;
    } else {  // a negative sentinel (surplus_keepalive_s: same) stays
      f = OnPolicyClockMs(f, k);
    }
  };
  return s;
}

// One of `choices`, into a string field.
template <typename F>
Setting Choice(std::string name, F field, std::vector<std::string> choices, std::string help) {
  Setting s{std::move(name), Kind::kChoice,   0,       0,       std::move(choices),
            false,           std::move(help), nullptr, nullptr, nullptr};
  s.set = [name = s.name, field, choices = s.choices](AutoscalerSettings& a,
                                                      std::string_view v) -> absl::Status {
    if (std::find(choices.begin(), choices.end(), v) == choices.end()) {
      return Bad(name, v, fmt::format("must be one of {}", absl::StrJoin(choices, ", ")));
    }
    field(a) = std::string(v);
    return absl::OkStatus();
  };
  s.get = [field](const AutoscalerSettings& a) {
    return std::string(field(const_cast<AutoscalerSettings&>(a)));
  };
  return s;
}

std::vector<Setting> MakeTable() {
  using A = AutoscalerSettings;
  std::vector<Setting> t;
  // The reconciler (Knative's KPA defaults).
  t.push_back(Bool(
      "proactive", [](A& a) -> bool& { return a.proactive; },
      "meet the forecaster's prefetch windows a start time early"));
  t.push_back(Bool(
      "reactive", [](A& a) -> bool& { return a.reactive; },
      "stable/panic windows over live concurrency (Knative's KPA)"));
  t.push_back(Seconds(
      "stable_window_s", [](A& a) -> int64_t& { return a.stable_window_ms; }, 1, 3600,
      "the KPA's stable window"));
  t.push_back(Seconds(
      "panic_window_s", [](A& a) -> int64_t& { return a.panic_window_ms; }, 1, 3600,
      "the KPA's panic window (at most the stable window)"));
  t.push_back(Double(
      "panic_threshold", [](A& a) -> double& { return a.panic_threshold; }, 1, 100,
      "panic when demand >= this x ready capacity"));
  t.push_back(Double(
      "target_utilisation", [](A& a) -> double& { return a.target_utilisation; }, 0.01, 1,
      "of each instance's concurrency (the KPA's target)"));
  t.push_back(Seconds(
      "keepalive_s", [](A& a) -> int64_t& { return a.keepalive_ms; }, 0, 7 * 86400,
      "an instance idle this long is drained (templates may override)"));
  {
    Setting k{"surplus_keepalive_s",
              Kind::kSeconds,
              0,
              7 * 86400,
              {},
              false,
              "all but a key's most recently busy instance are drained after this idle "
              "(same: keepalive_s)",
              nullptr,
              nullptr,
              nullptr};
    const Setting seconds = Seconds(
        "surplus_keepalive_s", [](A& a) -> int64_t& { return a.surplus_keepalive_ms; }, 0,
        7 * 86400, "");
    k.set = [set = seconds.set](A& a, std::string_view v) -> absl::Status {
      if (v == "same") {
        a.surplus_keepalive_ms = -1;
        return absl::OkStatus();
      }
      return set(a, v);
    };
    k.scale = seconds.scale;  // "same" (negative) stays
    k.get = [get = seconds.get](const A& a) {
      return a.surplus_keepalive_ms < 0 ? std::string("same") : get(a);
    };
    t.push_back(std::move(k));
  }
  // The learned keep-alive (idle_learner.h, LearnedKeepAliveConfig).
  t.push_back(Bool(
      "learned_keepalive", [](A& a) -> bool& { return a.learned_keepalive; },
      "learn each key's keep-alive and reloads from its idle times"));
  t.push_back(Seconds(
      "cold_start_cost_s", [](A& a) -> double& { return a.learned.cold_s; }, 0.001, 1e9,
      "one cold start is worth this many idle instance-seconds"));
  t.push_back(Choice(
      "weight", [](A& a) -> std::string& { return a.learned.weight; }, {"start", "key", "mix"},
      "whose cold starts weigh more: every start alike, every key alike, or a mix"));
  t.push_back(Double(
      "mix_per_day", [](A& a) -> double& { return a.learned.mix_per_day; }, 0, 1e9,
      "weight=mix: keys with fewer idle periods a day than this weigh more"));
  t.push_back(Count<uint64_t>(
      "min_samples", [](A& a) -> uint64_t& { return a.learned.learner.min_samples; }, 0, 1e9, false,
      "idle periods before a key's plan is learned"));
  t.push_back(Double(
      "prior", [](A& a) -> double& { return a.learned.learner.prior_weight; }, 0, 1000,
      "pseudo-samples of a log-uniform prior over the idle times"));
  t.push_back(Seconds(
      "range_s", [](A& a) -> int64_t& { return a.learned.learner.range_ms; }, 60, 7 * 86400,
      "idle periods longer than this are not bridged"));
  t.push_back(Count<uint32_t>(
      "surplus_levels", [](A& a) -> uint32_t& { return a.learned.surplus_levels; }, 0, 64, false,
      "concurrent instances 2.. that learn keep-alives of their own"));
  t.push_back(Seconds(
      "surplus_cold_start_cost_s", [](A& a) -> double& { return a.learned.surplus_cold_s; }, 0.001,
      1e9, "a surplus instance's cold start (default: cold_start_cost_s)"));
  t.push_back(Double(
      "surplus_per_day", [](A& a) -> double& { return a.learned.surplus_per_day; }, 0, 1e9,
      "above this many idle periods a day, surplus starts are priced per key"));
  t.push_back(Double(
      "cold_start_objective", [](A& a) -> double& { return a.learned.cold_start_objective; }, 0, 1,
      "surplus_per_day applies while the key's cold-start rate is under this"));
  t.push_back(Bool(
      "timers", [](A& a) -> bool& { return a.learned.timers; },
      "load an instance ahead of keys that fire like cron timers"));
  t.push_back(Count<uint64_t>(
      "keep_first_min_samples",
      [](A& a) -> uint64_t& { return a.learned.learner.keep_first_min_samples; }, 0, 1e9, true,
      "idle periods before a reload plan may keep the instance first"));
  t.push_back(Double(
      "memory_weight", [](A& a) -> double& { return a.learned.memory_weight; }, 0, 1,
      "a cold start's price is divided by (memory / average)^this"));
  t.push_back(Bool(
      "bursts", [](A& a) -> bool& { return a.learned.bursts; },
      "scale an activation out to the peak its predecessors reached"));
  t.push_back(Seconds(
      "burst_window_s", [](A& a) -> int64_t& { return a.learned.burst_window_ms; }, 1, 3600,
      "an activation's peak is measured over this"));
  t.push_back(Count<uint32_t>(
      "burst_min_samples", [](A& a) -> uint32_t& { return a.learned.burst_min_samples; }, 1, 1e6,
      false, "activations before a scale-out is planned"));
  t.push_back(Double(
      "burst_min_share", [](A& a) -> double& { return a.learned.burst_min_share; }, 0, 1,
      "scale out to a level reached by at least this share of activations"));
  // The hybrid histogram (ATC'20, hybrid_histogram.h): planner=hybrid-histogram.
  {
    Setting p{"planner",
              Kind::kChoice,
              0,
              0,
              {"cost", "hybrid-histogram"},
              false,
              "who plans learned keep-alives: the priced IdleLearner, or ATC'20's hybrid histogram",
              nullptr,
              nullptr,
              nullptr};
    using P = LearnedKeepAliveConfig::Planner;
    p.set = [](A& a, std::string_view v) -> absl::Status {
      if (v != "cost" && v != "hybrid-histogram")
        return Bad("planner", v, "must be cost or hybrid-histogram");
      a.learned.planner = v == "cost" ? P::kCost : P::kHybridHistogram;
      return absl::OkStatus();
    };
    p.get = [](const A& a) {
      return std::string(a.learned.planner == P::kCost ? "cost" : "hybrid-histogram");
    };
    t.push_back(std::move(p));
  }
  t.push_back(Double(
      "hybrid_head", [](A& a) -> double& { return a.learned.hybrid.head; }, 0, 100,
      "percentile of the idle times that gives the pre-warm window"));
  t.push_back(Double(
      "hybrid_tail", [](A& a) -> double& { return a.learned.hybrid.tail; }, 0, 100,
      "percentile of the idle times that ends the keep-alive window"));
  t.push_back(Double(
      "hybrid_margin", [](A& a) -> double& { return a.learned.hybrid.margin; }, 0, 0.99,
      "the head is shortened and the tail lengthened by this share"));
  t.push_back(Seconds(
      "hybrid_range_s", [](A& a) -> int64_t& { return a.learned.hybrid.range_ms; }, 60, 7 * 86400,
      "the idle-time histogram's range"));
  t.push_back(Seconds(
      "hybrid_bin_s", [](A& a) -> int64_t& { return a.learned.hybrid.bin_ms; }, 1, 86400,
      "the idle-time histogram's bin width"));
  t.push_back(Double(
      "hybrid_cv", [](A& a) -> double& { return a.learned.hybrid.cv; }, 0, 1e6,
      "the histogram is representative when its bin counts' CV is above this"));
  t.push_back(Count<uint64_t>(
      "hybrid_min_samples", [](A& a) -> uint64_t& { return a.learned.hybrid.min_samples; }, 0, 1e9,
      false, "idle times before the histogram may be representative"));
  t.push_back(Seconds(
      "hybrid_standard_keepalive_s",
      [](A& a) -> int64_t& { return a.learned.hybrid.standard_keepalive_ms; }, 0, 7 * 86400,
      "the keep-alive while the histogram is not representative (the paper: its range)"));
  t.push_back(Double(
      "hybrid_oob", [](A& a) -> double& { return a.learned.hybrid.oob; }, 0.001, 1,
      "forecast the next idle time when this share of them were beyond the range"));
  t.push_back(Double(
      "hybrid_oob_margin", [](A& a) -> double& { return a.learned.hybrid.oob_margin; }, 0, 0.99,
      "the forecast's window: its idle time minus and plus this share"));
  t.push_back(Choice(
      "hybrid_oob_model", [](A& a) -> std::string& { return a.learned.hybrid.oob_model; },
      {"ets", "snaive", "off"},
      "the forecast of out-of-range idle times (the paper's ARIMA: ets; snaive: the last one; off: "
      "never)"));
  // Replays (bench/replay/run.sh --policy-clock trace).
  t.push_back(Double(
      "time_scale", [](A& a) -> double& { return a.time_scale; }, 1, 3600,
      "the durations here are demand's time and the policy runs this many times faster (a "
      "trace replayed at --speed X: X); 1 outside replays"));
  return t;
}

}  // namespace

absl::StatusOr<int64_t> ParseDurationMs(std::string_view text) {
  struct Unit {
    std::string_view suffix;
    double ms;
  };
  // Longest suffix first: "10ms" is not "10m" + "s".
  static constexpr Unit kUnits[] = {
      {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};
  std::string s(text);
  double scale = 1000;
  for (const Unit& u : kUnits) {
    if (s.size() > u.suffix.size() && s.ends_with(u.suffix)) {
      s.resize(s.size() - u.suffix.size());
      scale = u.ms;
      break;
    }
  }
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v) || v < 0 || v * scale > 1e15) {
    return absl::InvalidArgumentError(
        fmt::format("'{}' is not a duration (e.g. 90s, 10m, 2h)", text));
  }
  return static_cast<int64_t>(std::llround(v * scale));
}

const std::vector<Setting>& SettingsTable() {
  static const std::vector<Setting> kTable = MakeTable();
  return kTable;
}

const Setting* FindSetting(std::string_view name) {
  for (const Setting& s : SettingsTable())
    if (s.name == name) return &s;
  return nullptr;
}

const std::vector<std::string>& PolicyNames() {
  static const std::vector<std::string> kNames = {"predictive", "reactive-kpa", "fixed-keepalive",
                                                  "hybrid-histogram"};
  return kNames;
}

absl::StatusOr<AutoscalerSettings> PolicySettings(std::string_view policy) {
  AutoscalerSettings s;
  s.policy = std::string(policy);
  if (policy == "fixed-keepalive") {
    // Scale from zero on the cold path only; drain after a fixed idle time (the providers'
    // 10 minutes).
    s.proactive = false;
    s.reactive = false;
  } else if (policy == "reactive-kpa") {
    // Knative's autoscaler over live concurrency, no forecast, with its defaults: instances
    // the 60-s stable window no longer wants go at once (scale-down-delay 0), and the last
    // one when the window has seen no request, after scale-to-zero-grace-period (30 s).
    s.proactive = false;
    s.surplus_keepalive_ms = 0;
    s.keepalive_ms = s.stable_window_ms + kKnativeScaleToZeroGraceMs;
  } else if (policy == "predictive") {
    // prewarm: forecast windows, the KPA floor, learned keep-alives and timers. The
    // keep-alive only stands until a key has a plan.
    s.learned_keepalive = true;
    s.keepalive_ms = 60'000;
  } else if (policy == "hybrid-histogram") {
    // Shahrad et al. (ATC'20) as published: idle-time histograms, each idle period a
    // keep-alive or an unload and a pre-warm; no forecast windows, no KPA, bursts or timers.
    // Each concurrency rank of a key (a surplus level: l instances serving at once) has a
    // histogram of its own, as the reference simulator's concurrency mode has
    // (bench/sim/README.md); ranks past the last level keep its windows. Until a rank's
    // first idle period its keep-alive is the standard one, the histogram's range.
    s.proactive = false;
    s.reactive = false;
    s.learned_keepalive = true;
    s.learned.planner = LearnedKeepAliveConfig::Planner::kHybridHistogram;
    s.learned.surplus_levels = 64;
    s.learned.bursts = false;
    s.learned.timers = false;
    s.keepalive_ms = s.learned.hybrid.range_ms;
  } else {
    return absl::InvalidArgumentError(fmt::format("unknown autoscaler policy '{}' ({})", policy,
                                                  absl::StrJoin(PolicyNames(), ", ")));
  }
  return s;
}

absl::Status ApplySetting(AutoscalerSettings& s, std::string_view name, std::string_view value) {
  const Setting* setting = FindSetting(name);
  if (setting == nullptr) {
    std::vector<std::string> names;
    for (const Setting& t : SettingsTable()) names.push_back(t.name);
    return absl::InvalidArgumentError(fmt::format("unknown autoscaler setting '{}' (settings: {})",
                                                  name, absl::StrJoin(names, ", ")));
  }
  // A surplus cold start is priced as a first one unless it was given its own price.
  const bool surplus_follows = s.learned.surplus_cold_s == s.learned.cold_s;
  // The hybrid histogram's standard keep-alive is its range unless given (the paper's).
  HybridHistogramOptions& h = s.learned.hybrid;
  const bool standard_follows = h.standard_keepalive_ms == h.range_ms;
  RETURN_IF_ERROR(setting->set(s, value));
  if (name == "cold_start_cost_s" && surplus_follows) s.learned.surplus_cold_s = s.learned.cold_s;
  if (name == "hybrid_range_s" && standard_follows) h.standard_keepalive_ms = h.range_ms;
  return absl::OkStatus();
}

int64_t OnPolicyClockMs(int64_t ms, double time_scale) {
  if (ms <= 0 || time_scale == 1) return ms;
  return std::max<int64_t>(1, std::llround(static_cast<double>(ms) / time_scale));
}

AutoscalerSettings OnPolicyClock(const AutoscalerSettings& settings) {
  AutoscalerSettings s = settings;
  const double k = settings.time_scale;
  if (k == 1) return s;
  for (const Setting& t : SettingsTable()) {
    if (t.scale) t.scale(s, k);
  }
  auto faster = [k](int64_t& ms) { ms = OnPolicyClockMs(ms, k); };
  faster(s.learned.learner.bin_ms);
  faster(s.learned.day_ms);  // the rates per day keep their values, per day of this clock
  faster(s.learned.timer.slot_ms);
  for (int64_t& p : s.learned.timer.periods_ms) faster(p);
  s.time_scale = 1;
  return s;
}

ReconcilerConfig MakeReconcilerConfig(const AutoscalerSettings& settings) {
  const AutoscalerSettings s = OnPolicyClock(settings);
  ReconcilerConfig rc;
  rc.proactive = s.proactive;
  rc.reactive = s.reactive;
  rc.stable_window_ms = s.stable_window_ms;
  rc.panic_window_ms = s.panic_window_ms;
  rc.panic_threshold = s.panic_threshold;
  rc.default_template.keepalive_ms = s.keepalive_ms;
  rc.default_template.surplus_keepalive_ms = s.surplus_keepalive_ms;
  rc.default_template.target_utilisation = s.target_utilisation;
  return rc;
}

absl::Status ValidateSettings(const AutoscalerSettings& s) {
  const HybridHistogramOptions& h = s.learned.hybrid;
  if (h.head > h.tail) {
    return absl::InvalidArgumentError(
        fmt::format("hybrid_head: the pre-warm percentile ({}) must not exceed hybrid_tail ({})",
                    h.head, h.tail));
  }
  if (h.range_ms < h.bin_ms) {
    return absl::InvalidArgumentError(fmt::format(
        "hybrid_range_s: the range ({} s) must hold at least one bin ({} s)",
        static_cast<double>(h.range_ms) / 1000.0, static_cast<double>(h.bin_ms) / 1000.0));
  }
  if (s.panic_window_ms > s.stable_window_ms) {
    return absl::InvalidArgumentError(fmt::format(
        "panic_window_s: the panic window ({} s) must not exceed the stable window ({} s)",
        static_cast<double>(s.panic_window_ms) / 1000.0,
        static_cast<double>(s.stable_window_ms) / 1000.0));
  }
  return absl::OkStatus();
}

absl::Status ApplySettings(AutoscalerSettings& s,
                           const std::map<std::string, std::string>& values) {
  for (const auto& [name, value] : values) {
    if (FindSetting(name) == nullptr) return ApplySetting(s, name, value);  // the error
  }
  // In table order: a price given with its surplus price sets the first before the second.
  for (const Setting& t : SettingsTable()) {
    if (auto v = values.find(t.name); v != values.end())
      RETURN_IF_ERROR(ApplySetting(s, t.name, v->second));
  }
  return ValidateSettings(s);
}

}  // namespace prewarm::orchestrator
