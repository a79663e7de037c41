#include "sim/report.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "fmt/format.h"
#include "fmt/ranges.h"

namespace prewarm::sim {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double EventsPerSecond(const SimResult& r) {
  return r.wall_seconds > 0 ? static_cast<double>(r.events) / r.wall_seconds : 0;
}

std::string ParamsText(const std::map<std::string, std::string>& params) {
  std::vector<std::string> kv;
  for (const auto& [k, v] : params) kv.push_back(k + "=" + v);
  return fmt::format("{}", fmt::join(kv, " "));
}

// --- JSON -----------------------------------------------------------------------------

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string JsonNumber(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : "null"; }
std::string JsonNumber(std::optional<double> v) { return v ? JsonNumber(*v) : "null"; }

template <typename Map>
std::string JsonObject(const Map& m, bool quote_values) {
  std::vector<std::string> kv;
  for (const auto& [k, v] : m) {
    if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::string>) {
      kv.push_back(JsonString(k) + ": " + (quote_values ? JsonString(v) : v));
    } else {
      kv.push_back(JsonString(k) + ": " + std::to_string(v));
    }
  }
  return fmt::format("{{{}}}", fmt::join(kv, ", "));
}

// Per key (workload order): [arrivals, cold starts, wasted MB·h], measured time only.
std::string KeysJson(const SimResult& r) {
  std::string out;
  for (size_t i = 0; i < r.keys.size(); ++i) {
    out += fmt::format("{}[{}, {}, {}]", i ? ", " : "", r.keys[i].arrivals, r.keys[i].cold,
                       JsonNumber(r.keys[i].wasted_mb_s / 3600));
  }
  return out;
}

std::string RunJson(const RunReport& run) {
  const SimResult& r = run.result;
  return fmt::format(
      "{{\"policy\": {}, \"knob\": {}, \"value\": {}, \"params\": {}, \"arrivals\": {}, "
      "\"cold\": {}, \"cold_rate\": {}, \"cold_rate_p75\": {}, \"origin\": {}, \"starts\": {}, "
      "\"wasted_mb_h\": {}, \"wasted_norm\": {}, \"loaded_mb_h\": {}, "
      "\"latency_s\": {{\"p50\": {}, \"p90\": {}, \"p99\": {}, \"p999\": {}}}, "
      "\"events\": {}, \"events_per_s\": {}, \"wall_s\": {}, \"sim_s\": {}, \"decisions\": {}, "
      "\"keys\": [{}]}}",
      JsonString(run.spec.policy), JsonString(run.spec.knob), JsonString(run.spec.value),
      JsonObject(run.spec.params, true), r.arrivals, r.cold, JsonNumber(r.cold_rate),
      JsonNumber(r.cold_rate_p75), r.origin, r.starts, JsonNumber(r.wasted_mb_s / 3600),
      JsonNumber(run.wasted_norm), JsonNumber(r.loaded_mb_s / 3600), JsonNumber(r.latency_p50_s),
      JsonNumber(r.latency_p90_s), JsonNumber(r.latency_p99_s), JsonNumber(r.latency_p999_s),
      r.events, JsonNumber(EventsPerSecond(r)), JsonNumber(r.wall_seconds),
      JsonNumber(r.sim_seconds), JsonObject(r.decisions, false), KeysJson(r));
}

std::string BudgetJson(const Report& r) {
  if (!r.sweep || !r.budget) return "null";
  std::vector<std::string> points;
  for (const BudgetPoint& p : AtBudget(r.runs, r.budget->wasted_norm)) {
    points.push_back(
        fmt::format("{{\"policy\": {}, \"cold_rate_p75\": {}, \"cold_rate\": {}, "
                    "\"wasted_norm_span\": [{}, {}]}}",
                    JsonString(p.policy), JsonNumber(p.cold_p75), JsonNumber(p.cold_rate),
                    JsonNumber(p.x_min), JsonNumber(p.x_max)));
  }
  return fmt::format(
      "{{\"policy\": \"hybrid-histogram\", \"wasted_norm\": {}, \"at_budget\": [{}]}}",
      JsonNumber(r.budget->wasted_norm), fmt::join(points, ", "));
}

// --- Curves ---------------------------------------------------------------------------

struct CurvePoint {
  double x, p75, rate;
  std::string label;
};

// Each swept policy's points, in the order of the runs (the knob's order).
std::vector<std::pair<std::string, std::vector<CurvePoint>>> Curves(
    const std::vector<RunReport>& runs) {
  std::vector<std::pair<std::string, std::vector<CurvePoint>>> curves;
  for (const RunReport& run : runs) {
    if (!std::isfinite(run.wasted_norm)) continue;
    auto it = std::find_if(curves.begin(), curves.end(),
                           [&](const auto& c) { return c.first == run.spec.policy; });
    if (it == curves.end()) it = curves.insert(curves.end(), {run.spec.policy, {}});
    std::string label =
        run.spec.knob.empty() ? ParamsText(run.spec.params) : run.spec.knob + "=" + run.spec.value;
    it->second.push_back({run.wasted_norm, run.result.cold_rate_p75, run.result.cold_rate, label});
  }
  return curves;
}

// Linear interpolation of the curve (sorted by x) at `x`; none outside its span.
std::optional<std::pair<double, double>> Interpolate(std::vector<CurvePoint> pts, double x) {
  std::stable_sort(pts.begin(), pts.end(), [](const auto& a, const auto& b) { return a.x < b.x; });
  for (size_t i = 0; i < pts.size(); ++i) {
    if (pts[i].x == x) return std::pair{pts[i].p75, pts[i].rate};
    if (i + 1 < pts.size() && pts[i].x < x && x < pts[i + 1].x) {
      double f = (x - pts[i].x) / (pts[i + 1].x - pts[i].x);
      return std::pair{pts[i].p75 + f * (pts[i + 1].p75 - pts[i].p75),
                       pts[i].rate + f * (pts[i + 1].rate - pts[i].rate)};
    }
  }
  return std::nullopt;
}

std::string Percent(std::optional<double> v) {
  return v ? fmt::format("{:.2f}%", 100 * *v) : "n/a";
}

}  // namespace

Report MakeReport(std::vector<std::pair<std::string, std::string>> setup,
                  std::vector<RunReport> runs, std::optional<RunReport> reference,
                  std::optional<RunReport> budget, bool sweep) {
  Report r{std::move(setup), std::move(runs), std::move(reference), std::move(budget), sweep};
  double ref = r.reference ? r.reference->result.wasted_mb_s : 0;
  auto norm = [&](RunReport& run) {
    run.wasted_norm = ref > 0 ? run.result.wasted_mb_s / ref : kNaN;
  };
  for (RunReport& run : r.runs) norm(run);
  if (r.reference) norm(*r.reference);
  if (r.budget) norm(*r.budget);
  return r;
}

std::vector<BudgetPoint> AtBudget(const std::vector<RunReport>& runs, double budget) {
  std::vector<RunReport> swept;
  for (const RunReport& run : runs) {
    if (!run.spec.knob.empty()) swept.push_back(run);
  }
  std::vector<BudgetPoint> out;
  for (const auto& [policy, pts] : Curves(swept)) {
    BudgetPoint p{policy, pts.front().x, pts.front().x, std::nullopt, std::nullopt};
    for (const CurvePoint& c : pts) {
      p.x_min = std::min(p.x_min, c.x);
      p.x_max = std::max(p.x_max, c.x);
    }
    if (auto y = Interpolate(pts, budget)) {
      p.cold_p75 = y->first;
      p.cold_rate = y->second;
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::string GoalLines(const Report& r) {
  if (!r.sweep || !r.budget || !std::isfinite(r.budget->wasted_norm)) return "";
  std::map<std::string, BudgetPoint> at;
  for (BudgetPoint& p : AtBudget(r.runs, r.budget->wasted_norm)) at.emplace(p.policy, p);
  std::string out =
      fmt::format("at the hybrid-histogram's wasted-memory budget ({:.3f}x fixed 10-min):",
                  r.budget->wasted_norm);
  for (const auto& [policy, p] : at) {
    out +=
        fmt::format(" {} p75 {};", policy,
                    p.cold_p75 ? Percent(p.cold_p75)
                               : fmt::format("n/a (curve spans {:.3f}..{:.3f})", p.x_min, p.x_max));
  }
  out.back() = '\n';
  auto pred = at.find("predictive"), hyb = at.find("hybrid-histogram"), orc = at.find("oracle");
  if (pred != at.end() && hyb != at.end() && pred->second.cold_p75 && hyb->second.cold_p75) {
    double a = *pred->second.cold_p75, b = *hyb->second.cold_p75;
    out += fmt::format("goal: predictive p75 cold {} <= half of hybrid-histogram's {}: {}{}\n",
                       Percent(a), Percent(b), a <= 0.5 * b ? "MET" : "NOT MET",
                       b > 0 ? fmt::format(" (ratio {:.3f})", a / b) : "");
  } else if (pred != at.end() && hyb != at.end()) {
    out += fmt::format(
        "goal: not readable: predictive's curve spans wasted {:.3f}..{:.3f}x, the budget is "
        "{:.3f}x (widen its knob or change its keepalive)\n",
        pred->second.x_min, pred->second.x_max, r.budget->wasted_norm);
  }
  if (pred != at.end() && orc != at.end() && pred->second.cold_p75 && orc->second.cold_p75) {
    out += fmt::format("oracle at the same memory: p75 cold {} (predictive {:+.2f} points above)\n",
                       Percent(orc->second.cold_p75),
                       100 * (*pred->second.cold_p75 - *orc->second.cold_p75));
  }
  return out;
}

std::string TextTable(const Report& r) {
  std::string out;
  for (const auto& [k, v] : r.setup) out += fmt::format("{}: {}\n", k, v);
  out += fmt::format(
      "{:<17} {:<22} {:>9} {:>7} {:>7} {:>10} {:>7} {:>10} {:>8} {:>8} {:>8} {:>8} {:>7} {:>9} "
      "{:>7}\n",
      "policy", "params", "arrivals", "cold%", "p75%", "wastedMBh", "wasted×", "loadedMBh",
      "starts", "p50_s", "p99_s", "p999_s", "origin", "events/s", "wall_s");
  auto row = [&](const RunReport& run, const std::string& tag) {
    const SimResult& s = run.result;
    std::string params =
        run.spec.knob.empty() ? ParamsText(run.spec.params) : run.spec.knob + "=" + run.spec.value;
    out += fmt::format(
        "{:<17} {:<22} {:>9} {:>7.2f} {:>7.2f} {:>10.1f} {:>7.3f} {:>10.1f} {:>8} {:>8.3f} "
        "{:>8.3f} "
        "{:>8.3f} {:>7} {:>9.3g} {:>7.2f}\n",
        run.spec.policy + tag, params, s.arrivals, 100 * s.cold_rate, 100 * s.cold_rate_p75,
        s.wasted_mb_s / 3600, run.wasted_norm, s.loaded_mb_s / 3600, s.starts, s.latency_p50_s,
        s.latency_p99_s, s.latency_p999_s, s.origin, EventsPerSecond(s), s.wall_seconds);
  };
  auto same = [](const std::optional<RunReport>& a, const RunReport& b) {
    return a && a->spec.policy == b.spec.policy && a->spec.params == b.spec.params;
  };
  bool reference_shown = false, budget_shown = false;
  for (const RunReport& run : r.runs) {
    bool is_ref = same(r.reference, run), is_budget = r.sweep && same(r.budget, run);
    reference_shown |= is_ref;
    budget_shown |= is_budget;
    row(run, std::string(is_ref ? "*" : "") + (is_budget ? "†" : ""));
  }
  if (r.reference && !reference_shown) row(*r.reference, "*");
  if (r.sweep && r.budget && !budget_shown) row(*r.budget, "†");
  if (r.reference) out += "* reference: wasted× is normalised to it\n";
  if (r.sweep && r.budget) out += "† budget: hybrid-histogram at its defaults\n";
  return out + GoalLines(r);
}

std::string Json(const Report& r) {
  std::vector<std::string> runs;
  for (const RunReport& run : r.runs) runs.push_back("    " + RunJson(run));
  std::map<std::string, std::string> setup(r.setup.begin(), r.setup.end());
  return fmt::format(
      "{{\n  \"setup\": {},\n  \"sweep\": {},\n  \"reference\": {},\n  \"budget\": {},\n"
      "  \"runs\": [\n{}\n  ]\n}}\n",
      JsonObject(setup, true), r.sweep ? "true" : "false",
      r.reference ? RunJson(*r.reference) : "null", BudgetJson(r), fmt::join(runs, ",\n"));
}

std::string Csv(const Report& r) {
  std::string out =
      "policy,knob,value,params,arrivals,cold,cold_rate,cold_rate_p75,origin,starts,wasted_mb_h,"
      "wasted_norm,loaded_mb_h,latency_p50_s,latency_p99_s,latency_p999_s,events,events_per_s,"
      "wall_s\n";
  for (const RunReport& run : r.runs) {
    const SimResult& s = run.result;
    std::string params = ParamsText(run.spec.params);  // k=v separated by spaces: no commas
    std::replace(params.begin(), params.end(), ',', ';');
    out += fmt::format(
        "{},{},{},{},{},{},{:.6g},{:.6g},{},{},{:.6g},{},{:.6g},{:.6g},{:.6g},{:.6g},{},{:.6g},{:."
        "6g}\n",
        run.spec.policy, run.spec.knob, run.spec.value, params, s.arrivals, s.cold, s.cold_rate,
        s.cold_rate_p75, s.origin, s.starts, s.wasted_mb_s / 3600,
        std::isfinite(run.wasted_norm) ? fmt::format("{:.6g}", run.wasted_norm) : "",
        s.loaded_mb_s / 3600, s.latency_p50_s, s.latency_p99_s, s.latency_p999_s, s.events,
        EventsPerSecond(s), s.wall_seconds);
  }
  return out;
}

// --- SVG ------------------------------------------------------------------------------

namespace {

constexpr double kPanelW = 470, kPanelH = 400, kLeft = 64, kRight = 14, kTop = 34, kBottom = 50;
constexpr double kLegendH = 28;

std::string Xml(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

const char* Colour(const std::string& policy, size_t i) {
  static const std::map<std::string, const char*> kKnown = {{"predictive", "#d62728"},
                                                            {"fixed-keepalive", "#1f77b4"},
                                                            {"hybrid-histogram", "#2ca02c"},
                                                            {"reactive-kpa", "#9467bd"},
                                                            {"oracle", "#555555"}};
  static const char* kOthers[] = {"#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22"};
  auto it = kKnown.find(policy);
  return it != kKnown.end() ? it->second : kOthers[i % 5];
}

// A "nice" tick step (1, 2 or 5 x 10^k) giving about `n` ticks over [0, hi].
double TickStep(double hi, int n) {
  if (!(hi > 0)) return 1;
  double raw = hi / n, mag = std::pow(10, std::floor(std::log10(raw)));
  double f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

struct Axis {
  double hi, step;
  static Axis Fit(double max_value) {
    double step = TickStep(max_value, 5);
    double hi = std::max(step, std::ceil(max_value / step - 1e-9) * step);
    return {hi, step};
  }
};

std::string TickLabel(double v, double step) {
  int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  return fmt::format("{:.{}f}", v, decimals);
}

struct Frame {
  double x0, y0, w, h;  // plot area in SVG coordinates
  Axis ax, ay;
  double X(double v) const { return x0 + w * std::min(v, ax.hi * 1.02) / ax.hi; }
  double Y(double v) const { return y0 + h - h * v / ay.hi; }
};

std::string AxesSvg(const Frame& f, const std::string& title, const std::string& ylabel) {
  std::string out = fmt::format(
      "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" "
      "stroke=\"#000\"/>\n",
      f.x0, f.y0, f.w, f.h);
  for (double v = 0; v <= f.ax.hi + 1e-9 * f.ax.hi; v += f.ax.step) {
    double x = f.X(v);
    out += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#ddd\"/>"
        "<text x=\"{0:.1f}\" y=\"{3:.1f}\" text-anchor=\"middle\">{4}</text>\n",
        x, f.y0, f.y0 + f.h, f.y0 + f.h + 16, TickLabel(v, f.ax.step));
  }
  for (double v = 0; v <= f.ay.hi + 1e-9 * f.ay.hi; v += f.ay.step) {
    double y = f.Y(v);
    out += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#ddd\"/>"
        "<text x=\"{3:.1f}\" y=\"{4:.1f}\" text-anchor=\"end\">{5}</text>\n",
        f.x0, y, f.x0 + f.w, f.x0 - 6, y + 4, TickLabel(v, f.ay.step));
  }
  out += fmt::format(
      "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">wasted memory (× fixed 10-min "
      "keep-alive)</text>\n",
      f.x0 + f.w / 2, f.y0 + f.h + 38);
  out += fmt::format(
      "<text transform=\"translate({:.1f},{:.1f}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
      f.x0 - 46, f.y0 + f.h / 2, Xml(ylabel));
  out += fmt::format(
      "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>\n",
      f.x0 + f.w / 2, f.y0 - 10, Xml(title));
  return out;
}

using CurveList = std::vector<std::pair<std::string, std::vector<CurvePoint>>>;

std::string CurvesSvg(const Frame& f, const CurveList& curves, bool p75, const std::string& kind,
                      int panel) {
  std::string out = fmt::format(
      "<clipPath id=\"clip{0}\"><rect x=\"{1:.1f}\" y=\"{2:.1f}\" width=\"{3:.1f}\" "
      "height=\"{4:.1f}\"/></clipPath>\n<g clip-path=\"url(#clip{0})\">\n",
      panel, f.x0 - 5, f.y0 - 5, f.w + 10, f.h + 10);
  for (size_t i = 0; i < curves.size(); ++i) {
    const auto& [policy, pts] = curves[i];
    const char* colour = Colour(policy, i);
    std::string d;
    for (const CurvePoint& p : pts) {
      d += fmt::format("{}{:.1f},{:.1f} ", d.empty() ? "M" : "L", f.X(p.x),
                       f.Y(p75 ? p.p75 : p.rate));
    }
    d.pop_back();
    out += fmt::format(
        "<path class=\"curve {}\" data-policy=\"{}\" d=\"{}\" fill=\"none\" stroke=\"{}\" "
        "stroke-width=\"2\"/>\n",
        kind, Xml(policy), d, colour);
    for (const CurvePoint& p : pts) {
      double y = p75 ? p.p75 : p.rate;
      out += fmt::format(
          "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.5\" fill=\"{}\"><title>{} {}: wasted {:.3f}×, "
          "cold {:.2f}%</title></circle>\n",
          f.X(p.x), f.Y(y), colour, Xml(policy), Xml(p.label), p.x, 100 * y);
    }
  }
  return out + "</g>\n";
}

std::string BudgetSvg(const Frame& f, double budget) {
  if (!std::isfinite(budget) || budget > f.ax.hi) return "";
  double x = f.X(budget);
  return fmt::format(
      "<line class=\"budget\" x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" "
      "stroke=\"#2ca02c\" stroke-dasharray=\"5,4\"/><text x=\"{3:.1f}\" y=\"{4:.1f}\" "
      "font-size=\"11\" fill=\"#2ca02c\">hybrid budget</text>\n",
      x, f.y0, f.y0 + f.h, x + 4, f.y0 + 14);
}

std::string LegendSvg(const CurveList& curves, double width, double y) {
  std::string out;
  double step = width / std::max<size_t>(1, curves.size());
  for (size_t i = 0; i < curves.size(); ++i) {
    double x = 20 + step * static_cast<double>(i);
    out += fmt::format(
        "<g class=\"legend\"><line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" "
        "stroke=\"{3}\" stroke-width=\"2\"/><circle cx=\"{4:.1f}\" cy=\"{1:.1f}\" r=\"3.5\" "
        "fill=\"{3}\"/><text x=\"{5:.1f}\" y=\"{6:.1f}\">{7}</text></g>\n",
        x, y, x + 28, Colour(curves[i].first, i), x + 14, x + 34, y + 4, Xml(curves[i].first));
  }
  return out;
}

}  // namespace

std::string Svg(const Report& r, const PlotOptions& options) {
  CurveList curves = Curves(r.runs);
  double max_x = 0, max_p75 = 0, max_rate = 0;
  for (const auto& [policy, pts] : curves) {
    for (const CurvePoint& p : pts) {
      max_x = std::max(max_x, p.x);
      max_p75 = std::max(max_p75, p.p75);
      max_rate = std::max(max_rate, p.rate);
    }
  }
  double budget = r.budget ? r.budget->wasted_norm : kNaN;
  if (std::isfinite(budget)) max_x = std::max(max_x, budget);
  Axis ax = Axis::Fit(options.x_max > 0 ? options.x_max : max_x);
  double width = 2 * kPanelW, height = kPanelH + kLegendH;
  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0:.0f}\" height=\"{1:.0f}\" "
      "viewBox=\"0 0 {0:.0f} {1:.0f}\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n",
      width, height);
  if (!options.title.empty()) out += fmt::format("<title>{}</title>\n", Xml(options.title));
  const char* titles[] = {"75th-percentile cold-start rate across keys", "overall cold-start rate"};
  const char* kinds[] = {"p75", "overall"};
  for (int panel = 0; panel < 2; ++panel) {
    Frame f{kPanelW * panel + kLeft,  kTop, kPanelW - kLeft - kRight,
            kPanelH - kTop - kBottom, ax,   Axis::Fit(100 * (panel == 0 ? max_p75 : max_rate))};
    f.ay.hi /= 100;  // the axis is labelled in percent, the points are fractions
    Frame labels = f;
    labels.ay.hi *= 100;
    out += AxesSvg(labels, titles[panel], "cold starts (%)");
    out += BudgetSvg(f, budget);
    out += CurvesSvg(f, curves, panel == 0, kinds[panel], panel);
  }
  out += LegendSvg(curves, width - 40, kPanelH + kLegendH / 2);
  return out + "</svg>\n";
}

}  // namespace prewarm::sim
