// HTTP/1.1 request-head parsing and URL-path checks for prewarm-httpd. Pure functions,
// std only: prewarm-httpd links statically against libc and libstdc++ and nothing else.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace prewarm::workload {

constexpr size_t kMaxRequestHead = 16 * 1024;

struct RequestHead {
  enum class Parse { kIncomplete, kOk, kBad, kTooLarge };
  Parse parse = Parse::kIncomplete;
  size_t head_bytes = 0;  // bytes consumed by the request line and headers
  std::string method;
  std::string target;
  bool keep_alive = false;
  bool has_body = false;  // Content-Length > 0 or any Transfer-Encoding
  bool probe = false;     // the agent's readiness or health probe (kProbeHeader)
};

// Parses the head at the start of `buf` (request line + headers + CRLFCRLF).
RequestHead ParseRequestHead(std::string_view buf);

// Turns a request target ("/a/b%20c.html?x=1") into a path relative to the served root
// ("a/b c.html"; "" for "/"). nullopt for anything unsafe or malformed: not starting
// with '/', bad %-escapes, NUL, backslashes, "." or ".." segments.
std::optional<std::string> TargetToRelativePath(std::string_view target);

// MIME type from the file extension; application/octet-stream when unknown.
std::string_view ContentTypeFor(std::string_view path);

}  // namespace prewarm::workload
