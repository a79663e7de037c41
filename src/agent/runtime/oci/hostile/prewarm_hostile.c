/* prewarm-hostile: attempts, from inside an instance, what a hardened instance must not
 * allow, and reports each attempt as one line "NAME allowed" or "NAME denied ERRNO TEXT".
 * Each attempt runs in a child of its own, so one that succeeds (a new namespace) cannot
 * change the next. Static: it runs in a busybox root with no shared libraries.
 *
 *   prewarm-hostile REPORT SCRATCH HOST_IPV4 HOST_PORT FORKS [--stay]
 *
 * REPORT is written (then renamed into place) when all attempts are done; with --stay the
 * program then waits for a signal, so the host can look at it from outside.
 * `prewarm-hostile true` exits 0: the program the exec attempts run. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char* g_scratch;
static const char* g_host;
static int g_port;
static int g_forks;

/* Each attempt returns 0 when the forbidden thing worked, else the errno that stopped it. */

static int TryUnshareUser(void) { return unshare(CLONE_NEWUSER) == 0 ? 0 : errno; }

static int TryUnshareNet(void) { return unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0 ? 0 : errno; }

static int TryCloneNewUser(void) {
  long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) return errno;
  if (pid == 0) _exit(0);
  int status = 0;
  waitpid((pid_t)pid, &status, 0);
  return 0;
}

static int TryKeyctl(void) {
  /* KEYCTL_GET_KEYRING_ID of the session keyring, creating it if need be. */
  return syscall(SYS_keyctl, 0, -3, 1) >= 0 ? 0 : errno;
}

static int TryIoUring(void) {
  struct io_uring_params p;
  memset(&p, 0, sizeof(p));
  long fd = syscall(SYS_io_uring_setup, 4, &p);
  if (fd < 0) return errno;
  close((int)fd);
  return 0;
}

static int TryPtrace(void) { return ptrace(PTRACE_TRACEME, 0, 0, 0) == 0 ? 0 : errno; }

/* getpid through the 32-bit ABI (int 0x80), which the profile does not list. */
static int TryIa32Syscall(void) {
#if defined(__x86_64__)
  long r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
  return r > 0 ? 0 : (int)-r;
#else
  return ENOSYS;
#endif
}

static int CopySelf(const char* path) {
  int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
  if (in < 0 || out < 0) return errno;
  char buf[65536];
  ssize_t n;
  while ((n = read(in, buf, sizeof(buf))) > 0) {
    if (write(out, buf, (size_t)n) != n) return errno;
  }
  close(in);
  close(out);
  return 0;
}

static int Exec(const char* path) {
  char* argv[] = {(char*)path, (char*)"true", NULL};
  char* envp[] = {NULL};
  execve(path, argv, envp);
  return errno;
}

static int TryExecIn(const char* dir) {
  char path[512];
  snprintf(path, sizeof(path), "%s/prewarm-hostile-copy", dir);
  int err = CopySelf(path);
  return err ? err : Exec(path);
}

static int TryExecTmp(void) { return TryExecIn("/tmp"); }
static int TryExecScratch(void) { return TryExecIn(g_scratch); }
static int TryExecRootfs(void) { return Exec("/proc/self/exe"); }

static int TryWriteAt(const char* path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  int err = write(fd, "x", 1) == 1 ? 0 : errno;
  close(fd);
  return err;
}

static int TryWriteRoot(void) { return TryWriteAt("/prewarm-hostile-write"); }

static int TryWriteScratch(void) {
  char path[512];
  snprintf(path, sizeof(path), "%s/prewarm-hostile-write", g_scratch);
  return TryWriteAt(path);
}

/* Connects `s` (non-blocking) to g_host:g_port and waits up to 2 s: 0 once connected. */
static int ConnectToHost(int s) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)g_port);
  if (inet_pton(AF_INET, g_host, &a.sin_addr) != 1) return EINVAL;
  if (connect(s, (struct sockaddr*)&a, sizeof(a)) != 0 && errno != EINPROGRESS) return errno;
  struct pollfd p = {s, POLLOUT, 0};
  if (poll(&p, 1, 2000) != 1) return ETIMEDOUT;
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
  return err;
}

static int TryHostNetwork(void) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
  int err = ConnectToHost(s);
  close(s);
  return err;
}

/* The instance's listening socket (fd 3: socket activation, or an own port's bind() handed
 * the instance's socket) lives in the host's network namespace. shutdown(SHUT_RD) stops it
 * listening (TCP_CLOSE, still bound); a connect() from it would leave from the host's
 * namespace, where 127.0.0.1 is the host's. Run last: the instance stops listening. */
static int TryHostNetworkViaListener(void) {
  int type = 0;
  socklen_t len = sizeof(type);
  if (getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return errno;
  if (shutdown(3, SHUT_RD) != 0) return errno;
  int flags = fcntl(3, F_GETFL);
  if (flags < 0 || fcntl(3, F_SETFL, flags | O_NONBLOCK) != 0) return errno;
  return ConnectToHost(3);
}

/* Forks g_forks children that wait; a fork refused before that is the pids limit. */
static int TryManyProcesses(void) {
  pid_t kids[4096];
  int n = 0, err = 0;
  while (n < g_forks && n < 4096) {
    pid_t pid = fork();
    if (pid < 0) {
      err = errno;
      break;
    }
    if (pid == 0) {
      pause();
      _exit(0);
    }
    kids[n++] = pid;
  }
  for (int i = 0; i < n; ++i) kill(kids[i], SIGKILL);
  for (int i = 0; i < n; ++i) waitpid(kids[i], NULL, 0);
  return err;
}

struct Attempt {
  const char* name;
  int (*run)(void);
};

static const struct Attempt kAttempts[] = {
    {"unshare_user", TryUnshareUser},
    {"unshare_net", TryUnshareNet},
    {"clone_newuser", TryCloneNewUser},
    {"keyctl", TryKeyctl},
    {"io_uring", TryIoUring},
    {"ptrace", TryPtrace},
    {"ia32_syscall", TryIa32Syscall},
    {"exec_tmp", TryExecTmp},
    {"exec_scratch", TryExecScratch},
    {"exec_rootfs", TryExecRootfs},
    {"write_root", TryWriteRoot},
    {"write_scratch", TryWriteScratch},
    {"host_network", TryHostNetwork},
    {"many_processes", TryManyProcesses},
    {"host_network_via_listener", TryHostNetworkViaListener},
};

/* Runs `a` in a child: its exit code is the attempt's result (255: it died). */
static void Run(const struct Attempt* a, FILE* out) {
  fflush(out);
  pid_t pid = fork();
  if (pid == 0) _exit(a->run() & 0xff);
  int status = 0;
  int err = pid < 0 ? errno : (waitpid(pid, &status, 0) < 0 ? errno : 0);
  if (!err) err = WIFEXITED(status) ? WEXITSTATUS(status) : 255;
  if (err == 0) {
    fprintf(out, "%s allowed\n", a->name);
  } else {
    fprintf(out, "%s denied %d %s\n", a->name, err, err == 255 ? "killed" : strerror(err));
  }
}

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "true") == 0) return 0;
  if (argc < 6) {
    fprintf(stderr, "usage: %s REPORT SCRATCH HOST_IPV4 HOST_PORT FORKS [--stay]\n", argv[0]);
    return 2;
  }
  g_scratch = argv[2];
  g_host = argv[3];
  g_port = atoi(argv[4]);
  g_forks = atoi(argv[5]);
  char tmp[512];
  snprintf(tmp, sizeof(tmp), "%s.part", argv[1]);
  FILE* out = fopen(tmp, "w");
  if (out == NULL) {
    perror(tmp);
    return 1;
  }
  for (size_t i = 0; i < sizeof(kAttempts) / sizeof(kAttempts[0]); ++i) Run(&kAttempts[i], out);
  if (fclose(out) != 0 || rename(tmp, argv[1]) != 0) {
    perror(argv[1]);
    return 1;
  }
  if (argc > 6 && strcmp(argv[6], "--stay") == 0) {
    for (;;) pause();
  }
  return 0;
}
