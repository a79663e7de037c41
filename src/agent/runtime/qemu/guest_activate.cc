// prewarm-guest-activate [--install DIR] PORT UID GID ARGV_FILE ENV_FILE
// prewarm-guest-activate [--install DIR] --exec UID GID -- COMMAND...
// prewarm-guest-activate --boot IDENTITY TAP SCRATCH_DEV SCRATCH_MOUNT INSTALL_DIR|- PORT OWN UID
//                        GID ARGV_FILE ENV_FILE CWD_FILE
//
// --boot: the guest init's last step, PID 1 in the initramfs (exec'd by /init). With
// IDENTITY=1 it reads the identity line "go <seed hex> <id> [<address>/<prefix> <gateway>
// <mac>]" from the serial port (a template VM is snapshotted while it waits there, so
// every clone resumes in this read). A standby VM (restored ahead of its instance) gets
// "pre <seed hex>" first: it reseeds, rehearses its scratch mount on the empty erofs its
// disk holds then (mount, overlay, unmount, flush) so that this code is translated in its
// QEMU before a clone needs it, says "standby ready" and reads on. The identity line then:
// reseeds the kernel's RNG with the seed, takes the id as its hostname, drops the cached
// blocks of SCRATCH_DEV (each clone has its own disk) and, with TAP=1, gives eth0 its MAC,
// address and route. Then it mounts SCRATCH_DEV (erofs) under the tmpfs overlay at
// /newroot/SCRATCH_MOUNT, moves /dev, /proc and /sys there, makes /newroot the root and
// goes on as below (with --install INSTALL_DIR unless "-"). All of it in this one
// process: under TCG every process a clone starts after its restore runs through a cold
// translation cache (see bench/instance_start/README.md).
//
// PID 1 of a qemu instance after --boot (or any switch_root): binds 0.0.0.0:PORT, hands
// the listening socket to the workload as fd 3 with LISTEN_FDS=1 and LISTEN_PID (the
// socket-activation convention the oci runtime uses too), drops to UID:GID and execs the
// workload. ARGV_FILE and ENV_FILE hold NUL-terminated strings (argv; K=V); a command
// without a '/' is looked up on the workload's PATH, as runc does. --boot: CWD_FILE holds
// the working directory (made if missing, as runc does), and with OWN=1 the app listens
// on PORT itself (an OCI image's own port): no socket is handed over; this process stays
// PID 1, starts the workload as its child, says "listening" once PORT is in the LISTEN
// state (/proc/net/tcp, tcp6), reaps orphans and powers the guest off when the workload
// exits. Static, libc only: it runs in a root that may have no shared libraries.
//
// --exec: the oci runtime's form: fd 3 and the environment are already the workload's
// (runc passed them in); drops to UID:GID and execs COMMAND.
//
// --install DIR: first, as root, installs the template's install_packages inside the
// instance with the guest's package tool: `dpkg --force-depends --install DIR/debs/*.deb`
// with real maintainer scripts. DIR/status seeds an empty dpkg database with the packages
// pre-built as layers; --force-depends covers the few left out of every closure
// (debconf, ...: DefaultExcludedPackages), which no script here can use anyway. A failed install
// ends the instance (exit 1) before the workload starts, so it never serves from a half-installed
// root.
//
// The seed is credited to the kernel's entropy pool (RNDADDENTROPY) and the CRNG reseeded
// at once (RNDRESEEDCRNG), so clones restored from one snapshot stop sharing /dev/urandom
// output the moment they get their seed from the host.
#include <arpa/inet.h>
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <linux/random.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

// A file's bytes ("" if it cannot be read). Plain read(2), no iostreams: under TCG a clone
// translates every code path it runs after its restore anew, and libstdc++'s streams are
// a lot of code for a few bytes.
std::string ReadFile(const char* path) {
  std::string out;
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

std::vector<std::string> ReadStrings(const char* path) {
  std::vector<std::string> out;
  std::string s = ReadFile(path);
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

constexpr char kDefaultPath[] = "/usr/sbin:/usr/bin:/sbin:/bin";

// The directories of PATH in `env` (K=V strings), or the default ones.
std::vector<std::string> PathDirs(const std::vector<std::string>& env) {
  std::string path = kDefaultPath;
  for (const std::string& e : env) {
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
  }
  std::vector<std::string> dirs;
  size_t start = 0;
  for (;;) {
    size_t colon = path.find(':', start);
    std::string d = path.substr(start, colon == std::string::npos ? colon : colon - start);
    if (!d.empty() && d[0] == '/') dirs.push_back(d);
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return dirs;
}

// `cmd` itself if it has a '/', else the first executable of that name on PATH (or `cmd`,
// whose exec then fails with ENOENT).
std::string ResolveCommand(const std::string& cmd, const std::vector<std::string>& env) {
  if (cmd.find('/') != std::string::npos) return cmd;
  for (const std::string& dir : PathDirs(env)) {
    std::string p = dir + "/" + cmd;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return cmd;
}

void DropPrivileges(uid_t uid, gid_t gid) {
  if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0)
    Die("drop privileges");
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
  for (const char* p : {"/var", "/var/lib", "/var/lib/dpkg", "/var/lib/dpkg/info",
                        "/var/lib/dpkg/updates", "/var/lib/dpkg/triggers", "/var/log", "/tmp"}) {
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
  std::fprintf(stderr, "prewarm-guest-activate: installing %zu packages from %s\n", files.size(),
               debs.c_str());
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
                 WIFEXITED(status) ? "exit" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    std::exit(1);
  }
}

// Credits the bytes of `hex` to the entropy pool and reseeds the CRNG; false (said on
// stderr) when it cannot.
bool Reseed(const std::string& hex) {
  std::string bytes;
  auto nibble = [](char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
  };
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      std::fprintf(stderr, "prewarm-guest-activate: seed: not hex\n");
      return false;
    }
    bytes.push_back(static_cast<char>(hi * 16 + lo));
  }
  if (bytes.size() < 16) {
    std::fprintf(stderr, "prewarm-guest-activate: the seed needs at least 16 bytes\n");
    return false;
  }
  int fd = ::open("/dev/urandom", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  std::vector<char> info(sizeof(rand_pool_info) + bytes.size());
  auto* rpi = reinterpret_cast<rand_pool_info*>(info.data());
  rpi->entropy_count = static_cast<int>(bytes.size() * 8);
  rpi->buf_size = static_cast<int>(bytes.size());
  std::memcpy(rpi->buf, bytes.data(), bytes.size());
  bool ok = ::ioctl(fd, RNDADDENTROPY, rpi) == 0 && ::ioctl(fd, RNDRESEEDCRNG) == 0;
  ::close(fd);
  return ok;
}

// --boot failures: said on the console, then the guest powers off (QEMU exits).
[[noreturn]] void Fatal(const std::string& what) {
  if (errno != 0) {
    std::fprintf(stderr, "prewarm-guest: FATAL: %s: %s\n", what.c_str(), std::strerror(errno));
  } else {
    std::fprintf(stderr, "prewarm-guest: FATAL: %s\n", what.c_str());
  }
  ::sync();
  ::reboot(RB_POWER_OFF);
  ::_exit(1);
}

void Log(const std::string& what) { std::fprintf(stderr, "prewarm-guest: %s\n", what.c_str()); }

// A busybox applet (the tap's eth0 set-up), waited for; a failure fails the boot.
void Busybox(std::vector<std::string> args) {
  args.insert(args.begin(), "/bin/busybox");
  std::vector<char*> av;
  for (std::string& a : args) av.push_back(a.data());
  av.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) Fatal("fork");
  if (pid == 0) {
    ::execv(av[0], av.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) Fatal("waitpid");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    errno = 0;
    std::string cmd;
    for (size_t i = 1; i < args.size(); ++i) cmd += (i > 1 ? " " : "") + args[i];
    Fatal(cmd);
  }
}

// The space-separated fields of `line`.
std::vector<std::string> Fields(const std::string& line) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < line.size()) {
    size_t end = line.find_first_of(" \t\r", at);
    if (end == std::string::npos) end = line.size();
    if (end > at) out.push_back(line.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

// Drops the cached blocks of the scratch disk; false if it cannot.
bool FlushScratch(const std::string& scratch_dev) {
  int dev = ::open(scratch_dev.c_str(), O_RDONLY | O_CLOEXEC);
  bool ok = dev >= 0 && ::ioctl(dev, BLKFLSBUF, 0) == 0;
  if (dev >= 0) ::close(dev);
  return ok;
}

constexpr char kScratchOverlay[] =
    "lowerdir=/scratch,upperdir=/rw/scratch/upper,workdir=/rw/scratch/work";

// A standby's "pre" step: the scratch mount's code on the empty image its disk holds until
// an instance takes it, undone. Failures are said and otherwise ignored: the instance's own
// mount reports real ones.
void RehearseScratch(const std::string& scratch_dev, const std::string& target) {
  if (::mount(scratch_dev.c_str(), "/scratch", "erofs", MS_RDONLY, nullptr) != 0) {
    Log(std::string("standby: rehearsal mount: ") + std::strerror(errno));
  } else {
    if (::mount("overlay", target.c_str(), "overlay", 0, kScratchOverlay) != 0)
      Log(std::string("standby: rehearsal overlay: ") + std::strerror(errno));
    else if (::umount2(target.c_str(), 0) != 0)
      Fatal("standby: unmount the rehearsal overlay");
    if (::umount2("/scratch", 0) != 0) Fatal("standby: unmount the rehearsal scratch");
  }
  if (!FlushScratch(scratch_dev)) Fatal("flush " + scratch_dev);
}

// The identity line from the serial port, after any "pre" lines (see the top of this file).
void TakeIdentity(const std::string& scratch_dev, const std::string& scratch_target, bool tap) {
  int tty = ::open("/dev/ttyS0", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (tty < 0) Fatal("/dev/ttyS0");
  // Line by line, and no echo: the seed must not come back on the console (the
  // instance's log).
  // Echo stays off afterwards: nothing reads the console again, and restoring it would
  // only run more of the tty's code in every clone.
  termios raw{};
  if (::tcgetattr(tty, &raw) != 0) Fatal("tcgetattr /dev/ttyS0");
  raw.c_lflag |= ICANON;
  raw.c_lflag &= ~(ECHO | ECHONL);
  if (::tcsetattr(tty, TCSANOW, &raw) != 0) Fatal("tcsetattr /dev/ttyS0");
  // The port is open and set up before the host may send (it waits for this line).
  Log("waiting for identity");
  std::string got;
  std::vector<std::string> f;
  for (;;) {
    char buf[512];
    while (got.find('\n') == std::string::npos) {
      ssize_t n = ::read(tty, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) Fatal("read the identity line");
      got.append(buf, static_cast<size_t>(n));
      if (got.size() > 4096) Fatal("identity line too long");
    }
    size_t eol = got.find('\n');
    f = Fields(got.substr(0, eol));
    got.erase(0, eol + 1);
    errno = 0;
    if (f.size() != 2 || f[0] != "pre") break;
    // A standby, restored ahead of its instance: its own randomness from here on.
    if (!Reseed(f[1])) Fatal("reseed");
    RehearseScratch(scratch_dev, scratch_target);
    Log("standby ready");
  }
  ::close(tty);
  if (f.size() < 3 || f[0] != "go") Fatal("bad identity line");
  if (!Reseed(f[1])) Fatal("reseed");
  if (::sethostname(f[2].data(), f[2].size()) != 0) Fatal("hostname " + f[2]);
  // Blocks of the template's scratch disk the kernel cached before the snapshot (its
  // partition scan at least), or a standby's rehearsal, are not this clone's.
  if (!FlushScratch(scratch_dev)) Fatal("flush " + scratch_dev);
  if (tap) {
    errno = 0;
    if (f.size() < 6) Fatal("no address in the identity line");
    Busybox({"ip", "link", "set", "eth0", "address", f[5]});
    Busybox({"ip", "link", "set", "eth0", "up"});
    Busybox({"ip", "addr", "add", f[3], "dev", "eth0"});
    Busybox({"ip", "route", "add", "default", "via", f[4]});
  }
  Log("identity " + f[2]);
}

// --boot: identity (if asked), the scratch mount, the new root.
// Reads the workload's executable (ARGV_FILE's first string, resolved in /newroot, on
// PATH if not absolute; of an ELF its loadable segments) into the page cache: before a snapshot, so
// that every clone finds it in the template's memory instead of reading it from its layer disk at
// exec. Best effort: what cannot be read is simply not cached (the exec reports real errors).
void ReadAhead(const std::string& argv_file, const std::string& env_file) {
  std::vector<std::string> args = ReadStrings(("/newroot" + argv_file).c_str());
  if (args.empty() || args[0].empty()) return;
  int root = ::open("/newroot", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return;
  std::vector<std::string> candidates;
  if (args[0][0] == '/') {
    candidates.push_back(args[0]);
  } else if (args[0].find('/') == std::string::npos) {
    for (const std::string& dir : PathDirs(ReadStrings(("/newroot" + env_file).c_str())))
      candidates.push_back(dir + "/" + args[0]);
  }
  for (const std::string& path : candidates) {
    open_how how{};
    how.flags = O_RDONLY | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT;  // symlinks resolve inside the new root
    int fd = static_cast<int>(::syscall(SYS_openat2, root, path.c_str(), &how, sizeof how));
    if (fd < 0) continue;
    // An ELF's loadable segments (not its debug sections); anything else from its start.
    std::vector<std::pair<off_t, size_t>> ranges = {{0, 1u << 20}};
    Elf64_Ehdr eh{};
    if (::pread(fd, &eh, sizeof eh, 0) == static_cast<ssize_t>(sizeof eh) &&
        std::memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 && eh.e_ident[EI_CLASS] == ELFCLASS64 &&
        eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phnum < 64) {
      std::vector<Elf64_Phdr> ph(eh.e_phnum);
      ssize_t want = static_cast<ssize_t>(ph.size() * sizeof(Elf64_Phdr));
      if (::pread(fd, ph.data(), static_cast<size_t>(want), static_cast<off_t>(eh.e_phoff)) ==
          want) {
        ranges.clear();
        for (const Elf64_Phdr& p : ph) {
          if (p.p_type == PT_LOAD)
            ranges.emplace_back(static_cast<off_t>(p.p_offset), static_cast<size_t>(p.p_filesz));
        }
      }
    }
    static char buf[1 << 16];
    size_t total = 0;
    for (auto [off, len] : ranges) {
      for (size_t done = 0; done < len && total < (64u << 20);) {
        ssize_t n =
            ::pread(fd, buf, std::min(sizeof buf, len - done), off + static_cast<off_t>(done));
        if (n <= 0) break;
        done += static_cast<size_t>(n);
        total += static_cast<size_t>(n);
      }
    }
    ::close(fd);
    break;
  }
  ::close(root);
}

void Boot(char** argv) {
  bool identity = std::string(argv[0]) == "1", tap = std::string(argv[1]) == "1";
  std::string scratch_dev = argv[2], scratch_mount = argv[3];
  std::string target = "/newroot" + scratch_mount;
  ReadAhead(argv[9], argv[10]);
  if (identity) TakeIdentity(scratch_dev, target, tap);
  if (::mount(scratch_dev.c_str(), "/scratch", "erofs", MS_RDONLY, nullptr) != 0)
    Fatal("mount scratch " + scratch_dev);
  if (::mount("overlay", target.c_str(), "overlay", 0, kScratchOverlay) != 0)
    Fatal("scratch overlay");
  for (const char* d : {"/dev", "/proc", "/sys"}) {
    if (::mount(d, (std::string("/newroot") + d).c_str(), nullptr, MS_MOVE, nullptr) != 0)
      Fatal(std::string("move ") + d);
  }
  Log("root ready");
  // switch_root without deleting the initramfs: a clone would only dirty the template's
  // pages to free them.
  if (::chdir("/newroot") != 0 || ::mount(".", "/", nullptr, MS_MOVE, nullptr) != 0 ||
      ::chroot(".") != 0 || ::chdir("/") != 0)
    Fatal("switch to /newroot");
}

// The workload's argv and environment (ARGV_FILE, ENV_FILE; PATH defaulted), or exit 2.
struct Workload {
  std::vector<std::string> args, env;
};
Workload ReadWorkload(const char* argv_file, const char* env_file) {
  Workload w{ReadStrings(argv_file), ReadStrings(env_file)};
  if (w.args.empty()) {
    std::fprintf(stderr, "prewarm-guest-activate: %s: empty command\n", argv_file);
    std::exit(2);
  }
  bool has_path = false;
  for (const std::string& e : w.env) has_path = has_path || e.rfind("PATH=", 0) == 0;
  if (!has_path) w.env.push_back(std::string("PATH=") + kDefaultPath);
  return w;
}

// Enters the working directory named in `cwd_file` (nullptr or empty: stays in /), made
// first if it is missing. As root, before privileges are dropped.
void EnterWorkdir(const char* cwd_file) {
  if (cwd_file == nullptr) return;
  std::string cwd = ReadFile(cwd_file);
  if (cwd.empty()) return;
  for (size_t at = 1; at <= cwd.size(); ++at) {
    if (at == cwd.size() || cwd[at] == '/') {
      std::string part = cwd.substr(0, at);
      if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) Die(part.c_str());
    }
  }
  if (::chdir(cwd.c_str()) != 0) Die(cwd.c_str());
}

// Drops to UID:GID and execs the workload, its command looked up on its PATH.
[[noreturn]] void ExecWorkload(uid_t uid, gid_t gid, Workload& w) {
  DropPrivileges(uid, gid);
  w.args[0] = ResolveCommand(w.args[0], w.env);
  std::vector<char*> av, ev;
  for (std::string& s : w.args) av.push_back(s.data());
  av.push_back(nullptr);
  for (std::string& s : w.env) ev.push_back(s.data());
  ev.push_back(nullptr);
  ::execve(av[0], av.data(), ev.data());
  Die(av[0]);
}

// Binds PORT, drops to UID:GID and execs the workload (see the top of this file).
[[noreturn]] void Serve(int port, uid_t uid, gid_t gid, const char* argv_file, const char* env_file,
                        const char* cwd_file = nullptr) {
  Workload w = ReadWorkload(argv_file, env_file);
  EnterWorkdir(cwd_file);
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
  // Connections queue from here on: the host probes the port once it sees this line.
  std::fprintf(stderr, "prewarm-guest: listening on port %d\n", port);
  if (fd != 3) {
    if (::dup2(fd, 3) < 0) Die("dup2");
    ::close(fd);
  }
  w.env.push_back("LISTEN_FDS=1");
  w.env.push_back("LISTEN_PID=" + std::to_string(::getpid()));
  w.env.push_back("PREWARM_LISTEN=0.0.0.0:" + std::to_string(port));  // what fd 3 is bound to
  ExecWorkload(uid, gid, w);
}

// Who listens on `port`, from /proc/net/tcp{,6}: lines whose local address ends in :PORT
// (hex) in state 0A (LISTEN). The host reaches the guest through eth0 (slirp's forward
// or the tap), never its loopback: only a socket on a non-loopback address (0.0.0.0, ::,
// eth0's) can be reached.
enum class Listening { kNo, kLoopbackOnly, kReachable };
Listening PortListens(int port) {
  char want[8];
  std::snprintf(want, sizeof want, ":%04X", port);
  Listening found = Listening::kNo;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::string text = ReadFile(table);
    size_t next = text.find('\n');  // past the header
    while (next != std::string::npos && next + 1 < text.size()) {
      size_t end = text.find('\n', next + 1);
      std::vector<std::string> f = Fields(text.substr(next + 1, end - next - 1));
      next = end;
      if (f.size() < 4) continue;
      const std::string &local = f[1], &state = f[3];
      if (state != "0A" || local.size() <= 5 || local.compare(local.size() - 5, 5, want) != 0)
        continue;
      // The address as the kernel prints it: 32-bit words in host order (127.0.0.1 is
      // 0100007F here), ::1 and ::ffff:127.x.y.z likewise.
      std::string addr = local.substr(0, local.size() - 5);
      bool loopback = (addr.size() == 8 && addr.compare(6, 2, "7F") == 0) ||
                      addr == "00000000000000000000000001000000" ||
                      (addr.size() == 32 && addr.compare(0, 24, "0000000000000000FFFF0000") == 0 &&
                       addr.compare(30, 2, "7F") == 0);
      if (!loopback) return Listening::kReachable;
      found = Listening::kLoopbackOnly;
    }
  }
  return found;
}

// OWN=1 (see the top of this file): the app binds PORT itself.
[[noreturn]] void Supervise(int port, uid_t uid, gid_t gid, const char* argv_file,
                            const char* env_file, const char* cwd_file) {
  Workload w = ReadWorkload(argv_file, env_file);
  pid_t app = ::fork();
  if (app < 0) Fatal("fork the workload");
  if (app == 0) {
    EnterWorkdir(cwd_file);
    ExecWorkload(uid, gid, w);
  }
  bool listening = false, warned = false;
  for (;;) {
    int status = 0;
    pid_t done = ::waitpid(-1, &status, listening ? 0 : WNOHANG);
    if (done == app) {
      std::fprintf(stderr, "prewarm-guest: the workload exited (%s %d)\n",
                   WIFEXITED(status) ? "exit" : "signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
      ::sync();
      ::reboot(RB_POWER_OFF);
      ::_exit(1);
    }
    if (done < 0 && errno != EINTR && errno != ECHILD) Fatal("waitpid");
    if (done > 0) continue;  // an orphan reaped
    Listening l = listening ? Listening::kReachable : PortListens(port);
    if (!listening && l == Listening::kReachable) {
      // Connections queue from here on, in the app's own accept queue.
      std::fprintf(stderr, "prewarm-guest: listening on port %d\n", port);
      listening = true;
      continue;
    }
    if (l == Listening::kLoopbackOnly && !warned) {
      std::fprintf(stderr,
                   "prewarm-guest: the app listens on port %d on the loopback only, which the "
                   "host cannot reach in a VM: it must listen on 0.0.0.0 or ::\n",
                   port);
      warned = true;
    }
    if (!listening) ::usleep(5000);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 14 && std::string(argv[1]) == "--boot") {
    Boot(argv + 2);
    if (std::string(argv[6]) != "-") InstallPackages(argv[6]);
    int port = std::atoi(argv[7]);
    auto uid = static_cast<uid_t>(std::atoi(argv[9]));
    auto gid = static_cast<gid_t>(std::atoi(argv[10]));
    if (std::string(argv[8]) == "1") Supervise(port, uid, gid, argv[11], argv[12], argv[13]);
    Serve(port, uid, gid, argv[11], argv[12], argv[13]);
  }
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
                 "       %s [--install DIR] --exec UID GID -- COMMAND...\n"
                 "       %s --boot IDENTITY TAP SCRATCH_DEV SCRATCH_MOUNT INSTALL_DIR|- PORT OWN "
                 "UID GID ARGV_FILE ENV_FILE CWD_FILE\n",
                 argv[0], argv[0], argv[0]);
    return 2;
  }
  Serve(std::atoi(argv[1]), static_cast<uid_t>(std::atoi(argv[2])),
        static_cast<gid_t>(std::atoi(argv[3])), argv[4], argv[5]);
}
