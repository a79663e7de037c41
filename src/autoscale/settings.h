// The autoscaler's settings: ONE table, read by the orchestrator's YAML config and by
// `prewarm sim --param POLICY.NAME=VALUE`, with the same names, defaults and validation.
//
// In YAML, `keepalive_s` sits at the top level of the orchestrator's config and every other
// setting in its `autoscaler:` mapping. Durations (names ending in _s) are seconds, or a
// number with a unit: 1500ms, 90s, 10m, 2h, 1d. Booleans are true/false or on/off.
//
// A policy is a preset of these settings (PolicySettings); settings given explicitly
// override it. examples/orchestrator.yaml lists every row with its default.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "autoscale/idle_learner.h"
#include "autoscale/reconciler.h"

namespace prewarm::orchestrator {

// Knative's scale-to-zero-grace-period default: the reactive-kpa preset keeps a key's last
// instance this long past its stable window.
inline constexpr int64_t kKnativeScaleToZeroGraceMs = 30'000;

struct AutoscalerSettings {
  std::string policy = "custom";  // the preset these came from (PolicyNames)
  bool proactive = true;          // act on the forecaster's prefetch windows
  bool reactive = true;           // Knative-style stable/panic windows over live concurrency
  int64_t stable_window_ms = 60'000;
  int64_t panic_window_ms = 6'000;
  double panic_threshold = 2.0;     // panic when demand >= this x ready capacity
  double target_utilisation = 0.7;  // of each instance's concurrency
  int64_t keepalive_ms = 600'000;   // idle this long -> drained (templates may override)
  // All but a key's most recently busy instance: idle this long -> drained (-1: keepalive_ms;
  // Knative drains them as soon as the stable window no longer wants them: 0).
  int64_t surplus_keepalive_ms = -1;
  // Learned keep-alive per (region, template) from its idle times (idle_learner.h);
  // off: every key keeps keepalive_s.
  bool learned_keepalive = false;
  LearnedKeepAliveConfig learned;
  // The durations above are demand's time; the policy's clock runs this many times faster
  // (a replay of a trace compressed by --speed X: X). OnPolicyClock applies it.
  double time_scale = 1;
};

// One row of the table.
struct Setting {
  enum class Kind { kBool, kDouble, kCount, kSeconds, kChoice };
  std::string name;
  Kind kind = Kind::kDouble;
  double min = 0, max = 0;           // kDouble, kCount; kSeconds: in seconds
  std::vector<std::string> choices;  // kChoice
  bool off = false;                  // kCount: "off" is accepted (never)
  std::string help;
  // Parses `value` into `s` (validated); the error names the setting and the bounds.
  std::function<absl::Status(AutoscalerSettings& s, std::string_view value)> set;
  // The current value, as it would be written.
  std::function<std::string(const AutoscalerSettings& s)> get;
  // Durations: puts the value on a clock `k` times faster (divided by k); null for the
  // others.
  std::function<void(AutoscalerSettings& s, double k)> scale;
};

const std::vector<Setting>& SettingsTable();
const Setting* FindSetting(std::string_view name);

// The policies a config or the simulator may name: predictive, reactive-kpa,
// fixed-keepalive.
const std::vector<std::string>& PolicyNames();
// The preset of `policy` (an error names the valid ones).
absl::StatusOr<AutoscalerSettings> PolicySettings(std::string_view policy);

// Parses "90s", "10m", "2h", "1500ms", "1d" or plain seconds into ms.
absl::StatusOr<int64_t> ParseDurationMs(std::string_view s);

// Sets `name` = `value` in `s` through the table; unknown names are an error listing the
// valid ones. Call ValidateSettings once all are set.
absl::Status ApplySetting(AutoscalerSettings& s, std::string_view name, std::string_view value);
// Checks the settings against each other (the panic window within the stable window).
absl::Status ValidateSettings(const AutoscalerSettings& s);
// Every setting of `values` (name -> text), in table order, then ValidateSettings.
absl::Status ApplySettings(AutoscalerSettings& s, const std::map<std::string, std::string>& values);

// `s` as its policy runs, on a clock `time_scale` times faster than demand's: every
// duration of the table divided by time_scale, with the learners' histogram bins, timer
// periods and day (the time base of the rates per day), which the table does not name; its
// time_scale is 1. At time_scale 1, `s` itself. Validated values stay valid (both sides
// of each bound between settings scale alike); a scaled value may lie below a row's
// minimum, which bounds what an operator writes, not what a replay runs.
AutoscalerSettings OnPolicyClock(const AutoscalerSettings& s);
// A positive duration on a clock `time_scale` times faster (at least 1 ms); 0 and negative
// sentinels stay.
int64_t OnPolicyClockMs(int64_t ms, double time_scale);

// The reconciler's configuration from the settings, on the policy's clock (OnPolicyClock;
// templates get the default policy).
ReconcilerConfig MakeReconcilerConfig(const AutoscalerSettings& s);

}  // namespace prewarm::orchestrator
