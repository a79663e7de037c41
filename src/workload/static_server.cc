#include "workload/static_server.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

#include "workload/queue_wait.h"

namespace prewarm::workload {
namespace {

using Clock = std::chrono::steady_clock;

std::string_view Reason(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Payload Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

std::string HttpDate() {
  char buf[64];
  time_t now = ::time(nullptr);
  struct tm tm;
  ::gmtime_r(&now, &tm);
  size_t n = ::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf, n);
}

// `queued_ms` >= 0 adds X-Prewarm-Queued-Ms (a connection's first response).
std::string ResponseHead(int code, std::string_view type, off_t length, bool keep_alive,
                         int64_t queued_ms) {
  std::string h = "HTTP/1.1 " + std::to_string(code) + " ";
  h.append(Reason(code));
  h += "\r\nServer: prewarm-httpd\r\nDate: " + HttpDate();
  if (queued_ms >= 0) h += std::string("\r\n") + kQueuedHeader + ": " + std::to_string(queued_ms);
  h += "\r\nContent-Type: ";
  h.append(type);
  h += "\r\nContent-Length: " + std::to_string(length);
  if (code == 405) h += "\r\nAllow: GET, HEAD";
  h += keep_alive ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
  return h;
}

}  // namespace

struct StaticServer::Conn {
  int fd = -1;
  std::string in;
  std::string out;
  size_t out_off = 0;
  int file_fd = -1;
  off_t file_off = 0;
  off_t file_left = 0;
  bool close_after = false;
  bool peer_closed = false;  // the client shut down its side: answer what it sent, then close
  bool want_write = false;
  bool answered = false;  // a response was queued: later ones carry no queued time
  Clock::time_point last_active = Clock::now();

  bool busy() const { return out_off < out.size() || file_left > 0; }
  ~Conn() {
    if (file_fd >= 0) ::close(file_fd);
    if (fd >= 0) ::close(fd);
  }
};

StaticServer::StaticServer(ServerOptions options, int listen_fd, int stop_fd)
    : options_(std::move(options)), listen_fd_(listen_fd), stop_fd_(stop_fd) {
  if (!options_.content_report_socket.empty()) {
    reporter_ = ContentReporter::Open(options_.content_report_socket);
  }
}

StaticServer::~StaticServer() {
  conns_.clear();
  if (root_fd_ >= 0) ::close(root_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

int StaticServer::Run() {
  serving_since_ = Clock::now();
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return 1;
  ::fcntl(listen_fd_, F_SETFL, ::fcntl(listen_fd_, F_GETFL) | O_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd_;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev) != 0) return 1;
  listening_ = true;
  ev.data.fd = stop_fd_;
  if (stop_fd_ >= 0 && ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd_, &ev) != 0) return 1;
  std::vector<epoll_event> events(256);
  while (!draining_ || (!conns_.empty() && Clock::now() < drain_deadline_)) {
    int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 1000);
    if (n < 0 && errno != EINTR) return 1;
    for (int i = 0; i < n; ++i) OnEvent(events[i].data.fd, events[i].events);
    Sweep();
  }
  return 0;
}

void StaticServer::OnEvent(int fd, uint32_t events) {
  if (fd == listen_fd_) return AcceptAll();
  if (fd == stop_fd_) {
    draining_ = true;
    drain_deadline_ = Clock::now() + options_.drain_timeout;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, stop_fd_, nullptr);
    if (listening_) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
    listening_ = false;
    return Sweep();
  }
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  Conn& c = *it->second;
  c.last_active = Clock::now();
  if (events & (EPOLLERR | EPOLLHUP)) return Close(fd);
  if (c.want_write) {
    if (Flush(c)) AfterFlush(c);
  } else {
    OnReadable(c);
  }
}

void StaticServer::AcceptAll() {
  for (;;) {
    if (conns_.size() >= options_.max_connections) break;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      break;  // EAGAIN, or out of fds: the sweep retries a second later
    }
    auto conn = std::make_unique<Conn>();
    conn->fd = fd;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) continue;  // conn closes fd
    conns_.emplace(fd, std::move(conn));
  }
  bool full = conns_.size() >= options_.max_connections;
  if (full && listening_) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
    listening_ = false;
  }
}

void StaticServer::OnReadable(Conn& c) {
  char buf[16384];
  for (;;) {
    ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
    if (r > 0) {
      c.in.append(buf, r);
      if (c.in.size() > 2 * kMaxRequestHead) break;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (r < 0) return Close(c.fd);
    c.peer_closed = true;
    break;
  }
  ProcessInput(c);
}

void StaticServer::ProcessInput(Conn& c) {
  int fd = c.fd;
  while (!c.busy() && !c.close_after) {
    RequestHead head = ParseRequestHead(c.in);
    if (head.parse == RequestHead::Parse::kIncomplete) break;
    if (head.parse == RequestHead::Parse::kTooLarge) {
      QueueError(c, 413, false);
    } else if (head.parse == RequestHead::Parse::kBad) {
      QueueError(c, 400, false);
    } else {
      c.in.erase(0, head.head_bytes);
      Respond(c, head);
    }
    if (!Flush(c)) return;
    if (conns_.count(fd) == 0 || c.busy()) return;
  }
  if ((c.close_after || c.peer_closed) && !c.busy()) Close(fd);
}

void StaticServer::Respond(Conn& c, const RequestHead& head) {
  bool head_only = head.method == "HEAD";
  c.close_after = !head.keep_alive || draining_;
  if (head.method != "GET" && !head_only) return QueueError(c, 405, false);
  if (head.has_body) return QueueError(c, 413, head_only);
  std::optional<std::string> rel = TargetToRelativePath(head.target);
  if (!rel.has_value()) {  // traversal attempts look like any missing file
    return QueueError(c, head.target.front() == '/' ? 404 : 400, head_only);
  }
  int root = OpenRoot();
  if (root < 0) return QueueError(c, 404, head_only);
  int fd = OpenBeneath(root, rel->empty() ? "." : *rel);
  struct stat st;
  if (fd >= 0 && ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    int index = OpenBeneath(fd, "index.html");
    ::close(fd);
    fd = index;
    *rel += "/index.html";
  }
  if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    if (fd >= 0) ::close(fd);
    if (!head_only && !head.probe) ReportContent(404, 0, *rel);
    return QueueError(c, 404, head_only);
  }
  if (!head_only && !head.probe) ReportContent(200, static_cast<uint64_t>(st.st_size), *rel);
  QueueFile(c, fd, st.st_size, *rel, head_only);
}

void StaticServer::ReportContent(int status, uint64_t bytes, std::string_view rel) {
  if (!reporter_) return;
  while (rel.starts_with('/')) rel.remove_prefix(1);
  reporter_->Report(status, bytes, rel);
}

void StaticServer::QueueError(Conn& c, int code, bool head_only) {
  if (code != 404) c.close_after = true;  // the stream may be out of sync
  std::string body = std::to_string(code) + " " + std::string(Reason(code)) + "\n";
  c.out = ResponseHead(code, "text/plain; charset=utf-8", body.size(), !c.close_after, QueuedMs(c));
  if (!head_only) c.out += body;
  c.out_off = 0;
}

void StaticServer::QueueFile(Conn& c, int file_fd, off_t size, std::string_view path,
                             bool head_only) {
  c.out = ResponseHead(200, ContentTypeFor(path), size, !c.close_after, QueuedMs(c));
  c.out_off = 0;
  if (head_only || size == 0) {
    ::close(file_fd);
    return;
  }
  c.file_fd = file_fd;
  c.file_off = 0;
  c.file_left = size;
}

int64_t StaticServer::QueuedMs(Conn& c) {
  if (c.answered) return -1;
  c.answered = true;
  return QueuedBeforeStartMs(c.fd, serving_since_);
}

bool StaticServer::Flush(Conn& c) {
  // The header goes with MSG_MORE when a body follows from the file: sent alone, it
  // leaves the body's first segment behind Nagle until the client's delayed ACK (40 ms
  // a response on one connection; bench/instance_start measured it).
  const int more = c.file_left > 0 ? MSG_MORE : 0;
  while (c.out_off < c.out.size()) {
    ssize_t w =
        ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL | more);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return SetInterest(c, true), true;
    if (w <= 0) return Close(c.fd), false;
    c.out_off += w;
  }
  while (c.file_left > 0) {
    size_t chunk = static_cast<size_t>(std::min<off_t>(c.file_left, 1 << 20));
    ssize_t w = ::sendfile(c.fd, c.file_fd, &c.file_off, chunk);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return SetInterest(c, true), true;
    if (w <= 0) return Close(c.fd), false;  // error, or the file shrank under us
    c.file_left -= w;
  }
  if (c.file_fd >= 0) ::close(c.file_fd);
  c.file_fd = -1;
  c.out.clear();
  c.out_off = 0;
  SetInterest(c, false);
  return true;
}

void StaticServer::AfterFlush(Conn& c) {
  if (c.busy()) return;
  if (c.close_after) return Close(c.fd);
  ProcessInput(c);  // pipelined requests already buffered
}

void StaticServer::SetInterest(Conn& c, bool want_write) {
  if (c.want_write == want_write) return;
  c.want_write = want_write;
  epoll_event ev{};
  ev.events = want_write ? EPOLLOUT : EPOLLIN;
  ev.data.fd = c.fd;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
}

void StaticServer::Close(int fd) { conns_.erase(fd); }

// Once a second (and on drain): drops idle connections, resumes accepting if paused.
void StaticServer::Sweep() {
  auto now = Clock::now();
  std::vector<int> idle;
  for (const auto& [fd, c] : conns_) {
    bool quiet = !c->busy() && c->in.empty();
    if ((draining_ && quiet) || now - c->last_active > options_.idle_timeout) idle.push_back(fd);
  }
  for (int fd : idle) Close(fd);
  if (!draining_ && !listening_ && conns_.size() < options_.max_connections) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = listen_fd_;
    listening_ = ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev) == 0;
  }
}

// The root may appear after start (preload races nothing, but be forgiving).
int StaticServer::OpenRoot() {
  if (root_fd_ < 0) root_fd_ = ::open(options_.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  return root_fd_;
}

// Opens `rel` under `dir_fd`, refusing anything (.., symlinks) that resolves outside it.
int StaticServer::OpenBeneath(int dir_fd, const std::string& rel) {
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, dir_fd, rel.c_str(), &how, sizeof how);
  if (fd >= 0 || errno != ENOSYS) return static_cast<int>(fd);
  // Pre-5.6 kernel: open, then check the resolved path stays under the root.
  int f = ::openat(dir_fd, rel.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (f < 0) return -1;
  char real[PATH_MAX], base[PATH_MAX];
  std::string self = "/proc/self/fd/" + std::to_string(f);
  char* r = ::realpath(self.c_str(), real);
  char* b = ::realpath(options_.root.c_str(), base);
  std::string rs = r ? r : "", bs = b ? b : "/nonexistent";
  if (rs != bs && rs.rfind(bs + "/", 0) != 0) {
    ::close(f);
    return -1;
  }
  return f;
}

}  // namespace prewarm::workload
