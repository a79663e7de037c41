#include "forecast/ingest/access_log.h"

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "absl/status/status.h"
#include "common/status.h"
#include "forecast/ingest/timestamp.h"

namespace prewarm::forecast::ingest {
namespace {

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(fmt::format("malformed {}", what));
}

// "host:port" / "[v6]:port" -> host.
std::string_view StripPort(std::string_view host) {
  if (host.starts_with('[')) return host.substr(0, host.find(']') + 1);
  return host.substr(0, host.find(':'));
}

// Space-separated fields before the time: "remote ident user" or "vhost remote ident user".
absl::StatusOr<std::string_view> VirtualHost(std::string_view prefix) {
  std::vector<std::string_view> tokens;
  for (size_t pos = 0; pos < prefix.size();) {
    size_t end = std::min(prefix.find(' ', pos), prefix.size());
    if (end > pos) tokens.push_back(prefix.substr(pos, end - pos));
    pos = end + 1;
  }
  if (tokens.size() == 3) return std::string_view();
  if (tokens.size() == 4) return StripPort(tokens[0]);
  return Malformed("host/ident/user fields");
}

// The quoted request at the start of `s` (after its opening quote); \" does not close it.
std::optional<size_t> ClosingQuote(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i;
    }
  }
  return std::nullopt;
}

struct Request {
  std::string_view method;
  std::string_view host;  // of an absolute target only
  std::string_view path;
};

// "METHOD target[ PROTOCOL]"; an absolute target gives its host.
absl::StatusOr<Request> ParseRequest(std::string_view request) {
  Request out;
  size_t sp = request.find(' ');
  if (sp == 0 || sp == std::string_view::npos) return Malformed("request line");
  out.method = request.substr(0, sp);
  for (char c : out.method) {
    if (c < 'A' || c > 'Z') return Malformed("request method");
  }
  std::string_view target = request.substr(sp + 1);
  target = target.substr(0, target.find(' '));
  for (std::string_view scheme : {"http://", "https://"}) {
    if (!target.starts_with(scheme)) continue;
    target.remove_prefix(scheme.size());
    size_t slash = std::min(target.find('/'), target.size());
    out.host = StripPort(target.substr(0, slash));
    target = slash < target.size() ? target.substr(slash) : "/";
  }
  if (!target.starts_with('/')) return Malformed("request target");
  out.path = target;
  return out;
}

// ` STATUS SIZE` after the request, the rest (referer, agent) ignored.
struct StatusAndSize {
  int status = 0;
  uint64_t bytes = 0;  // "-" (no body) is 0
};

absl::StatusOr<StatusAndSize> ParseStatusAndSize(std::string_view s) {
  if (!s.starts_with(' ')) return Malformed("status");
  s.remove_prefix(1);
  size_t sp = std::min(s.find(' '), s.size());
  auto status = ParseUint(s.substr(0, sp));
  if (sp != 3 || !status || *status < 100 || *status > 599) return Malformed("status");
  std::string_view size = sp < s.size() ? s.substr(sp + 1) : std::string_view();
  size = size.substr(0, size.find(' '));
  auto bytes = size == "-" ? std::optional<uint64_t>(0) : ParseUint(size);
  if (!bytes) return Malformed("response size");
  return StatusAndSize{static_cast<int>(*status), static_cast<uint64_t>(*bytes)};
}

// The template of a request: the most specific matching rule.
const std::string& TemplateOf(const AccessLogOptions& options, std::string_view host,
                              std::string_view path) {
  static const std::string kNone;
  if (options.templates.empty()) return kNone;
  const TemplateRule* best = nullptr;
  for (const TemplateRule& rule : options.templates) {
    if (!rule.host.empty() && !EqualsIgnoreCase(rule.host, host)) continue;
    if (!path.starts_with(rule.path_prefix)) continue;
    auto rank = [](const TemplateRule* r) {
      return std::make_pair(!r->host.empty(), r->path_prefix.size());
    };
    if (best == nullptr || rank(&rule) > rank(best)) best = &rule;
  }
  return best != nullptr ? best->template_name : options.unmatched_template;
}

// The `k` most requested paths (all when k is 0), ties by path.
std::map<std::string, uint64_t> TopPaths(const std::unordered_map<std::string, uint64_t>& counts,
                                         size_t k) {
  std::vector<std::pair<std::string_view, uint64_t>> all(counts.begin(), counts.end());
  size_t keep = k == 0 ? all.size() : std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keep), all.end(),
                    [](const auto& a, const auto& b) {
                      return a.second != b.second ? a.second > b.second : a.first < b.first;
                    });
  std::map<std::string, uint64_t> out;
  for (size_t i = 0; i < keep; ++i) out.emplace(all[i].first, all[i].second);
  return out;
}

// Requests per (template, step) and per path, as lines arrive.
class Aggregator {
 public:
  explicit Aggregator(const AccessLogOptions& options) : options_(options) {}

  void Add(const AccessLogLine& line) {
    const std::string& name = TemplateOf(options_, line.host, line.path);
    auto it = steps_.find(name);
    if (it == steps_.end()) it = steps_.emplace(name, options_.step_ms).first;
    it->second.Add(line.unix_ms, 1);
    std::string_view path = line.path;
    if (!options_.keep_query) path = path.substr(0, path.find('?'));
    std::string key(path);
    ++paths_[key];
    // A full response (200) tells the content's size; partial (206) or cached (304) do not.
    if (line.status == 200) sizes_[key] = std::max(sizes_[key], line.bytes);
  }

  absl::StatusOr<AccessLogCounts> Build() const {
    AccessLogCounts out;
    for (const auto& [name, steps] : steps_) {
      Key key{options_.region, name};
      std::string series_name = key.region.empty() ? name : key.region + "/" + name;
      if (series_name.empty()) series_name = "requests";
      ASSIGN_OR_RETURN(Series s, steps.Build(series_name, options_.empty_step, options_.max_steps));
      out.report.gaps += CountGaps(s);
      out.series.emplace(std::move(key), std::move(s));
    }
    out.top_paths = TopPaths(paths_, options_.top_k);
    for (const auto& [p, n] : out.top_paths) {
      auto size = sizes_.find(p);
      if (size != sizes_.end()) out.path_bytes[p] = size->second;
    }
    out.distinct_paths = paths_.size();
    return out;
  }

 private:
  const AccessLogOptions& options_;
  std::map<std::string, StepAccumulator> steps_;  // by template
  std::unordered_map<std::string, uint64_t> paths_;
  std::unordered_map<std::string, uint64_t> sizes_;  // largest 200 response per path
};

}  // namespace

absl::StatusOr<AccessLogLine> ParseAccessLogLine(std::string_view line) {
  AccessLogLine out;
  size_t open = line.find(" [");
  size_t close = line.find(']', open);
  if (open == std::string_view::npos || close == std::string_view::npos) {
    return Malformed("time: no [...]");
  }
  ASSIGN_OR_RETURN(out.host, VirtualHost(line.substr(0, open)));
  ASSIGN_OR_RETURN(out.unix_ms, ParseClfTimestampMs(line.substr(open + 2, close - open - 2)));
  std::string_view rest = line.substr(close + 1);
  if (!rest.starts_with(" \"")) return Malformed("request: no quote");
  rest.remove_prefix(2);
  auto quote = ClosingQuote(rest);
  if (!quote) return Malformed("request: unterminated quote");
  ASSIGN_OR_RETURN(Request request, ParseRequest(rest.substr(0, *quote)));
  ASSIGN_OR_RETURN(StatusAndSize ss, ParseStatusAndSize(rest.substr(*quote + 1)));
  out.status = ss.status;
  out.bytes = ss.bytes;
  out.method = request.method;
  out.path = request.path;
  if (!request.host.empty()) out.host = request.host;
  return out;
}

absl::StatusOr<AccessLogCounts> ReadAccessLog(const std::string& path,
                                              const AccessLogOptions& options) {
  ASSIGN_OR_RETURN(LineSource source, LineSource::OpenFile(path));
  return ReadAccessLog(std::move(source), options);
}

absl::StatusOr<AccessLogCounts> ReadAccessLog(LineSource source, const AccessLogOptions& options) {
  if (options.step_ms <= 0) {
    return absl::InvalidArgumentError(fmt::format("step_ms {} <= 0", options.step_ms));
  }
  Aggregator aggregator(options);
  ReadReport report;
  while (auto text = source.Next()) {
    if (TrimSpace(*text).empty()) continue;
    auto line = ParseAccessLogLine(*text);
    if (!line.ok()) {
      report.AddBad(source.name(), source.line_number(), line.status());
      continue;
    }
    report.AddRow();
    aggregator.Add(*line);
  }
  ASSIGN_OR_RETURN(AccessLogCounts out, aggregator.Build());
  report.gaps = out.report.gaps;
  out.report = std::move(report);
  return out;
}

}  // namespace prewarm::forecast::ingest
