// StaticServer: the event loop of prewarm-httpd. One thread, one epoll set: accepts on
// a listening socket it is handed, serves GET/HEAD for files under a root directory with
// keep-alive and pipelining, and drains gracefully when its stop fd becomes readable.
// std + libc only (the binary is linked statically into a busybox rootfs).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>

#include "workload/content_report.h"
#include "workload/http_request.h"

namespace prewarm::workload {

struct ServerOptions {
  std::string root = "/srv/content";
  std::chrono::seconds idle_timeout{30};
  std::chrono::seconds drain_timeout{5};
  size_t max_connections = 4000;
  // Unix datagram socket each request's content id and size are reported to (its agent's,
  // $PREWARM_CONTENT_REPORT; content_report.h). Empty: nothing is reported.
  std::string content_report_socket;
};

class StaticServer {
 public:
  // Takes ownership of neither fd. `listen_fd` must be listening; `stop_fd` (e.g. a
  // signalfd) becoming readable starts a graceful drain.
  StaticServer(ServerOptions options, int listen_fd, int stop_fd);
  ~StaticServer();
  StaticServer(const StaticServer&) = delete;
  StaticServer& operator=(const StaticServer&) = delete;

  // Serves until stopped; returns the process exit code (0 after a clean drain).
  int Run();

 private:
  struct Conn;
  void AcceptAll();
  void OnEvent(int fd, uint32_t events);
  void OnReadable(Conn& c);
  void ProcessInput(Conn& c);
  void Respond(Conn& c, const RequestHead& head);
  void QueueError(Conn& c, int code, bool head_only);
  void QueueFile(Conn& c, int file_fd, off_t size, std::string_view path, bool head_only);
  // `rel` as the server resolved it ("/index.html" for the root's index).
  void ReportContent(int status, uint64_t bytes, std::string_view rel);
  int64_t QueuedMs(Conn& c);  // for the connection's first response, else -1
  bool Flush(Conn& c);        // false when the connection was closed
  void AfterFlush(Conn& c);
  void SetInterest(Conn& c, bool want_write);
  void Close(int fd);
  void Sweep();
  int OpenRoot();
  int OpenBeneath(int dir_fd, const std::string& rel);

  ServerOptions options_;
  int listen_fd_;
  int stop_fd_;
  int epoll_fd_ = -1;
  int root_fd_ = -1;
  bool listening_ = false;
  bool draining_ = false;
  std::chrono::steady_clock::time_point serving_since_;  // Run() began: requests before waited
  std::chrono::steady_clock::time_point drain_deadline_;
  std::unordered_map<int, std::unique_ptr<Conn>> conns_;
  std::unique_ptr<ContentReporter> reporter_;  // null: not reporting
};

}  // namespace prewarm::workload
