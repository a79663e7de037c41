#include "agent/runtime/qemu/qemu_runtime.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "agent/layers.h"
#include "agent/runtime/oci/relay.h"
#include "agent/runtime/qemu/console_watch.h"
#include "agent/runtime/qemu/qmp.h"
#include "agent/runtime/qemu/tap.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"
#include "workload/http_client.h"

extern char** environ;

namespace prewarm::agent::qemu {
namespace fs = std::filesystem;

namespace {

// A file's content, or "" when it cannot be read (logs not written yet, a gone /proc entry).
std::string Slurp(const std::string& path) { return ReadWholeFile(path).value_or(""); }

bool ValidId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

uint64_t RoundUpMiB(uint64_t b) {
  return ((std::max<uint64_t>(b, 1 << 20) + (1 << 20) - 1) >> 20) << 20;
}

std::string HexBytes(const unsigned char* p, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += fmt::format("{:02x}", p[i]);
  return out;
}

double Ms(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// The proportional set size of process `pid` (0 if unreadable): a clone's pages shared
// with its template's RAM file count by their share.
uint64_t PssBytes(pid_t pid) {
  std::istringstream rollup(Slurp(fmt::format("/proc/{}/smaps_rollup", pid)));
  for (std::string line; std::getline(rollup, line);) {
    if (line.starts_with("Pss:")) return std::strtoull(line.c_str() + 4, nullptr, 10) << 10;
  }
  return 0;
}

std::string Tail(const std::string& s, size_t n) {
  return s.size() > n ? s.substr(s.size() - n) : s;
}

// 32 bytes of the host's randomness in hex: a guest's seed.
absl::StatusOr<std::string> NewSeed() {
  unsigned char seed[32];
  if (RAND_bytes(seed, sizeof seed) != 1) return absl::InternalError("RAND_bytes failed");
  return HexBytes(seed, sizeof seed);
}

// Loads a template's device state into a QEMU started with `-incoming defer` (a clone: its
// RAM is the template's file, not in the stream) and runs the guest. Returns when the
// state was loaded, before any `cont`.
absl::StatusOr<std::chrono::steady_clock::time_point> LoadTemplateState(
    QmpClient& qmp, const TemplateSnapshot& snap) {
  // One write: the capability, the state file's descriptor, the incoming migration from it
  // and a status query.
  std::vector<QmpCommand> cmds;
  if (snap.ram.valid()) {
    cmds.push_back({"migrate-set-capabilities",
                    R"({"capabilities": [{"capability": "x-ignore-shared", "state": true}]})"});
  }
  cmds.push_back({"getfd", R"({"fdname": "state"})"});
  cmds.push_back({"migrate-incoming", R"({"uri": "fd:state"})"});
  cmds.push_back({"query-status", ""});
  absl::StatusOr<std::vector<google::protobuf::Value>> replies;
  {
    ScopedFd state(::open(snap.state_file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!state.valid()) return ErrnoStatus(errno, "open " + snap.state_file);
    replies = qmp.Pipeline(cmds, state.get());
  }
  if (!replies.ok()) return replies.status();
  const auto& sf = replies->back().struct_value().fields();
  std::string first = sf.contains("status") ? sf.at("status").string_value() : "";
  // The template's snapshot carries no run state (store-global-state=off), so QEMU starts
  // the guest itself once the state is loaded: usually no `cont` round trip.
  absl::StatusOr<std::string> status = first;
  if (first == "inmigrate") status = qmp.WaitStatusLeaves("inmigrate", std::chrono::seconds(60));
  if (!status.ok()) return status.status();
  if (*status != "paused" && *status != "running") {
    return absl::InternalError(fmt::format("status {} after the incoming migration", *status));
  }
  auto loaded = std::chrono::steady_clock::now();
  if (*status == "paused") RETURN_IF_ERROR(qmp.Execute("cont").status());
  return loaded;
}

}  // namespace

uint16_t GuestPort(const InstanceSpec& spec) {
  return spec.tmpl.app_port != 0 ? spec.tmpl.app_port : spec.port;
}

GuestWorkload GuestWorkloadOf(const InstanceSpec& spec, const QemuOptions& options) {
  GuestWorkload w;
  w.argv = spec.tmpl.command;
  w.env = spec.tmpl.env;
  w.port = GuestPort(spec);
  w.own_port = spec.tmpl.app_port != 0;
  w.cwd = spec.tmpl.cwd.empty() ? "/" : spec.tmpl.cwd;
  w.scratch_mount = spec.tmpl.scratch_mount;
  w.scratch_bytes = spec.tmpl.scratch_bytes;
  w.uid = spec.tmpl.user ? spec.tmpl.user->first : options.uid;
  w.gid = spec.tmpl.user ? spec.tmpl.user->second : options.gid;
  w.snapshot = options.snapshot == "clone" || options.snapshot == "full";
  w.tap = options.network == "tap";
  return w;
}

class QemuInstance final : public RuntimeInstance {
 public:
  QemuInstance(QemuRuntime& rt, InstanceSpec spec, std::string dir, VmLaunch launch,
               std::shared_ptr<const TemplateSnapshot> snapshot, uint32_t host_key,
               std::unique_ptr<Standby> standby)
      : rt_(rt),
        spec_(std::move(spec)),
        dir_(std::move(dir)),
        scratch_(dir_ + "/scratch"),
        launch_(std::move(launch)),
        snapshot_(std::move(snapshot)),
        host_key_(host_key),
        standby_(std::move(standby)) {
    if (standby_) pid_ = standby_->pid;  // runs already: Destroy() stops it
  }
  ~QemuInstance() override { (void)Destroy(); }

  const std::string& scratch_dir() const override { return scratch_; }

  absl::Status Start(int listen_fd) override {
    if (started_) return absl::FailedPreconditionError("already started");
    started_ = true;
    auto t_start = std::chrono::steady_clock::now();
    phases_ = StartPhases{};
    phases_.restored = snapshot_ != nullptr;
    phases_.standby = standby_ != nullptr;
    uint64_t scratch_bytes =
        snapshot_ ? snapshot_->scratch_image_bytes : RoundUpMiB(spec_.tmpl.scratch_bytes);
    if (standby_) {
      // Its QEMU holds the scratch disk's file open already: the image goes into it.
      RETURN_IF_ERROR(rt_.MakeErofs(scratch_, launch_.scratch_image, scratch_bytes));
    } else {
      RETURN_IF_ERROR(rt_.MakeErofs(scratch_, launch_.scratch_image));
      RETURN_IF_ERROR(rt_.PadImage(launch_.scratch_image, scratch_bytes));
    }
    const bool tap = rt_.options_.network == "tap";
    auto t_scratch = std::chrono::steady_clock::now();
    phases_.scratch_ms = Ms(t_start, t_scratch);
    if (!standby_) {
      ASSIGN_OR_RETURN(pid_, rt_.SpawnVm(launch_));
      std::ofstream(dir_ + "/qemu.pid") << pid_ << "\n";
    }
    auto t0 = std::chrono::steady_clock::now();
    phases_.spawn_ms = Ms(t_scratch, t0);
    phases_end_ = t0;
    if (snapshot_) {
      RETURN_IF_ERROR(Restore(t0));
    } else if (tap) {
      // A cold tap guest waits for its address like a clone. Its UART drops what arrives
      // before the guest init opens it, so send only once the init says it is waiting.
      auto deadline = std::chrono::steady_clock::now() + rt_.options_.boot_timeout;
      while (Slurp(dir_ + "/console.log").find("prewarm-guest: waiting for identity") ==
             std::string::npos) {
        if (PollExit().has_value())
          return rt_.ExitedEarly(launch_, *exit_, "before the guest asked for its identity");
        if (std::chrono::steady_clock::now() > deadline) {
          return absl::DeadlineExceededError(
              fmt::format("{}: the guest never asked for its identity; console: {}", spec_.id,
                          Tail(Slurp(dir_ + "/console.log"), 300)));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      RETURN_IF_ERROR(SendIdentity());
    }
    IpAddr addr = tap ? guest_address_ : spec_.address;
    uint16_t port = tap ? GuestPort(spec_) : rt_.options_.forward_port;
    std::string path = spec_.tmpl.probe_path;
    // With the console watched (a clone, a tap guest) the gate opens when the guest says
    // its port listens: from then on a connection waits in the guest's accept queue until
    // the workload takes it, so no probe request of its own is needed (the agent's
    // readiness probe comes through the gate like any client). Without (a cold slirp
    // guest, whose forward accepts and resets before the guest listens), an HTTP probe
    // every 20 ms. The guest's markers time the start's last phases.
    auto ready = [this, addr, port, path, t_start, console = console_]() {
      if (console) {
        if (!console->WaitFor("prewarm-guest: listening", std::chrono::milliseconds(20))) {
          // Closed before the line: QEMU is gone and the gate never opens (the agent's
          // readiness check sees the exit); do not spin meanwhile.
          if (console->closed()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
          return false;
        }
      } else {
        auto r = workload::HttpGet(addr, port, path, std::chrono::milliseconds(500));
        if (!r.ok() || r->status < 200 || r->status >= 400) return false;
      }
      auto now = std::chrono::steady_clock::now();
      StartPhases p = phases_;
      auto prev = phases_end_;
      if (console) {
        for (auto [marker, ms] : {std::pair{"prewarm-guest: root ready", &p.root_ms},
                                  std::pair{"prewarm-guest: listening", &p.listen_ms}}) {
          if (auto at = console->WaitFor(marker, std::chrono::milliseconds(0))) {
            *ms = Ms(prev, *at);
            prev = *at;
          }
        }
        console->Stop();
      }
      p.probe_ms = Ms(prev, now);
      p.total_ms = Ms(t_start, now);
      std::lock_guard<std::mutex> l(rt_.phases_mu_);
      rt_.last_phases_ = p;
      return true;
    };
    ScopedFd netns;  // slirp in the jail: its forward listens in the jail's network namespace
    if (rt_.options_.jail && !tap) {
      netns = ScopedFd(::open(fmt::format("/proc/{}/ns/net", pid_).c_str(), O_RDONLY | O_CLOEXEC));
      if (!netns.valid())
        return ErrnoStatus(errno, fmt::format("{}: the jail's network namespace", spec_.id));
    }
    oci::RelayOptions relay;
    relay.connect_timeout = std::chrono::seconds(10);
    relay.ready = ready;
    // A console-driven gate waits in ready() itself: ask again at once.
    relay.ready_interval = std::chrono::milliseconds(console_ ? 1 : 20);
    relay.kernel_splice = rt_.options_.relay_kernel_splice;
    ASSIGN_OR_RETURN(forwarder_, oci::OwnPortRelay::Start(listen_fd, HostPort{addr, port},
                                                          std::move(netns), std::move(relay)));
    serving_ = true;
    return absl::OkStatus();
  }

  std::optional<int> PollExit() override {
    if (pid_ <= 0) return std::nullopt;
    if (exit_) return exit_;
    auto r = rt_.runner_.TryWait(pid_);
    if (r.ok() && r->has_value()) exit_ = **r;
    if (!r.ok()) exit_ = -1;
    // The agent polls a serving instance often: keep its console within the output cap
    // (not while starting, when the console's markers are being read).
    if (serving_ && !exit_) {
      absl::Status trimmed = TrimFile(dir_ + "/console.log", rt_.options_.output_bytes);
      if (!trimmed.ok() && !trim_warned_) {
        trim_warned_ = true;
        spdlog::warn("qemu {}: console.log is not capped: {}", spec_.id, trimmed.message());
      }
    }
    return exit_;
  }

  absl::StatusOr<OutputTail> Output() override {
    return ReadFileTail(dir_ + "/console.log", rt_.options_.output_bytes);
  }

  // Memory is QEMU's proportional set size: a clone's pages shared with its template's
  // RAM file count by their share.
  RelayCounts Relayed() const override { return forwarder_ ? forwarder_->counts() : RelayCounts{}; }

  ResourceUsage Usage() override {
    ResourceUsage u;
    if (pid_ <= 0 || exit_) return u;
    u.memory_bytes = PssBytes(pid_);
    std::istringstream status(Slurp(fmt::format("/proc/{}/status", pid_)));
    for (std::string line; std::getline(status, line);) {
      if (line.starts_with("Threads:"))
        u.pids = static_cast<uint32_t>(std::strtoul(line.c_str() + 8, nullptr, 10));
    }
    return u;
  }

  // A clone: load the template's device state over its RAM file, continue, and give the
  // guest its seed and name.
  absl::Status Restore(std::chrono::steady_clock::time_point t0) {
    auto step = [&](absl::Status st) {
      if (st.ok()) return st;
      return absl::Status(
          st.code(), fmt::format("restore {}: {}; console: {}; qemu: {}", spec_.id, st.message(),
                                 Tail(Slurp(dir_ + "/console.log"), 300),
                                 Tail(Slurp(dir_ + "/qemu.log"), 300)));
    };
    // A QEMU (or jail) that exits on the way is noticed at once, not after the timeout.
    // A standby's QMP is connected, its state loaded and its guest running already.
    absl::StatusOr<QmpClient> qmp =
        standby_ && standby_->qmp ? absl::StatusOr<QmpClient>(std::move(*standby_->qmp))
                                  : QmpClient::Connect(dir_ + "/qmp.sock", std::chrono::seconds(30),
                                                       [this] { return PollExit().has_value(); });
    if (!qmp.ok() && exit_) return rt_.ExitedEarly(launch_, *exit_, "before QMP answered");
    if (!qmp.ok()) return step(qmp.status());
    if (standby_) console_ = std::move(standby_->console);
    auto t_qmp = std::chrono::steady_clock::now();
    auto t_loaded = t_qmp;
    if (!standby_) {
      absl::StatusOr<std::chrono::steady_clock::time_point> loaded =
          LoadTemplateState(*qmp, *snapshot_);
      if (!loaded.ok()) return step(loaded.status());
      t_loaded = *loaded;
    }
    if (standby_ && !launch_.hostfwd.empty()) {
      // A standby started without its instance's forward (HMP's hostfwd_add: QMP has no
      // command of its own for it). The gate opens once the guest listens, after this.
      auto r = qmp->Execute(
          "human-monitor-command",
          fmt::format(R"({{"command-line": "hostfwd_add n0 tcp:{}"}})", launch_.hostfwd));
      if (!r.ok()) return step(r.status());
      if (!r->string_value().empty())
        return step(absl::InternalError("hostfwd_add: " + r->string_value()));
    }
    auto t_run = std::chrono::steady_clock::now();
    RETURN_IF_ERROR(step(SendIdentity()));
    phases_.qmp_ms = Ms(t0, t_qmp);
    phases_.load_ms = Ms(t_qmp, t_loaded);
    phases_.cont_ms = Ms(t_loaded, t_run);
    spdlog::info(
        "qemu runtime: {} restored in {:.1f} ms (exec to QMP {:.1f}, state load {:.1f}, cont "
        "{:.1f}, identity handed over {:.1f})",
        spec_.id, Ms(t0, phases_end_), phases_.qmp_ms, phases_.load_ms, phases_.cont_ms,
        phases_.identity_ms);
    return absl::OkStatus();
  }

  // "go <seed> <id>" (+ "<address>/<prefix> <gateway> <mac>" on a tap) on the serial
  // port, kept open until the guest acknowledges.
  absl::Status SendIdentity() {
    ASSIGN_OR_RETURN(std::string seed, NewSeed());
    std::string line = fmt::format("go {} {}", seed, spec_.id);
    if (rt_.options_.network == "tap") {
      line += fmt::format(" {}/{} {} {}", guest_address_.ToString(), rt_.guest_network_.prefix,
                          GatewayAddress(rt_.guest_network_).ToString(), launch_.mac);
    }
    auto st = [&]() -> absl::Status {
      if (!console_) {  // a standby's is connected
        ASSIGN_OR_RETURN(console_, ConsoleWatch::Connect(dir_ + "/serial.sock"));
      }
      auto t_sent = std::chrono::steady_clock::now();
      RETURN_IF_ERROR(console_->Send(line + "\n"));
      // The serial connection stays open until the guest acknowledges: QEMU drops what
      // the guest's UART has not taken yet when the client hangs up.
      const std::string ack = "prewarm-guest: identity " + spec_.id;
      auto deadline = t_sent + std::chrono::seconds(30);
      for (;;) {
        if (auto at = console_->WaitFor(ack, std::chrono::milliseconds(20))) {
          phases_.identity_ms = Ms(t_sent, *at);
          phases_end_ = *at;
          return absl::OkStatus();
        }
        if (PollExit().has_value() || console_->closed())
          return absl::AbortedError("QEMU exited before the guest acknowledged");
        if (std::chrono::steady_clock::now() > deadline) {
          return absl::DeadlineExceededError(
              fmt::format("the guest did not acknowledge its identity ('{}')", ack));
        }
      }
    }();
    if (!st.ok() && PollExit().has_value())
      return rt_.ExitedEarly(launch_, *exit_, "before it took its identity");
    return st;
  }

  void set_guest_address(const IpAddr& a) { guest_address_ = a; }

  absl::Status Destroy() override {
    if (destroyed_) return absl::OkStatus();
    destroyed_ = true;
    forwarder_.reset();  // stops accepting, closes the relayed connections
    console_.reset();
    absl::Status st = absl::OkStatus();
    if (pid_ > 0 && !PollExit()) {
      (void)rt_.runner_.Signal(-pid_, SIGTERM);
      auto done = WaitFor(rt_.runner_, pid_, rt_.options_.stop_timeout);
      if (!done.ok() || !done->has_value()) {
        (void)rt_.runner_.Signal(-pid_, SIGKILL);
        done = WaitFor(rt_.runner_, pid_, rt_.options_.stop_timeout);
        if (!done.ok() || !done->has_value())
          st = absl::InternalError(fmt::format("qemu {} did not die", pid_));
      }
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
    if (ec && st.ok()) st = absl::InternalError(fmt::format("remove {}: {}", dir_, ec.message()));
    // Its host id and cgroup are free once its QEMU is gone.
    if (rt_.options_.jail && (st.ok() || pid_ <= 0)) rt_.ids_.Release(host_key_);
    if (rt_.cgrouped() && (st.ok() || pid_ <= 0)) {
      absl::Status removed = rt_.cgroups_.Remove(rt_.VmCgroup(launch_.name));
      if (st.ok()) st = removed;
    }
    return st;
  }

 private:
  QemuRuntime& rt_;
  InstanceSpec spec_;
  std::string dir_, scratch_;
  VmLaunch launch_;
  std::shared_ptr<const TemplateSnapshot> snapshot_;
  uint32_t host_key_ = 0;             // jail: its HostIdBlock slot
  std::unique_ptr<Standby> standby_;  // the standby VM it took, if any
  pid_t pid_ = -1;
  bool started_ = false;
  std::optional<int> exit_;
  bool destroyed_ = false;
  bool serving_ = false;  // Start() is done: console.log is trimmed to the output cap
  bool trim_warned_ = false;
  std::unique_ptr<oci::OwnPortRelay> forwarder_;  // the instance's socket -> the VM
  IpAddr guest_address_;                          // network: tap
  // While it starts: the serial console (identity out, markers in), until the gate opens.
  std::shared_ptr<ConsoleWatch> console_;
  StartPhases phases_;
  std::chrono::steady_clock::time_point phases_end_;  // the last timed step's end
};

struct VmSpawner::Job {
  SpawnOptions options;
  absl::StatusOr<pid_t> result = absl::UnknownError("not run");
  bool done = false;
};

VmSpawner::VmSpawner(ProcessRunner& runner) : runner_(runner), thread_([this] { Loop(); }) {}

VmSpawner::~VmSpawner() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

absl::StatusOr<pid_t> VmSpawner::Spawn(SpawnOptions options) {
  Job job{std::move(options)};
  job.options.kill_with_parent = true;
  std::unique_lock<std::mutex> l(mu_);
  jobs_.push_back(&job);
  cv_.notify_all();
  cv_.wait(l, [&] { return job.done; });
  return job.result;
}

void VmSpawner::Loop() {
  pthread_setname_np(pthread_self(), "qemu-spawner");
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait(l, [&] { return stop_ || !jobs_.empty(); });
    while (!jobs_.empty()) {
      Job* job = jobs_.front();
      jobs_.pop_front();
      l.unlock();
      auto r = runner_.Spawn(job->options);
      l.lock();
      job->result = std::move(r);
      job->done = true;
      cv_.notify_all();
    }
    if (stop_) return;
  }
}

QemuRuntime::QemuRuntime(QemuOptions options, ProcessRunner& runner)
    : options_(std::move(options)), runner_(runner) {}

QemuRuntime::~QemuRuntime() {
  // Standby VMs first: the thread kills them as it ends.
  {
    std::lock_guard<std::mutex> l(standby_mu_);
    standby_stop_ = true;
  }
  standby_cv_.notify_all();
  if (standby_thread_.joinable()) standby_thread_.join();
  // The node's cgroup, if no VM's group is left in it.
  if (cgrouped()) {
    for (const std::string& dir : cgroups_.JoinDirs(NodeCgroup())) ::rmdir(dir.c_str());
  }
  // Template RAM files live on tmpfs: they go with the runtime (clones are gone by now).
  if (snapshots_.empty()) return;
  std::error_code ec;
  fs::remove_all(RamRoot(), ec);
}

StartPhases QemuRuntime::LastStartPhases() const {
  std::lock_guard<std::mutex> l(phases_mu_);
  return last_phases_;
}

std::string QemuRuntime::InstanceDir(const std::string& id) const {
  return options_.state_dir + "/instances/" + id;
}

absl::Status SealRamFile(int fd, int attempts) {
  constexpr int kSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL;
  for (int attempt = 1;; ++attempt) {
    if (::fcntl(fd, F_ADD_SEALS, kSeals) == 0) {
      if (attempt > 1) spdlog::info("qemu runtime: RAM file sealed at attempt {}", attempt);
      return absl::OkStatus();
    }
    const int err = errno;
    if (err != EBUSY || attempt >= attempts) {
      return absl::UnavailableError(fmt::format("sealing the RAM file: {} (attempt {} of {})",
                                                std::strerror(err), attempt, attempts));
    }
    // mlock drains every CPU's LRU batches (lru_add_drain_all), which hold a reference
    // on recently touched pages; the kernel's own wait drains only its CPU's.
    alignas(4096) static char page[4096];
    if (::mlock(page, 1) == 0) ::munlock(page, 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(10 * attempt));
  }
}

absl::Status QemuRuntime::MakeErofs(const std::string& src_dir, const std::string& image,
                                    uint64_t in_place_bytes) {
  // In place: mkfs.erofs truncates and writes the file it is given (the same inode,
  // which QEMU holds), then it is padded back to its size.
  std::string tmp = in_place_bytes > 0 ? image : fmt::format("{}.tmp.{}", image, ::getpid());
  ASSIGN_OR_RETURN(ProcessResult r, runner_.Run({"mkfs.erofs", "--quiet", "-T0", tmp, src_dir},
                                                std::chrono::minutes(5)));
  if (r.exit_code != 0) {
    std::error_code ec;
    if (in_place_bytes == 0) fs::remove(tmp, ec);
    return absl::InternalError(fmt::format("mkfs.erofs {}: {}", src_dir, r.output));
  }
  std::error_code ec;
  if (in_place_bytes > 0) return PadImage(image, in_place_bytes);
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
    argv.insert(argv.end(),
                {"-accel", fmt::format("tcg,thread=single,tb-size={}", options_.tb_size_mb)});
  }
  if (options_.jail) argv.insert(argv.end(), {"-sandbox", kQemuSandbox});
  argv.insert(argv.end(), {"-smp", "1", "-m", "128", "-nodefaults", "-no-user-config", "-display",
                           "none", "-serial", "stdio", "-no-reboot", "-kernel", kernel_.vmlinux,
                           "-initrd", initrd, "-append", KernelCommandLine(tsc_khz_)});
  auto t0 = std::chrono::steady_clock::now();
  auto timeout = accel == "kvm" ? std::min(options_.probe_timeout, std::chrono::milliseconds(20000))
                                : options_.probe_timeout;
  ProcessResult r;
  if (!options_.jail) {
    ASSIGN_OR_RETURN(r, runner_.Run(argv, timeout));
  } else {
    // The same jail and cgroup as every other QEMU, as the template VMs' user: the probe
    // guest's console (stdio) goes to qemu.log in a directory of its own.
    VmLaunch l;
    l.name = "probe-" + accel;
    l.dir = options_.state_dir + "/" + l.name;
    l.initramfs = initrd;
    l.memory_bytes = 128ull << 20;
    l.accel = accel;
    ASSIGN_OR_RETURN(l.host_id, TemplateHostId());
    fs::remove_all(l.dir, ec);
    fs::create_directories(l.dir, ec);
    if (ec) return absl::InternalError(fmt::format("mkdir {}: {}", l.dir, ec.message()));
    SpawnOptions so;
    so.argv = argv;
    so.log_path = l.dir + "/qemu.log";
    absl::StatusOr<pid_t> pid = SpawnQemu(l, std::move(so));
    absl::StatusOr<std::optional<int>> code = absl::UnknownError("not started");
    if (pid.ok()) {
      code = WaitFor(runner_, *pid, timeout);
      if (!code.ok() || !code->has_value()) {
        (void)runner_.Signal(-*pid, SIGKILL);
        (void)WaitFor(runner_, *pid, options_.stop_timeout);
      }
      if (cgrouped()) (void)cgroups_.Remove(VmCgroup(l.name));
    }
    r.output = Slurp(l.dir + "/qemu.log");
    absl::Status st =
        !pid.ok()    ? pid.status()
        : !code.ok() ? code.status()
        : !code->has_value()
            ? absl::DeadlineExceededError(fmt::format("{} probe guest: no exit in {} ms: {}", accel,
                                                      timeout.count(), Tail(r.output, 300)))
        : r.output.find("PREWARM-PROBE") == std::string::npos
            ? ExitedEarly(l, **code, "before the probe guest's marker")
            : absl::OkStatus();
    fs::remove_all(l.dir, ec);
    if (!st.ok()) return st;
    r.exit_code = **code;
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (r.output.find("PREWARM-PROBE") == std::string::npos) {
    return absl::UnavailableError(
        fmt::format("{} probe guest did not reach its marker (exit {}): {}", accel, r.exit_code,
                    Tail(r.output, 300)));
  }
  return s;
}

absl::Status QemuRuntime::Prepare() {
  std::lock_guard<std::mutex> l(mu_);
  if (prepared_) return prepare_status_;
  prepared_ = true;
  if (options_.network == "tap") {
    auto net = Cidr::Parse(options_.guest_network);
    if (!net.ok()) return prepare_status_ = net.status();
    guest_network_ = *net;
    prepare_status_ = EnsureBridge(runner_, options_.bridge, guest_network_);
    if (!prepare_status_.ok()) return prepare_status_;
    spdlog::info("qemu runtime: tap networking on bridge {} ({}), isolated with nftables",
                 options_.bridge, guest_network_.ToString());
  } else if (options_.network != "slirp") {
    return prepare_status_ = absl::InvalidArgumentError(
               fmt::format("qemu network '{}': expected slirp or tap", options_.network));
  }
  prepare_status_ = [&]() -> absl::Status {
    if (options_.snapshot != "clone" && options_.snapshot != "full" &&
        options_.snapshot != "none") {
      return absl::InvalidArgumentError(
          fmt::format("qemu snapshot '{}': clone, full or none", options_.snapshot));
    }
    if (options_.tb_size_mb == 0 || options_.restore_tb_size_mb == 0) {
      return absl::InvalidArgumentError(
          fmt::format("qemu translation buffer sizes {} / {} MiB (boot / restore): at least 1",
                      options_.tb_size_mb, options_.restore_tb_size_mb));
    }
    if (!options_.capstone && !options_.capstone_off_lib.empty() &&
        (options_.capstone_off_lib[0] != '/' || !fs::exists(options_.capstone_off_lib))) {
      return absl::FailedPreconditionError(fmt::format(
          "QEMU's capstone replacement not found at '{}' (an absolute path; or runtime.capstone: "
          "true)",
          options_.capstone_off_lib));
    }
    if (options_.jail && (options_.jailer.empty() || !fs::exists(options_.jailer))) {
      return absl::FailedPreconditionError(
          fmt::format("prewarm-qemu-jail not found at '{}'", options_.jailer));
    }
    if (options_.jail) {
      auto base = ids_.Base();
      if (!base.ok())
        return absl::Status(base.status().code(),
                            fmt::format("qemu jail: {}", base.status().message()));
    }
    if (options_.activate.empty() || !fs::exists(options_.activate)) {
      return absl::FailedPreconditionError(
          fmt::format("prewarm-guest-activate not found at '{}'", options_.activate));
    }
    ASSIGN_OR_RETURN(kernel_,
                     EnsureGuestKernel(runner_, options_.cache_dir, options_.kernel_package));
    ASSIGN_OR_RETURN(tsc_khz_, HostTscKhz());
    if (options_.accel == "tcg" || options_.accel == "kvm") {
      accel_ = options_.accel;
      spdlog::info("qemu runtime: kernel {}, accelerator {} (configured), tsc {} kHz",
                   kernel_.version, accel_, tsc_khz_);
      return absl::OkStatus();
    }
    if (options_.accel != "auto") {
      return absl::InvalidArgumentError(
          fmt::format("qemu accel '{}': auto, kvm or tcg", options_.accel));
    }
    ASSIGN_OR_RETURN(double tcg, ProbeBoot("tcg"));
    accel_ = "tcg";
    int kvm_fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_fd < 0) {
      spdlog::info(
          "qemu runtime: kernel {}, accelerator tcg: /dev/kvm cannot be opened; TCG probe boot "
          "{:.2f} s",
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
      spdlog::warn("qemu runtime: kernel {}, accelerator tcg: KVM {} (TCG probe boot {:.2f} s)",
                   kernel_.version,
                   kvm.ok() ? fmt::format("boots in {:.2f} s, not at hardware speed", *kvm)
                            : std::string(kvm.status().message()),
                   tcg);
    }
    return absl::OkStatus();
  }();
  return prepare_status_;
}

uint64_t QemuRuntime::GuestMemory(const TemplateSpec& tmpl) const {
  // An installing guest's root upper is a tmpfs: its RAM comes on top.
  uint64_t root = tmpl.install_dir.empty() ? 0 : InstallRootBytes(tmpl);
  return RoundUpMiB(std::max(tmpl.memory_limit_bytes, options_.min_memory_bytes) + root);
}

uint32_t QemuRuntime::GuestVcpus(const TemplateSpec& tmpl) const {
  return static_cast<uint32_t>(std::clamp(std::ceil(tmpl.cpus), 1.0, 64.0));
}

std::string QemuRuntime::RamRoot() const {
  return fmt::format("{}/{}", options_.ram_dir, fs::path(options_.state_dir).filename().string());
}

std::vector<std::string> QemuRuntime::QemuEnvironment() const {
  std::vector<std::string> env;
  std::string preload;  // the agent's own LD_PRELOAD, kept after prewarm's library
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view v(*e);
    if (v.starts_with("LD_PRELOAD=")) {
      preload = v.substr(std::string_view("LD_PRELOAD=").size());
      continue;
    }
    // The agent's own settings of what the options set.
    if (v.starts_with("G_SLICE=") ||
        (options_.malloc_arena_max > 0 && v.starts_with("MALLOC_ARENA_MAX=")) ||
        (options_.malloc_trim_threshold_kb > 0 && v.starts_with("MALLOC_TRIM_THRESHOLD_="))) {
      continue;
    }
    env.emplace_back(v);
  }
  if (!options_.glib_slices) env.emplace_back("G_SLICE=always-malloc");
  if (!options_.capstone && !options_.capstone_off_lib.empty()) {
    preload =
        preload.empty() ? options_.capstone_off_lib : options_.capstone_off_lib + ":" + preload;
  }
  if (!preload.empty()) env.push_back("LD_PRELOAD=" + preload);
  if (options_.malloc_arena_max > 0) {
    env.push_back(fmt::format("MALLOC_ARENA_MAX={}", options_.malloc_arena_max));
  }
  if (options_.malloc_trim_threshold_kb > 0) {
    env.push_back(fmt::format("MALLOC_TRIM_THRESHOLD_={}",
                              uint64_t{options_.malloc_trim_threshold_kb} << 10));
  }
  return env;
}

std::vector<std::string> QemuRuntime::QemuCommand(const VmLaunch& l) const {
  std::string machine = "microvm,x-option-roms=off";
  // Its virtio devices: the disks and the NIC.
  size_t virtio = l.layer_images.size() + 2 + (l.install_image.empty() ? 0 : 1);
  if (!options_.ioapic2 && virtio <= kOneIoapicTransports) machine += ",ioapic2=off";
  if (l.ram_fd >= 0) machine += ",memory-backend=ram0";
  std::vector<std::string> argv = {options_.qemu_binary, "-name", "prewarm-" + l.name, "-M",
                                   machine};
  if (accel_ == "kvm") {
    argv.insert(argv.end(), {"-accel", "kvm", "-cpu", "host"});
  } else {
    argv.insert(argv.end(), {"-accel", fmt::format("tcg,thread=single,tb-size={}", TbSizeMb(l))});
  }
  std::string mib = fmt::format("{}M", l.memory_bytes >> 20);
  argv.insert(argv.end(), {"-smp", std::to_string(std::max<uint32_t>(l.vcpus, 1)), "-m", mib});
  if (l.ram_fd >= 0) {
    argv.insert(
        argv.end(),
        {"-object",
         fmt::format("memory-backend-file,id=ram0,size={},mem-path=/proc/self/fd/{},share={}", mib,
                     kRamChildFd, l.ram_shared ? "on" : "off")});
  }
  if (options_.jail) argv.insert(argv.end(), {"-sandbox", kQemuSandbox});
  // Its block-I/O workers are threads its cgroup's pids.max must leave room for.
  argv.insert(argv.end(), {"-object", fmt::format("main-loop,id=main-loop,thread-pool-max={}",
                                                  kQemuWorkerThreads)});
  argv.insert(
      argv.end(),
      {"-nodefaults", "-no-user-config", "-display", "none", "-chardev",
       fmt::format("socket,id=ser0,path={}/serial.sock,server=on,wait=off,logfile={}/console.log",
                   l.dir, l.dir),
       "-serial", "chardev:ser0", "-no-reboot"});
  if (BootsKernel(l)) {
    argv.insert(argv.end(), {"-kernel", kernel_.vmlinux, "-initrd", l.initramfs, "-append",
                             KernelCommandLine(tsc_khz_)});
  }
  auto disk = [&](const std::string& image, const std::string& serial) {
    std::string id = "d" + serial;
    argv.insert(argv.end(),
                {"-drive", fmt::format("file={},format=raw,if=none,id={},readonly=on", image, id),
                 "-device", fmt::format("virtio-blk-device,drive={},serial={}", id, serial)});
  };
  for (size_t i = 0; i < l.layer_images.size(); ++i) disk(l.layer_images[i], fmt::format("L{}", i));
  disk(l.scratch_image, "S");
  if (!l.install_image.empty()) disk(l.install_image, "I");
  std::string net = "user,id=n0,restrict=on";
  if (!l.hostfwd.empty()) net += ",hostfwd=tcp:" + l.hostfwd;
  if (l.tap_fd >= 0) net = "tap,id=n0,fd=3,vhost=off";
  std::string nic = "virtio-net-device,netdev=n0";
  if (!l.mac.empty()) nic += ",mac=" + l.mac;
  argv.insert(argv.end(), {"-netdev", net, "-device", nic, "-qmp",
                           fmt::format("unix:{}/qmp.sock,server=on,wait=off", l.dir)});
  // A snapshot without the source's run state (stopped): its restores start the guest as
  // soon as the state is loaded, without a `cont`.
  argv.insert(argv.end(), {"-global", "migration.store-global-state=off"});
  if (l.incoming) argv.insert(argv.end(), {"-incoming", "defer"});
  return argv;
}

absl::StatusOr<pid_t> QemuRuntime::SpawnVm(VmLaunch l, bool idle_priority) {
  SpawnOptions so;
  so.idle_priority = idle_priority;
  ScopedFd tap_fd;  // QEMU gets its own copy; ours closes here, so the tap goes with QEMU
  if (options_.network == "tap") {
    // pw + 12 hex digits of the VM's directory: unique on the node, < IFNAMSIZ.
    ASSIGN_OR_RETURN(tap_fd,
                     OpenTap(runner_, "pw" + Sha256OfString(l.dir).substr(0, 12), options_.bridge));
    l.tap_fd = tap_fd.get();
    so.fds = {{3, tap_fd.get()}};
  }
  if (l.ram_fd >= 0) so.fds[kRamChildFd] = l.ram_fd;
  so.argv = QemuCommand(l);
  so.log_path = l.dir + "/qemu.log";
  return SpawnQemu(l, std::move(so));
}

absl::StatusOr<pid_t> QemuRuntime::SpawnQemu(const VmLaunch& l, SpawnOptions so) {
  std::string cgroup = VmCgroup(l.name);
  if (options_.jail) {
    if (l.host_id == 0)
      return absl::InternalError(fmt::format("{}: no host id for the jail", l.name));
    // QEMU's own directory: its sockets and console log, writable by it alone.
    std::error_code ec;
    fs::create_directories(l.dir + "/jail", ec);
    if (ec) return absl::InternalError(fmt::format("mkdir {}/jail: {}", l.dir, ec.message()));
    if (::chown(l.dir.c_str(), l.host_id, l.host_id) != 0 || ::chmod(l.dir.c_str(), 0700) != 0) {
      return ErrnoStatus(errno, "chown " + l.dir);
    }
    // Its cgroup, limited before anything of it runs (the jailer joins it first).
    absl::Status st = cgrouped() ? cgroups_.Create(cgroup, VmLimits(l)) : absl::OkStatus();
    if (!st.ok()) {
      (void)cgroups_.Remove(cgroup);
      return absl::Status(st.code(), fmt::format("cgroup of qemu {}: {}", l.name, st.message()));
    }
    std::vector<std::string> jail = JailCommand(l);
    so.argv.insert(so.argv.begin(), jail.begin(), jail.end());
    so.namespaces = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET;
  }
  so.new_process_group = true;
  if (!so.env) so.env = QemuEnvironment();
  absl::StatusOr<pid_t> pid = spawner_.Spawn(so);
  if (!pid.ok() && options_.jail) {
    if (cgrouped()) (void)cgroups_.Remove(cgroup);
    return absl::Status(
        pid.status().code(),
        fmt::format("qemu jail for {}: {} (the jail needs root: new namespaces, mounts, "
                    "other uids; or set runtime.jail: false)",
                    l.name, pid.status().message()));
  }
  if (pid.ok() && cgrouped()) {
    if (absl::Status st = CheckVmCgroup(l, *pid); !st.ok()) {
      (void)runner_.Signal(-*pid, SIGKILL);
      (void)WaitFor(runner_, *pid, options_.stop_timeout);
      (void)cgroups_.Remove(cgroup);
      return st;
    }
  }
  return pid;
}

absl::Status QemuRuntime::CheckVmCgroup(const VmLaunch& l, pid_t pid) {
  std::string cgroup = VmCgroup(l.name);
  auto deadline = std::chrono::steady_clock::now() + options_.stop_timeout;
  for (;;) {
    // The jailer's first step: QEMU (the same process, after exec) is in it from then on.
    absl::Status member = cgroups_.CheckMember(cgroup, pid);
    if (member.ok()) break;
    auto exited = runner_.TryWait(pid);
    if (exited.ok() && exited->has_value())
      return ExitedEarly(l, **exited, "before its cgroup was checked");
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::FailedPreconditionError(
          fmt::format("qemu {}: not in its cgroup: {}", l.name, member.message()));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  if (absl::Status st = cgroups_.CheckLimits(cgroup, VmLimits(l)); !st.ok())
    return absl::FailedPreconditionError(
        fmt::format("qemu {}: cgroup limits not applied: {}", l.name, st.message()));
  return absl::OkStatus();
}

absl::Status QemuRuntime::ExitedEarly(const VmLaunch& l, int code, std::string_view during) const {
  std::string log = Slurp(l.dir + "/qemu.log");
  // The jailer's own words (prewarm-qemu-jail: <step>: <reason>), else QEMU's last ones.
  size_t jail = log.rfind("prewarm-qemu-jail: ");
  std::string words = jail != std::string::npos ? log.substr(jail) : Tail(log, 400);
  while (!words.empty() && (words.back() == '\n' || words.back() == ' ')) words.pop_back();
  return absl::UnavailableError(fmt::format("qemu {}: {} exited with {} {}: {}", l.name,
                                            jail != std::string::npos ? "its jail" : "QEMU", code,
                                            during, words.empty() ? "(no output)" : words));
}

std::string QemuRuntime::NodeCgroup() const {
  return fmt::format("{}/qemu-{}", options_.cgroup_parent,
                     fs::path(options_.state_dir).filename().string());
}

std::string QemuRuntime::VmCgroup(const std::string& name) const {
  return fmt::format("{}/{}", NodeCgroup(), name);
}

CgroupLimits QemuRuntime::VmLimits(const VmLaunch& l) const {
  uint32_t vcpus = std::max<uint32_t>(l.vcpus, 1);
  CgroupLimits c;
  const std::string& accel = l.accel.empty() ? accel_ : l.accel;
  c.memory_bytes = l.memory_bytes + l.state_bytes + kQemuOverheadBytes +
                   (accel == "kvm" ? 0 : uint64_t{TbSizeMb(l)} << 20);
  c.pids = vcpus + kQemuWorkerThreads + kQemuOtherThreads;
  // Its vCPU threads, and one core more for its own (main loop, I/O workers), which run
  // beside them: a quota of the vCPUs alone throttled clone restores (bench/instance_start).
  c.cpu_cores = vcpus + 1;
  c.cpu_weight = static_cast<uint32_t>(std::lround(std::max(l.cpus, 0.01) * 100));
  return c;
}

uint32_t QemuRuntime::TbSizeMb(const VmLaunch& l) const {
  return l.incoming ? options_.restore_tb_size_mb : options_.tb_size_mb;
}

bool QemuRuntime::BootsKernel(const VmLaunch& l) const {
  return !l.incoming || options_.restore_kernel;
}

std::vector<std::string> QemuRuntime::JailCommand(const VmLaunch& l) const {
  std::string id = std::to_string(l.host_id);
  std::vector<std::string> argv = {options_.jailer, "--root", l.dir + "/jail", "--uid", id,
                                   "--gid",         id};
  if (options_.cgroup) {
    for (const std::string& dir : cgroups_.JoinDirs(VmCgroup(l.name))) {
      argv.insert(argv.end(), {"--cgroup", dir});
    }
  }
  auto ro = [&](const std::string& path) { argv.insert(argv.end(), {"--ro", path}); };
  std::error_code ec;
  // QEMU, its libraries (/lib, /lib64: symlinks into /usr on Debian) and firmware.
  ro("/usr");
  for (const char* p : {"/lib", "/lib64", "/etc/ld.so.cache"}) {
    if (fs::exists(fs::symlink_status(p, ec))) ro(p);
  }
  std::string qemu = options_.qemu_binary;
  if (qemu.find('/') != std::string::npos && qemu.rfind("/usr/", 0) != 0) ro(qemu);
  const std::string& cs = options_.capstone_off_lib;
  if (!options_.capstone && !cs.empty() && cs.rfind("/usr/", 0) != 0) ro(cs);  // LD_PRELOAD
  if (BootsKernel(l)) {
    ro(kernel_.vmlinux);
    ro(l.initramfs);
  }
  for (const std::string& image : l.layer_images) ro(image);
  if (!l.install_image.empty()) ro(l.install_image);
  argv.insert(argv.end(), {"--rw", l.dir});  // holds the scratch image too
  for (const char* dev : {"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"}) {
    argv.insert(argv.end(), {"--dev", dev});
  }
  if ((l.accel.empty() ? accel_ : l.accel) == "kvm") {
    argv.insert(argv.end(), {"--dev", "/dev/kvm"});
    struct stat st {};
    if (::stat("/dev/kvm", &st) == 0 && st.st_gid != 0)
      argv.insert(argv.end(), {"--groups", std::to_string(st.st_gid)});
  }
  if (l.tap_fd < 0) argv.push_back("--lo");  // slirp's host forward listens on the jail's loopback
  if (!options_.thp) argv.push_back("--no-thp");
  argv.push_back("--");
  return argv;
}

absl::StatusOr<uint32_t> QemuRuntime::InstanceHostId(uint32_t slot) {
  ASSIGN_OR_RETURN(uint32_t base, ids_.Base());
  if (slot >= oci::kMaxUsernsSlots) {
    return absl::OutOfRangeError(
        fmt::format("slot {} is past {} (qemu jail)", slot, oci::kMaxUsernsSlots));
  }
  return base + slot * oci::kIdsPerInstance;
}

absl::StatusOr<uint32_t> QemuRuntime::TemplateHostId() {
  ASSIGN_OR_RETURN(uint32_t base, ids_.Base());
  return base + 1;
}

absl::Status QemuRuntime::PadImage(const std::string& image, uint64_t bytes) {
  std::error_code ec;
  uint64_t size = fs::file_size(image, ec);
  if (ec) return absl::InternalError(fmt::format("{}: {}", image, ec.message()));
  if (size > bytes) {
    return absl::ResourceExhaustedError(fmt::format(
        "preloaded content needs {} KiB, more than the template's scratch size of {} KiB",
        size >> 10, bytes >> 10));
  }
  fs::resize_file(image, bytes, ec);
  if (ec) return absl::InternalError(fmt::format("resize {}: {}", image, ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const TemplateSnapshot>> QemuRuntime::EnsureSnapshot(
    const VmLaunch& launch, uint64_t scratch_bytes) {
  // Everything that shapes the guest's RAM and devices, nothing per instance.
  std::string key_text = fmt::format("{}|{}|{}|{}|{}", launch.initramfs, launch.memory_bytes,
                                     scratch_bytes, accel_, kernel_.vmlinux);
  key_text += fmt::format("|{}|{}|{}", options_.snapshot, launch.install_image, launch.vcpus);
  for (const std::string& l : launch.layer_images) key_text += "|" + l;
  std::string key = Sha256OfString(key_text).substr(0, 16);
  std::lock_guard<std::mutex> l(snap_mu_);
  if (auto it = snapshots_.find(key); it != snapshots_.end()) return it->second;

  auto snap = std::make_shared<TemplateSnapshot>();
  std::string dir = fmt::format("{}/{}", RamRoot(), key);
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir + "/empty", ec);
  if (ec) return absl::InternalError(fmt::format("cannot create {}: {}", dir, ec.message()));
  VmLaunch t = launch;
  t.name = "template-" + key;
  t.dir = dir;
  t.scratch_image = dir + "/scratch.erofs";
  const bool clone = options_.snapshot == "clone";
  if (clone) {  // full: RAM goes into the state file
    snap->ram =
        ScopedFd(::memfd_create(("prewarm-ram-" + key).c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!snap->ram.valid()) return ErrnoStatus(errno, "memfd_create (template RAM)");
  }
  t.ram_fd = clone ? snap->ram.get() : -1;
  t.ram_shared = clone;
  // full: QEMU writes its RAM into the state file, on ram_dir's tmpfs, charged to its group.
  t.state_bytes = clone ? 0 : t.memory_bytes;
  if (options_.jail) {
    ASSIGN_OR_RETURN(t.host_id, TemplateHostId());
  }
  t.hostfwd = "";
  t.incoming = false;
  RETURN_IF_ERROR(MakeErofs(dir + "/empty", t.scratch_image));
  RETURN_IF_ERROR(PadImage(t.scratch_image, scratch_bytes));
  // On a tap network the template VM gets a tap of its own, which it never configures:
  // QEMU migrates slirp's state, so a slirp template cannot be restored over a tap.
  auto t0 = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(pid_t pid, SpawnVm(t));
  auto kill = [&]() {
    (void)runner_.Signal(-pid, SIGKILL);
    (void)WaitFor(runner_, pid, options_.stop_timeout);
    if (cgrouped()) (void)cgroups_.Remove(VmCgroup(t.name));
  };
  auto fail = [&](const std::string& why) {
    kill();
    return absl::UnavailableError(fmt::format("template snapshot {}: {}; console: {}; qemu: {}",
                                              key, why, Tail(Slurp(dir + "/console.log"), 400),
                                              Tail(Slurp(dir + "/qemu.log"), 300)));
  };
  for (;;) {
    if (Slurp(dir + "/console.log").find("prewarm-guest: waiting for identity") !=
        std::string::npos)
      break;
    auto exited = runner_.TryWait(pid);
    if (exited.ok() && exited->has_value()) {
      absl::Status why = ExitedEarly(t, **exited, "during boot");
      if (cgrouped()) (void)cgroups_.Remove(VmCgroup(t.name));
      return absl::UnavailableError(fmt::format("template snapshot {}: {}; console: {}", key,
                                                why.message(),
                                                Tail(Slurp(dir + "/console.log"), 400)));
    }
    if (!exited.ok()) return fail("the template VM exited during boot");
    if (std::chrono::steady_clock::now() - t0 > options_.boot_timeout)
      return fail("no snapshot point in time");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  snap->boot_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto t1 = std::chrono::steady_clock::now();
  auto qmp = QmpClient::Connect(dir + "/qmp.sock", std::chrono::seconds(10));
  if (!qmp.ok()) return fail(std::string(qmp.status().message()));
  snap->state_file = dir + "/state";
  {
    // QEMU writes the state to a descriptor of ours: no path, no `cat` (its sandbox
    // forbids spawning one).
    ScopedFd state(
        ::open(snap->state_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!state.valid())
      return fail(fmt::format("create {}: {}", snap->state_file, std::strerror(errno)));
    if (auto st = qmp->SendFd("state", state.get()); !st.ok())
      return fail(std::string(st.message()));
  }
  for (auto [cmd, args] : std::vector<std::pair<std::string, std::string>>{
           {"migrate-set-capabilities",
            fmt::format(R"({{"capabilities": [{{"capability": "x-ignore-shared", "state": {}}}]}})",
                        clone)},
           {"migrate-set-parameters", R"({"max-bandwidth": 8589934592})"},
           {"stop", ""},
           {"migrate", R"({"uri": "fd:state"})"}}) {
    auto r = qmp->Execute(cmd, args);
    if (!r.ok()) return fail(std::string(r.status().message()));
  }
  for (;;) {
    auto r = qmp->Execute("query-migrate");
    if (!r.ok()) return fail(std::string(r.status().message()));
    const auto& f = r->struct_value().fields();
    std::string st = f.contains("status") ? f.at("status").string_value() : "";
    if (st == "completed") break;
    if (st == "failed" || st == "cancelled") return fail("migration " + st);
    if (std::chrono::steady_clock::now() - t1 > std::chrono::seconds(60))
      return fail("migration did not complete");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  // Never continue a template: clones map its RAM file, which must not change.
  (void)qmp->Execute("quit");
  auto done = WaitFor(runner_, pid, options_.stop_timeout);
  if (!done.ok() || !done->has_value()) {
    kill();
  } else if (cgrouped()) {
    // Its RAM file's pages stay charged to the (removed) group until the file goes.
    if (absl::Status st = cgroups_.Remove(VmCgroup(t.name)); !st.ok())
      spdlog::warn("qemu runtime: template {}: {}", key, st.message());
  }
  snap->save_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  if (clone) {
    // Nothing maps it writable now: from here on it cannot change, grow or shrink, so a
    // clone (which needs it open read-write for its private mapping) cannot alter what
    // the other clones map.
    if (absl::Status st = SealRamFile(snap->ram.get()); !st.ok()) {
      return fail(std::string(st.message()));
    }
  }
  snap->memory_bytes = launch.memory_bytes;
  snap->scratch_image_bytes = scratch_bytes;
  spdlog::info(
      "qemu runtime: template {} snapshotted: boot to snapshot point {:.2f} s, save {:.3f} s, "
      "state {} KiB",
      key, snap->boot_s, snap->save_s, fs::file_size(snap->state_file, ec) >> 10);
  snapshots_[key] = snap;
  return std::shared_ptr<const TemplateSnapshot>(snap);
}

absl::StatusOr<std::unique_ptr<RuntimeInstance>> QemuRuntime::Create(const InstanceSpec& spec) {
  if (!ValidId(spec.id))
    return absl::InvalidArgumentError(fmt::format("bad instance id '{}'", spec.id));
  if (!spec.address.is_v4())
    return absl::InvalidArgumentError("qemu instances need an IPv4 address");
  if (spec.tmpl.layers.empty())
    return absl::InvalidArgumentError(fmt::format("template {} has no layers", spec.tmpl.name));
  RETURN_IF_ERROR(Prepare());
  VmLaunch l;
  l.name = spec.id;
  if (spec.tmpl.layers.size() <= kMaxLayerDisks) {
    for (const std::string& layer : spec.tmpl.layers) {
      ASSIGN_OR_RETURN(std::string image, LayerImage(layer));
      l.layer_images.push_back(std::move(image));
    }
  } else {
    ASSIGN_OR_RETURN(std::string merged,
                     BuildMergedLayer(runner_, options_.cache_dir, spec.tmpl.layers));
    ASSIGN_OR_RETURN(std::string image, LayerImage(merged));
    l.layer_images.push_back(std::move(image));
  }
  if (!spec.tmpl.install_dir.empty()) {
    ASSIGN_OR_RETURN(l.install_image, LayerImage(spec.tmpl.install_dir));
  }
  GuestWorkload w = GuestWorkloadOf(spec, options_);
  w.install = !l.install_image.empty();
  if (w.install) w.root_bytes = InstallRootBytes(spec.tmpl);
  w.layers = static_cast<uint32_t>(l.layer_images.size());
  std::string wkey =
      fmt::format("{}|{}|{}|{}|{}|{}|{}|{}", w.port, w.scratch_mount, w.scratch_bytes, w.layers,
                  w.snapshot, w.uid, w.install, w.root_bytes);
  wkey += fmt::format("|{}|{}|{}", w.gid, w.own_port, w.cwd);
  wkey += w.tap ? "|tap" : "|slirp";
  for (const std::string& a : w.argv) wkey += "|a" + a;
  for (const auto& [k, v] : w.env) wkey += "|e" + k + "=" + v;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = initramfs_.find(wkey); it != initramfs_.end() && fs::exists(it->second))
      l.initramfs = it->second;
  }
  if (l.initramfs.empty()) {
    ASSIGN_OR_RETURN(l.initramfs, EnsureInitramfs(options_.cache_dir, kernel_, w, options_.busybox,
                                                  options_.activate));
    std::lock_guard<std::mutex> lock(mu_);
    initramfs_[wkey] = l.initramfs;
  }
  l.memory_bytes = GuestMemory(spec.tmpl);
  l.vcpus = GuestVcpus(spec.tmpl);
  l.cpus = spec.tmpl.cpus;
  std::shared_ptr<const TemplateSnapshot> snap;
  if (w.snapshot) {
    ASSIGN_OR_RETURN(snap, EnsureSnapshot(l, RoundUpMiB(spec.tmpl.scratch_bytes)));
    l.ram_fd = snap->ram.valid() ? snap->ram.get() : -1;
    l.ram_shared = false;
    l.incoming = true;
  }
  IpAddr guest_address;
  if (options_.network == "tap") {
    ASSIGN_OR_RETURN(guest_address, GuestAddress(guest_network_, spec.address));
    l.mac = GuestMac(guest_address);
  } else {
    l.hostfwd = fmt::format("{}:{}-:{}", spec.address.ToString(), options_.forward_port, w.port);
  }
  std::unique_ptr<Standby> standby;
  if (snap && StandbyEligible()) standby = TakeStandby(l, snap);
  if (standby) {
    // Its QEMU runs already, as its own name, in its own directory and cgroup: the cgroup
    // takes the instance's name (as a directly started clone's has).
    std::string hostfwd = l.hostfwd;
    l = standby->launch;
    l.hostfwd = hostfwd;
    std::error_code ec;
    fs::create_directories(l.dir + "/scratch", ec);
    if (ec) {
      DropStandby(std::move(standby));
      return absl::InternalError(fmt::format("cannot create {}/scratch: {}", l.dir, ec.message()));
    }
    if (cgrouped()) {
      if (absl::Status st = cgroups_.Rename(VmCgroup(l.name), VmCgroup(spec.id)); st.ok()) {
        l.name = spec.id;
      } else {
        spdlog::warn("qemu runtime: {} keeps its standby's cgroup {}: {}", spec.id,
                     VmCgroup(l.name), st.message());
      }
    } else {
      l.name = spec.id;
    }
    uint32_t key = standby->host_key;
    std::string dir = l.dir;
    // From here the instance stops its QEMU and releases its host id (Destroy()).
    return std::make_unique<QemuInstance>(*this, spec, dir, std::move(l), std::move(snap), key,
                                          std::move(standby));
  }
  std::string dir = InstanceDir(spec.id);
  l.dir = dir;
  l.scratch_image = dir + "/scratch.erofs";
  uint32_t key = 0;
  if (options_.jail) {
    ASSIGN_OR_RETURN(key, ClaimHostKey());
    ASSIGN_OR_RETURN(l.host_id, InstanceHostId(key));
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir + "/scratch", ec);
  if (ec) {
    if (options_.jail) ids_.Release(key);
    return absl::InternalError(fmt::format("cannot create {}: {}", dir, ec.message()));
  }
  // From here the instance releases the host id (Destroy()).
  auto inst =
      std::make_unique<QemuInstance>(*this, spec, dir, std::move(l), std::move(snap), key, nullptr);
  inst->set_guest_address(guest_address);
  return inst;
}

absl::StatusOr<uint32_t> QemuRuntime::ClaimHostKey() {
  RETURN_IF_ERROR(ids_.Base().status());
  for (uint32_t k = 0; k < oci::kMaxUsernsSlots; ++k) {
    if (ids_.Claim(k).ok()) return k;
  }
  return absl::ResourceExhaustedError(
      fmt::format("qemu jail: all {} host ids are held", oci::kMaxUsernsSlots));
}

bool QemuRuntime::StandbyEligible() const {
  return options_.standby_vms > 0 && options_.snapshot == "clone" && options_.network == "slirp";
}

std::string QemuRuntime::StandbyKey(const VmLaunch& l) {
  std::string key = fmt::format("{}|{}|{}|{}|{}|{}|{}|{}", l.initramfs, l.install_image,
                                l.memory_bytes, l.vcpus, l.cpus, l.ram_fd, l.accel, l.state_bytes);
  for (const std::string& image : l.layer_images) key += "|" + image;
  return key;
}

std::unique_ptr<Standby> QemuRuntime::TakeStandby(
    const VmLaunch& launch, std::shared_ptr<const TemplateSnapshot> snapshot) {
  std::unique_ptr<Standby> sb;
  {
    std::lock_guard<std::mutex> l(standby_mu_);
    if (standby_stop_) return nullptr;
    if (!standby_thread_.joinable()) standby_thread_ = std::thread([this] { StandbyLoop(); });
    StandbyShape& shape = shapes_[StandbyKey(launch)];
    if (!shape.snapshot) {
      shape.proto = launch;
      shape.proto.name.clear();
      shape.proto.dir.clear();
      shape.proto.scratch_image.clear();
      shape.proto.hostfwd.clear();
      shape.proto.host_id = 0;
      shape.snapshot = std::move(snapshot);
    }
    shape.used = std::chrono::steady_clock::now();
    if (!shape.ready.empty()) {
      sb = std::move(shape.ready.front());
      shape.ready.pop_front();
    }
  }
  standby_cv_.notify_all();  // a new shape, or a refill to schedule
  if (!sb) return nullptr;
  absl::Status priority = SetNormalPriority(sb->pid);
  auto exited = runner_.TryWait(sb->pid);
  if (!exited.ok() || exited->has_value()) {
    spdlog::warn("qemu runtime: standby {} exited while it waited: {}", sb->launch.name,
                 exited.ok() ? ExitedEarly(sb->launch, **exited, "as a standby").message()
                             : exited.status().message());
    if (exited.ok()) sb->pid = -1;  // reaped
    DropStandby(std::move(sb));
    return nullptr;
  }
  if (!priority.ok()) {
    spdlog::warn("qemu runtime: standby {} not used: {}", sb->launch.name, priority.message());
    DropStandby(std::move(sb));
    return nullptr;
  }
  return sb;
}

absl::StatusOr<std::unique_ptr<Standby>> QemuRuntime::SpawnStandby(
    const VmLaunch& proto, const std::shared_ptr<const TemplateSnapshot>& snapshot) {
  auto t0 = std::chrono::steady_clock::now();
  auto sb = std::make_unique<Standby>();
  VmLaunch& l = sb->launch;
  l = proto;
  l.name = fmt::format("standby-{}", ++standby_seq_);
  l.dir = InstanceDir(l.name);
  l.scratch_image = l.dir + "/scratch.erofs";
  auto fail = [&](absl::Status st) {
    DropStandby(std::move(sb));
    return st;
  };
  if (options_.jail) {
    ASSIGN_OR_RETURN(sb->host_key, ClaimHostKey());
    auto id = InstanceHostId(sb->host_key);
    if (!id.ok()) {
      ids_.Release(sb->host_key);
      return id.status();
    }
    l.host_id = *id;
  }
  std::error_code ec;
  fs::remove_all(l.dir, ec);
  fs::create_directories(l.dir, ec);
  if (ec) return fail(absl::InternalError(fmt::format("mkdir {}: {}", l.dir, ec.message())));
  // The scratch disk: an empty erofs of the template's size, which the guest's rehearsal
  // mounts and the instance overwrites in place.
  fs::create_directories(l.dir + "/empty", ec);
  if (ec) return fail(absl::InternalError(fmt::format("mkdir {}/empty: {}", l.dir, ec.message())));
  if (absl::Status st = MakeErofs(l.dir + "/empty", l.scratch_image); !st.ok()) return fail(st);
  if (absl::Status st = PadImage(l.scratch_image, snapshot->scratch_image_bytes); !st.ok())
    return fail(st);
  fs::remove(l.dir + "/empty", ec);
  // Under SCHED_IDLE until an instance takes it: its start-up (exec, restore, the guest's
  // first steps; ~0.2 s of a core) yields to every other process, such as the start of the
  // clone that took the previous standby.
  absl::StatusOr<pid_t> pid = SpawnVm(l, /*idle_priority=*/true);
  if (!pid.ok()) return fail(pid.status());
  sb->pid = *pid;
  std::ofstream(l.dir + "/qemu.pid") << sb->pid << "\n";
  auto gone = [&] {
    auto r = runner_.TryWait(sb->pid);
    if (r.ok() && r->has_value()) sb->pid = -1;  // reaped
    return !r.ok() || r->has_value();
  };
  auto said = [&](const std::string& what, const absl::Status& st) {
    return fail(absl::Status(
        st.code(), fmt::format("standby {}: {}: {}; console: {}", l.name, what, st.message(),
                               Tail(Slurp(l.dir + "/console.log"), 300))));
  };
  auto qmp = QmpClient::Connect(l.dir + "/qmp.sock", std::chrono::seconds(30), gone);
  if (!qmp.ok()) return said("QMP", qmp.status());
  sb->qmp.emplace(std::move(*qmp));
  if (auto loaded = LoadTemplateState(*sb->qmp, *snapshot); !loaded.ok())
    return said("restore", loaded.status());
  // Its own seed at once (not the template's randomness while it waits), then the
  // rehearsal (guest_activate.cc).
  auto console = ConsoleWatch::Connect(l.dir + "/serial.sock");
  if (!console.ok()) return said("serial console", console.status());
  sb->console = std::move(*console);
  absl::StatusOr<std::string> seed = NewSeed();
  if (!seed.ok()) return fail(seed.status());
  if (absl::Status st = sb->console->Send(fmt::format("pre {}\n", *seed)); !st.ok())
    return said("send its seed", st);
  // SCHED_IDLE: as long as the machine is busy, up to a minute.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!sb->console->WaitFor("prewarm-guest: standby ready", std::chrono::milliseconds(20))) {
    if (gone() || sb->console->closed())
      return said("ready", absl::AbortedError("its QEMU exited"));
    if (standby_stop_) return fail(absl::CancelledError("the runtime stops"));
    if (std::chrono::steady_clock::now() > deadline)
      return said("ready", absl::DeadlineExceededError("the guest never said it was ready"));
  }
  spdlog::info("qemu runtime: {} ready in {:.1f} ms", l.name,
               Ms(t0, std::chrono::steady_clock::now()));
  return sb;
}

void QemuRuntime::DropStandby(std::unique_ptr<Standby> sb) {
  if (!sb) return;
  sb->console.reset();
  sb->qmp.reset();
  bool gone = sb->pid <= 0;
  if (!gone) {
    (void)runner_.Signal(-sb->pid, SIGKILL);
    auto done = WaitFor(runner_, sb->pid, options_.stop_timeout);
    gone = done.ok() && done->has_value();
    if (!gone)
      spdlog::warn("qemu runtime: standby {} (pid {}) did not die", sb->launch.name, sb->pid);
  }
  if (!sb->launch.dir.empty()) {
    std::error_code ec;
    fs::remove_all(sb->launch.dir, ec);
  }
  if (!gone) return;  // its host id and cgroup stay held
  if (cgrouped() && !sb->launch.name.empty()) (void)cgroups_.Remove(VmCgroup(sb->launch.name));
  if (options_.jail) ids_.Release(sb->host_key);
}

RuntimeReserve QemuRuntime::Reserve() const {
  RuntimeReserve r;
  for (pid_t pid : StandbyPids()) {
    ++r.vms;
    r.memory_bytes += PssBytes(pid);
  }
  return r;
}

std::vector<pid_t> QemuRuntime::StandbyPids() const {
  std::lock_guard<std::mutex> l(standby_mu_);
  std::vector<pid_t> pids;
  for (const auto& [key, shape] : shapes_) {
    for (const auto& sb : shape.ready) pids.push_back(sb->pid);
  }
  return pids;
}

// The standby thread: keeps options_.standby_vms standbys of every shape an instance was made
// of in the last standby_idle, one spawn at a time; a shape whose standby failed to start
// is retried after kStandbyRetry.
void QemuRuntime::StandbyLoop() {
  pthread_setname_np(pthread_self(), "qemu-standby");
  constexpr auto kStandbyRetry = std::chrono::seconds(30);
  std::unique_lock<std::mutex> l(standby_mu_);
  while (!standby_stop_) {
    auto now = std::chrono::steady_clock::now();
    std::vector<std::unique_ptr<Standby>> idle;
    std::string want;
    for (auto it = shapes_.begin(); it != shapes_.end();) {
      StandbyShape& shape = it->second;
      if (now - shape.used > options_.standby_idle) {
        for (auto& sb : shape.ready) idle.push_back(std::move(sb));
        it = shapes_.erase(it);
        continue;
      }
      if (want.empty() && shape.ready.size() < options_.standby_vms && now >= shape.retry_at)
        want = it->first;
      ++it;
    }
    if (idle.empty() && want.empty()) {
      // Until the next refill is due (or a take, or stop), 5 s at most.
      auto wake = now + std::chrono::seconds(5);
      for (const auto& [key, shape] : shapes_) {
        if (shape.ready.size() < options_.standby_vms) wake = std::min(wake, shape.retry_at);
      }
      standby_cv_.wait_until(l, std::max(wake, now + std::chrono::milliseconds(1)));
      continue;
    }
    VmLaunch proto;
    std::shared_ptr<const TemplateSnapshot> snapshot;
    if (!want.empty()) {
      proto = shapes_[want].proto;
      snapshot = shapes_[want].snapshot;
    }
    l.unlock();
    for (auto& sb : idle) DropStandby(std::move(sb));
    absl::StatusOr<std::unique_ptr<Standby>> sb = absl::CancelledError("none");
    if (snapshot) {
      // This thread's own part of the spawn (mkfs.erofs, QMP, the console) yields like its
      // QEMU does to the instances' starts; no lock is held meanwhile.
      sched_param none{};
      (void)::sched_setscheduler(0, SCHED_IDLE, &none);
      sb = SpawnStandby(proto, snapshot);
      (void)::sched_setscheduler(0, SCHED_OTHER, &none);
    }
    l.lock();
    if (!snapshot) continue;
    auto it = shapes_.find(want);
    if (sb.ok() && it != shapes_.end() && !standby_stop_) {
      it->second.ready.push_back(std::move(*sb));
    } else if (sb.ok()) {
      l.unlock();
      DropStandby(std::move(*sb));
      l.lock();
    } else {
      spdlog::warn("qemu runtime: a standby VM did not start (retried in {} s): {}",
                   kStandbyRetry.count(), sb.status().message());
      if (it != shapes_.end()) it->second.retry_at = now + kStandbyRetry;
    }
  }
  std::vector<std::unique_ptr<Standby>> all;
  for (auto& [key, shape] : shapes_) {
    for (auto& sb : shape.ready) all.push_back(std::move(sb));
  }
  shapes_.clear();
  l.unlock();
  for (auto& sb : all) DropStandby(std::move(sb));
}

absl::Status QemuRuntime::CleanupStale() {
  std::string root = options_.state_dir + "/instances";
  std::error_code ec;
  fs::remove_all(RamRoot(), ec);
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
  fs::remove_all(RamRoot(), ec);  // template RAM files of a previous run
  // The VMs' cgroups of a previous run, with any QEMU still in them (template VMs have no
  // pid file).
  if (cgrouped()) {
    if (int n = cgroups_.KillAll(NodeCgroup()); n > 0)
      spdlog::warn("qemu runtime: killed {} stale processes in {}", n, NodeCgroup());
    RETURN_IF_ERROR(cgroups_.Remove(NodeCgroup()));
  }
  return absl::OkStatus();
}

}  // namespace prewarm::agent::qemu
