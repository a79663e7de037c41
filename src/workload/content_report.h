// How a workload tells its agent what it served (issue 17, trending content): one unix
// datagram per request, sent to the socket named by $PREWARM_CONTENT_REPORT, reading
//
//   "<status>\t<bytes>\t<content id>"      e.g. "200\t5120\tvideo/seg1.ts"
//
// status: the HTTP status answered (200: served whole; 404: asked for, not present);
// bytes: the content's size as served (0 when not served); content id: the path under the
// served root (common/content_id.h; "a/index.html" for "/a/"). The agent owns the socket
// and validates every field: the workload is not trusted. Any workload, ours or not, may
// report the same way; one that does not simply is not counted.
//
// The sender never waits: the socket is non-blocking and unconnected, so a full receive
// buffer, a slow agent or no agent at all drops the report (counted) and the response goes
// out as if nothing happened. std + libc only (prewarm-httpd links nothing else).
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace prewarm::workload {

inline constexpr const char* kContentReportEnv = "PREWARM_CONTENT_REPORT";
inline constexpr size_t kMaxContentReportBytes = 1024;  // one datagram

class ContentReporter {
 public:
  // nullptr unless `socket_path` fits a sockaddr_un and a datagram socket can be made (the
  // workload then reports nothing). The socket need not exist yet.
  static std::unique_ptr<ContentReporter> Open(const std::string& socket_path);
  ~ContentReporter();
  ContentReporter(const ContentReporter&) = delete;
  ContentReporter& operator=(const ContentReporter&) = delete;

  // Sends one report without blocking; an id that would not fit a datagram is dropped.
  void Report(int status, uint64_t bytes, std::string_view id);
  uint64_t sent() const { return sent_; }
  uint64_t dropped() const { return dropped_; }

 private:
  ContentReporter(int fd, const sockaddr_un& addr, socklen_t len)
      : fd_(fd), addr_(addr), len_(len) {}

  int fd_;
  sockaddr_un addr_;
  socklen_t len_;
  uint64_t sent_ = 0;
  uint64_t dropped_ = 0;
};

// One report datagram parsed (the agent's side); nullopt on anything malformed. The fields
// are checked for shape only: the receiver still checks the id with ValidateContentId.
struct ContentReport {
  int status = 0;
  uint64_t bytes = 0;
  std::string_view id;  // into the datagram
};
std::optional<ContentReport> ParseContentReport(std::string_view datagram);

}  // namespace prewarm::workload
