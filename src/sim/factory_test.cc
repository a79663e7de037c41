#include "sim/factory.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <vector>

#include "autoscale/settings.h"
#include "sim/policies.h"
#include "sim/report.h"

namespace prewarm::sim {
namespace {

// --- Small well-formedness checkers (no JSON or XML library in the build). --------------

// A recursive-descent JSON recogniser: true when `s` is exactly one JSON value.
class JsonChecker {
 public:
  explicit JsonChecker(const std::string& s) : s_(s) {}
  bool Valid() { return Value() && (Ws(), i_ == s_.size()); }

 private:
  void Ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool Lit(const char* word) {
    size_t n = std::char_traits<char>::length(word);
    if (s_.compare(i_, n, word) != 0) return false;
    i_ += n;
    return true;
  }
  bool String() {
    if (s_[i_] != '"') return false;
    for (++i_; i_ < s_.size(); ++i_) {
      if (s_[i_] == '\\') {
        ++i_;
      } else if (s_[i_] == '"') {
        ++i_;
        return true;
      } else if (static_cast<unsigned char>(s_[i_]) < 0x20) {
        return false;
      }
    }
    return false;
  }
  bool Number() {
    size_t start = i_;
    while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) ||
                              std::string("+-.eE").find(s_[i_]) != std::string::npos)) {
      ++i_;
    }
    return i_ > start;
  }
  template <typename F>
  bool Sequence(char close, F item) {
    ++i_;
    Ws();
    if (i_ < s_.size() && s_[i_] == close) return ++i_, true;
    while (true) {
      if (!item()) return false;
      Ws();
      if (i_ >= s_.size()) return false;
      if (s_[i_] == close) return ++i_, true;
      if (s_[i_] != ',') return false;
      ++i_;
    }
  }
  bool Value() {
    Ws();
    if (i_ >= s_.size()) return false;
    char c = s_[i_];
    if (c == '{') {
      return Sequence('}', [&] {
        Ws();
        if (i_ >= s_.size() || !String()) return false;
        Ws();
        if (i_ >= s_.size() || s_[i_] != ':') return false;
        ++i_;
        return Value();
      });
    }
    if (c == '[') return Sequence(']', [&] { return Value(); });
    if (c == '"') return String();
    if (c == 't') return Lit("true");
    if (c == 'f') return Lit("false");
    if (c == 'n') return Lit("null");
    return Number();
  }
  const std::string& s_;
  size_t i_ = 0;
};

// Tags nest and close (enough XML for the SVG we write: no comments, CDATA or <?...?>).
bool XmlBalanced(const std::string& s) {
  std::vector<std::string> open;
  for (size_t i = s.find('<'); i != std::string::npos; i = s.find('<', i)) {
    size_t end = i + 1;
    for (char quote = 0; end < s.size() && (quote || s[end] != '>'); ++end) {
      if (s[end] == '"') quote = quote ? 0 : '"';
    }
    if (end >= s.size()) return false;
    std::string tag = s.substr(i + 1, end - i - 1);
    i = end + 1;
    if (!tag.empty() && tag.back() == '/') continue;
    std::string name = tag.substr(0, tag.find_first_of(" \n"));
    if (name.empty()) return false;
    if (name[0] == '/') {
      if (open.empty() || open.back() != name.substr(1)) return false;
      open.pop_back();
    } else {
      open.push_back(name);
    }
  }
  return open.empty();
}

size_t Count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t i = s.find(what); i != std::string::npos; i = s.find(what, i + 1)) ++n;
  return n;
}

// --- Factory ----------------------------------------------------------------------------

// Two keys in two regions with bursts and gaps; 1 s starts; 0.1 s service.
Workload Bursty() {
  Workload w;
  w.name = "bursty";
  w.regions = {"eu-west", "us-east"};
  for (int k = 0; k < 2; ++k) {
    KeySpec spec;
    spec.region = w.regions[k];
    spec.tmpl = "api";
    spec.memory_mb = 100;
    spec.service.knots = {{0, 0.1}, {1, 0.1}};
    w.keys.push_back(spec);
    std::vector<uint32_t> counts;
    for (int m = 0; m < 240; ++m) counts.push_back((m * (k + 3)) % 17 < 3 ? 1 + m % 4 : 0);
    w.counts.push_back(counts);
  }
  return w;
}

SimConfig Config() {
  SimConfig c;
  c.start = StartTime{1.0, 1.0};
  c.nodes = 2;
  return c;
}

TEST(Factory, KnowsTheFivePolicies) {
  EXPECT_EQ(PolicyNames(),
            (std::vector<std::string>{"predictive", "fixed-keepalive", "hybrid-histogram",
                                      "reactive-kpa", "oracle"}));
  for (const std::string& name : PolicyNames()) {
    auto p = MakePolicy(name, {});
    ASSERT_TRUE(p.ok()) << name << ": " << p.status();
    EXPECT_EQ((*p)->name(), name);
  }
}

TEST(Factory, UnknownPoliciesAndKnobsAreErrorsNamingTheValidOnes) {
  auto p = MakePolicy("lru", {});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find("fixed-keepalive"), std::string::npos);
  EXPECT_FALSE(MakePolicy("fixed-keepalive", {{"q", "0.9"}}).ok());
  EXPECT_FALSE(SweepFor("lru").ok());
}

TEST(Factory, ParamsAreTheOrchestratorsSettingsByTheSameNamesAndPresets) {
  // Every reconciler policy starts from the preset a config's `autoscaler.policy` selects,
  // and every row of the settings table is a --param of that name, parsed by the same row.
  for (const std::string& name : orchestrator::PolicyNames()) {
    auto preset = orchestrator::PolicySettings(name);
    ASSERT_TRUE(preset.ok());
    auto plain = ParseReconcilerPolicy(name, {});
    ASSERT_TRUE(plain.ok()) << plain.status();
    for (const auto& row : orchestrator::SettingsTable()) {
      EXPECT_EQ(row.get(plain->settings), row.get(*preset)) << name << " " << row.name;
      orchestrator::AutoscalerSettings want = *preset;
      std::string value = row.kind == orchestrator::Setting::Kind::kBool ? "false" : "2";
      if (row.name == "weight") value = "key";
      if (!orchestrator::ApplySetting(want, row.name, value).ok() ||
          !orchestrator::ValidateSettings(want).ok())
        continue;
      auto set = ParseReconcilerPolicy(name, {{row.name, value}});
      ASSERT_TRUE(set.ok()) << name << " " << row.name << ": " << set.status();
      EXPECT_EQ(row.get(set->settings), row.get(want)) << name << " " << row.name;
    }
  }
  EXPECT_FALSE(ParseReconcilerPolicy("predictive", {{"panic_window_s", "90"}}).ok())
      << "validated against each other as the config is";
}

TEST(Factory, EverySweepValueBuildsAPolicyAndTheDefaultIsOnTheCurve) {
  for (const std::string& name : PolicyNames()) {
    auto axis = SweepFor(name);
    ASSERT_TRUE(axis.ok()) << name;
    EXPECT_GE(axis->values.size(), 4u) << name;
    EXPECT_NE(std::find(axis->values.begin(), axis->values.end(), axis->default_value),
              axis->values.end())
        << name;
    for (const std::string& v : axis->values) {
      EXPECT_TRUE(MakePolicy(name, {{axis->knob, v}}).ok())
          << name << " " << axis->knob << "=" << v;
    }
  }
}

TEST(Factory, TheSameRunIsRunOnceAndASweepPointKeepsItsKnob) {
  RunSet set;
  size_t ref = set.Add(ReferenceRun());
  auto sweep = SweepRuns({"fixed-keepalive"}, {});
  ASSERT_TRUE(sweep.ok());
  std::vector<size_t> idx;
  for (const RunSpec& r : *sweep) idx.push_back(set.Add(r));
  EXPECT_EQ(set.runs().size(), sweep->size());  // 10m is both the reference and a point
  EXPECT_EQ(idx[6], ref);
  EXPECT_EQ(set.runs()[ref].knob, "keepalive_s");
  EXPECT_EQ(set.runs()[ref].value, "10m");
  EXPECT_EQ(set.Add({"fixed-keepalive", CanonicalParams("fixed-keepalive", {}), "", ""}), ref);
}

TEST(Factory, ASweepRejectsTheKnobItVaries) {
  EXPECT_FALSE(SweepRuns({"predictive"}, {{"predictive", {{"cold_start_cost_s", "1h"}}}}).ok());
  auto runs = SweepRuns({"predictive"}, {{"predictive", {{"model", "ets"}}}});
  ASSERT_TRUE(runs.ok());
  for (const RunSpec& r : *runs) EXPECT_EQ(r.params.at("model"), "ets");
}

TEST(Factory, ResultsDoNotDependOnTheNumberOfThreads) {
  Workload w = Bursty();
  std::vector<RunSpec> runs = {ReferenceRun(),
                               {"reactive-kpa", {{"keepalive_s", "1m"}}, "", ""},
                               {"fixed-keepalive", {{"keepalive_s", "2m"}}, "", ""}};
  auto one = RunAll(w, Config(), runs, 1);
  // Progress: one call per finished run, counting up to the total, whatever the threads.
  std::vector<std::pair<size_t, size_t>> calls;
  auto two = RunAll(w, Config(), runs, 2,
                    [&](size_t done, size_t total) { calls.emplace_back(done, total); });
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_EQ(calls, (std::vector<std::pair<size_t, size_t>>{{1, 3}, {2, 3}, {3, 3}}));
  ASSERT_EQ(one->size(), 3u);
  for (size_t i = 0; i < runs.size(); ++i) {
    EXPECT_EQ((*one)[i].policy, runs[i].policy);
    EXPECT_EQ((*one)[i].cold, (*two)[i].cold);
    EXPECT_EQ((*one)[i].starts, (*two)[i].starts);
    EXPECT_DOUBLE_EQ((*one)[i].wasted_mb_s, (*two)[i].wasted_mb_s);
  }
  // A shorter keep-alive wastes less than the 10-minute reference.
  EXPECT_LT((*one)[2].wasted_mb_s, (*one)[0].wasted_mb_s);
}

TEST(Factory, ABadKnobFailsBeforeAnyRun) {
  auto r = RunAll(Bursty(), Config(), {ReferenceRun(), {"oracle", {{"nope", "1"}}, "", ""}}, 2);
  EXPECT_FALSE(r.ok());
}

// --- Report -----------------------------------------------------------------------------

RunReport Point(const std::string& policy, const std::string& value, double wasted_mb_s, double p75,
                double rate) {
  RunReport r;
  r.spec = {policy, {{"k", value}}, "k", value};
  r.result.policy = policy;
  r.result.wasted_mb_s = wasted_mb_s;
  r.result.cold_rate_p75 = p75;
  r.result.cold_rate = rate;
  r.result.arrivals = 100;
  return r;
}

// Reference wastes 100 MB-s; hybrid's default wastes 50 (budget 0.5).
Report SweepReport() {
  std::vector<RunReport> runs = {Point("predictive", "a", 20, 0.10, 0.05),
                                 Point("predictive", "b", 80, 0.02, 0.01),
                                 Point("hybrid-histogram", "x", 40, 0.30, 0.2),
                                 Point("hybrid-histogram", "y", 50, 0.20, 0.1),
                                 Point("hybrid-histogram", "z", 90, 0.10, 0.05),
                                 Point("oracle", "o", 5, 0.0, 0.0),
                                 Point("oracle", "p", 60, 0.0, 0.0)};
  RunReport ref = Point("fixed-keepalive", "10m", 100, 0.25, 0.1);
  RunReport budget = runs[3];
  budget.spec.knob.clear();
  return MakeReport({{"workload", "test \"quoted\""}}, runs, ref, budget, true);
}

TEST(Report, WastedMemoryIsNormalisedToTheReference) {
  Report r = SweepReport();
  EXPECT_DOUBLE_EQ(r.runs[0].wasted_norm, 0.2);
  EXPECT_DOUBLE_EQ(r.reference->wasted_norm, 1.0);
  EXPECT_DOUBLE_EQ(r.budget->wasted_norm, 0.5);
  Report none = MakeReport({}, {Point("oracle", "o", 5, 0, 0)}, std::nullopt, std::nullopt, false);
  EXPECT_TRUE(std::isnan(none.runs[0].wasted_norm));
}

TEST(Report, EachCurveIsInterpolatedAtTheBudget) {
  Report r = SweepReport();
  std::vector<BudgetPoint> at = AtBudget(r.runs, 0.5);
  ASSERT_EQ(at.size(), 3u);
  // predictive: from (0.2, 10%) to (0.8, 2%): at 0.5 halfway, 6%.
  EXPECT_EQ(at[0].policy, "predictive");
  ASSERT_TRUE(at[0].cold_p75);
  EXPECT_NEAR(*at[0].cold_p75, 0.06, 1e-12);
  EXPECT_NEAR(*at[0].cold_rate, 0.03, 1e-12);
  // hybrid: exactly its own point.
  EXPECT_NEAR(*at[1].cold_p75, 0.20, 1e-12);
  EXPECT_NEAR(*at[2].cold_p75, 0.0, 1e-12);
  // Outside a curve's span: no value, and the span is reported.
  std::vector<BudgetPoint> far = AtBudget(r.runs, 0.9);
  EXPECT_FALSE(far[0].cold_p75);
  EXPECT_DOUBLE_EQ(far[0].x_max, 0.8);
  std::string goal = GoalLines(r);
  EXPECT_NE(goal.find("MET"), std::string::npos) << goal;  // 6% <= half of 20%
  EXPECT_EQ(goal.find("NOT MET"), std::string::npos) << goal;
  EXPECT_NE(goal.find("oracle at the same memory"), std::string::npos) << goal;
}

TEST(Report, TheGoalIsNotReadWhenPrewarmsCurveMissesTheBudget) {
  Report r = SweepReport();
  r.budget->wasted_norm = 0.9;  // predictive spans 0.2..0.8
  std::string goal = GoalLines(r);
  EXPECT_NE(goal.find("goal: not readable"), std::string::npos) << goal;
  EXPECT_EQ(goal.find("MET"), std::string::npos) << goal;
}

TEST(Report, JsonIsWellFormed) {
  Report r = SweepReport();
  EXPECT_TRUE(JsonChecker(Json(r)).Valid()) << Json(r);
  Report plain = MakeReport({}, {Point("oracle", "o", 5, 0, 0)}, std::nullopt, std::nullopt, false);
  EXPECT_TRUE(JsonChecker(Json(plain)).Valid()) << Json(plain);  // NaN written as null
  EXPECT_FALSE(JsonChecker("{\"a\": [1, 2,]}").Valid());         // the checker does check
}

TEST(Report, CsvHasOneRowPerRunWithEveryColumn) {
  Report r = SweepReport();
  std::string csv = Csv(r);
  EXPECT_EQ(Count(csv, "\n"), r.runs.size() + 1);
  size_t header_commas = Count(csv.substr(0, csv.find('\n')), ",");
  for (size_t start = 0; start < csv.size();) {
    size_t end = csv.find('\n', start);
    EXPECT_EQ(Count(csv.substr(start, end - start), ","), header_commas);
    start = end + 1;
  }
}

TEST(Report, SvgHasOnePathPerPolicyInEachPanel) {
  Report r = SweepReport();
  std::string svg = Svg(r, {0, "title & <more>"});
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_TRUE(XmlBalanced(svg)) << svg;
  EXPECT_EQ(Count(svg, "<path"), 6u);
  EXPECT_EQ(Count(svg, "class=\"curve p75\""), 3u);
  EXPECT_EQ(Count(svg, "class=\"curve overall\""), 3u);
  EXPECT_EQ(Count(svg, "data-policy=\"predictive\""), 2u);
  EXPECT_EQ(Count(svg, "<circle"), 2 * r.runs.size() + 3);  // markers + legend
  EXPECT_EQ(Count(svg, "class=\"budget\""), 2u);
  EXPECT_NE(svg.find("title &amp; &lt;more&gt;"), std::string::npos);
  EXPECT_FALSE(XmlBalanced("<svg><g></svg></g>"));
}

TEST(Report, TableShowsEveryRunAndTheGoal) {
  std::string t = TextTable(SweepReport());
  EXPECT_EQ(Count(t, "hybrid-histogram†"), 1u);  // the budget is one of the sweep's rows
  EXPECT_EQ(Count(t, "\nhybrid-histogram"), 3u);
  EXPECT_NE(t.find("fixed-keepalive*"), std::string::npos);
  EXPECT_NE(t.find("goal: predictive"), std::string::npos);
}

}  // namespace
}  // namespace prewarm::sim
