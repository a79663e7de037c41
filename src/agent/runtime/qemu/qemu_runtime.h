// QemuRuntime: instances as QEMU `-M microvm` guests booted from Debian's kernel.
//
// Per node (Prepare(), once): Debian's kernel package fetched and unpacked into the cache
// (guest.h), the host TSC rate read, and the accelerator chosen: with accel=auto, KVM only
// when /dev/kvm boots a probe guest to its marker at least twice as fast as TCG (nested KVM
// on the development machines fails or crawls), else TCG; the choice and why are logged.
// Per template: each rootfs layer as an erofs image (cache_dir/erofs/<layer>.erofs, built
// once with mkfs.erofs) and an initramfs with the guest init and the template's command.
// Per instance, under <state_dir>/instances/<id>/:
//   scratch/       the agent preloads here before Start(); at Start() it becomes a
//                  read-only erofs disk under a tmpfs at the template's scratch mount
//   console.log    the guest's serial console; qemu.log QEMU's own output
//   qmp.sock       QMP control socket; qemu.pid for CleanupStale()
// Networking: slirp (`restrict=on`: the guest reaches nothing) with one host forward from
// <instance address>:forward_port to the workload's port; the agent's listening socket
// on <instance address>:<port> is relayed to it (forwarder.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "agent/runtime.h"
#include "agent/runtime/qemu/guest.h"
#include "common/process.h"

namespace prewarm::agent::qemu {

struct QemuOptions {
  std::string qemu_binary = "qemu-system-x86_64";
  std::string state_dir = "/run/prewarm/node";
  std::string cache_dir = "/var/cache/prewarm";
  std::string kernel_package = "linux-image-amd64";
  std::string busybox = "/bin/busybox";
  std::string activate;                 // prewarm-guest-activate (static); required
  std::string accel = "auto";           // auto | kvm | tcg
  uint16_t forward_port = 18080;        // host side of slirp's forward, on the instance address
  uint64_t min_memory_bytes = 128ull << 20;  // the Debian kernel alone touches ~90 MiB
  uint32_t tb_size_mb = 32;             // TCG translation buffer (lab: 32 costs nothing, saves 16)
  uint32_t uid = 65534, gid = 65534;    // the workload's user inside the guest
  std::chrono::milliseconds stop_timeout{5000};
  std::chrono::milliseconds probe_timeout{60000};  // each accelerator probe boot
};

class QemuRuntime final : public Runtime {
 public:
  QemuRuntime(QemuOptions options, ProcessRunner& runner);
  std::string name() const override { return "qemu"; }
  // Kernel, TSC rate and accelerator; Create() calls it on first use.
  absl::Status Prepare();
  absl::StatusOr<std::unique_ptr<RuntimeInstance>> Create(const InstanceSpec& spec) override;
  absl::Status CleanupStale() override;

  const QemuOptions& options() const { return options_; }
  const std::string& accel() const { return accel_; }  // after Prepare(): "kvm" or "tcg"
  std::string InstanceDir(const std::string& id) const;
  // The QEMU command line of an instance (for tests and logs).
  std::vector<std::string> QemuCommand(const InstanceSpec& spec, const std::string& dir,
                                       const std::vector<std::string>& layer_images,
                                       const std::string& initramfs) const;

 private:
  friend class QemuInstance;
  absl::StatusOr<std::string> LayerImage(const std::string& layer_dir);
  absl::Status MakeErofs(const std::string& src_dir, const std::string& image);
  absl::StatusOr<double> ProbeBoot(const std::string& accel);
  QemuOptions options_;
  ProcessRunner& runner_;
  std::mutex mu_;
  bool prepared_ = false;
  absl::Status prepare_status_;
  GuestKernel kernel_;
  int64_t tsc_khz_ = 0;
  std::string accel_;
};

}  // namespace prewarm::agent::qemu
