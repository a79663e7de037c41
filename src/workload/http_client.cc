#include "workload/http_client.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>

#include "fmt/format.h"

namespace prewarm::workload {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

absl::StatusOr<HttpResponse> ParseHead(std::string_view head) {
  HttpResponse r;
  size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  if (status_line.substr(0, 5) != "HTTP/" || status_line.size() < 12) {
    return absl::DataLossError(fmt::format("bad status line: {}", status_line));
  }
  std::optional<int64_t> code = ParseInt(status_line.substr(9, 3));
  if (!code.has_value()) return absl::DataLossError("bad status code");
  r.status = static_cast<int>(*code);
  std::string_view rest = eol == std::string_view::npos ? "" : head.substr(eol + 2);
  while (!rest.empty()) {
    eol = rest.find("\r\n");
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? "" : rest.substr(eol + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    r.headers[Lower(line.substr(0, colon))] = std::string(value);
  }
  return r;
}

}  // namespace

absl::StatusOr<HttpConnection> HttpConnection::Connect(const IpAddr& addr, uint16_t port,
                                                       std::chrono::milliseconds timeout) {
  ScopedFd fd(::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus(errno, "socket");
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  socklen_t len = 0;
  sockaddr_storage ss = addr.ToSockaddr(port, &len);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    return ErrnoStatus(errno, "connect " + HostPort{addr, port}.ToString());
  }
  return HttpConnection(std::move(fd));
}

absl::Status HttpConnection::Send(std::string_view raw) {
  while (!raw.empty()) {
    ssize_t w = ::send(fd_.get(), raw.data(), raw.size(), MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return ErrnoStatus(errno, "send");
    raw.remove_prefix(w);
  }
  return absl::OkStatus();
}

absl::Status HttpConnection::Fill() {
  char buf[16384];
  for (;;) {
    ssize_t r = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoStatus(errno == EAGAIN ? ETIMEDOUT : errno, "recv");
    if (r == 0) return absl::UnavailableError("connection closed by server");
    buf_.append(buf, r);
    return absl::OkStatus();
  }
}

absl::StatusOr<HttpResponse> HttpConnection::ReadResponse(bool head_request) {
  size_t end;
  while ((end = buf_.find("\r\n\r\n")) == std::string::npos) RETURN_IF_ERROR(Fill());
  ASSIGN_OR_RETURN(HttpResponse r, ParseHead(std::string_view(buf_).substr(0, end)));
  buf_.erase(0, end + 4);
  size_t length = 0;
  if (auto it = r.headers.find("content-length"); it != r.headers.end()) {
    std::optional<int64_t> n = ParseInt(it->second);
    if (!n.has_value() || *n < 0) return absl::DataLossError("bad Content-Length");
    length = static_cast<size_t>(*n);
  }
  if (head_request) length = 0;
  while (buf_.size() < length) RETURN_IF_ERROR(Fill());
  r.body = buf_.substr(0, length);
  buf_.erase(0, length);
  return r;
}

absl::StatusOr<HttpResponse> HttpConnection::Request(std::string_view method,
                                                     std::string_view path) {
  RETURN_IF_ERROR(Send(fmt::format("{} {} HTTP/1.1\r\nHost: instance\r\n\r\n", method, path)));
  return ReadResponse(method == "HEAD");
}

bool HttpConnection::ServerClosed() {
  if (!buf_.empty()) return false;
  return Fill().code() == absl::StatusCode::kUnavailable;
}

absl::StatusOr<HttpResponse> HttpGet(const IpAddr& addr, uint16_t port, std::string_view path,
                                     std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(HttpConnection c, HttpConnection::Connect(addr, port, timeout));
  return c.Request("GET", path);
}

}  // namespace prewarm::workload
