#include "agent/runtime/qemu/guest.h"

#include <lzma.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "agent/layers.h"
#include "fmt/format.h"

namespace prewarm::agent::qemu {
namespace fs = std::filesystem;

namespace {

// Writes `data` to `path` through a temporary file and a rename: a file that exists is
// complete, and concurrent writers of the same content both succeed.
absl::Status WriteAtomically(const std::string& path, const std::string& data, fs::perms perms) {
  std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::InternalError(fmt::format("cannot write {}", tmp));
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out) return absl::InternalError(fmt::format("short write to {}", tmp));
  }
  std::error_code ec;
  fs::permissions(tmp, perms, ec);
  fs::rename(tmp, path, ec);
  if (ec) return absl::InternalError(fmt::format("rename {} -> {}: {}", tmp, path, ec.message()));
  return absl::OkStatus();
}

std::string Joined(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) {
    out += s;
    out.push_back('\0');
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(fmt::format("cannot read {}", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---- cpio -----------------------------------------------------------------------------

void CpioWriter::Add(const std::string& path, uint32_t mode, const std::string& data,
                     uint32_t rmajor, uint32_t rminor) {
  std::string name = path;
  while (!name.empty() && name[0] == '/') name.erase(0, 1);
  out_ += fmt::format("070701{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
                      ino_++, mode, 0, 0, 1, 0, data.size(), 0, 0, rmajor, rminor, name.size() + 1, 0);
  out_ += name;
  out_.push_back('\0');
  out_.append((4 - out_.size() % 4) % 4, '\0');
  out_ += data;
  out_.append((4 - out_.size() % 4) % 4, '\0');
}

void CpioWriter::AddDir(const std::string& path, uint32_t mode) { Add(path, 0040000 | mode, ""); }
void CpioWriter::AddFile(const std::string& path, const std::string& data, uint32_t mode) {
  Add(path, 0100000 | mode, data);
}
void CpioWriter::AddSymlink(const std::string& path, const std::string& target) {
  Add(path, 0120777, target);
}
void CpioWriter::AddCharDevice(const std::string& path, uint32_t major, uint32_t minor, uint32_t mode) {
  Add(path, 0020000 | mode, "", major, minor);
}
std::string CpioWriter::Finish() {
  Add("TRAILER!!!", 0, "");
  return std::move(out_);
}

// ---- kernel ---------------------------------------------------------------------------

absl::StatusOr<std::string> ExtractVmlinux(const std::string& bzimage) {
  ASSIGN_OR_RETURN(std::string image, ReadWholeFile(bzimage));
  static const std::string kXzMagic("\xfd" "7zXZ\0", 6);
  size_t at = image.find(kXzMagic);
  while (at != std::string::npos) {
    lzma_stream strm = LZMA_STREAM_INIT;
    if (lzma_stream_decoder(&strm, UINT64_MAX, 0) != LZMA_OK) {
      return absl::InternalError("lzma_stream_decoder failed");
    }
    std::string out;
    strm.next_in = reinterpret_cast<const uint8_t*>(image.data() + at);
    strm.avail_in = image.size() - at;
    lzma_ret ret = LZMA_OK;
    char buf[1 << 16];
    while (ret == LZMA_OK) {
      strm.next_out = reinterpret_cast<uint8_t*>(buf);
      strm.avail_out = sizeof(buf);
      ret = lzma_code(&strm, LZMA_FINISH);
      out.append(buf, sizeof(buf) - strm.avail_out);
    }
    lzma_end(&strm);
    // The payload ends before the image does: trailing bytes are no error.
    if ((ret == LZMA_STREAM_END || ret == LZMA_DATA_ERROR) && out.size() > 4 &&
        out.compare(0, 4, "\x7f" "ELF") == 0) {
      return out;
    }
    at = image.find(kXzMagic, at + 1);
  }
  return absl::InvalidArgumentError(
      fmt::format("{}: no XZ-compressed ELF payload (not an x86 bzImage built with XZ?)", bzimage));
}

absl::StatusOr<GuestKernel> EnsureGuestKernel(ProcessRunner& runner, const std::string& cache_dir,
                                              const std::string& package) {
  const std::string dir = fmt::format("{}/kernel/{}", cache_dir, package);
  const std::string done = dir + "/kernel.ok";
  GuestKernel k;
  if (auto v = ReadWholeFile(done); v.ok()) {
    k.version = *v;
    while (!k.version.empty() && k.version.back() == '\n') k.version.pop_back();
    k.vmlinux = fmt::format("{}/vmlinux-{}", dir, k.version);
    k.modules_dir = fmt::format("{}/root/lib/modules/{}", dir, k.version);
    if (fs::exists(k.vmlinux) && fs::is_directory(k.modules_dir)) return k;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir + "/debs", ec);
  if (ec) return absl::InternalError(fmt::format("cannot create {}: {}", dir, ec.message()));
  // A metapackage (linux-image-amd64) depends on the versioned image package.
  std::string image_pkg = package;
  ASSIGN_OR_RETURN(ProcessResult deps,
                   runner.Run({"apt-cache", "depends", "--no-recommends", "--no-suggests", package},
                              std::chrono::seconds(60)));
  if (deps.exit_code != 0) {
    return absl::NotFoundError(fmt::format("kernel package '{}': apt-cache depends: {}", package, deps.output));
  }
  std::istringstream lines(deps.output);
  for (std::string line; std::getline(lines, line);) {
    auto p = line.find("Depends: linux-image-");
    if (p != std::string::npos) {
      image_pkg = line.substr(p + 9);
      break;
    }
  }
  ASSIGN_OR_RETURN(ProcessResult dl,
                   runner.Run({"sh", "-c", fmt::format("cd '{}/debs' && apt-get download '{}'", dir, image_pkg)},
                              std::chrono::minutes(10)));
  if (dl.exit_code != 0) {
    return absl::UnavailableError(fmt::format("apt-get download {}: {}", image_pkg, dl.output));
  }
  std::string deb;
  for (const auto& e : fs::directory_iterator(dir + "/debs")) {
    if (e.path().extension() == ".deb") deb = e.path().string();
  }
  if (deb.empty()) return absl::UnavailableError(fmt::format("apt-get download {} left no .deb", image_pkg));
  ASSIGN_OR_RETURN(ProcessResult x, runner.Run({"dpkg-deb", "-x", deb, dir + "/root"}, std::chrono::minutes(5)));
  if (x.exit_code != 0) return absl::InternalError(fmt::format("dpkg-deb -x {}: {}", deb, x.output));
  for (const auto& e : fs::directory_iterator(dir + "/root/boot")) {
    std::string name = e.path().filename().string();
    if (name.starts_with("vmlinuz-")) k.version = name.substr(8);
  }
  if (k.version.empty()) return absl::NotFoundError(fmt::format("{}: no boot/vmlinuz-* in {}", deb, image_pkg));
  ASSIGN_OR_RETURN(std::string vmlinux, ExtractVmlinux(fmt::format("{}/root/boot/vmlinuz-{}", dir, k.version)));
  k.vmlinux = fmt::format("{}/vmlinux-{}", dir, k.version);
  k.modules_dir = fmt::format("{}/root/lib/modules/{}", dir, k.version);
  RETURN_IF_ERROR(WriteAtomically(k.vmlinux, vmlinux, fs::perms(0644)));
  fs::remove_all(dir + "/debs", ec);
  // Keep the modules the guest loads; the package's other ~400 MB never reach a guest.
  std::set<std::string> keep;
  for (const std::string& m : GuestModules()) keep.insert(m + ".ko");
  std::vector<fs::path> drop;
  for (auto it = fs::recursive_directory_iterator(k.modules_dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file() && !keep.count(it->path().filename().string())) drop.push_back(it->path());
  }
  for (const fs::path& p : drop) fs::remove(p, ec);
  fs::remove_all(dir + "/root/boot", ec);
  fs::remove_all(dir + "/root/usr", ec);
  RETURN_IF_ERROR(WriteAtomically(done, k.version + "\n", fs::perms(0644)));
  return k;
}

const std::vector<std::string>& GuestModules() {
  static const std::vector<std::string> kModules = {
      "crc32c_generic", "libcrc32c", "virtio_ring",  "virtio",     "virtio_mmio", "virtio_blk",
      "failover",       "net_failover", "virtio_net", "erofs",      "overlay"};
  return kModules;
}

std::string GuestInitScript() {
  return R"SH(#!/bin/sh
# prewarm guest init: PID 1 in the initramfs. Loads the virtio/erofs/overlay modules,
# stacks the template's erofs layers (virtio disks with serial L0, L1, ...: L0 on top)
# under a tmpfs into the root, brings up eth0 on slirp's fixed addresses and hands PID 1 to
# prewarm-guest-activate --boot, which mounts the preloaded scratch image (serial S) under a
# tmpfs at the scratch mount, switches to the new root, binds the workload's port and execs
# the workload (fd 3) in its working dir; with OWN_PORT=1 (an app on its own port) it
# starts the workload as its child instead and watches the port.
# With TAP=1 eth0 stays down until the identity line brings its address, gateway and MAC
# (every boot waits for it then, not only snapshot clones).
# With INSTALL=1 the disk with serial I (the template's .debs) is mounted at
# /run/prewarm-install and prewarm-guest-activate --install runs dpkg on it first, after
# the snapshot point: every clone installs for itself.
# With SNAPSHOT=1 prewarm-guest-activate --boot first reads one line from the serial port:
# the host snapshots the guest there and sends each restored clone
# "go <seed hex> <instance id>": the clone reseeds its RNG, takes its name, drops the
# cached blocks of the scratch disk (each clone has its own) and goes on.
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
. /prewarm/conf
log() { echo "prewarm-guest: $*" > /dev/console; }
fail() { log "FATAL: $*"; $B poweroff -f; }
for m in $MODULES; do $B insmod /lib/modules/$m.ko || fail "insmod $m"; done
want=$((LAYERS + 1 + INSTALL)); n=0
while [ "$($B ls /sys/block | $B grep -c '^vd')" -lt $want ]; do
  n=$((n + 1)); [ $n -gt 500 ] && fail "expected $want disks"; $B usleep 10000
done
scratch=""
for d in /sys/block/vd*; do
  s=$($B cat $d/serial 2>/dev/null)
  case "$s" in
    L*) $B mkdir -p /layers/${s#L}; $B mount -t erofs -o ro /dev/${d##*/} /layers/${s#L} || fail "layer $s" ;;
    S) scratch=/dev/${d##*/} ;;
    I) install=/dev/${d##*/} ;;
  esac
done
[ -n "$scratch" ] || fail "no scratch disk"
i=0; lower=""
while [ $i -lt $LAYERS ]; do
  [ -d /layers/$i ] || fail "layer $i missing"; lower="$lower${lower:+:}/layers/$i"; i=$((i + 1))
done
$B mkdir -p /rw/root /rw/scratch /newroot /scratch
$B mount -t tmpfs -o size=${ROOT_KB}k,mode=0755 tmpfs /rw/root
$B mkdir -p /rw/root/upper /rw/root/work
$B mount -t overlay overlay -o lowerdir=$lower,upperdir=/rw/root/upper,workdir=/rw/root/work /newroot || fail "root overlay"
install_dir=-
if [ "$INSTALL" = 1 ]; then
  [ -n "$install" ] || fail "no install disk"
  $B mkdir -p /newroot/run/prewarm-install
  $B mount -t erofs -o ro $install /newroot/run/prewarm-install || fail "install disk"
  install_dir=/run/prewarm-install
fi
$B ip link set lo up
if [ "$TAP" = 0 ]; then
  $B ip link set eth0 up
  $B ip addr add 10.0.2.15/24 dev eth0
  $B ip route add default via 10.0.2.2
fi
$B mount -t tmpfs -o size=${SCRATCH_KB}k,mode=0755 tmpfs /rw/scratch
$B mkdir -p /rw/scratch/upper /rw/scratch/work /newroot$SCRATCH_MOUNT
$B chown $RUN_UID:$RUN_GID /rw/scratch/upper
$B mkdir -p /newroot/.prewarm /newroot/dev /newroot/proc /newroot/sys /newroot/tmp
$B cp /prewarm/argv /prewarm/env /prewarm/cwd /newroot/.prewarm/
# The rest (identity, scratch, new root, port, workload) in one process, see
# guest_activate.cc: a snapshot is taken while it waits for the identity line.
identity=0; { [ "$SNAPSHOT" = 1 ] || [ "$TAP" = 1 ]; } && identity=1
exec /bin/prewarm-guest-activate --boot $identity $TAP $scratch "$SCRATCH_MOUNT" $install_dir $PORT $OWN_PORT $RUN_UID $RUN_GID /.prewarm/argv /.prewarm/env /.prewarm/cwd
)SH";
}

absl::StatusOr<std::string> EnsureInitramfs(const std::string& cache_dir, const GuestKernel& kernel,
                                            const GuestWorkload& w, const std::string& busybox,
                                            const std::string& activate) {
  ASSIGN_OR_RETURN(std::string bb, ReadWholeFile(busybox));
  ASSIGN_OR_RETURN(std::string act, ReadWholeFile(activate));
  std::string modules;
  for (const std::string& m : GuestModules()) modules += (modules.empty() ? "" : " ") + m;
  std::vector<std::string> env;
  for (const auto& [k, v] : w.env) env.push_back(k + "=" + v);
  std::string conf = fmt::format(
      "MODULES='{}'\nLAYERS={}\nPORT={}\nSCRATCH_MOUNT='{}'\nSCRATCH_KB={}\nRUN_UID={}\nRUN_GID={}\n"
      "SNAPSHOT={}\nINSTALL={}\nROOT_KB={}\nTAP={}\nOWN_PORT={}\n",
      modules, w.layers, w.port, w.scratch_mount, std::max<uint64_t>(w.scratch_bytes >> 10, 1024), w.uid,
      w.gid, w.snapshot ? 1 : 0, w.install ? 1 : 0, std::max<uint64_t>(w.root_bytes >> 10, 1024), w.tap ? 1 : 0, w.own_port ? 1 : 0);
  if (w.scratch_mount.empty() || w.scratch_mount[0] != '/' ||
      w.scratch_mount.find_first_of("'\"$`\\ ") != std::string::npos) {
    return absl::InvalidArgumentError(fmt::format("scratch mount '{}' must be a plain absolute path", w.scratch_mount));
  }
  if (w.argv.empty()) return absl::InvalidArgumentError("template has no command");
  if (w.cwd.empty() || w.cwd[0] != '/' || w.cwd.find('\0') != std::string::npos)
    return absl::InvalidArgumentError(fmt::format("working dir '{}' must be absolute", w.cwd));

  CpioWriter cpio;
  for (const char* d : {"bin", "dev", "proc", "sys", "lib", "lib/modules", "prewarm"}) cpio.AddDir(d);
  cpio.AddCharDevice("dev/console", 5, 1);
  cpio.AddFile("bin/busybox", bb, 0755);
  cpio.AddSymlink("bin/sh", "busybox");
  cpio.AddFile("bin/prewarm-guest-activate", act, 0755);
  std::map<std::string, std::string> found;  // module name -> path, one walk of the tree
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(kernel.modules_dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.ends_with(".ko")) found.emplace(name.substr(0, name.size() - 3), it->path().string());
  }
  for (const std::string& m : GuestModules()) {
    auto f = found.find(m);
    if (f == found.end()) return absl::NotFoundError(fmt::format("kernel {}: module {} not found", kernel.version, m));
    ASSIGN_OR_RETURN(std::string ko, ReadWholeFile(f->second));
    cpio.AddFile("lib/modules/" + m + ".ko", ko, 0644);
  }
  cpio.AddFile("init", GuestInitScript(), 0755);
  cpio.AddFile("prewarm/conf", conf, 0644);
  cpio.AddFile("prewarm/argv", Joined(w.argv), 0644);
  cpio.AddFile("prewarm/env", Joined(env), 0644);
  cpio.AddFile("prewarm/cwd", w.cwd, 0644);
  std::string archive = cpio.Finish();

  std::string dir = cache_dir + "/initramfs";
  fs::create_directories(dir, ec);
  std::string path = fmt::format("{}/{}-{}.cpio", dir, kernel.version, Sha256OfString(archive).substr(0, 16));
  if (!fs::exists(path)) RETURN_IF_ERROR(WriteAtomically(path, archive, fs::perms(0644)));
  return path;
}

std::string ProbeInitramfs(const std::string& busybox_binary) {
  CpioWriter cpio;
  for (const char* d : {"bin", "dev", "proc"}) cpio.AddDir(d);
  cpio.AddCharDevice("dev/console", 5, 1);
  cpio.AddFile("bin/busybox", busybox_binary, 0755);
  cpio.AddSymlink("bin/sh", "busybox");
  cpio.AddFile("init", "#!/bin/sh\n/bin/busybox echo PREWARM-PROBE > /dev/console\n/bin/busybox poweroff -f\n", 0755);
  return cpio.Finish();
}

absl::StatusOr<int64_t> HostTscKhz(const std::string& cpuinfo) {
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(cpuinfo));
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("cpu MHz")) continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) break;
    double mhz = std::strtod(line.c_str() + colon + 1, nullptr);
    if (mhz > 0) return static_cast<int64_t>(mhz * 1000);
  }
  return absl::NotFoundError(fmt::format("{}: no 'cpu MHz' line", cpuinfo));
}

std::string KernelCommandLine(int64_t tsc_khz) {
  return fmt::format(
      "console=ttyS0 quiet panic=-1 8250.nr_uarts=1 i8042.noaux i8042.nomux i8042.dumbkbd "
      "cryptomgr.notests tsc=reliable tsc_early_khz={} mitigations=off no_timer_check pci=off "
      "random.trust_cpu=on audit=0 apparmor=0 rcupdate.rcu_expedited=1 init_on_alloc=0",
      tsc_khz);
}

}  // namespace prewarm::agent::qemu
