// prewarm-qemu-jail --root DIR --uid UID --gid GID [--groups G,G...] [--lo] [--no-thp]
//                   [--cgroup DIR]... [--ro PATH]... [--rw PATH]... [--dev PATH]...
//                   -- COMMAND...
//
// The QEMU runtime's jailer (like Firecracker's): the agent starts it in new mount, pid
// and network namespaces (SpawnOptions::namespaces), as root and pid 1 of its pid
// namespace. It
//   0. joins each --cgroup DIR (writes 0, itself, to DIR/cgroup.procs: one directory on
//      cgroup v2, one per controller on v1), first of all: what it execs never runs
//      outside the VM's cgroup, whose limits the agent wrote before starting it;
//   1. makes every mount private, so nothing it mounts reaches the host;
//   2. mounts a small tmpfs on DIR (an empty directory) as the new root and binds into it,
//      each at its own host path: --ro PATH read-only (nosuid, nodev; a symlink is copied
//      as a symlink), --rw PATH read-write (nosuid, nodev, noexec), --dev PATH a device
//      node (read-only mount, nosuid, noexec); then a /proc of its own pid namespace
//      (subset=pid: only processes, no host-wide files);
//   3. with --lo, sets the loopback of its network namespace up (slirp's host forward
//      listens there; the agent connects into the namespace);
//   4. pivot_root onto DIR, detaches the old root and makes the new one read-only;
//   5. sets its groups to GROUPS (none by default), its gid and uid to GID and UID (all
//      capabilities go with root), no_new_privs, and the parent-death signal again (a
//      change of uid clears it);
//      with --no-thp, transparent huge pages off for what it execs (PR_SET_THP_DISABLE,
//      kept across exec): QEMU madvises its translation buffer and RAM blocks for them,
//      and a touched 2 MiB page is resident whole, in every QEMU a copy of its own;
//   6. execs COMMAND (looked up in PATH inside the new root), keeping its pid: QEMU is
//      pid 1 of the namespace, and the agent's child.
// Any failure prints "prewarm-qemu-jail: <step>: <reason>" on stderr and exits 125.
// Static, libc only, so its exec costs little.
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int kExitJail = 125;

[[noreturn]] void Fail(const std::string& step, int err = errno) {
  std::fprintf(stderr, "prewarm-qemu-jail: %s: %s\n", step.c_str(), std::strerror(err));
  std::exit(kExitJail);
}

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr, "prewarm-qemu-jail: %s\n", why.c_str());
  std::exit(kExitJail);
}

bool ParseId(const char* s, uint32_t& out) {
  char* end = nullptr;
  errno = 0;
  unsigned long v = std::strtoul(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v > 0xfffffffeul) return false;
  out = static_cast<uint32_t>(v);
  return true;
}

struct Bind {
  enum Kind { kRo, kRw, kDev } kind;
  std::string path;
};

// mkdir -p of `path` (absolute), each new directory 0755.
void MakeDirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      std::string p = path.substr(0, i);
      if (::mkdir(p.c_str(), 0755) != 0 && errno != EEXIST) Fail("mkdir " + p);
    }
  }
}

void BindInto(const std::string& root, const Bind& b) {
  if (b.path.empty() || b.path[0] != '/' || b.path.find("/..") != std::string::npos) {
    Usage("not an absolute path: " + b.path);
  }
  struct stat st {};
  if (::lstat(b.path.c_str(), &st) != 0) Fail("stat " + b.path);
  std::string target = root + b.path;
  MakeDirs(target.substr(0, target.rfind('/')));
  if (S_ISLNK(st.st_mode)) {
    if (b.kind != Bind::kRo) Usage("only --ro may name a symlink: " + b.path);
    char link[4096];
    ssize_t n = ::readlink(b.path.c_str(), link, sizeof link - 1);
    if (n < 0) Fail("readlink " + b.path);
    link[n] = '\0';
    if (::symlink(link, target.c_str()) != 0) Fail("symlink " + target);
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    if (::mkdir(target.c_str(), 0755) != 0 && errno != EEXIST) Fail("mkdir " + target);
  } else {
    int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) Fail("create " + target);
    ::close(fd);
  }
  if (b.kind == Bind::kDev && !S_ISCHR(st.st_mode))
    Usage("--dev is not a character device: " + b.path);
  if (::mount(b.path.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0)
    Fail("bind " + b.path);
  unsigned long flags = MS_REMOUNT | MS_BIND | MS_NOSUID;
  if (b.kind == Bind::kRo) flags |= MS_RDONLY | MS_NODEV;
  if (b.kind == Bind::kRw) flags |= MS_NODEV | MS_NOEXEC;
  if (b.kind == Bind::kDev) flags |= MS_RDONLY | MS_NOEXEC;
  if (::mount(nullptr, target.c_str(), nullptr, flags, nullptr) != 0) Fail("remount " + target);
}

void LoopbackUp() {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) Fail("socket");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(s, SIOCGIFFLAGS, &ifr) != 0) Fail("SIOCGIFFLAGS lo");
  ifr.ifr_flags |= IFF_UP;
  if (::ioctl(s, SIOCSIFFLAGS, &ifr) != 0) Fail("SIOCSIFFLAGS lo");
  ::close(s);
}

}  // namespace

int main(int argc, char** argv) {
  std::string root;
  uint32_t uid = 0, gid = 0;
  bool have_uid = false, have_gid = false, lo = false, no_thp = false;
  std::vector<gid_t> groups;
  std::vector<Bind> binds;
  std::vector<std::string> cgroups;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "--lo") {
      lo = true;
      continue;
    }
    if (a == "--no-thp") {
      no_thp = true;
      continue;
    }
    if (i + 1 >= argc) Usage("missing value after " + a);
    const char* v = argv[++i];
    if (a == "--root") {
      root = v;
    } else if (a == "--uid") {
      have_uid = ParseId(v, uid);
      if (!have_uid) Usage(std::string("bad uid ") + v);
    } else if (a == "--gid") {
      have_gid = ParseId(v, gid);
      if (!have_gid) Usage(std::string("bad gid ") + v);
    } else if (a == "--groups") {
      std::string list = v;
      for (size_t p = 0; p <= list.size();) {
        size_t c = list.find(',', p);
        if (c == std::string::npos) c = list.size();
        uint32_t g = 0;
        if (!ParseId(list.substr(p, c - p).c_str(), g)) Usage("bad groups " + list);
        groups.push_back(g);
        p = c + 1;
      }
    } else if (a == "--cgroup") {
      if (v[0] != '/') Usage(std::string("not an absolute path: ") + v);
      cgroups.push_back(v);
    } else if (a == "--ro") {
      binds.push_back({Bind::kRo, v});
    } else if (a == "--rw") {
      binds.push_back({Bind::kRw, v});
    } else if (a == "--dev") {
      binds.push_back({Bind::kDev, v});
    } else {
      Usage("unknown option " + a);
    }
  }
  if (root.empty() || root[0] != '/') Usage("--root must be an absolute directory");
  if (!have_uid || !have_gid || uid == 0 || gid == 0)
    Usage("--uid and --gid must name an unprivileged user");
  if (i >= argc) Usage("no command after --");
  if (::getpid() != 1)
    Usage("not pid 1 of a new pid namespace (start it with CLONE_NEWPID|CLONE_NEWNS|CLONE_NEWNET)");

  for (const std::string& dir : cgroups) {
    std::string procs = dir + "/cgroup.procs";
    int fd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) Fail("join cgroup: open " + procs);
    if (::write(fd, "0", 1) != 1) Fail("join cgroup: write " + procs);
    ::close(fd);
  }

  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    Fail("make mounts private");
  if (::mount("jail", root.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755") != 0) {
    Fail("tmpfs on " + root);
  }
  for (const Bind& b : binds) BindInto(root, b);
  std::string proc = root + "/proc";
  MakeDirs(proc);
  if (::mount("proc", proc.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "subset=pid") != 0)
    Fail("mount proc");
  if (lo) LoopbackUp();

  if (::chdir(root.c_str()) != 0) Fail("chdir " + root);
  if (::syscall(SYS_pivot_root, ".", ".") != 0) Fail("pivot_root");
  if (::umount2(".", MNT_DETACH) != 0) Fail("detach the old root");
  if (::chdir("/") != 0) Fail("chdir /");
  if (::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
              nullptr) != 0) {
    Fail("remount / read-only");
  }

  if (::setgroups(groups.size(), groups.data()) != 0) Fail("setgroups");
  if (::setresgid(gid, gid, gid) != 0) Fail("setresgid");
  if (::setresuid(uid, uid, uid) != 0) Fail("setresuid");
  if (::getuid() != uid || ::geteuid() != uid || ::getgid() != gid) Usage("the ids did not change");
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Fail("no_new_privs");
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) Fail("PR_SET_PDEATHSIG");
  if (no_thp && ::prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0) Fail("PR_SET_THP_DISABLE");
  ::execvp(argv[i], argv + i);
  Fail(std::string("exec ") + argv[i]);
}
