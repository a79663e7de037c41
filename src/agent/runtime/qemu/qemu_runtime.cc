#include "agent/runtime/qemu/qemu_runtime.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/runtime/qemu/forwarder.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"
#include "workload/http_client.h"

namespace prewarm::agent::qemu {
namespace fs = std::filesystem;

namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool ValidId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

}  // namespace

class QemuInstance final : public RuntimeInstance {
 public:
  QemuInstance(QemuRuntime& rt, InstanceSpec spec, std::string dir, std::vector<std::string> layers,
               std::string initramfs)
      : rt_(rt), spec_(std::move(spec)), dir_(std::move(dir)), scratch_(dir_ + "/scratch"),
        layers_(std::move(layers)), initramfs_(std::move(initramfs)) {}
  ~QemuInstance() override { (void)Destroy(); }

  const std::string& scratch_dir() const override { return scratch_; }

  absl::Status Start(int listen_fd) override {
    if (pid_ > 0) return absl::FailedPreconditionError("already started");
    RETURN_IF_ERROR(rt_.MakeErofs(scratch_, dir_ + "/scratch.erofs"));
    SpawnOptions so;
    so.argv = rt_.QemuCommand(spec_, dir_, layers_, initramfs_);
    so.log_path = dir_ + "/qemu.log";
    so.new_process_group = true;
    ASSIGN_OR_RETURN(pid_, rt_.runner_.Spawn(so));
    std::ofstream(dir_ + "/qemu.pid") << pid_ << "\n";
    IpAddr addr = spec_.address;
    uint16_t port = rt_.options_.forward_port;
    std::string path = spec_.tmpl.probe_path;
    auto ready = [addr, port, path]() {
      auto r = workload::HttpGet(addr, port, path, std::chrono::milliseconds(500));
      return r.ok() && r->status >= 200 && r->status < 400;
    };
    forwarder_ = std::make_unique<TcpForwarder>(listen_fd, HostPort{addr, port}, ready);
    return forwarder_->Start();
  }

  std::optional<int> PollExit() override {
    if (pid_ <= 0) return std::nullopt;
    if (exit_) return exit_;
    auto r = rt_.runner_.TryWait(pid_);
    if (r.ok() && r->has_value()) exit_ = **r;
    if (!r.ok()) exit_ = -1;
    return exit_;
  }

  ResourceUsage Usage() override {
    ResourceUsage u;
    if (pid_ <= 0 || exit_) return u;
    std::istringstream status(Slurp(fmt::format("/proc/{}/status", pid_)));
    for (std::string line; std::getline(status, line);) {
      if (line.starts_with("VmRSS:")) u.memory_bytes = std::strtoull(line.c_str() + 6, nullptr, 10) << 10;
      if (line.starts_with("Threads:")) u.pids = static_cast<uint32_t>(std::strtoul(line.c_str() + 8, nullptr, 10));
    }
    return u;
  }

  absl::Status Destroy() override {
    if (destroyed_) return absl::OkStatus();
    destroyed_ = true;
    if (forwarder_) forwarder_->Stop();
    forwarder_.reset();
    absl::Status st = absl::OkStatus();
    if (pid_ > 0 && !PollExit()) {
      (void)rt_.runner_.Signal(-pid_, SIGTERM);
      auto done = WaitFor(rt_.runner_, pid_, rt_.options_.stop_timeout);
      if (!done.ok() || !done->has_value()) {
        (void)rt_.runner_.Signal(-pid_, SIGKILL);
        done = WaitFor(rt_.runner_, pid_, rt_.options_.stop_timeout);
        if (!done.ok() || !done->has_value()) st = absl::InternalError(fmt::format("qemu {} did not die", pid_));
      }
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
    if (ec && st.ok()) st = absl::InternalError(fmt::format("remove {}: {}", dir_, ec.message()));
    return st;
  }

 private:
  QemuRuntime& rt_;
  InstanceSpec spec_;
  std::string dir_, scratch_;
  std::vector<std::string> layers_;
  std::string initramfs_;
  pid_t pid_ = -1;
  std::optional<int> exit_;
  bool destroyed_ = false;
  std::unique_ptr<TcpForwarder> forwarder_;
};

QemuRuntime::QemuRuntime(QemuOptions options, ProcessRunner& runner)
    : options_(std::move(options)), runner_(runner) {}

std::string QemuRuntime::InstanceDir(const std::string& id) const {
  return options_.state_dir + "/instances/" + id;
}

absl::Status QemuRuntime::MakeErofs(const std::string& src_dir, const std::string& image) {
  std::string tmp = fmt::format("{}.tmp.{}", image, ::getpid());
  ASSIGN_OR_RETURN(ProcessResult r, runner_.Run({"mkfs.erofs", "--quiet", "-T0", tmp, src_dir}, std::chrono::minutes(5)));
  if (r.exit_code != 0) {
    std::error_code ec;
    fs::remove(tmp, ec);
    return absl::InternalError(fmt::format("mkfs.erofs {}: {}", src_dir, r.output));
  }
  std::error_code ec;
  fs::rename(tmp, image, ec);
  if (ec) return absl::InternalError(fmt::format("rename {}: {}", image, ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<std::string> QemuRuntime::LayerImage(const std::string& layer_dir) {
  // Layer directories are content-addressed: the image is named after the directory.
  std::string name = fs::path(layer_dir).filename().string();
  std::string image = fmt::format("{}/erofs/{}.erofs", options_.cache_dir, name);
  if (fs::exists(image)) return image;
  std::error_code ec;
  fs::create_directories(options_.cache_dir + "/erofs", ec);
  RETURN_IF_ERROR(MakeErofs(layer_dir, image));
  return image;
}

absl::StatusOr<double> QemuRuntime::ProbeBoot(const std::string& accel) {
  std::string dir = options_.cache_dir + "/probe";
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::string initrd = dir + "/probe.cpio";
  if (!fs::exists(initrd)) {
    std::ofstream(initrd, std::ios::binary) << ProbeInitramfs(Slurp(options_.busybox));
  }
  std::vector<std::string> argv = {options_.qemu_binary, "-M", "microvm,x-option-roms=off"};
  if (accel == "kvm") {
    argv.insert(argv.end(), {"-accel", "kvm", "-cpu", "host"});
  } else {
    argv.insert(argv.end(), {"-accel", fmt::format("tcg,thread=single,tb-size={}", options_.tb_size_mb)});
  }
  argv.insert(argv.end(), {"-smp", "1", "-m", "128", "-nodefaults", "-no-user-config", "-display", "none",
                           "-serial", "stdio", "-no-reboot", "-kernel", kernel_.vmlinux, "-initrd", initrd,
                           "-append", KernelCommandLine(tsc_khz_)});
  auto t0 = std::chrono::steady_clock::now();
  auto timeout = accel == "kvm" ? std::min(options_.probe_timeout, std::chrono::milliseconds(20000))
                                : options_.probe_timeout;
  ASSIGN_OR_RETURN(ProcessResult r, runner_.Run(argv, timeout));
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (r.output.find("PREWARM-PROBE") == std::string::npos) {
    std::string tail = r.output.size() > 300 ? r.output.substr(r.output.size() - 300) : r.output;
    return absl::UnavailableError(fmt::format("{} probe guest did not reach its marker (exit {}): {}", accel,
                                              r.exit_code, tail));
  }
  return s;
}

absl::Status QemuRuntime::Prepare() {
  std::lock_guard<std::mutex> l(mu_);
  if (prepared_) return prepare_status_;
  prepared_ = true;
  prepare_status_ = [&]() -> absl::Status {
    if (options_.activate.empty() || !fs::exists(options_.activate)) {
      return absl::FailedPreconditionError(
          fmt::format("prewarm-guest-activate not found at '{}'", options_.activate));
    }
    ASSIGN_OR_RETURN(kernel_, EnsureGuestKernel(runner_, options_.cache_dir, options_.kernel_package));
    ASSIGN_OR_RETURN(tsc_khz_, HostTscKhz());
    if (options_.accel == "tcg" || options_.accel == "kvm") {
      accel_ = options_.accel;
      spdlog::info("qemu runtime: kernel {}, accelerator {} (configured), tsc {} kHz", kernel_.version,
                   accel_, tsc_khz_);
      return absl::OkStatus();
    }
    if (options_.accel != "auto") {
      return absl::InvalidArgumentError(fmt::format("qemu accel '{}': auto, kvm or tcg", options_.accel));
    }
    ASSIGN_OR_RETURN(double tcg, ProbeBoot("tcg"));
    accel_ = "tcg";
    int kvm_fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_fd < 0) {
      spdlog::info("qemu runtime: kernel {}, accelerator tcg: /dev/kvm cannot be opened; TCG probe boot {:.2f} s",
                   kernel_.version, tcg);
      return absl::OkStatus();
    }
    ::close(kvm_fd);
    absl::StatusOr<double> kvm = ProbeBoot("kvm");
    if (kvm.ok() && *kvm < tcg / 2) {
      accel_ = "kvm";
      spdlog::info("qemu runtime: kernel {}, accelerator kvm: probe boot {:.2f} s vs TCG {:.2f} s",
                   kernel_.version, *kvm, tcg);
    } else {
      spdlog::warn("qemu runtime: kernel {}, accelerator tcg: KVM {} (TCG probe boot {:.2f} s)", kernel_.version,
                   kvm.ok() ? fmt::format("boots in {:.2f} s, not at hardware speed", *kvm)
                            : std::string(kvm.status().message()),
                   tcg);
    }
    return absl::OkStatus();
  }();
  return prepare_status_;
}

std::vector<std::string> QemuRuntime::QemuCommand(const InstanceSpec& spec, const std::string& dir,
                                                  const std::vector<std::string>& layer_images,
                                                  const std::string& initramfs) const {
  uint64_t mem = std::max(spec.tmpl.memory_limit_bytes, options_.min_memory_bytes);
  std::vector<std::string> argv = {options_.qemu_binary, "-name", "prewarm-" + spec.id, "-M",
                                   "microvm,x-option-roms=off"};
  if (accel_ == "kvm") {
    argv.insert(argv.end(), {"-accel", "kvm", "-cpu", "host"});
  } else {
    argv.insert(argv.end(), {"-accel", fmt::format("tcg,thread=single,tb-size={}", options_.tb_size_mb)});
  }
  argv.insert(argv.end(),
              {"-smp", "1", "-m", fmt::format("{}M", (mem + (1 << 20) - 1) >> 20), "-nodefaults", "-no-user-config",
               "-display", "none", "-serial", fmt::format("file:{}/console.log", dir), "-no-reboot", "-kernel",
               kernel_.vmlinux, "-initrd", initramfs, "-append", KernelCommandLine(tsc_khz_)});
  auto disk = [&](const std::string& image, const std::string& serial) {
    std::string id = "d" + serial;
    argv.insert(argv.end(), {"-drive", fmt::format("file={},format=raw,if=none,id={},readonly=on", image, id),
                             "-device", fmt::format("virtio-blk-device,drive={},serial={}", id, serial)});
  };
  for (size_t i = 0; i < layer_images.size(); ++i) disk(layer_images[i], fmt::format("L{}", i));
  disk(dir + "/scratch.erofs", "S");
  argv.insert(argv.end(),
              {"-netdev",
               fmt::format("user,id=n0,restrict=on,hostfwd=tcp:{}:{}-:{}", spec.address.ToString(),
                           options_.forward_port, spec.port),
               "-device", "virtio-net-device,netdev=n0", "-qmp",
               fmt::format("unix:{}/qmp.sock,server=on,wait=off", dir)});
  return argv;
}

absl::StatusOr<std::unique_ptr<RuntimeInstance>> QemuRuntime::Create(const InstanceSpec& spec) {
  if (!ValidId(spec.id)) return absl::InvalidArgumentError(fmt::format("bad instance id '{}'", spec.id));
  if (!spec.address.is_v4()) return absl::InvalidArgumentError("qemu instances need an IPv4 address");
  if (spec.tmpl.layers.empty()) return absl::InvalidArgumentError(fmt::format("template {} has no layers", spec.tmpl.name));
  RETURN_IF_ERROR(Prepare());
  std::vector<std::string> images;
  for (const std::string& layer : spec.tmpl.layers) {
    ASSIGN_OR_RETURN(std::string image, LayerImage(layer));
    images.push_back(std::move(image));
  }
  GuestWorkload w;
  w.argv = spec.tmpl.command;
  w.env = spec.tmpl.env;
  w.port = spec.port;
  w.scratch_mount = spec.tmpl.scratch_mount;
  w.scratch_bytes = spec.tmpl.scratch_bytes;
  w.layers = static_cast<uint32_t>(images.size());
  w.uid = options_.uid;
  w.gid = options_.gid;
  ASSIGN_OR_RETURN(std::string initramfs,
                   EnsureInitramfs(options_.cache_dir, kernel_, w, options_.busybox, options_.activate));
  std::string dir = InstanceDir(spec.id);
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir + "/scratch", ec);
  if (ec) return absl::InternalError(fmt::format("cannot create {}: {}", dir, ec.message()));
  return std::make_unique<QemuInstance>(*this, spec, dir, std::move(images), std::move(initramfs));
}

absl::Status QemuRuntime::CleanupStale() {
  std::string root = options_.state_dir + "/instances";
  std::error_code ec;
  if (!fs::exists(root, ec)) return absl::OkStatus();
  for (const auto& e : fs::directory_iterator(root, ec)) {
    std::string pidfile = e.path().string() + "/qemu.pid";
    pid_t pid = static_cast<pid_t>(std::atoi(Slurp(pidfile).c_str()));
    if (pid <= 0) continue;
    // Only a QEMU started for this directory (pids are reused).
    std::string cmdline = Slurp(fmt::format("/proc/{}/cmdline", pid));
    if (cmdline.find(e.path().string() + "/") != std::string::npos) {
      spdlog::warn("qemu runtime: killing stale QEMU {} of {}", pid, e.path().string());
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
    }
  }
  fs::remove_all(root, ec);
  if (ec) return absl::InternalError(fmt::format("remove {}: {}", root, ec.message()));
  return absl::OkStatus();
}

}  // namespace prewarm::agent::qemu
