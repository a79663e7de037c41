#include "common/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <thread>
#include <utility>

#include "common/net.h"
#include "fmt/format.h"

extern char** environ;

namespace prewarm {
namespace {

constexpr size_t kMaxOutput = 1 << 20;

int ExitCodeOf(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

// Everything the child needs, prepared before fork so the child only makes
// async-signal-safe calls.
struct ExecPlan {
  std::string path;  // resolved executable
  std::vector<std::string> argv_storage;
  std::vector<std::string> env_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;  // empty: inherit environ
  int stdin_fd = -1;
  int out_fd = -1;
  std::vector<std::pair<int, int>> fds;  // (target, source)
  bool new_process_group = false;
  bool kill_with_parent = false;
  int namespaces = 0;
  bool idle_priority = false;
  pid_t parent = 0;
};

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

absl::StatusOr<std::string> ResolveExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path_env = std::getenv("PATH");
  std::string_view path = path_env ? path_env : "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
  while (!path.empty()) {
    size_t colon = path.find(':');
    std::string dir(path.substr(0, colon));
    path = colon == std::string_view::npos ? std::string_view() : path.substr(colon + 1);
    std::string candidate = fmt::format("{}/{}", dir.empty() ? "." : dir, name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return absl::NotFoundError(fmt::format("executable not found in PATH: {}", name));
}

// Runs in the forked child: async-signal-safe calls only, never returns.
[[noreturn]] void ExecChild(const ExecPlan& plan, int err_pipe) {
  if (plan.new_process_group) ::setpgid(0, 0);
  if (plan.idle_priority) {
    sched_param none{};
    ::sched_setscheduler(0, SCHED_IDLE, &none);
  }
  if (plan.kill_with_parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // The parent died before prctl (outside the child's pid namespace, getppid() is 0).
    if (!(plan.namespaces & CLONE_NEWPID) && ::getppid() != plan.parent) ::_exit(127);
  }
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < 32; ++s) ::sigaction(s, &dfl, nullptr);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  int high = 3;
  for (const auto& [target, source] : plan.fds) high = std::max(high, target + 1);
  int err = ::fcntl(err_pipe, F_DUPFD_CLOEXEC, high);
  int in = ::fcntl(plan.stdin_fd, F_DUPFD_CLOEXEC, high);
  int out = ::fcntl(plan.out_fd, F_DUPFD_CLOEXEC, high);
  int moved[64];
  size_t n = std::min<size_t>(plan.fds.size(), 64);
  for (size_t i = 0; i < n; ++i) moved[i] = ::fcntl(plan.fds[i].second, F_DUPFD_CLOEXEC, high);
  bool ok = err >= 0 && in >= 0 && out >= 0 && plan.fds.size() <= 64;
  for (size_t i = 0; i < n; ++i) ok = ok && moved[i] >= 0;
  ok = ok && ::dup2(in, 0) == 0 && ::dup2(out, 1) == 1 && ::dup2(out, 2) == 2;
  for (size_t i = 0; ok && i < n; ++i) ok = ::dup2(moved[i], plan.fds[i].first) >= 0;
  for (int fd = 3; ok && fd < high; ++fd) {
    bool mapped = false;
    for (size_t i = 0; i < n; ++i) mapped = mapped || plan.fds[i].first == fd;
    if (!mapped) ::close(fd);
  }
  if (ok) ::syscall(SYS_close_range, high, ~0U, CLOSE_RANGE_CLOEXEC);
  if (ok) {
    char* const* envp = plan.envp.empty() ? environ : plan.envp.data();
    ::execve(plan.path.c_str(), plan.argv.data(), envp);
  }
  int e = errno;
  if (::write(err >= 0 ? err : err_pipe, &e, sizeof e) < 0) {
    // Nothing else to report from here.
  }
  ::_exit(127);
}

absl::StatusOr<ExecPlan> MakePlan(const SpawnOptions& options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("empty argv");
  ExecPlan plan;
  ASSIGN_OR_RETURN(plan.path, ResolveExecutable(options.argv[0]));
  plan.argv_storage = options.argv;
  plan.argv = CStrings(plan.argv_storage);
  if (options.env.has_value()) {
    plan.env_storage = *options.env;
    plan.envp = CStrings(plan.env_storage);
  }
  for (const auto& [target, source] : options.fds) {
    if (target < 3) return absl::InvalidArgumentError("fd map targets must be >= 3");
    plan.fds.emplace_back(target, source);
  }
  plan.new_process_group = options.new_process_group;
  plan.kill_with_parent = options.kill_with_parent;
  plan.idle_priority = options.idle_priority;
  constexpr int kNamespaces = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
                              CLONE_NEWUTS | CLONE_NEWUSER | CLONE_NEWCGROUP;
  if (options.namespaces & ~kNamespaces)
    return absl::InvalidArgumentError("namespaces: CLONE_NEW* flags only");
  plan.namespaces = options.namespaces;
  plan.parent = ::getpid();
  return plan;
}

// Forks and execs; the plan's stdin/out fds must already be set.
absl::StatusOr<pid_t> ForkExec(const ExecPlan& plan) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe2");
  ScopedFd rd(pipefd[0]), wr(pipefd[1]);
  // clone(2) with a null stack is fork(2) that can also create namespaces; the child only
  // makes raw system calls, so glibc's fork handlers are not needed.
  pid_t pid = plan.namespaces == 0
                  ? ::fork()
                  : static_cast<pid_t>(::syscall(SYS_clone, SIGCHLD | plan.namespaces, nullptr,
                                                 nullptr, nullptr, 0));
  if (pid < 0) return ErrnoStatus(errno, plan.namespaces == 0 ? "fork" : "clone (new namespaces)");
  if (pid == 0) ExecChild(plan, wr.get());
  wr.reset();
  int child_errno = 0;
  ssize_t r;
  do {
    r = ::read(rd.get(), &child_errno, sizeof child_errno);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return pid;
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return ErrnoStatus(r > 0 ? child_errno : errno, fmt::format("exec {}", plan.path));
}

// Reads everything from `fd` until EOF or the deadline; true on EOF.
bool ReadUntilEof(int fd, std::chrono::steady_clock::time_point deadline, std::string& out) {
  char buf[16384];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int pr = ::poll(&p, 1, static_cast<int>(left.count()));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) return pr == 0 ? false : true;
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return true;
    if (out.size() < kMaxOutput) out.append(buf, std::min<size_t>(r, kMaxOutput - out.size()));
  }
}

}  // namespace

absl::StatusOr<ProcessResult> RealProcessRunner::Run(const std::vector<std::string>& argv,
                                                     std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  SpawnOptions options;
  options.argv = argv;
  ASSIGN_OR_RETURN(ExecPlan plan, MakePlan(options));
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe2");
  ScopedFd rd(pipefd[0]), wr(pipefd[1]);
  ScopedFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull.valid()) return ErrnoStatus(errno, "open /dev/null");
  plan.stdin_fd = devnull.get();
  plan.out_fd = wr.get();
  ASSIGN_OR_RETURN(pid_t pid, ForkExec(plan));
  wr.reset();
  ProcessResult result;
  bool eof = ReadUntilEof(rd.get(), deadline, result.output);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  std::optional<int> code;
  if (eof) {
    ASSIGN_OR_RETURN(code, WaitFor(*this, pid, std::max(left, std::chrono::milliseconds(0))));
  }
  if (!code.has_value()) {
    ::kill(pid, SIGKILL);
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return absl::DeadlineExceededError(
        fmt::format("{} timed out after {} ms: {}", argv[0], timeout.count(), result.output));
  }
  result.exit_code = *code;
  return result;
}

absl::StatusOr<pid_t> RealProcessRunner::Spawn(const SpawnOptions& options) {
  ASSIGN_OR_RETURN(ExecPlan plan, MakePlan(options));
  ScopedFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!devnull.valid()) return ErrnoStatus(errno, "open /dev/null");
  ScopedFd log;
  if (!options.log_path.empty()) {
    log.reset(::open(options.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (!log.valid()) return ErrnoStatus(errno, "open " + options.log_path);
  }
  plan.stdin_fd = devnull.get();
  plan.out_fd = options.out_fd >= 0 ? options.out_fd : log.valid() ? log.get() : devnull.get();
  return ForkExec(plan);
}

absl::StatusOr<std::optional<int>> RealProcessRunner::TryWait(pid_t pid) {
  int st = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == 0) return std::optional<int>();
    if (r == pid) return std::optional<int>(ExitCodeOf(st));
    if (errno != EINTR) return ErrnoStatus(errno, fmt::format("waitpid {}", pid));
  }
}

absl::Status RealProcessRunner::Signal(pid_t pid, int sig) {
  if (::kill(pid, sig) != 0) return ErrnoStatus(errno, fmt::format("kill {}", pid));
  return absl::OkStatus();
}

absl::Status SetNormalPriority(pid_t pid) {
  // Twice: a thread started while the first pass ran inherited the old policy.
  for (int pass = 0; pass < 2; ++pass) {
    std::string dir = fmt::format("/proc/{}/task", pid);
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return ErrnoStatus(errno, "open " + dir);
    int failed = 0;
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      auto tid = static_cast<pid_t>(std::atoi(e->d_name));
      sched_param none{};
      if (::sched_setscheduler(tid, SCHED_OTHER, &none) != 0 && errno != ESRCH) failed = errno;
    }
    ::closedir(d);
    if (failed != 0) return ErrnoStatus(failed, fmt::format("sched_setscheduler of {}", pid));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<int>> WaitFor(ProcessRunner& runner, pid_t pid,
                                           std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::microseconds(200);
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<int> code, runner.TryWait(pid));
    if (code.has_value() || std::chrono::steady_clock::now() >= deadline) return code;
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(10));
  }
}

}  // namespace prewarm
