#include "workload/content_report.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace prewarm::workload {

std::unique_ptr<ContentReporter> ContentReporter::Open(const std::string& socket_path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path) return nullptr;
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_path.size() + 1);
  return std::unique_ptr<ContentReporter>(new ContentReporter(fd, addr, len));
}

ContentReporter::~ContentReporter() { ::close(fd_); }

void ContentReporter::Report(int status, uint64_t bytes, std::string_view id) {
  std::string msg = std::to_string(status) + '\t' + std::to_string(bytes) + '\t';
  if (id.empty() || msg.size() + id.size() > kMaxContentReportBytes) {
    ++dropped_;
    return;
  }
  msg.append(id);
  ssize_t n = ::sendto(fd_, msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                       reinterpret_cast<const sockaddr*>(&addr_), len_);
  // EAGAIN (the agent's buffer is full), ECONNREFUSED / ENOENT (no agent): dropped.
  if (n < 0) {
    ++dropped_;
  } else {
    ++sent_;
  }
}

std::optional<ContentReport> ParseContentReport(std::string_view d) {
  if (d.size() > kMaxContentReportBytes) return std::nullopt;
  size_t tab1 = d.find('\t');
  if (tab1 == std::string_view::npos) return std::nullopt;
  size_t tab2 = d.find('\t', tab1 + 1);
  if (tab2 == std::string_view::npos) return std::nullopt;
  auto number = [](std::string_view s) -> std::optional<uint64_t> {
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
  };
  auto status = number(d.substr(0, tab1));
  auto bytes = number(d.substr(tab1 + 1, tab2 - tab1 - 1));
  if (!status || !bytes || *status < 100 || *status > 599) return std::nullopt;
  ContentReport r;
  r.status = static_cast<int>(*status);
  r.bytes = *bytes;
  r.id = d.substr(tab2 + 1);
  if (r.id.empty()) return std::nullopt;
  return r;
}

}  // namespace prewarm::workload
