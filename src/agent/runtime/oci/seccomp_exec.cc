// prewarm-seccomp-exec FILTER [--notify-fd N] -- COMMAND [ARG]...
//
// What an instance's workload is started through under `seccomp: default`: runc gets no
// seccomp profile and execs this instead, as the workload's user, with no_new_privs, as
// pid 1 of the instance. It
//   1. reads FILTER, a program compiled once by the agent (seccomp_filter.h) in the
//      format of seccomp_filter_file.h, and checks it whole (magic, version, this ABI,
//      size, checksum);
//   2. looks COMMAND up in the PATH of its environment when it has no '/', as runc does;
//   3. sets no_new_privs (again) and installs the filter with flags 0, as runc does
//      (prctl PR_SET_SECCOMP): it holds for this process and everything it execs or
//      forks from then on;
//   3b. with --notify-fd N (N: a unix socket it inherited, the agent's): installs it with
//      SECCOMP_FILTER_FLAG_NEW_LISTENER instead, sends the filter's listener over N
//      (SCM_RIGHTS, one byte) and closes both, so that the agent answers the syscalls the
//      filter leaves to it (SCMP_ACT_NOTIFY: bind, port_handoff.h);
//   4. execs COMMAND with the environment and every file descriptor unchanged (fd 3, the
//      socket-activated listener, stays where it is; the filter file is close-on-exec).
// Any failure before the exec prints "prewarm-seccomp-exec: <what>: <reason>" on stderr
// and exits 125 without running COMMAND: nothing ever runs unfiltered. 127 when COMMAND
// is not found (the filter is then not installed, and nothing runs either).
// Static, libc only: it runs inside the instance's root, which may have no libraries.
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "agent/runtime/oci/seccomp_filter_file.h"
#include "common/fd_passing.h"

namespace {

constexpr int kExitRefused = 125;
constexpr int kExitNotFound = 127;
constexpr size_t kMaxFileBytes =
    sizeof(prewarm::agent::oci::SeccompFileHeader) + BPF_MAXINSNS * sizeof(sock_filter);

[[noreturn]] void Fail(const std::string& what, const char* why, int code = kExitRefused) {
  std::fprintf(
      stderr, "prewarm-seccomp-exec: %s: %s%s\n", what.c_str(), why,
      code == kExitRefused ? " (not running the workload without its seccomp filter)" : "");
  std::exit(code);
}

// The whole file into `buf` (aligned for sock_filter); its size.
size_t ReadFilter(const char* path, unsigned char* buf, size_t cap) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) Fail(path, std::strerror(errno));
  size_t n = 0;
  for (;;) {
    ssize_t r = ::read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) Fail(path, std::strerror(errno));
    if (r == 0) break;
    n += static_cast<size_t>(r);
    if (n == cap) Fail(path, "larger than any filter");
  }
  ::close(fd);
  return n;
}

bool Executable(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0;
}

// Go's exec.LookPath, which runc uses: a name with a '/' as it is, else the first PATH
// entry holding a regular file with an execute bit (an empty entry is ".").
std::string LookPath(const char* name) {
  if (std::strchr(name, '/') != nullptr) return name;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "";
  size_t start = 0;
  while (path != nullptr && start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (Executable(candidate)) return candidate;
    start = end + 1;
  }
  Fail(name, "executable file not found in $PATH", kExitNotFound);
}

// A file descriptor number as given on the command line; -1 when it is not one.
int ParseFd(const char* s) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 1 << 20) return -1;
  return static_cast<int>(v);
}

// Installs the filter with a listener and sends the listener over `to`; exits on failure.
void InstallWithListener(const sock_fprog& prog, int to) {
  long listener =
      ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
  if (listener < 0) Fail("installing the filter with a listener", std::strerror(errno));
  // Under the filter from here on: sendmsg and close are in every profile's allow-list.
  int fd = static_cast<int>(listener);
  char byte = 'L';
  if (prewarm::SendWithFd(to, &byte, 1, fd) != 1) {
    Fail("sending the filter's listener to the agent", std::strerror(errno));
  }
  ::close(fd);
  ::close(to);
}

}  // namespace

int main(int argc, char** argv) {
  int notify_to = -1;
  int command_at = 3;
  if (argc >= 4 && std::strcmp(argv[2], "--notify-fd") == 0) {
    notify_to = ParseFd(argv[3]);
    command_at = 5;
  }
  if (argc <= command_at || std::strcmp(argv[command_at - 1], "--") != 0 ||
      (command_at == 5 && notify_to < 0)) {
    std::fprintf(stderr,
                 "usage: prewarm-seccomp-exec FILTER [--notify-fd N] -- COMMAND [ARG]...\n");
    return kExitRefused;
  }
  alignas(sock_filter) static unsigned char buf[kMaxFileBytes + 1];
  size_t size = ReadFilter(argv[1], buf, sizeof(buf));
  const sock_filter* insns = nullptr;
  uint32_t count = 0;
  if (const char* err = prewarm::agent::oci::CheckSeccompFile(
          buf, size, prewarm::agent::oci::kNativeAuditArch, &insns, &count)) {
    Fail(argv[1], err);
  }
  std::string command = LookPath(argv[command_at]);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Fail("no_new_privs", std::strerror(errno));
  sock_fprog prog = {static_cast<unsigned short>(count), const_cast<sock_filter*>(insns)};
  if (notify_to >= 0) {
    InstallWithListener(prog, notify_to);
  } else if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
    Fail("installing the filter", std::strerror(errno));
  }
  ::execv(command.c_str(), argv + command_at);
  // Under the filter now: only what it allows (write, exit_group) from here on.
  int err = errno;
  Fail(command, std::strerror(err), err == ENOENT ? kExitNotFound : 126);
}
