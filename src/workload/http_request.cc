#include "workload/http_request.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

#include "workload/queue_wait.h"

namespace prewarm::workload {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool IContains(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    if (IEquals(hay.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ParseRequestLine(std::string_view line, RequestHead& head, bool& http11) {
  size_t sp1 = line.find(' ');
  size_t sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return false;
  head.method = std::string(line.substr(0, sp1));
  head.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  std::string_view version = line.substr(sp2 + 1);
  if (head.method.empty() || head.target.empty()) return false;
  if (version == "HTTP/1.1") {
    http11 = true;
  } else if (version != "HTTP/1.0") {
    return false;
  }
  return head.target.find(' ') == std::string::npos;
}

// Applies one "Name: value" header line; false if malformed.
bool ApplyHeader(std::string_view line, RequestHead& head) {
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view name = line.substr(0, colon);
  std::string_view value = Trim(line.substr(colon + 1));
  if (IEquals(name, "Connection")) {
    if (IContains(value, "close")) head.keep_alive = false;
    if (IContains(value, "keep-alive")) head.keep_alive = true;
  } else if (IEquals(name, "Content-Length")) {
    if (value.empty() || !std::all_of(value.begin(), value.end(), ::isdigit)) return false;
    head.has_body = head.has_body || value.find_first_not_of('0') != std::string_view::npos;
  } else if (IEquals(name, "Transfer-Encoding")) {
    head.has_body = true;
  } else if (IEquals(name, kProbeHeader)) {
    head.probe = true;
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

RequestHead ParseRequestHead(std::string_view buf) {
  RequestHead head;
  size_t end = buf.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    head.parse = buf.size() > kMaxRequestHead ? RequestHead::Parse::kTooLarge
                                              : RequestHead::Parse::kIncomplete;
    return head;
  }
  if (end + 4 > kMaxRequestHead) {
    head.parse = RequestHead::Parse::kTooLarge;
    return head;
  }
  head.head_bytes = end + 4;
  std::string_view rest = buf.substr(0, end + 2);
  size_t eol = rest.find("\r\n");
  bool http11 = false;
  head.parse = RequestHead::Parse::kBad;
  if (!ParseRequestLine(rest.substr(0, eol), head, http11)) return head;
  head.keep_alive = http11;
  rest.remove_prefix(eol + 2);
  while (!rest.empty()) {
    eol = rest.find("\r\n");
    if (!ApplyHeader(rest.substr(0, eol), head)) return head;
    rest.remove_prefix(eol + 2);
  }
  head.parse = RequestHead::Parse::kOk;
  return head;
}

std::optional<std::string> TargetToRelativePath(std::string_view target) {
  target = target.substr(0, target.find_first_of("?#"));
  if (target.empty() || target.front() != '/') return std::nullopt;
  std::string decoded;
  for (size_t i = 0; i < target.size(); ++i) {
    char c = target[i];
    if (c == '%') {
      if (i + 2 >= target.size()) return std::nullopt;
      int hi = HexValue(target[i + 1]), lo = HexValue(target[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0' || c == '\\') return std::nullopt;
    decoded.push_back(c);
  }
  std::string out;
  std::string_view rest = decoded;
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (seg.empty()) continue;
    if (seg == "." || seg == "..") return std::nullopt;
    if (!out.empty()) out.push_back('/');
    out.append(seg);
  }
  return out;
}

std::string_view ContentTypeFor(std::string_view path) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 22> kTypes = {{
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"json", "application/json"},
      {"txt", "text/plain; charset=utf-8"},
      {"xml", "application/xml"},
      {"m3u8", "application/vnd.apple.mpegurl"},
      {"ts", "video/mp2t"},
      {"mp4", "video/mp4"},
      {"m4s", "video/iso.segment"},
      {"webm", "video/webm"},
      {"mp3", "audio/mpeg"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"svg", "image/svg+xml"},
      {"ico", "image/x-icon"},
      {"wasm", "application/wasm"},
  }};
  size_t dot = path.rfind('.');
  size_t slash = path.rfind('/');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && slash > dot)) {
    return "application/octet-stream";
  }
  std::string_view ext = path.substr(dot + 1);
  for (const auto& [e, type] : kTypes) {
    if (IEquals(e, ext)) return type;
  }
  return "application/octet-stream";
}

}  // namespace prewarm::workload
