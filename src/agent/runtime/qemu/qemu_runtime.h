// QemuRuntime: instances as QEMU `-M microvm` guests booted from Debian's kernel.
//
// Per node (Prepare(), once): Debian's kernel package fetched and unpacked into the cache
// (guest.h), the host TSC rate read, and the accelerator chosen: with accel=auto, KVM only
// when /dev/kvm boots a probe guest to its marker at least twice as fast as TCG (nested KVM
// on the development machines fails or crawls), else TCG; the choice and why are logged.
// Per template: each rootfs layer as an erofs image (cache_dir/erofs/<layer>.erofs, built
// once with mkfs.erofs; past kMaxLayerDisks layers, one image of the merged layer) and an initramfs
// with the guest init and the template's command. Per instance, under <state_dir>/instances/<id>/:
//   scratch/       the agent preloads here before Start(); at Start() it becomes a
//                  read-only erofs disk under a tmpfs at the template's scratch mount
//   console.log    the guest's serial console (the workload's output: its last
//                  output_bytes are kept while it serves); qemu.log QEMU's own output
//   qmp.sock       QMP control socket; qemu.pid for CleanupStale()
// Snapshots (snapshot: clone, the default): the first instance of a template boots a
// template VM whose guest RAM is a file on tmpfs (ram_dir), up to the guest init's
// snapshot point (root mounted, network up, before the scratch disk and the workload);
// its device state is saved (QEMU migration with x-ignore-shared: the RAM file is the
// RAM) and the template VM quits. The RAM file is a memfd the agent holds, sealed
// against writes once the template VM is gone (no clone can change what the others map).
// Every instance then starts as a clone: a new QEMU maps that RAM file copy-on-write, loads the
// device state (a few KiB), continues, and gets "go <seed> <id>" on its serial port: it reseeds its
// RNG, mounts its own scratch disk and execs the workload. snapshot: full stores the guest RAM in
// the state file instead
// (~65 MiB, read by every restore, no sharing); none cold-boots every instance.
// Standby VMs (QemuOptions::standby_vms): clones' QEMUs started ahead, per template shape,
// which a clone takes instead of starting its own (Standby, docs/design.md).
// Jail (QemuOptions::jail, on by default), like Firecracker's jailer: every QEMU process
// (template VMs and instances) runs as a host user of its own (the first id of the range
// of an id slot it holds in a HostIdBlock, the lowest free one, claimed by the runtime;
// gid the same; template VMs the second id of slot 0's range, which no instance uses), started by
// prewarm-qemu-jail (qemu_jail.cc) in new mount, pid and network namespaces: pid 1 of its pid
// namespace, its root a tmpfs holding only read-only binds of /usr (QEMU, its libraries and
// firmware), the kernel, initramfs and disk images, its own directory read-write (sockets, logs),
// /dev/null, zero, random, urandom (and kvm with accel kvm), a /proc of its own processes;
// no_new_privs, no capabilities, and `-sandbox on` (QEMU's seccomp) denying obsolete calls, set*id,
// fork/ exec and scheduler/affinity changes. What QEMU cannot open by path in there comes as a
// descriptor: the template's guest RAM (a sealed memfd, fd 4), the saved device state
// (QMP getfd), a tap (fd 3). Under slirp its host forward listens in the jail's network
// namespace (loopback only): the relay's thread joins that namespace to connect. A
// tap is opened in the host's namespace and passed in, so the guest's traffic never
// touches the jail's namespace. The accelerator probe boots (Prepare()) run in the same
// jail, as the template VMs' user.
// Cgroup (with the jail; agent/runtime/cgroup.h, the code that reads runc's groups back):
// every jailed QEMU has its own group, <cgroup_parent>/qemu-<node>/<VM name> (node: the
// state_dir's last component), made and limited before QEMU starts and joined by the
// jailer before anything else, so QEMU never runs outside it; read back (limits and
// membership) after start, removed once QEMU is gone. Its limits (VmLimits()):
//   memory  the guest's RAM + kQemuOverheadBytes + TCG's translation buffer;
//   pids    QEMU's threads: its vCPUs, kQemuWorkerThreads block-I/O workers (capped with
//           -object main-loop,thread-pool-max) and kQemuOtherThreads; QEMU forks nothing
//           (its seccomp forbids it);
//   cpu     a quota of the guest's whole vCPUs (a TCG vCPU thread emulating even a fraction
//           of a core's work needs its core while it runs) + one core for QEMU's own threads
//           beside them, and a weight of the template's cpus (100 = one core), so busy VMs
//           share the host in the template's proportions.
// Networking: slirp (`restrict=on`: the guest reaches nothing) with one host forward from
// <instance address>:forward_port to the workload's port; the agent's listening socket
// on <instance address>:<port> is relayed to it (oci/relay.h). Or network: tap: the
// guest on a tap of an isolated bridge at <guest address>:<port> (tap.h), relayed the
// same way; its address, gateway and MAC come with its identity line ("go <seed> <id>
// <address>/<prefix> <gateway> <mac>"), which a tap guest waits for even on a cold boot.
// The workload's port is GuestPort(): an OCI image's own port, which its app binds
// itself, else the instance's port, which prewarm-guest-activate binds for it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "agent/runtime.h"
#include "agent/runtime/cgroup.h"
#include "agent/runtime/oci/id_block.h"
#include "agent/runtime/qemu/console_watch.h"
#include "agent/runtime/qemu/guest.h"
#include "agent/runtime/qemu/qmp.h"
#include "common/process.h"

namespace prewarm::agent::qemu {

// Templates with more layers than this get one merged erofs image instead of a disk each.
inline constexpr size_t kMaxLayerDisks = 16;

struct QemuOptions {
  std::string qemu_binary = "qemu-system-x86_64";
  std::string state_dir = "/run/prewarm/node";
  std::string cache_dir = "/var/cache/prewarm";
  std::string kernel_package = "linux-image-amd64";
  std::string busybox = "/bin/busybox";
  std::string activate;           // prewarm-guest-activate (static); required
  std::string accel = "auto";     // auto | kvm | tcg
  uint16_t forward_port = 18080;  // host side of slirp's forward, on the instance address
  uint64_t min_memory_bytes = 128ull << 20;  // the Debian kernel alone touches ~90 MiB
  // TCG's translation buffer of a VM that boots, and of a restored one (a clone, a full
  // restore), which translates only what it runs after the restore. Its pages are private
  // to each QEMU, the largest part of a clone's PSS; a buffer smaller than what the start
  // translates is flushed and refilled during it, and the start gets slower
  // (bench/instance_start/README.md, "Memory of a clone", has the sizes measured).
  uint32_t tb_size_mb = 32;
  uint32_t restore_tb_size_mb = 16;
  uint32_t uid = 65534, gid = 65534;  // the workload's user inside the guest
  std::chrono::milliseconds stop_timeout{5000};
  std::chrono::milliseconds probe_timeout{60000};  // each accelerator probe boot
  std::string snapshot = "clone";                  // clone | full | none
  std::string ram_dir = "/dev/shm/prewarm";        // template VM directories: state, logs (tmpfs)
  std::chrono::milliseconds boot_timeout{120000};  // template VM to its snapshot point
  // slirp: user-mode networking, one host forward per guest (single machine).
  // tap: a tap per guest on `bridge`, guests addressed from guest_network (tap.h).
  std::string network = "slirp";
  std::string bridge = "prewarm0";
  std::string guest_network = "10.77.0.0/16";
  // console.log beyond this is freed while the instance serves (agent/output_log.h).
  uint64_t output_bytes = kDefaultOutputBytes;
  // The jail (see above). false: QEMU runs as the agent's user, in its namespaces.
  bool jail = true;
  // With the jail: transparent huge pages for QEMU's memory. QEMU madvises its translation
  // buffer and RAM blocks for them, and a 2 MiB page is resident whole once touched: a
  // clone's 4 KiB of ACPI tables (a 2 MiB block) cost 2 MiB, its code buffer up to 2 MiB
  // more. false (the default): the jailer disables them for QEMU (PR_SET_THP_DISABLE).
  bool thp = false;
  // glib's slice allocator in QEMU. Off (the default), QEMU runs with
  // G_SLICE=always-malloc: GLib 2.74's slices keep per-thread magazines and slabs of
  // their own, held beside malloc's arenas (GLib 2.76 dropped them for plain malloc).
  bool glib_slices = false;
  // microvm's second IO-APIC, and with it 24 virtio-mmio transports instead of 8. Off (the
  // default), a VM with at most 8 virtio devices (VmLaunch: its disks and its NIC) gets
  // the 8; each unused transport is a QEMU object and memory region of its own.
  bool ioapic2 = false;
  // Capstone, the disassembler Debian's QEMU links, used only for `-d in_asm,out_asm` logs
  // and the monitor's `x/i`. Loading it costs every QEMU private memory: the dynamic
  // linker relocates its pointer tables (RELRO) in each process (bench/instance_start/
  // README.md has the size). Off
  // (the default) and with capstone_off_lib set, QEMU runs with that library preloaded
  // (LD_PRELOAD): its soname is libcapstone.so.4, so the dynamic linker takes it for
  // capstone and does not load the real one; its cs_open fails, and QEMU's logs show
  // the bytes of guest and host code instead of their disassembly.
  bool capstone = false;
  std::string capstone_off_lib;  // prewarm's libcapstone.so.4 (capstone_off.c); "" = none
  // glibc's malloc in QEMU: MALLOC_ARENA_MAX and MALLOC_TRIM_THRESHOLD_ (in KiB here). 0
  // (the default): not set, QEMU has the agent's own or glibc's defaults.
  uint32_t malloc_arena_max = 0;
  uint32_t malloc_trim_threshold_kb = 0;
  // A restored VM's QEMU (-incoming: a clone, a full restore) is given the kernel, the
  // initramfs and the command line too. false (the default): only a VM that boots is; a
  // restored guest's kernel and initramfs are in its RAM already, and QEMU would map the
  // kernel's file and read its headers and segments into its memory for nothing.
  bool restore_kernel = false;
  std::string jailer;               // prewarm-qemu-jail (static); required with jail
  uint32_t jail_id_base = 1000000;  // HostIdBlock: first host id handed out
  std::string jail_lock_dir = "/run/prewarm/userns";  // HostIdBlock: host-wide lock directory
  // With the jail, each QEMU's cgroup (see above). false: QEMU stays in the agent's
  // cgroup, unlimited (bench/instance_start's peer for the cost of the cgroup step).
  bool cgroup = true;
  // The relay from the instance's socket to the VM (oci/relay.h): established connections
  // relayed by the kernel (BPF sockmap) where it can; false: by the relay's thread.
  bool relay_kernel_splice = true;
  std::string cgroup_parent = "prewarm";
  std::string cgroup_root = "/sys/fs/cgroup";
  // Standby VMs (snapshot: clone, network: slirp): per template shape, this many clones
  // started ahead of their instance (jail, cgroup, exec, QMP connected, the template's
  // state loaded, the guest reseeded by its own seed and its scratch mount rehearsed),
  // waiting for their identity; a clone takes one and is spared that part of its start.
  // Refilled in the background after each take; 0: none. Each costs its QEMU's memory
  // (bench/instance_start). A shape no instance was made of for standby_idle loses its
  // standbys.
  uint32_t standby_vms = 1;
  std::chrono::milliseconds standby_idle{600000};
};

// A QEMU process's memory beside its guest's RAM (heap, libraries, device and slirp
// buffers, its page cache); TCG's translation buffer (tb_size_mb) comes on top.
inline constexpr uint64_t kQemuOverheadBytes = 64ull << 20;
// QEMU's block-I/O worker threads (thread-pool-max). QEMU aborts when it cannot create a
// thread, so pids.max leaves room for every one of them.
inline constexpr uint32_t kQemuWorkerThreads = 16;
// QEMU's other threads beside its vCPUs and workers (main loop, RCU, ...), with a margin.
inline constexpr uint32_t kQemuOtherThreads = 8;

// QEMU's seccomp filter in the jail.
inline constexpr char kQemuSandbox[] =
    "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";
// The guest RAM file's descriptor in QEMU (VmLaunch::ram_fd).
inline constexpr int kRamChildFd = 4;
// virtio-mmio transports of a microvm with one IO-APIC (QemuOptions::ioapic2).
inline constexpr size_t kOneIoapicTransports = 8;

// How one QEMU process is launched (QemuRuntime::QemuCommand).
struct VmLaunch {
  std::string name;                       // -name prewarm-<name>
  std::string dir;                        // qmp.sock, serial.sock, console.log
  std::vector<std::string> layer_images;  // erofs, top first (serials L0, L1, ...)
  std::string scratch_image;              // serial S
  std::string install_image;              // serial I: TemplateSpec::install_dir; empty: none
  std::string initramfs;
  uint64_t memory_bytes = 128ull << 20;
  uint32_t vcpus = 1;       // -smp
  double cpus = 1;          // the template's CPU share in cores (the cgroup's weight)
  int ram_fd = -1;          // the guest RAM file (QEMU's fd 4); -1: anonymous RAM
  bool ram_shared = false;  // the template VM: share=on; clones: share=off
  uint32_t host_id = 0;     // jail: QEMU's host uid and gid
  std::string hostfwd;      // e.g. "127.77.0.9:18080-:80"; empty: none
  int tap_fd = -1;          // >= 0: -netdev tap on this fd (child fd 3) instead of slirp
  std::string mac;          // the virtio-net device's MAC; empty: QEMU's default
  bool incoming = false;    // -incoming defer (a clone)
  std::string accel;        // the probe boots': kvm or tcg; empty: the runtime's (Prepare())
  // A full snapshot's template VM: the state file it writes (its RAM and devices) lies in
  // ram_dir's tmpfs and is charged to its cgroup beside its RAM, so its limit holds this too.
  uint64_t state_bytes = 0;
};

// A template's snapshot: its guest RAM file and saved device state.
struct TemplateSnapshot {
  ScopedFd ram;  // the sealed RAM memfd; invalid: a full snapshot (RAM in the state)
  std::string state_file;
  uint64_t memory_bytes = 0;
  uint64_t scratch_image_bytes = 0;  // every clone's scratch disk has exactly this size
  double boot_s = 0, save_s = 0;
};

// Where the time of one instance's Start() went, up to the relay (the "forwarder") opening to
// clients (bench/instance_start prints them). Milliseconds from the previous step; 0 for steps a
// start does not take (a cold boot has no restore or identity unless on a tap).
struct StartPhases {
  bool restored = false;
  bool standby = false;    // a standby VM's: spawn, QMP and load happened before the instance
  double scratch_ms = 0;   // the preloaded scratch directory made an erofs disk (mkfs.erofs)
  double spawn_ms = 0;     // jail, cgroup, fork/exec of QEMU, cgroup read back
  double qmp_ms = 0;       // until QMP answered (its greeting and capabilities)
  double load_ms = 0;      // migrate-incoming of the device state until paused
  double cont_ms = 0;      // cont (a standby's: its instance's forward added)
  double identity_ms = 0;  // the identity line sent until the guest says it took it
  double root_ms = 0;      // until the guest init's "root ready" (scratch mounted)
  double listen_ms = 0;    // until the guest's port listens (prewarm-guest-activate)
  double probe_ms = 0;     // until the forwarder opened: the "listening" line (a clone, a
                           // tap guest) or, on a cold slirp guest, its first passed probe
  double total_ms = 0;     // Start() entered -> the forwarder opened
};

// Starts QEMU processes from one thread that lives as long as the runtime, with
// kill_with_parent: when the agent dies, however it dies, the kernel kills its VMs (the
// death signal follows the thread that forked, so it must not be a short-lived worker).
// A standby VM (QemuOptions::standby_vms): a clone started with no instance yet, its
// launch's per-instance parts its own (name standby-<n>, directory, host id, a scratch
// disk file of the template's size holding an empty erofs, which its instance overwrites
// in place; no host forward, added over QMP when an instance takes it). Its guest runs:
// restored from the template's state, reseeded ("pre <seed>", guest_activate.cc), its
// scratch mount's code run once on the empty image, waiting for its identity line. Every
// guest code path it ran is translated already in its QEMU when an instance takes it.
struct Standby {
  VmLaunch launch;
  uint32_t host_key = 0;  // jail: its HostIdBlock slot
  pid_t pid = -1;
  std::optional<QmpClient> qmp;  // connected: its instance's restore goes on from here
  // Its serial console, connected once the template's state is loaded and the guest has
  // taken its own seed and rehearsed its scratch mount ("standby ready").
  std::unique_ptr<ConsoleWatch> console;
};

class VmSpawner {
 public:
  explicit VmSpawner(ProcessRunner& runner);
  ~VmSpawner();
  absl::StatusOr<pid_t> Spawn(SpawnOptions options);

 private:
  struct Job;
  void Loop();
  ProcessRunner& runner_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> jobs_;
  bool stop_ = false;
  std::thread thread_;
};

// The port the guest's workload listens on: the template's own app port (an OCI image's
// exposed port), else the instance's port, which prewarm-guest-activate binds for it.
// slirp's host forward (or, on a tap, the agent's relay) goes to it.
uint16_t GuestPort(const InstanceSpec& spec);

// What the guest runs for `spec` (GuestWorkload), but for its disks (layers, install):
// the template's command and env, its user (else the runtime's unprivileged uid/gid),
// working dir and own port.
GuestWorkload GuestWorkloadOf(const InstanceSpec& spec, const QemuOptions& options);

// Seals a template's RAM file against writes, growth and shrinking. The kernel refuses
// (EBUSY) while any page has a reference beyond the file's own, and waits only briefly for
// them to go: right after the template VM exits, pages it touched last can still sit in
// another CPU's LRU batch. Each retry first drains every CPU's batches; bounded by
// `attempts` (a writable shared mapping still open never goes, and fails with the reason).
absl::Status SealRamFile(int fd, int attempts = 20);

class QemuRuntime final : public Runtime {
 public:
  QemuRuntime(QemuOptions options, ProcessRunner& runner);
  ~QemuRuntime() override;
  std::string name() const override { return "qemu"; }
  // Kernel, TSC rate and accelerator; Create() calls it on first use.
  absl::Status Prepare();
  absl::StatusOr<std::unique_ptr<RuntimeInstance>> Create(const InstanceSpec& spec) override;
  absl::Status CleanupStale() override;
  // The standby VMs waiting now and their PSS.
  RuntimeReserve Reserve() const override;

  const QemuOptions& options() const { return options_; }
  // jail: the host uid (and gid) of the QEMU of the instance in `slot`, of template VMs.
  absl::StatusOr<uint32_t> InstanceHostId(uint32_t slot);
  absl::StatusOr<uint32_t> TemplateHostId();
  // The prewarm-qemu-jail arguments (up to and including "--") that jail `launch`.
  std::vector<std::string> JailCommand(const VmLaunch& launch) const;
  // The cgroup of the VM named `name` (VmLaunch::name), and its limits.
  std::string VmCgroup(const std::string& name) const;
  CgroupLimits VmLimits(const VmLaunch& launch) const;
  // Whether `launch` gets -kernel, -initrd and -append (QemuOptions::restore_kernel).
  bool BootsKernel(const VmLaunch& launch) const;
  // TCG's translation buffer of `launch` in MiB: restore_tb_size_mb for a restore.
  uint32_t TbSizeMb(const VmLaunch& launch) const;
  const Cgroups& cgroups() const { return cgroups_; }
  const std::string& accel() const { return accel_; }  // after Prepare(): "kvm" or "tcg"
  // The phases of the most recent Start() whose forwarder opened.
  StartPhases LastStartPhases() const;
  // The standby VMs ready now (all shapes) and their QEMUs' pids.
  std::vector<pid_t> StandbyPids() const;
  std::string InstanceDir(const std::string& id) const;
  // The QEMU command line of one VM (for tests and logs).
  std::vector<std::string> QemuCommand(const VmLaunch& launch) const;
  // QEMU's environment: the agent's, with glib_slices, capstone and the malloc settings
  // applied.
  std::vector<std::string> QemuEnvironment() const;
  // Guest RAM of an instance of `tmpl` (the template's memory, at least min_memory_bytes).
  uint64_t GuestMemory(const TemplateSpec& tmpl) const;
  // vCPUs of an instance of `tmpl`: its `cpus` rounded up (0.5 -> 1, 2 -> 2).
  uint32_t GuestVcpus(const TemplateSpec& tmpl) const;

 private:
  friend class QemuInstance;
  absl::StatusOr<std::string> LayerImage(const std::string& layer_dir);
  // mkfs.erofs of `src_dir` into `image`: a new file, or with `in_place_bytes` > 0 the
  // existing `image` rewritten (the same file: a standby's scratch disk, which its QEMU
  // holds open) and padded back to that many bytes, which the image must fit in.
  absl::Status MakeErofs(const std::string& src_dir, const std::string& image,
                         uint64_t in_place_bytes = 0);
  absl::StatusOr<double> ProbeBoot(const std::string& accel);
  // The snapshot of the template that `launch` (minus per-instance parts) describes:
  // made on first use, then shared by every clone.
  absl::StatusOr<std::shared_ptr<const TemplateSnapshot>> EnsureSnapshot(
      const VmLaunch& launch, uint64_t scratch_image_bytes);
  absl::Status PadImage(const std::string& image, uint64_t bytes);
  // Starts QEMU for `launch` from the spawner thread, its output in <dir>/qemu.log. On a
  // tap network it first opens the VM's tap (named after its directory) as QEMU's fd 3.
  // idle_priority: under SCHED_IDLE (a standby).
  absl::StatusOr<pid_t> SpawnVm(VmLaunch launch, bool idle_priority = false);
  // Starts `so.argv` (a QEMU command line for `launch`) from the spawner thread: with the
  // jail, in the jail and in the VM's cgroup, which it makes first and checks after.
  absl::StatusOr<pid_t> SpawnQemu(const VmLaunch& launch, SpawnOptions so);
  // After SpawnQemu: waits for the jailer to join the VM's cgroup and reads its limits
  // back; an error (with the jailer's words if it exited) otherwise.
  absl::Status CheckVmCgroup(const VmLaunch& launch, pid_t pid);
  // The VM's jail or QEMU exited (code `code`) while `during`: an error with its last words.
  absl::Status ExitedEarly(const VmLaunch& launch, int code, std::string_view during) const;
  std::string NodeCgroup() const;  // every VM's group is below it
  // Jail: the lowest free slot of ids_, claimed (an instance's or a standby's host id).
  absl::StatusOr<uint32_t> ClaimHostKey();
  bool StandbyEligible() const;
  // What a standby for `launch` must share with it: all but its per-instance parts.
  static std::string StandbyKey(const VmLaunch& launch);
  // A ready standby of `launch`'s shape (nullptr if none), registering the shape so that
  // the standby thread keeps `options_.standby_vms` of them.
  std::unique_ptr<Standby> TakeStandby(const VmLaunch& launch,
                                       std::shared_ptr<const TemplateSnapshot> snapshot);
  absl::StatusOr<std::unique_ptr<Standby>> SpawnStandby(
      const VmLaunch& proto, const std::shared_ptr<const TemplateSnapshot>& snapshot);
  void DropStandby(std::unique_ptr<Standby> standby);  // kills it, frees what it holds
  void StandbyLoop();
  bool cgrouped() const { return options_.jail && options_.cgroup; }
  std::string RamRoot() const;
  QemuOptions options_;
  ProcessRunner& runner_;
  std::mutex mu_;
  bool prepared_ = false;
  absl::Status prepare_status_;
  GuestKernel kernel_;
  int64_t tsc_khz_ = 0;
  std::string accel_;
  Cidr guest_network_;  // network: tap
  std::mutex snap_mu_;  // serialises template boots
  std::map<std::string, std::shared_ptr<const TemplateSnapshot>> snapshots_;  // by launch key
  std::map<std::string, std::string> initramfs_;  // by guest workload (under mu_)
  oci::HostIdBlock ids_{options_.jail_id_base, options_.jail_lock_dir, "qemu jail"};
  Cgroups cgroups_{options_.cgroup_root};
  VmSpawner spawner_{runner_};
  mutable std::mutex phases_mu_;
  StartPhases last_phases_;
  struct StandbyShape {
    VmLaunch proto;  // without the per-instance parts
    std::shared_ptr<const TemplateSnapshot> snapshot;
    std::deque<std::unique_ptr<Standby>> ready;
    std::chrono::steady_clock::time_point used, retry_at;
  };
  mutable std::mutex standby_mu_;
  std::condition_variable standby_cv_;
  std::map<std::string, StandbyShape> shapes_;  // by StandbyKey()
  // Atomic: read and bumped without standby_mu_ by a spawn, which runs under SCHED_IDLE
  // and must hold no lock an instance's Create() waits for.
  std::atomic<uint64_t> standby_seq_ = 0;
  std::atomic<bool> standby_stop_ = false;
  std::thread standby_thread_;  // started by the first TakeStandby()
};

}  // namespace prewarm::agent::qemu
