// What a qemu instance boots: Debian's kernel (the uncompressed vmlinux, booted through
// its PVH entry: ~4 s faster under TCG than the bzImage), an initramfs holding busybox,
// the few virtio/erofs/overlay modules the Debian kernel builds as modules, prewarm's
// guest init and the template's command, and the host facts a TCG guest needs.
// See ../shared/notes/microvm-lab.md for the measurements behind each choice.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/process.h"
#include "common/status.h"

namespace prewarm::agent::qemu {

// newc ("070701") cpio archive, the format the kernel unpacks as an initramfs.
class CpioWriter {
 public:
  void AddDir(const std::string& path, uint32_t mode = 0755);
  void AddFile(const std::string& path, const std::string& data, uint32_t mode = 0644);
  void AddSymlink(const std::string& path, const std::string& target);
  void AddCharDevice(const std::string& path, uint32_t major, uint32_t minor, uint32_t mode = 0600);
  // Appends the trailer and returns the archive (the writer is spent).
  std::string Finish();

 private:
  void Add(const std::string& path, uint32_t mode, const std::string& data, uint32_t rmajor = 0,
           uint32_t rminor = 0);
  std::string out_;
  uint32_t ino_ = 1;
};

// A whole file's content; NotFound naming the path when it cannot be read.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

// The XZ payload of a bzImage, decompressed: the vmlinux ELF. Errors name the file.
absl::StatusOr<std::string> ExtractVmlinux(const std::string& bzimage);

struct GuestKernel {
  std::string version;      // e.g. 6.1.0-57-amd64
  std::string vmlinux;      // host path
  std::string modules_dir;  // host path of lib/modules/<version>
};

// Debian's kernel in `cache_dir`/kernel/<package>/: downloaded with `apt-get download`
// (a metapackage such as linux-image-amd64 is followed to the image package it depends
// on), unpacked with `dpkg-deb -x`, vmlinux extracted, every module but GuestModules() removed
// (~460 MB -> ~60 MB). Reused when already there.
absl::StatusOr<GuestKernel> EnsureGuestKernel(ProcessRunner& runner, const std::string& cache_dir,
                                              const std::string& package);

// The modules the guest init loads, in dependency order (plain insmod, no modules.dep):
// crc32c before libcrc32c (erofs's softdep), virtio_ring/virtio before virtio_mmio.
const std::vector<std::string>& GuestModules();

// What the guest runs, from the template.
struct GuestWorkload {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  uint16_t port = 80;            // the workload's port inside the guest
  // The app binds `port` itself (an OCI image's own port): no socket is handed to it;
  // prewarm-guest-activate stays PID 1 and says "listening" once the port listens.
  bool own_port = false;
  std::string cwd = "/";  // the workload's working directory (made if missing)
  std::string scratch_mount = "/srv";
  uint64_t scratch_bytes = 64ull << 20;
  uint32_t layers = 1;           // erofs block devices before the scratch one
  uint32_t uid = 65534, gid = 65534;  // the workload's user
  // A disk with serial I holds TemplateSpec::install_dir: mounted at kInstallMount and
  // installed by prewarm-guest-activate --install before the workload starts.
  bool install = false;
  // Tap networking: eth0 gets its address, gateway and MAC from the identity line, which
  // the guest then waits for on every boot (slirp: the fixed 10.0.2.15 before it).
  bool tap = false;
  uint64_t root_bytes = 16ull << 20;  // the tmpfs under the root overlay
  // Stop before the scratch mount and wait for "go <seed> <id>" on the serial port (the
  // point where a template is snapshotted for clones).
  bool snapshot = false;
};

// Builds (or reuses) the initramfs for `kernel` + `workload` under `cache_dir`/initramfs,
// named by a hash of everything in it. `busybox` and `activate` are host paths of static
// binaries (busybox-static and prewarm-guest-activate). Returns its path.
absl::StatusOr<std::string> EnsureInitramfs(const std::string& cache_dir, const GuestKernel& kernel,
                                            const GuestWorkload& workload,
                                            const std::string& busybox, const std::string& activate);

// An initramfs whose init prints "PREWARM-PROBE" on the console and powers off: how long
// it takes to boot says whether an accelerator runs at hardware speed.
std::string ProbeInitramfs(const std::string& busybox_binary);

// The guest init script (/init in the initramfs).
std::string GuestInitScript();

// The host's TSC rate in kHz (a TCG guest's TSC runs at it; the guest kernel must be told,
// as its PIT calibration fails intermittently on microvm): /proc/cpuinfo's "cpu MHz".
absl::StatusOr<int64_t> HostTscKhz(const std::string& cpuinfo = "/proc/cpuinfo");

// Kernel command line for a fast TCG boot (lab note "FAST" set) with `tsc_khz`.
std::string KernelCommandLine(int64_t tsc_khz);

}  // namespace prewarm::agent::qemu
