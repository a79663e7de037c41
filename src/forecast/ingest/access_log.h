// Web server access logs in Common or Combined Log Format, aggregated while reading into
// requests per step (per template when rules are given) and request counts per URL path.
//
//   127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif?x=1 HTTP/1.0" 200 2326 ...
//   www.example.com:443 127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 -
//
// The second form (Apache vhost_combined: a leading "host[:port]") is recognised per line;
// its host is what TemplateRule::host matches, as is the host of an absolute request URI.
// Every request line counts, whatever its status. A line without a parseable time,
// request line ("METHOD target [PROTOCOL]"), status or size is a counted bad line.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "forecast/ingest/count_csv.h"
#include "forecast/ingest/report.h"
#include "forecast/ingest/step_accumulator.h"
#include "forecast/ingest/text.h"
#include "forecast/series.h"

namespace prewarm::forecast::ingest {

// Requests whose path starts with `path_prefix` (and whose host is `host`, when set) belong
// to `template_name`. The most specific rule wins: a host rule over a hostless one, then
// the longest prefix.
struct TemplateRule {
  std::string host;  // empty: any host; else compared case-insensitively, port ignored
  std::string path_prefix;
  std::string template_name;
};

struct AccessLogOptions {
  int64_t step_ms = 60'000;
  std::string region;                        // Key::region of every series
  std::vector<TemplateRule> templates;       // none: one series, Key::template_name ""
  std::string unmatched_template = "other";  // when rules are given and none matches
  bool keep_query = false;                   // false: "/a?x=1" counts as "/a" in the path counts
  size_t top_k = 100;  // paths kept in AccessLogCounts::top_paths; 0 keeps all
  // A log records every request, so a quiet step is a zero; kGap if it has holes.
  EmptyStep empty_step = EmptyStep::kZero;
  size_t max_steps = 50'000'000;
};

struct AccessLogCounts {
  std::map<Key, Series> series;  // requests per step, named like ReadCountCsv's
  // The top_k most requested paths (ties broken by path) with their request counts: the
  // content ids for trending-content detection.
  std::map<std::string, uint64_t> top_paths;
  // Size in bytes of the top paths, from their largest 200 response (absent: never seen
  // whole). Used to keep a preload list within an instance's scratch storage.
  std::map<std::string, uint64_t> path_bytes;
  size_t distinct_paths = 0;
  ReadReport report;
};

absl::StatusOr<AccessLogCounts> ReadAccessLog(const std::string& path,
                                              const AccessLogOptions& options);
absl::StatusOr<AccessLogCounts> ReadAccessLog(LineSource source, const AccessLogOptions& options);

// One parsed log line; views into the line.
struct AccessLogLine {
  std::string_view host;  // vhost field or absolute-URI host, without port; may be empty
  int64_t unix_ms = 0;
  std::string_view method;
  std::string_view path;  // with its query string
  int status = 0;
  uint64_t bytes = 0;  // response size; "-" is 0
};

absl::StatusOr<AccessLogLine> ParseAccessLogLine(std::string_view line);

}  // namespace prewarm::forecast::ingest
