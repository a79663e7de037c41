// A minimal blocking HTTP/1.1 client: readiness probes, tests and benchmarks talk to
// instances with it. Not a general client: no chunked bodies, no TLS, no redirects.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/net.h"
#include "common/status.h"

namespace prewarm::workload {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// One keep-alive connection. Every read and write is bounded by `timeout`.
class HttpConnection {
 public:
  static absl::StatusOr<HttpConnection> Connect(const IpAddr& addr, uint16_t port,
                                                std::chrono::milliseconds timeout);
  // Writes raw bytes (a request, or garbage for tests).
  absl::Status Send(std::string_view raw);
  // Blocks until the server's first bytes have arrived (or the timeout): time to first
  // byte, for clients that measure it. The next ReadResponse reads them.
  absl::Status AwaitFirstByte() { return buf_.empty() ? Fill() : absl::OkStatus(); }
  // Reads one response; `head_request` responses carry no body.
  absl::StatusOr<HttpResponse> ReadResponse(bool head_request = false);
  // Sends "METHOD path HTTP/1.1" with a Host header and reads the response.
  absl::StatusOr<HttpResponse> Request(std::string_view method, std::string_view path);
  // True once the server has closed the connection (reads EOF within the timeout).
  bool ServerClosed();

 private:
  explicit HttpConnection(ScopedFd fd) : fd_(std::move(fd)) {}
  absl::Status Fill();  // reads more into buf_

  ScopedFd fd_;
  std::string buf_;
};

// One request on a fresh connection.
absl::StatusOr<HttpResponse> HttpGet(const IpAddr& addr, uint16_t port, std::string_view path,
                                     std::chrono::milliseconds timeout);

}  // namespace prewarm::workload
