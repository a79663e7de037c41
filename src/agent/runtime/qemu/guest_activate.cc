// prewarm-guest-activate [--install DIR] PORT UID GID ARGV_FILE ENV_FILE
// prewarm-guest-activate [--install DIR] --exec UID GID -- COMMAND...
// prewarm-guest-activate --reseed HEX
//
// PID 1 of a qemu instance after the guest init's switch_root: binds 0.0.0.0:PORT, hands
// the listening socket to the workload as fd 3 with LISTEN_FDS=1 and LISTEN_PID (the
// socket-activation convention the oci runtime uses too), drops to UID:GID and execs the
// workload. ARGV_FILE and ENV_FILE hold NUL-terminated strings (argv; K=V). Static, libc
// only: it runs in a root that may have no shared libraries.
//
// --exec: the oci runtime's form: fd 3 and the environment are already the workload's
// (runc passed them in); drops to UID:GID and execs COMMAND.
//
// --install DIR: first, as root, installs the template's install_packages inside the
// instance with the guest's package tool: `dpkg --force-depends --install DIR/debs/*.deb`
// with real maintainer scripts. DIR/status seeds an empty dpkg database with the packages
// pre-built as layers; --force-depends covers the few left out of every closure
// (debconf, ...: DefaultExcludedPackages), which no script here can use anyway. A failed install ends the instance (exit 1) before
// the workload starts, so it never serves from a half-installed root.
//
// --reseed: credits the bytes of HEX to the kernel's entropy pool (RNDADDENTROPY) and
// reseeds the CRNG at once (RNDRESEEDCRNG), so clones restored from one snapshot stop
// sharing /dev/urandom output the moment they get their seed from the host.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/random.h>
#include <sys/ioctl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::vector<std::string> ReadStrings(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  std::vector<std::string> out;
  std::string s = ss.str();
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\0') {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "prewarm-guest-activate: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

void DropPrivileges(uid_t uid, gid_t gid) {
  if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) Die("drop privileges");
}

// dpkg --install of every DIR/debs/*.deb (in name order; dpkg orders the configure steps
// by dependency itself). Returns only when it succeeded.
void InstallPackages(const std::string& dir) {
  std::string debs = dir + "/debs";
  std::vector<std::string> files;
  if (DIR* d = ::opendir(debs.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 4 && n.compare(n.size() - 4, 4, ".deb") == 0) files.push_back(debs + "/" + n);
    }
    ::closedir(d);
  } else {
    Die(debs.c_str());
  }
  if (files.empty()) {
    std::fprintf(stderr, "prewarm-guest-activate: --install: no .deb in %s\n", debs.c_str());
    std::exit(1);
  }
  std::sort(files.begin(), files.end());
  // dpkg's database: what a package's own postinst would have made on a Debian system.
  for (const char* p : {"/var", "/var/lib", "/var/lib/dpkg", "/var/lib/dpkg/info", "/var/lib/dpkg/updates",
                        "/var/lib/dpkg/triggers", "/var/log", "/tmp"}) {
    if (::mkdir(p, 0755) != 0 && errno != EEXIST) Die(p);
  }
  for (const char* p : {"/var/lib/dpkg/status", "/var/lib/dpkg/available"}) {
    int fd = ::open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) Die(p);
    ::close(fd);
  }
  // DIR/status lists the packages pre-built as layers, so dpkg knows they are there.
  struct stat st;
  if (::stat("/var/lib/dpkg/status", &st) == 0 && st.st_size == 0) {
    std::ifstream in(dir + "/status", std::ios::binary);
    std::ofstream out("/var/lib/dpkg/status", std::ios::binary | std::ios::trunc);
    out << in.rdbuf();
  }
  std::vector<std::string> args = {"/usr/bin/dpkg", "--force-depends", "--install"};
  args.insert(args.end(), files.begin(), files.end());
  std::vector<char*> av;
  for (std::string& s : args) av.push_back(s.data());
  av.push_back(nullptr);
  std::fprintf(stderr, "prewarm-guest-activate: installing %zu packages from %s\n", files.size(), debs.c_str());
  pid_t pid = ::fork();
  if (pid < 0) Die("fork");
  if (pid == 0) {
    char path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    char front[] = "DEBIAN_FRONTEND=noninteractive";
    char* env[] = {path, front, nullptr};
    ::dup2(2, 1);  // dpkg's progress goes to the instance's log, never to fd 1 of a socket
    ::execve(av[0], av.data(), env);
    std::fprintf(stderr, "prewarm-guest-activate: %s: %s\n", av[0], std::strerror(errno));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) Die("waitpid");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "prewarm-guest-activate: dpkg --install failed (%s %d)\n",
                 WIFEXITED(status) ? "exit" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    std::exit(1);
  }
}

int Reseed(const char* hex) {
  std::string bytes;
  for (size_t i = 0; hex[i] && hex[i + 1]; i += 2) {
    char pair[3] = {hex[i], hex[i + 1], 0};
    char* end = nullptr;
    long v = std::strtol(pair, &end, 16);
    if (*end != 0) {
      std::fprintf(stderr, "prewarm-guest-activate: --reseed: not hex\n");
      return 2;
    }
    bytes.push_back(static_cast<char>(v));
  }
  if (bytes.size() < 16) {
    std::fprintf(stderr, "prewarm-guest-activate: --reseed needs at least 16 bytes\n");
    return 2;
  }
  int fd = ::open("/dev/urandom", O_RDWR | O_CLOEXEC);
  if (fd < 0) Die("/dev/urandom");
  std::vector<char> info(sizeof(rand_pool_info) + bytes.size());
  auto* rpi = reinterpret_cast<rand_pool_info*>(info.data());
  rpi->entropy_count = static_cast<int>(bytes.size() * 8);
  rpi->buf_size = static_cast<int>(bytes.size());
  std::memcpy(rpi->buf, bytes.data(), bytes.size());
  if (::ioctl(fd, RNDADDENTROPY, rpi) != 0) Die("RNDADDENTROPY");
  if (::ioctl(fd, RNDRESEEDCRNG) != 0) Die("RNDRESEEDCRNG");
  ::close(fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--reseed") return Reseed(argv[2]);
  if (argc >= 3 && std::string(argv[1]) == "--install") {
    InstallPackages(argv[2]);
    argv[2] = argv[0];
    argv += 2;
    argc -= 2;
  }
  if (argc >= 6 && std::string(argv[1]) == "--exec" && std::string(argv[4]) == "--") {
    DropPrivileges(static_cast<uid_t>(std::atoi(argv[2])), static_cast<gid_t>(std::atoi(argv[3])));
    ::execv(argv[5], argv + 5);  // the environment is already the workload's
    Die(argv[5]);
  }
  if (argc != 6) {
    std::fprintf(stderr,
                 "usage: %s [--install DIR] PORT UID GID ARGV_FILE ENV_FILE\n"
                 "       %s [--install DIR] --exec UID GID -- COMMAND...\n",
                 argv[0], argv[0]);
    return 2;
  }
  int port = std::atoi(argv[1]);
  uid_t uid = static_cast<uid_t>(std::atoi(argv[2]));
  gid_t gid = static_cast<gid_t>(std::atoi(argv[3]));
  std::vector<std::string> args = ReadStrings(argv[4]);
  std::vector<std::string> env = ReadStrings(argv[5]);
  if (args.empty()) {
    std::fprintf(stderr, "prewarm-guest-activate: %s: empty command\n", argv[4]);
    return 2;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) Die("socket");
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_ANY);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) Die("bind");
  if (::listen(fd, 1024) != 0) Die("listen");
  // Connections queue from here on (the host times its start by this line).
  std::fprintf(stderr, "prewarm-guest: listening on port %d\n", port);
  if (fd != 3) {
    if (::dup2(fd, 3) < 0) Die("dup2");
    ::close(fd);
  }
  DropPrivileges(uid, gid);
  env.push_back("LISTEN_FDS=1");
  env.push_back("LISTEN_PID=" + std::to_string(::getpid()));
  env.push_back("PREWARM_LISTEN=0.0.0.0:" + std::to_string(port));  // what fd 3 is bound to
  bool has_path = false;
  for (const std::string& e : env) has_path = has_path || e.rfind("PATH=", 0) == 0;
  if (!has_path) env.push_back("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
  std::vector<char*> av, ev;
  for (std::string& s : args) av.push_back(s.data());
  av.push_back(nullptr);
  for (std::string& s : env) ev.push_back(s.data());
  ev.push_back(nullptr);
  ::execve(av[0], av.data(), ev.data());
  Die(av[0]);
}
