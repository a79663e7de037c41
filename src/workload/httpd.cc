// prewarm-httpd: the static file server that runs inside `static` instances.
//
//   prewarm-httpd [--root DIR] [--listen ADDR:PORT]
//
// Without --listen it takes its listening socket from systemd-style socket activation
// (LISTEN_FDS=1 and LISTEN_PID equal to its own pid: fd 3). SIGTERM/SIGINT drain.
// With $PREWARM_CONTENT_REPORT it reports each request's content id and size to that unix
// datagram socket, never waiting for it (workload/content_report.h).
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "workload/static_server.h"

namespace {

struct Args {
  std::string root = "/srv/content";
  std::string listen;
};

std::optional<Args> ParseArgs(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if ((a == "--root" || a == "--listen") && i + 1 < argc) {
      (a == "--root" ? args.root : args.listen) = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--root DIR] [--listen ADDR:PORT]\n", argv[0]);
      return std::nullopt;
    }
  }
  return args;
}

// fd 3 when LISTEN_FDS/LISTEN_PID say it is ours, else -1.
int ActivatedSocket() {
  const char* fds = std::getenv("LISTEN_FDS");
  const char* pid = std::getenv("LISTEN_PID");
  if (fds == nullptr || pid == nullptr || std::atoi(fds) < 1) return -1;
  if (std::atol(pid) != static_cast<long>(::getpid())) return -1;
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDNAMES");
  ::fcntl(3, F_SETFD, FD_CLOEXEC);
  return 3;
}

// "127.0.0.1:8080" or "[::1]:8080".
int ListenOn(const std::string& spec) {
  size_t colon = spec.rfind(':');
  if (colon == std::string::npos) return -1;
  std::string host = spec.substr(0, colon);
  int port = std::atoi(spec.c_str() + colon + 1);
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &s6->sin6_addr) != 1)
      return -1;
    len = sizeof *s6;
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    if (inet_pton(AF_INET, host.c_str(), &s4->sin_addr) != 1) return -1;
    len = sizeof *s4;
  }
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 1024) != 0) {
    return -1;
  }
  return fd;
}

// A signalfd for SIGTERM/SIGINT. Handlers are installed too: as pid 1 of a container
// a signal left at SIG_DFL would be dropped before reaching the (blocked) mask.
int StopSignals() {
  struct sigaction sa = {};
  sa.sa_handler = [](int) {};
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  sa.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &sa, nullptr);
  sigset_t set;
  ::sigemptyset(&set);
  ::sigaddset(&set, SIGTERM);
  ::sigaddset(&set, SIGINT);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  return ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Args> args = ParseArgs(argc, argv);
  if (!args.has_value()) return 2;
  int listen_fd = args->listen.empty() ? ActivatedSocket() : ListenOn(args->listen);
  if (listen_fd < 0) {
    std::fprintf(stderr, "prewarm-httpd: no listening socket (%s)\n",
                 args->listen.empty() ? "LISTEN_FDS/LISTEN_PID not for us" : std::strerror(errno));
    return 1;
  }
  int stop_fd = StopSignals();
  prewarm::workload::ServerOptions options;
  options.root = args->root;
  // The agent's per-instance report socket (workload/content_report.h), if it gave one.
  if (const char* report = std::getenv(prewarm::workload::kContentReportEnv)) {
    options.content_report_socket = report;
  }
  prewarm::workload::StaticServer server(options, listen_fd, stop_fd);
  // One line for the instance's output (`prewarm ctl logs`): what it serves.
  std::fprintf(stderr, "prewarm-httpd: serving %s\n", options.root.c_str());
  return server.Run();
}
