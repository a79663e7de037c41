#include "forecast/backtest.h"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <span>

#include "common/parallel.h"
#include "fmt/ranges.h"
#include "forecast/metrics.h"
#include "forecast/registry.h"
#include "forecast/series.h"
#include "forecast/transform.h"

namespace prewarm::forecast {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// The quantile levels a fit is scored at: the 98% and 80% bounds, the point and the upper
// pinball levels.
constexpr std::array<double, 6> kScoredLevels = {0.01, 0.1, 0.5, 0.9, 0.95, 0.99};
enum Metric { kMase, kSmape, kPb50, kPb90, kPb95, kPb99, kCov80, kCov98, kNumMetrics };

// One backtest row: a model under a transform ("ets" on raw counts, "ets_log1p").
struct Row {
  std::string name;
  std::string model;
  Transform transform;
};

// One fit: a row at one (sub-series, origin).
struct Outcome {
  bool ok = false;
  std::string error;
  double cpu_s = 0;
  std::string fitted;                        // the fitted model's name ("auto[0.6 ets+0.4 ...]")
  bool zero_scale = false;                   // no MASE: the in-sample seasonal naive error is 0
  std::array<double, kNumMetrics> metric{};  // NaN: undefined; inf: the forecast overflowed
};

// What every fit shares: the quantile options (with the scored levels) and the point.
struct Config {
  QuantileOptions quantiles;
  BacktestOptions::Point point = BacktestOptions::Point::kModel;
};

struct Task {
  int sub = 0;
  int origin = 0;
};

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

absl::StatusOr<std::vector<Row>> MakeRows(const BacktestOptions& options) {
  std::vector<Row> rows;
  std::set<std::string> own_transform;  // models that choose it (auto): one row, on counts
  for (const std::string& t : options.transforms) {
    ASSIGN_OR_RETURN(Transform transform, Transform::Parse(t));
    for (const std::string& m : options.models) {
      ASSIGN_OR_RETURN(std::unique_ptr<Model> model, MakeModel(m));
      if (model->ChoosesTransform()) {
        if (own_transform.insert(m).second) rows.push_back({m, m, Transform::None()});
        continue;
      }
      rows.push_back({t == "none" ? m : m + "_" + t, m, transform});
    }
  }
  if (rows.empty()) return absl::InvalidArgumentError("no models or no transforms to run");
  return rows;
}

using Column = std::array<double, kScoredLevels.size()>;
constexpr size_t kMid = 2;  // kScoredLevels[kMid] == 0.5

// One step's quantiles without crossing. With the model's point as Q_0.5 the point stays
// the point forecast: the other levels are sorted among themselves and pushed out to it
// (Q_p <= point for p < 0.5, >= for p > 0.5), so MASE and sMAPE score exactly the
// model's forecast, as R's do. Otherwise all are sorted.
Column Untangle(Column col, bool model_point) {
  if (!model_point) {
    std::sort(col.begin(), col.end());
    return col;
  }
  const double point = col[kMid];
  std::array<double, kScoredLevels.size() - 1> others{};
  std::copy(col.begin(), col.begin() + kMid, others.begin());
  std::copy(col.begin() + kMid + 1, col.end(), others.begin() + kMid);
  std::sort(others.begin(), others.end());
  for (size_t l = 0; l < kMid; ++l) col[l] = std::min(others[l], point);
  for (size_t l = kMid + 1; l < col.size(); ++l) col[l] = std::max(others[l - 1], point);
  return col;
}

// q[level][step] at kScoredLevels, clamped at 0 and untangled.
absl::StatusOr<std::vector<std::vector<double>>> ScoredQuantiles(const QuantileForecast& qf, int h,
                                                                 bool model_point) {
  std::vector<std::vector<double>> q;
  for (double level : kScoredLevels) {
    q.push_back(level == 0.5 && model_point ? qf.point : qf.At(level));
  }
  for (int j = 0; j < h; ++j) {
    Column col{};
    for (size_t l = 0; l < col.size(); ++l) {
      if (static_cast<int>(q[l].size()) < h || !std::isfinite(q[l][j])) {
        return absl::InternalError("non-finite forecast");
      }
      col[l] = std::max(0.0, q[l][j]);
    }
    col = Untangle(col, model_point);
    for (size_t l = 0; l < col.size(); ++l) q[l][j] = col[l];
  }
  return q;
}

std::array<double, kNumMetrics> Score(const std::vector<std::vector<double>>& q,
                                      std::span<const double> test, double scale) {
  const std::vector<double>& point = q[2];
  std::array<double, kNumMetrics> m{};
  m[kMase] = scale > 0 ? Mase(test, point, scale) : kNaN;
  m[kSmape] = Smape(test, point);
  m[kPb50] = Pinball(test, q[2], 0.5);
  m[kPb90] = Pinball(test, q[3], 0.9);
  m[kPb95] = Pinball(test, q[4], 0.95);
  m[kPb99] = Pinball(test, q[5], 0.99);
  m[kCov80] = Coverage(test, q[1], q[3]);
  m[kCov98] = Coverage(test, q[0], q[5]);
  return m;
}

// Fits at one origin; `previous` (the forecaster of the origin before, rolled forward to
// this one, or null) hands its adaptive levels on. `fitted` receives the forecaster.
absl::StatusOr<std::vector<std::vector<double>>> FitPredict(
    const Row& row, std::span<const double> train, const std::vector<int>& periods, int h,
    const Config& config, ProbabilisticForecaster* previous = nullptr,
    std::unique_ptr<ProbabilisticForecaster>* fitted = nullptr,
    std::string* fitted_name = nullptr) {
  ASSIGN_OR_RETURN(std::unique_ptr<Model> model, MakeModel(row.model, periods));
  auto f =
      std::make_unique<ProbabilisticForecaster>(row.transform, std::move(model), config.quantiles);
  RETURN_IF_ERROR(f->Fit(train, FitContext{periods}, h));
  if (fitted_name != nullptr) *fitted_name = f->model().name();
  if (previous != nullptr) f->CarryAdaptive(std::move(*previous));
  ASSIGN_OR_RETURN(QuantileForecast qf, f->Predict(h));
  if (fitted != nullptr) *fitted = std::move(f);
  return ScoredQuantiles(qf, h, config.point == BacktestOptions::Point::kModel);
}

Outcome Evaluate(const Row& row, std::span<const double> train, std::span<const double> test,
                 const std::vector<int>& periods, const Config& config,
                 ProbabilisticForecaster* previous = nullptr,
                 std::unique_ptr<ProbabilisticForecaster>* fitted = nullptr) {
  Outcome out;
  const double start = ThreadCpuSeconds();
  absl::StatusOr<std::vector<std::vector<double>>> q = FitPredict(
      row, train, periods, static_cast<int>(test.size()), config, previous, fitted, &out.fitted);
  out.cpu_s = ThreadCpuSeconds() - start;
  if (!q.ok()) {
    out.error = std::string(q.status().message());
    return out;
  }
  out.ok = true;
  const double scale = SeasonalNaiveScale(train, periods[0]);
  out.zero_scale = !(scale > 0);
  out.metric = Score(*q, test, scale);
  return out;
}

// All rows at one task, in row order.
std::vector<Outcome> RunTask(const Task& task, const std::vector<Row>& rows, const SeriesSpec& spec,
                             const BuiltSeries& series, const Config& config) {
  const std::vector<double>& y = series.ys[task.sub];
  const int lo = spec.train ? std::max(0, task.origin - *spec.train) : 0;
  std::span<const double> train(y.data() + lo, task.origin - lo);
  std::span<const double> test(y.data() + task.origin, spec.horizon);
  std::vector<Outcome> out;
  for (const Row& row : rows) out.push_back(Evaluate(row, train, test, spec.periods, config));
  return out;
}

// One row on one sub-series through every origin in order: the forecaster fitted at an
// origin observes the steps up to the next origin (ProbabilisticForecaster::Observe: its
// adaptive levels learn how its forecast fared, once all its steps are in), and the next
// fit carries those levels on. Nothing after an origin is read before that origin's
// forecast. (The daemon does the same with Update() between its refits, which also rolls
// the model and tracks the forecasts it issues on the way.)
std::vector<Outcome> RunChain(int sub, const Row& row, const std::vector<int>& origins,
                              const SeriesSpec& spec, const BuiltSeries& series,
                              const Config& config, const std::function<void()>& fitted_one) {
  const std::vector<double>& y = series.ys[sub];
  std::vector<Outcome> out;
  std::unique_ptr<ProbabilisticForecaster> previous;
  int previous_origin = 0;
  for (int origin : origins) {
    if (previous) {
      previous->Observe(std::span(y).subspan(previous_origin, origin - previous_origin));
    }
    const int lo = spec.train ? std::max(0, origin - *spec.train) : 0;
    std::span<const double> train(y.data() + lo, origin - lo);
    std::span<const double> test(y.data() + origin, spec.horizon);
    std::unique_ptr<ProbabilisticForecaster> fitted;
    out.push_back(Evaluate(row, train, test, spec.periods, config, previous.get(), &fitted));
    previous = std::move(fitted);
    previous_origin = origin;
    fitted_one();
  }
  return out;
}

// Runs `tasks` on `jobs` threads; result[i] belongs to tasks[i].
template <typename Fn>
std::vector<std::vector<Outcome>> RunParallel(const std::vector<Task>& tasks, int jobs, Fn fn,
                                              const ProgressFn& on_done) {
  std::vector<std::vector<Outcome>> results(tasks.size());
  ParallelFor(
      tasks.size(), jobs, [&](size_t i) { results[i] = fn(tasks[i]); }, on_done);
  return results;
}

// Mean over the defined values (NaN skipped); infinite when one is (JSON null, noted).
double MeanKnown(const std::vector<double>& v) {
  double sum = 0;
  int n = 0;
  for (double x : v) {
    if (!std::isnan(x)) {
      sum += x;
      ++n;
    }
  }
  return n > 0 ? sum / n : kNaN;
}

std::string FailureNote(const std::vector<const Outcome*>& outs) {
  std::set<std::string> reasons;
  int failed = 0;
  for (const Outcome* o : outs) {
    if (o->ok) continue;
    ++failed;
    reasons.insert(o->error);
  }
  if (failed == 0) return "";
  std::string joined;
  for (const std::string& r : reasons) joined += (joined.empty() ? "" : "; ") + r;
  if (joined.size() > 200) joined = joined.substr(0, 200) + "...";
  return fmt::format("{} failed: {}", failed, joined);
}

// What `auto` chose across its fits, weights left out: "chose combo_log1p 17/20,
// mstl_boxcox+combo_log1p 3/20" (the most frequent first, at most five).
std::string ChoiceNote(const std::vector<const Outcome*>& outs) {
  static const std::regex kWeight("[0-9]+\\.[0-9]+ ");
  std::map<std::string, int> count;
  int fits = 0;
  for (const Outcome* o : outs) {
    if (!o->ok || o->fitted.empty()) continue;
    ++fits;
    std::string structure = std::regex_replace(o->fitted, kWeight, "");
    if (structure.rfind("auto[", 0) == 0 && structure.back() == ']') {
      structure = structure.substr(5, structure.size() - 6);
    }
    ++count[structure];
  }
  if (fits == 0) return "";
  std::vector<std::pair<std::string, int>> order(count.begin(), count.end());
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string out = "chose";
  for (size_t i = 0; i < order.size() && i < 5; ++i) {
    out += fmt::format("{} {} {}/{}", i ? "," : "", order[i].first, order[i].second, fits);
  }
  if (order.size() > 5) out += fmt::format(", {} others", order.size() - 5);
  return out;
}

ModelSummary Summarize(const std::string& name, const std::vector<const Outcome*>& outs) {
  ModelSummary s;
  s.name = name;
  s.fits = static_cast<int>(outs.size());
  std::array<std::vector<double>, kNumMetrics> values;
  std::vector<double> cpu;
  for (const Outcome* o : outs) {
    if (!o->ok) continue;
    ++s.origins_ok;
    cpu.push_back(o->cpu_s);
    for (int k = 0; k < kNumMetrics; ++k) values[k].push_back(o->metric[k]);
  }
  std::array<double, kNumMetrics> mean{};
  for (int k = 0; k < kNumMetrics; ++k) mean[k] = MeanKnown(values[k]);
  s.mase = mean[kMase];
  s.smape = mean[kSmape];
  s.pinball = {mean[kPb50], mean[kPb90], mean[kPb95], mean[kPb99]};
  s.coverage80 = mean[kCov80];
  s.coverage98 = mean[kCov98];
  s.cpu_s = MeanKnown(cpu);
  std::vector<std::string> notes;
  if (std::string f = FailureNote(outs); !f.empty()) notes.push_back(f);
  const auto zero_scale = std::count_if(outs.begin(), outs.end(),
                                        [](const Outcome* o) { return o->ok && o->zero_scale; });
  if (zero_scale > 0) {
    notes.push_back(fmt::format("MASE over {} of {} (zero in-sample scale)",
                                s.origins_ok - zero_scale, s.origins_ok));
  }
  if (std::any_of(mean.begin(), mean.end(), [](double v) { return std::isinf(v); })) {
    notes.push_back("forecasts overflow at some origins (infinite errors: null)");
  }
  if (name.rfind("auto", 0) == 0) {
    if (std::string c = ChoiceNote(outs); !c.empty()) notes.push_back(c);
  }
  for (const std::string& n : notes) s.notes += (s.notes.empty() ? "" : "; ") + n;
  return s;
}

absl::Status CheckProtocol(const SeriesSpec& spec, const BuiltSeries& series,
                           const std::vector<int>& origins) {
  const int n = series.n();
  if (series.ys.empty() || n == 0) {
    return absl::InvalidArgumentError(fmt::format("{}: empty series", spec.name));
  }
  if (origins.front() < 2 || origins.back() + spec.horizon > n) {
    return absl::InvalidArgumentError(
        fmt::format("{}: N = {} is too short for origin_span {} and horizon {}", spec.name, n,
                    spec.origin_span, spec.horizon));
  }
  return absl::OkStatus();
}

BacktestReport Protocol(const SeriesSpec& spec, const BuiltSeries& series,
                        const std::vector<int>& origins) {
  BacktestReport r;
  r.series = spec.name;
  r.step_s = spec.step_s;
  r.periods = spec.periods;
  r.horizon = spec.horizon;
  r.train = spec.train;
  r.origin_span = spec.origin_span;
  r.n = series.n();
  r.subseries = static_cast<int>(series.ys.size());
  r.origin_index = origins;
  for (const std::string& note : series.notes) r.notes += (r.notes.empty() ? "" : "; ") + note;
  return r;
}

}  // namespace

absl::StatusOr<BacktestReport> RunBacktest(const SeriesSpec& spec, const BuiltSeries& series,
                                           const BacktestOptions& options) {
  ASSIGN_OR_RETURN(std::vector<Row> rows, MakeRows(options));
  const int count = options.origins > 0 ? options.origins : spec.origins;
  const std::vector<int> origins = OriginIndices(series.n(), spec.horizon, spec.origin_span, count);
  RETURN_IF_ERROR(CheckProtocol(spec, series, origins));
  Config config{options.quantiles, options.point};
  std::vector<double>& levels = config.quantiles.levels;
  for (double level : kScoredLevels) {
    if (std::find(levels.begin(), levels.end(), level) == levels.end()) levels.push_back(level);
  }
  std::vector<Task> tasks;
  for (int sub = 0; sub < static_cast<int>(series.ys.size()); ++sub) {
    for (int o : origins) tasks.push_back({sub, o});
  }
  std::vector<std::vector<Outcome>> results;
  if (config.quantiles.adaptive.enabled) {
    // Adaptive levels carry from origin to origin: one chain per (sub-series, row), in
    // parallel, each through the origins in order.
    const size_t subs = series.ys.size();
    std::vector<std::vector<Outcome>> chains(subs * rows.size());
    std::mutex progress_mu;
    size_t done = 0;
    const auto fitted_one = [&] {
      if (!options.on_task_done) return;
      std::lock_guard<std::mutex> l(progress_mu);
      options.on_task_done(++done, chains.size() * origins.size());
    };
    ParallelFor(chains.size(), std::max(1, options.jobs), [&](size_t c) {
      chains[c] = RunChain(static_cast<int>(c / rows.size()), rows[c % rows.size()], origins, spec,
                           series, config, fitted_one);
    });
    results.assign(tasks.size(), std::vector<Outcome>(rows.size()));
    for (size_t c = 0; c < chains.size(); ++c) {
      for (size_t i = 0; i < origins.size(); ++i) {
        results[(c / rows.size()) * origins.size() + i][c % rows.size()] = std::move(chains[c][i]);
      }
    }
  } else {
    results = RunParallel(
        tasks, std::max(1, options.jobs),
        [&](const Task& t) { return RunTask(t, rows, spec, series, config); },
        options.on_task_done);
  }
  BacktestReport report = Protocol(spec, series, origins);
  for (size_t r = 0; r < rows.size(); ++r) {
    std::vector<const Outcome*> outs;
    for (const auto& task_outcomes : results) outs.push_back(&task_outcomes[r]);
    report.models.push_back(Summarize(rows[r].name, outs));
  }
  return report;
}

namespace {

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string JsonNumber(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : "null"; }

std::string ModelJson(const ModelSummary& m) {
  std::string pinball;
  for (size_t i = 0; i < kPinballLevels.size(); ++i) {
    pinball +=
        fmt::format("{}\"{}\": {}", i > 0 ? ", " : "", kPinballLevels[i], JsonNumber(m.pinball[i]));
  }
  return fmt::format(
      "    {{\"name\": {}, \"mase\": {}, \"smape\": {}, \"pinball\": {{{}}}, "
      "\"coverage80\": {}, \"coverage98\": {}, \"cpu_s\": {}, \"origins_ok\": {}, "
      "\"fits\": {}, \"notes\": {}}}",
      JsonString(m.name), JsonNumber(m.mase), JsonNumber(m.smape), pinball,
      JsonNumber(m.coverage80), JsonNumber(m.coverage98), JsonNumber(m.cpu_s), m.origins_ok, m.fits,
      JsonString(m.notes));
}

std::string ProtocolJson(const BacktestReport& r) {
  return fmt::format(
      "{{\"step_s\": {}, \"periods\": [{}], \"horizon\": {}, \"origins\": {}, \"train\": {}, "
      "\"origin_span\": {}, \"n\": {}, \"subseries\": {}, \"origin_index\": [{}]}}",
      r.step_s, fmt::join(r.periods, ", "), r.horizon, r.origin_index.size(),
      r.train ? std::to_string(*r.train) : "\"all\"", r.origin_span, r.n, r.subseries,
      fmt::join(r.origin_index, ", "));
}

std::string Cell(double v, const char* spec, int width) {
  return std::isfinite(v) ? fmt::format(fmt::runtime(spec), v, width)
                          : fmt::format("{:>{}}", "-", width);
}

}  // namespace

std::string ReportJson(const BacktestReport& r) {
  std::vector<std::string> models;
  for (const ModelSummary& m : r.models) models.push_back(ModelJson(m));
  return fmt::format(
      "{{\n  \"series\": {},\n  \"tool\": \"prewarm\",\n  \"protocol\": {},\n  \"notes\": {},\n"
      "  \"versions\": \"prewarm forecast backtest\",\n  \"models\": [\n{}\n  ]\n}}\n",
      JsonString(r.series), ProtocolJson(r), JsonString(r.notes), fmt::join(models, ",\n"));
}

std::string ReportTable(const BacktestReport& r) {
  std::string out = fmt::format(
      "{}: N={} ({} sub-series), step {} s, periods [{}], horizon {}, {} origins {}..{}, "
      "train {}\n",
      r.series, r.n, r.subseries, r.step_s, fmt::join(r.periods, ","), r.horizon,
      r.origin_index.size(), r.origin_index.front(), r.origin_index.back(),
      r.train ? std::to_string(*r.train) : "all");
  out += fmt::format("{:<22} {:>7} {:>6} {:>9} {:>9} {:>9} {:>9} {:>5} {:>5} {:>8} {:>7}\n",
                     "model", "MASE", "sMAPE", "pb.5", "pb.9", "pb.95", "pb.99", "cov80", "cov98",
                     "cpu_s", "ok");
  std::vector<const ModelSummary*> sorted;
  for (const ModelSummary& m : r.models) sorted.push_back(&m);
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) {
    if (std::isfinite(a->mase) != std::isfinite(b->mase)) return std::isfinite(a->mase);
    return std::isfinite(a->mase) && a->mase < b->mase;
  });
  for (const ModelSummary* m : sorted) {
    out +=
        fmt::format("{:<22} {} {} {} {} {} {} {} {} {} {:>7}\n", m->name,
                    Cell(m->mase, "{:>{}.3f}", 7), Cell(m->smape, "{:>{}.1f}", 6),
                    Cell(m->pinball[0], "{:>{}.4g}", 9), Cell(m->pinball[1], "{:>{}.4g}", 9),
                    Cell(m->pinball[2], "{:>{}.4g}", 9), Cell(m->pinball[3], "{:>{}.4g}", 9),
                    Cell(m->coverage80, "{:>{}.2f}", 5), Cell(m->coverage98, "{:>{}.2f}", 5),
                    Cell(m->cpu_s, "{:>{}.4f}", 8), fmt::format("{}/{}", m->origins_ok, m->fits));
  }
  for (const ModelSummary* m : sorted) {
    if (!m->notes.empty()) out += fmt::format("  {}: {}\n", m->name, m->notes);
  }
  if (!r.notes.empty()) out += fmt::format("notes: {}\n", r.notes);
  return out;
}

}  // namespace prewarm::forecast
