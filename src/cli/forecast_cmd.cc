#include "cli/forecast_cmd.h"

#include <unistd.h>

#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/yaml_reader.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "forecast/backtest.h"
#include "forecast/backtest_spec.h"
#include "forecast/ingest/table_reader.h"
#include "forecast/registry.h"
#include "forecast/trending_replay.h"

namespace prewarm::cli {
namespace {

namespace fc = prewarm::forecast;

struct BacktestFlags {
  std::string spec = "bench/forecast/series.yaml";
  std::string series;
  std::string file;  // ad-hoc mode
  std::string time_column, value_column, time_format = "auto";
  std::string step = "1m", native_step;
  std::vector<int> periods;
  int horizon = 0;
  std::string train;
  int origin_span = 0;
  std::vector<std::string> models = fc::BacktestOptions{}.models;
  std::vector<std::string> transforms = fc::BacktestOptions{}.transforms;
  int origins = 0;
  bool quick = false;
  bool json = false;
  std::string out;
  int jobs = 1;
  std::string point = "model";
  int calibration_origins = 0;  // 0: QuantileOptions' default
  std::string adaptive = "on";  // adaptive interval levels (forecast/adaptive.h)
  std::string calibration = "update";
};

absl::StatusOr<int64_t> ParsePositive(std::string_view text, std::string_view what) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v <= 0) {
    return absl::InvalidArgumentError(fmt::format("bad {} '{}'", what, text));
  }
  return v;
}

// "90", "90s", "10m", "1h", "1d" -> seconds.
absl::StatusOr<int64_t> ParseDurationS(const std::string& text) {
  const size_t digits = text.find_first_not_of("0123456789");
  const std::string unit = digits == std::string::npos ? "" : text.substr(digits);
  const int64_t mult = unit.empty() || unit == "s" ? 1
                       : unit == "m"               ? 60
                       : unit == "h"               ? 3600
                       : unit == "d"               ? 86400
                                                   : 0;
  absl::StatusOr<int64_t> v = ParsePositive(std::string_view(text).substr(0, digits), "duration");
  if (!v.ok() || mult == 0) {
    return absl::InvalidArgumentError(
        fmt::format("bad duration '{}' (want e.g. 60s, 10m, 1h, 1d)", text));
  }
  return *v * mult;
}

// The directory `source` is relative to: the working directory when it is there, else the
// nearest ancestor of the spec's directory that has it (the repository root).
std::string SourceRoot(const std::string& spec_path, const std::string& source) {
  namespace fs = std::filesystem;
  if (fs::path(source).is_absolute() || fs::exists(source)) return "";
  std::error_code ec;
  fs::path dir = fs::absolute(spec_path, ec).parent_path();
  for (; !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
    if (fs::exists(dir / source)) return dir.string();
  }
  return "";
}

// The first of the usual (time, value) column pairs present in the file's header.
absl::Status GuessColumns(const std::string& path, BacktestFlags& f) {
  ASSIGN_OR_RETURN(fc::ingest::TableReader reader, fc::ingest::TableReader::OpenFile(path));
  const std::vector<std::pair<const char*, const char*>> pairs = {
      {"timestamp", "count"}, {"period", "count"}, {"ds", "y"}, {"time", "value"}};
  for (const auto& [t, v] : pairs) {
    const bool has_t = reader.Column(t).ok(), has_v = reader.Column(v).ok();
    if (f.time_column.empty() && has_t && (has_v || !f.value_column.empty())) f.time_column = t;
    if (f.value_column.empty() && has_v && f.time_column == t) f.value_column = v;
  }
  if (f.time_column.empty() || f.value_column.empty()) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: give --time-column and --value-column (no timestamp,count / period,count / ds,y "
        "header)",
        path));
  }
  return absl::OkStatus();
}

// The default protocol for a step: daily and weekly periods, horizon one day,
// origins over the last 4 weeks, trained on the last 4 weeks; daily data: periods 7 and
// 365, horizon 14, origins over the last year, trained on all history.
absl::Status DefaultProtocol(fc::SeriesSpec& s) {
  const bool daily = s.step_s == 86400;
  if (s.periods.empty()) {
    if (daily) {
      s.periods = {7, 365};
    } else if (86400 % s.step_s == 0) {
      s.periods = {static_cast<int>(86400 / s.step_s), static_cast<int>(7 * 86400 / s.step_s)};
    } else {
      return absl::InvalidArgumentError(
          fmt::format("no default periods for a {} s step: give --periods", s.step_s));
    }
  }
  if (s.horizon == 0) s.horizon = daily ? 14 : s.periods[0];
  const int four_weeks = daily ? 28 : static_cast<int>(28 * 86400 / s.step_s);
  if (s.origin_span == 0) s.origin_span = daily ? 365 : four_weeks;
  return absl::OkStatus();
}

absl::StatusOr<fc::SeriesSpec> AdHocSpec(BacktestFlags f) {
  if (f.time_column.empty() || f.value_column.empty()) RETURN_IF_ERROR(GuessColumns(f.file, f));
  fc::SeriesSpec s;
  s.name = std::filesystem::path(f.file).stem().string();
  s.source = f.file;
  s.format = "csv";
  s.time_column = f.time_column;
  s.value_column = f.value_column;
  s.time_format = f.time_format;
  ASSIGN_OR_RETURN(s.step_s, ParseDurationS(f.step));
  ASSIGN_OR_RETURN(s.native_step_s, ParseDurationS(f.native_step.empty() ? f.step : f.native_step));
  if (s.step_s % s.native_step_s != 0) {
    return absl::InvalidArgumentError("--step must be a multiple of --native-step");
  }
  s.aggregate = static_cast<int>(s.step_s / s.native_step_s);
  s.periods = f.periods;
  s.horizon = f.horizon;
  s.origin_span = f.origin_span;
  RETURN_IF_ERROR(DefaultProtocol(s));
  const bool daily = s.step_s == 86400;
  if (f.train.empty()) f.train = daily ? "all" : std::to_string(28 * 86400 / s.step_s);
  if (f.train != "all") {
    ASSIGN_OR_RETURN(int64_t train, ParsePositive(f.train, "--train (steps or all)"));
    s.train = static_cast<int>(train);
  }
  s.origins = 20;
  RETURN_IF_ERROR(fc::ValidateSpec(s));
  return s;
}

// Shrinks the origin span of an ad-hoc series that is shorter than its default protocol.
absl::Status FitSpanToSeries(fc::SeriesSpec& s, int n) {
  const int min_train = s.train ? *s.train : 2 * s.periods[0];
  if (n - s.origin_span >= min_train) return absl::OkStatus();
  s.origin_span = n - min_train;
  if (s.origin_span < s.horizon) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: {} steps are too few for training {} and horizon {} (try --train, --horizon)", s.name,
        n, min_train, s.horizon));
  }
  return absl::OkStatus();
}

absl::StatusOr<fc::BacktestOptions> MakeOptions(const BacktestFlags& f) {
  fc::BacktestOptions o;
  o.models = f.models;
  o.transforms = f.transforms;
  o.origins = f.origins > 0 ? f.origins : (f.quick ? 5 : 0);
  o.jobs = f.jobs;
  if (f.point != "model" && f.point != "median") {
    return absl::InvalidArgumentError("--point must be 'model' or 'median'");
  }
  o.point = f.point == "model" ? fc::BacktestOptions::Point::kModel
                               : fc::BacktestOptions::Point::kCalibratedMedian;
  if (f.calibration != "update" && f.calibration != "refit") {
    return absl::InvalidArgumentError("--calibration must be 'update' or 'refit'");
  }
  o.quantiles.use_update = f.calibration == "update";
  if (f.calibration_origins > 0) o.quantiles.origins = f.calibration_origins;
  if (f.adaptive != "on" && f.adaptive != "off") {
    return absl::InvalidArgumentError("--adaptive must be 'on' or 'off'");
  }
  o.quantiles.adaptive.enabled = f.adaptive == "on";
  for (const std::string& m : o.models) RETURN_IF_ERROR(fc::MakeModel(m).status());
  return o;
}

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) return absl::InternalError(fmt::format("cannot write '{}'", path));
  return absl::OkStatus();
}

absl::Status Backtest(const BacktestFlags& f) {
  ASSIGN_OR_RETURN(fc::BacktestOptions options, MakeOptions(f));
  fc::SeriesSpec spec;
  std::string root;
  if (!f.file.empty()) {
    ASSIGN_OR_RETURN(spec, AdHocSpec(f));
  } else {
    if (f.series.empty()) return absl::InvalidArgumentError("give --series NAME (or --file F)");
    ASSIGN_OR_RETURN(std::vector<fc::SeriesSpec> specs, fc::ReadSpecFile(f.spec));
    ASSIGN_OR_RETURN(spec, fc::FindSeries(specs, f.series));
    root = SourceRoot(f.spec, spec.source);
  }
  ASSIGN_OR_RETURN(fc::BuiltSeries series, fc::BuildSeries(spec, root));
  if (!f.file.empty()) RETURN_IF_ERROR(FitSpanToSeries(spec, series.n()));
  std::cerr << fmt::format("backtest {}: N={}, {} sub-series x {} origins, models {}, {} jobs\n",
                           spec.name, series.n(), series.ys.size(),
                           options.origins > 0 ? options.origins : spec.origins,
                           fmt::join(options.models, ","), options.jobs);
  const auto start = std::chrono::steady_clock::now();
  if (::isatty(STDERR_FILENO) != 0) {
    options.on_task_done = [start, name = spec.name](size_t done, size_t total) {
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::cerr << fmt::format("\rbacktest {}: {}/{} origins done, {:.0f} s\033[K", name, done,
                               total, s)
                << (done == total ? "\n" : "") << std::flush;
    };
  }
  ASSIGN_OR_RETURN(fc::BacktestReport report, fc::RunBacktest(spec, series, options));
  std::cerr << fmt::format(
      "backtest {}: {:.1f} s wall\n", spec.name,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  const std::string json = fc::ReportJson(report);
  if (!f.out.empty()) RETURN_IF_ERROR(WriteFile(f.out, json));
  std::cout << (f.json && f.out.empty() ? json : fc::ReportTable(report));
  return absl::OkStatus();
}

[[noreturn]] void Exit(const absl::Status& status) {
  if (status.ok()) throw CLI::Success();
  std::cerr << fmt::format("prewarm forecast: {}\n", status.message());
  throw CLI::RuntimeError(1);
}

void AddBacktest(CLI::App& forecast) {
  auto f = std::make_shared<BacktestFlags>();
  CLI::App* b = forecast.add_subcommand(
      "backtest",
      "rolling-origin backtest (bench/forecast/README.md): MASE, sMAPE, pinball, "
      "coverage, CPU per fit");
  b->add_option("--spec", f->spec, "series spec (YAML)")->capture_default_str();
  b->add_option("--series", f->series, "series name in the spec");
  b->add_option("--file", f->file, "ad-hoc: a CSV of time,count rows instead of --spec/--series");
  b->add_option("--time-column", f->time_column, "ad-hoc: time column (default: guessed)");
  b->add_option("--value-column", f->value_column, "ad-hoc: count column (default: guessed)");
  b->add_option("--time-format", f->time_format, "ad-hoc: strptime format, or auto (ISO / Unix)")
      ->capture_default_str();
  b->add_option("--step", f->step, "ad-hoc: step of the series (60s, 10m, 1h, 1d)")
      ->capture_default_str();
  b->add_option("--native-step", f->native_step,
                "ad-hoc: step of the file's rows (default --step)");
  b->add_option("--periods", f->periods, "ad-hoc: seasonal periods in steps, shortest first")
      ->delimiter(',');
  b->add_option("--horizon", f->horizon, "ad-hoc: steps forecast per origin (default one day)");
  b->add_option("--train", f->train, "ad-hoc: training steps before each origin, or all");
  b->add_option("--origin-span", f->origin_span, "ad-hoc: origins lie in the last N steps");
  b->add_option("--models", f->models, "models (see `prewarm forecast models`)")
      ->delimiter(',')
      ->capture_default_str();
  b->add_option("--transforms", f->transforms, "none, log1p, boxcox:L")
      ->delimiter(',')
      ->capture_default_str();
  b->add_option("--origins", f->origins, "number of origins (default: the spec's)");
  b->add_flag("--quick", f->quick, "5 origins (unless --origins)");
  b->add_flag("--json", f->json, "JSON on stdout instead of the table");
  b->add_option("--out", f->out, "write the JSON here (the table still goes to stdout)");
  b->add_option("--jobs", f->jobs, "threads over origins")->capture_default_str();
  b->add_option("--point", f->point, "Q_0.5: model (its point forecast, as R) or median")
      ->capture_default_str();
  b->add_option("--calibration", f->calibration,
                "quantile calibration: update (roll the state over dense origins, refitting "
                "models without Update) or refit (refit at --calibration-origins)")
      ->capture_default_str();
  b->add_option("--calibration-origins", f->calibration_origins,
                "refit origins of the quantile calibration (default 8)");
  b->add_option("--adaptive", f->adaptive,
                "adaptive interval levels: on (tracked online, carried from origin to origin) "
                "or off (the static calibration alone)")
      ->capture_default_str();
  b->callback([f] { Exit(Backtest(*f)); });
}

struct TrendingFlags {
  std::string log;
  std::vector<size_t> ks = fc::TrendingReplayOptions{}.ks;
  std::string refresh = "10m", train = "1d", previous = "1h", scratch = "64MiB";
};

absl::Status Trending(const TrendingFlags& f) {
  fc::TrendingReplayOptions o;
  o.ks = f.ks;
  ASSIGN_OR_RETURN(int64_t refresh_s, ParseDurationS(f.refresh));
  ASSIGN_OR_RETURN(int64_t train_s, ParseDurationS(f.train));
  ASSIGN_OR_RETURN(int64_t previous_s, ParseDurationS(f.previous));
  ASSIGN_OR_RETURN(o.scratch_bytes, ParseBytes(f.scratch));
  o.trending.window_ms = refresh_s * 1000;
  o.train_ms = train_s * 1000;
  o.previous_ms = previous_s * 1000;
  ASSIGN_OR_RETURN(fc::TrendingReplayReport report, fc::ReplayTrending(f.log, o));
  for (const std::string& e : report.read.first_errors) std::cerr << e << "\n";
  std::cout << fc::TrendingReplayTable(report, o);
  return absl::OkStatus();
}

void AddTrending(CLI::App& forecast) {
  auto f = std::make_shared<TrendingFlags>();
  CLI::App* t = forecast.add_subcommand(
      "trending",
      "replay an access log through the trending-content ranking: preload hit ratio per K "
      "against a static list and the previous hour's most popular (bench/forecast/trending.sh)");
  t->add_option("--log", f->log, "access log (Common/Combined Log Format)")->required();
  t->add_option("--k", f->ks, "list sizes")->delimiter(',')->capture_default_str();
  t->add_option("--refresh", f->refresh, "refresh interval: one window")->capture_default_str();
  t->add_option("--train", f->train, "span before the first window; the static list's")
      ->capture_default_str();
  t->add_option("--previous", f->previous, "span of the previous-popular baseline")
      ->capture_default_str();
  t->add_option("--scratch", f->scratch, "byte budget of each list (0: none)")
      ->capture_default_str();
  t->callback([f] { Exit(Trending(*f)); });
}

void AddModels(CLI::App& forecast) {
  CLI::App* m = forecast.add_subcommand("models", "list the model names");
  m->callback([] {
    for (const std::string& name : fc::ModelNames()) std::cout << name << "\n";
    Exit(absl::OkStatus());
  });
}

}  // namespace

void AddForecastCommand(CLI::App& app) {
  CLI::App* forecast =
      app.add_subcommand("forecast", "forecasting tools: backtest, models, trending");
  forecast->require_subcommand(1);
  AddBacktest(*forecast);
  AddModels(*forecast);
  AddTrending(*forecast);
}

}  // namespace prewarm::cli
