#include "agent/runtime/oci/oci_runtime.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "agent/layers.h"
#include "agent/runtime/oci/oci_config.h"
#include "agent/runtime/oci/port_handoff.h"
#include "agent/runtime/oci/relay.h"
#include "agent/runtime/oci/seccomp_filter.h"
#include "agent/runtime/oci/seccomp_profile.h"
#include "common/logging.h"
#include "fmt/format.h"

namespace prewarm::agent::oci {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

bool ValidId(std::string_view id) {
  return !id.empty() && id.size() <= 64 &&
         id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") ==
             std::string_view::npos;
}

absl::Status WriteWholeFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::trunc);
  out << content;
  out.close();
  if (!out) return absl::InternalError("cannot write " + path);
  return absl::OkStatus();
}

// A hard link (the same file system: nothing copied), else a copy.
absl::Status LinkOrCopy(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::create_hard_link(from, to, ec);
  if (!ec) return absl::OkStatus();
  fs::copy_file(from, to, ec);
  return ec ? ErrnoStatus(ec.value(), "link or copy " + from) : absl::OkStatus();
}

std::vector<std::string> WorkloadEnv(const InstanceSpec& spec, bool reports) {
  std::map<std::string, std::string> env = {{"PATH", "/usr/bin:/bin"}, {"HOME", "/"}};
  for (const auto& [k, v] : spec.tmpl.env) env[k] = v;
  if (spec.tmpl.app_port == 0) {
    env["LISTEN_FDS"] = "1";  // socket activation: fd 3, and the workload is pid 1
    env["LISTEN_PID"] = "1";
  }
  env["PREWARM_INSTANCE_ID"] = spec.id;
  env["PREWARM_LISTEN"] = HostPort{spec.address, spec.port}.ToString();  // what fd 3 is bound to
  if (reports) env["PREWARM_CONTENT_REPORT"] = kContentReportPath;
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(fmt::format("{}={}", k, v));
  return out;
}

// The default profile compiled as runc would (seccomp_filter.h), as its file holds it, and
// the file's name in the seccomp directory: a digest of the bytes, so a changed profile
// gets a new file and never replaces one that instances hold.
struct SeccompFile {
  std::string name, bytes;
  size_t instructions = 0;
};

// `handoff`: the profile that leaves bind() to the agent (HandoffSeccompProfile).
absl::StatusOr<SeccompFile> CompiledSeccompFile(bool handoff) {
  ASSIGN_OR_RETURN(
      std::vector<sock_filter> program,
      CompileSeccompProfile(handoff ? HandoffSeccompProfile() : DefaultSeccompProfile()));
  SeccompFile f;
  f.bytes = EncodeSeccompFile(program);
  f.name = Sha256OfString(f.bytes).substr(0, 32) + ".bpf";
  f.instructions = program.size();
  return f;
}

constexpr char kSeccompExecName[] = "prewarm-seccomp-exec";

}  // namespace

class OciInstance final : public RuntimeInstance {
 public:
  OciInstance(OciRuntime& rt, const InstanceSpec& spec)
      : rt_(rt),
        spec_(spec),
        dir_(rt.InstanceDir(spec.id)),
        rootfs_(dir_ + "/rootfs"),
        scratch_(dir_ + "/scratch"),
        rw_(dir_ + "/rw"),
        netns_(dir_ + "/netns"),
        cid_(rt.ContainerId(spec.id)) {}
  ~OciInstance() override {
    absl::Status st = Destroy();
    if (!st.ok()) spdlog::warn("oci: destroying {}: {}", spec_.id, st.ToString());
  }

  absl::Status Prepare();
  // Forget everything without touching the host (the directory belongs to someone else).
  void Abandon() { destroyed_ = true; }
  const std::string& scratch_dir() const override { return scratch_; }
  int content_report_fd() const override { return report_fd_.get(); }
  absl::Status Start(int listen_fd) override;
  std::optional<int> PollExit() override;
  ResourceUsage Usage() override;
  RelayCounts Relayed() const override {
    if (handoff_) return {.handed = handoff_->handed()};
    return relay_ ? relay_->counts() : RelayCounts{};
  }
  absl::StatusOr<OutputTail> Output() override {
    return output_ ? output_->Read() : absl::StatusOr<OutputTail>(OutputTail{});
  }
  absl::Status Destroy() override;

 private:
  absl::Status WriteConfig();
  absl::Status BindReportSocket(uint32_t uid, uint32_t gid);
  absl::Status CheckCgroupLimits();
  // runsc does not pass a host unix socket through (without --host-uds): no reports.
  bool reports() const { return !rt_.gvisor(); }
  // Runs with its own host id range: see oci_runtime.h.
  bool userns() const {
    return rt_.options_.userns && spec_.tmpl.install_dir.empty() && !rt_.gvisor();
  }
  void StopContainer();
  absl::Status ReleaseHostResources();
  absl::StatusOr<ProcessResult> Runc(std::vector<std::string> args) {
    return rt_.runner_.Run(rt_.RuncCommand(std::move(args)), rt_.options_.command_timeout);
  }

  OciRuntime& rt_;
  InstanceSpec spec_;
  std::string dir_, rootfs_, scratch_, rw_, netns_, cid_;
  std::string seccomp_filter_;  // kPrecompiled: the filter's file name (in kSeccompMount)
  std::string report_dir() const { return dir_ + "/report"; }
  // An app on its own port (TemplateSpec::app_port): the instance's own network
  // namespace (loopback up) and the relay into it.
  bool relay_mode() const { return spec_.tmpl.app_port != 0; }
  // ... whose bind() of that port gets the instance's socket (port_handoff.h) instead of a
  // relay: runc with the precompiled filter, which prewarm-seccomp-exec installs.
  bool handoff() const {
    return relay_mode() && rt_.options_.port_handoff &&
           rt_.options_.seccomp == SeccompMode::kPrecompiled && !rt_.gvisor();
  }
  std::unique_ptr<OwnPortRelay> relay_;
  std::unique_ptr<PortHandoff> handoff_;
  std::shared_ptr<OutputLog> output_;  // runc's and the workload's stdout and stderr
  std::unique_ptr<OutputPump> pump_;
  ScopedFd report_fd_;            // the content-report socket (reports())
  std::optional<IdMapping> ids_;  // set while this instance holds spec_.slot
  uint64_t memory_limit_ = 0;     // as written to config.json
  uint32_t pids_limit_ = 0;
  double cpus_ = 0;
  pid_t runc_pid_ = -1;
  std::optional<int> exit_code_;
  bool destroyed_ = false;
};

absl::Status OciInstance::Prepare() {
  std::error_code ec;
  if (fs::exists(dir_, ec)) return absl::AlreadyExistsError("instance dir exists: " + dir_);
  if (userns()) {
    ASSIGN_OR_RETURN(uint32_t base, rt_.IdBase());
    RETURN_IF_ERROR(rt_.ids_.Claim(spec_.slot));
    uint32_t first = base + spec_.slot * kIdsPerInstance;
    ids_ = IdMapping{first, first, kIdsPerInstance};
  }
  fs::path mount_point =
      fs::path(dir_) / "mnt" / fs::path(spec_.tmpl.scratch_mount).relative_path();
  fs::path report_point = fs::path(dir_) / "mnt" / fs::path(kContentReportMount).relative_path();
  fs::path seccomp_point = fs::path(dir_) / "mnt" / fs::path(kSeccompMount).relative_path();
  for (const fs::path& d : {fs::path(rootfs_), fs::path(scratch_), mount_point, report_point,
                            seccomp_point, fs::path(report_dir())}) {
    fs::create_directories(d, ec);
    if (ec) return ErrnoStatus(ec.value(), "mkdir " + d.string());
  }
  const OciOptions& o = rt_.options_;
  if (o.seccomp == SeccompMode::kPrecompiled && !rt_.gvisor()) {
    // Into the root's top layer, not bound: a bind of the state dir could not lift a
    // noexec it is mounted with (/run on many hosts) inside the user namespace.
    ASSIGN_OR_RETURN(seccomp_filter_, rt_.PrecompiledSeccomp(handoff()));
    for (const std::string& f : {std::string("prewarm-seccomp-exec"), seccomp_filter_}) {
      RETURN_IF_ERROR(LinkOrCopy(rt_.SeccompDir() + "/" + f, (seccomp_point / f).string()));
    }
  }
  if (relay_mode()) RETURN_IF_ERROR(CreateNetns(netns_));
  // The scratch storage belongs to whoever the workload runs as, seen from the host.
  uint32_t uid = (spec_.tmpl.user ? spec_.tmpl.user->first : o.uid) + (ids_ ? ids_->host_uid : 0);
  uint32_t gid = (spec_.tmpl.user ? spec_.tmpl.user->second : o.gid) + (ids_ ? ids_->host_gid : 0);
  RETURN_IF_ERROR(rt_.mounter_.MountTmpfs(scratch_, spec_.tmpl.scratch_bytes, uid, gid, 0755));
  if (reports()) RETURN_IF_ERROR(BindReportSocket(uid, gid));
  std::vector<std::string> lowers = {dir_ + "/mnt"};
  size_t option_bytes = 0;
  for (const std::string& l : spec_.tmpl.layers) option_bytes += l.size() + 1;
  if (option_bytes > kMaxOverlayOptionBytes) {
    // mount(2) takes at most one page of options: stack one merged layer instead.
    ASSIGN_OR_RETURN(std::string merged,
                     BuildMergedLayer(rt_.runner_, rt_.options_.cache_dir, spec_.tmpl.layers));
    lowers.push_back(merged);
  } else {
    lowers.insert(lowers.end(), spec_.tmpl.layers.begin(), spec_.tmpl.layers.end());
  }
  if (spec_.tmpl.install_dir.empty()) {
    RETURN_IF_ERROR(rt_.mounter_.MountOverlay(lowers, rootfs_));
    return WriteConfig();
  }
  // In-instance install: dpkg writes into an upper layer on a tmpfs of its own.
  fs::create_directories(rw_, ec);
  if (ec) return ErrnoStatus(ec.value(), "mkdir " + rw_);
  RETURN_IF_ERROR(rt_.mounter_.MountTmpfs(rw_, InstallRootBytes(spec_.tmpl), 0, 0, 0755));
  for (const char* d : {"/upper", "/work"}) {
    fs::create_directories(rw_ + d, ec);
    if (ec) return ErrnoStatus(ec.value(), "mkdir " + rw_ + d);
  }
  RETURN_IF_ERROR(
      rt_.mounter_.MountWritableOverlay(lowers, rw_ + "/upper", rw_ + "/work", rootfs_));
  return WriteConfig();
}

// The agent binds the socket in the instance's directory; the workload, whose uid is
// host uid `uid` outside its user namespace, is the only one allowed to send to it, and
// sees the directory read-only at kContentReportMount (sending needs no write access to
// the mount, only to the socket file).
absl::Status OciInstance::BindReportSocket(uint32_t uid, uint32_t gid) {
  ASSIGN_OR_RETURN(report_fd_, BindUnixDatagram(report_dir() + "/content.sock", uid, gid));
  return absl::OkStatus();
}

absl::Status OciInstance::WriteConfig() {
  const OciOptions& o = rt_.options_;
  OciConfigParams p;
  p.args = spec_.tmpl.command;
  p.env = WorkloadEnv(spec_, reports());
  p.hostname = spec_.id;
  p.uid = spec_.tmpl.user ? spec_.tmpl.user->first : o.uid;
  p.gid = spec_.tmpl.user ? spec_.tmpl.user->second : o.gid;
  p.cwd = spec_.tmpl.cwd.empty() ? "/" : spec_.tmpl.cwd;
  p.scratch_source = scratch_;
  p.scratch_destination = spec_.tmpl.scratch_mount;
  p.tmp_bytes = o.tmp_bytes;
  p.memory_limit_bytes = spec_.tmpl.memory_limit_bytes;
  // gVisor's sandbox (its kernel and gofer) lives in the instance's cgroup too.
  p.pids_limit = spec_.tmpl.pids_limit + (rt_.gvisor() ? kGvisorSandboxPids : 0);
  p.cpus = spec_.tmpl.cpus;
  p.nofile_limit = o.nofile_limit;
  p.cgroups_path = fmt::format("/{}/{}", o.cgroup_parent, cid_);
  if (relay_mode()) p.netns_path = netns_;
  p.seccomp = o.seccomp == SeccompMode::kRuntime ||
              (o.seccomp == SeccompMode::kPrecompiled && rt_.gvisor());
  p.userns = ids_;
  if (reports()) p.readonly_binds.push_back({kContentReportMount, report_dir()});
  if (!spec_.tmpl.install_dir.empty()) {
    // Root until dpkg is done (prewarm-guest-activate --install), then uid:gid with no
    // capabilities left; what dpkg writes to the tmpfs is charged to the instance.
    p.readonly_root = false;
    p.uid = 0;
    p.gid = 0;
    p.capabilities = {"CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FOWNER",
                      "CAP_FSETID", "CAP_SETUID",       "CAP_SETGID"};
    p.readonly_binds.push_back({kInstallMount, spec_.tmpl.install_dir, /*exec=*/true});
    p.memory_limit_bytes += InstallRootBytes(spec_.tmpl);
    std::vector<std::string> args = {std::string(kInstallMount) + "/prewarm-guest-activate",
                                     "--install",
                                     kInstallMount,
                                     "--exec",
                                     std::to_string(o.uid),
                                     std::to_string(o.gid),
                                     "--"};
    args.insert(args.end(), p.args.begin(), p.args.end());
    p.args = std::move(args);
  }
  if (!seccomp_filter_.empty()) {
    // The filter holds from the exec of the command on, install included.
    std::string dir = kSeccompMount;
    std::vector<std::string> args = {dir + "/prewarm-seccomp-exec", dir + "/" + seccomp_filter_};
    if (handoff()) {
      args.push_back("--notify-fd");  // the filter's listener to the agent (Start())
      args.push_back("3");
    }
    args.push_back("--");
    args.insert(args.end(), p.args.begin(), p.args.end());
    p.args = std::move(args);
  }
  memory_limit_ = p.memory_limit_bytes;
  pids_limit_ = p.pids_limit;
  cpus_ = p.cpus;
  return WriteWholeFile(dir_ + "/config.json", OciConfigJson(p));
}

absl::Status OciInstance::Start(int listen_fd) {
  if (destroyed_) return absl::FailedPreconditionError("instance destroyed: " + spec_.id);
  if (runc_pid_ > 0) return absl::FailedPreconditionError("instance already started: " + spec_.id);
  SpawnOptions opts;
  ScopedFd channel;  // handoff(): the wrapper's end of the socket pair, closed here once spawned
  if (handoff()) {
    // The app listens on its own port: its bind() of it gets the instance's socket.
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
      return ErrnoStatus(errno, "socketpair");
    }
    channel.reset(pair[1]);
    ASSIGN_OR_RETURN(
        handoff_, PortHandoff::Start(ScopedFd(pair[0]), listen_fd, spec_.tmpl.app_port, spec_.id));
    opts.argv = rt_.RuncCommand({"run", "--preserve-fds", "1", "--bundle", dir_, cid_});
    opts.fds = {{3, channel.get()}};
  } else if (relay_mode()) {
    // The app listens on its own port: the agent keeps the socket and relays into it.
    ASSIGN_OR_RETURN(
        relay_, OwnPortRelay::Start(listen_fd, netns_, spec_.tmpl.app_port, rt_.options_.relay));
    opts.argv = rt_.RuncCommand({"run", "--bundle", dir_, cid_});
  } else {
    opts.argv = rt_.RuncCommand({"run", "--preserve-fds", "1", "--bundle", dir_, cid_});
    opts.fds = {{3, listen_fd}};
  }
  output_ = std::make_shared<OutputLog>(dir_ + "/runc.log", rt_.options_.output_bytes);
  ASSIGN_OR_RETURN(OutputPipe pipe, PipeInto(output_));
  pump_ = std::move(pipe.pump);
  opts.out_fd = pipe.write_end.get();  // ours closes here: the pump sees EOF once runc is gone
  opts.new_process_group = true;       // a ^C to the agent must not reach runc directly
  ASSIGN_OR_RETURN(runc_pid_, rt_.runner_.Spawn(opts));
  return CheckCgroupLimits();
}

// runc writes the limits between making the cgroup and starting the workload: wait for
// them to read back as asked, and refuse to go on without them.
absl::Status OciInstance::CheckCgroupLimits() {
  CgroupLimits want{.memory_bytes = memory_limit_, .pids = pids_limit_, .cpu_cores = cpus_};
  std::string path = rt_.CgroupPath(spec_.id);
  auto deadline = std::chrono::steady_clock::now() + rt_.options_.command_timeout;
  absl::Status st;
  for (;;) {
    st = rt_.cgroups_.CheckLimits(path, want);
    if (st.ok()) return st;
    if (PollExit().has_value() || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return absl::FailedPreconditionError(fmt::format(
      "{}: cgroup limits not applied{}: {}", spec_.id,
      exit_code_ ? fmt::format(" (runc exited with {}; see {}/runc.log)", *exit_code_, dir_) : "",
      st.message()));
}

std::optional<int> OciInstance::PollExit() {
  if (exit_code_.has_value() || runc_pid_ <= 0) return exit_code_;
  absl::StatusOr<std::optional<int>> code = rt_.runner_.TryWait(runc_pid_);
  if (!code.ok()) {
    exit_code_ = -1;  // not our child any more: treat as gone
  } else {
    exit_code_ = *code;
  }
  if (exit_code_.has_value() && pump_) pump_->Stop();  // its output is complete
  return exit_code_;
}

ResourceUsage OciInstance::Usage() { return rt_.cgroups_.Usage(rt_.CgroupPath(spec_.id)); }

// Kills the container through runc (signals to `runc run` itself would only be
// forwarded), waits for `runc run` to exit, and as a last resort kills runc.
void OciInstance::StopContainer() {
  if (runc_pid_ <= 0 || PollExit().has_value()) return;
  auto deadline = std::chrono::steady_clock::now() + rt_.options_.stop_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    Runc({"kill", cid_, "KILL"}).IgnoreError();  // fails while runc is still creating it
    auto code = WaitFor(rt_.runner_, runc_pid_, milliseconds(500));
    if (code.ok() && code->has_value()) {
      exit_code_ = *code;
      return;
    }
    if (!code.ok()) return;
  }
  spdlog::warn("oci: runc for {} did not exit; killing it", cid_);
  rt_.runner_.Signal(-runc_pid_, SIGKILL).IgnoreError();
  exit_code_ = WaitFor(rt_.runner_, runc_pid_, rt_.options_.stop_timeout).value_or(-1).value_or(-1);
}

absl::Status OciInstance::ReleaseHostResources() {
  absl::Status result;
  for (const std::string& m : {scratch_, rootfs_, rw_, netns_}) {  // unmounting a tmpfs wipes it
    absl::Status st = rt_.mounter_.Unmount(m, /*lazy=*/false);
    if (!st.ok()) st = rt_.mounter_.Unmount(m, /*lazy=*/true);
    if (!st.ok() && result.ok()) result = st;
  }
  if (!result.ok()) return result;  // never recurse into a still-mounted tree
  std::error_code ec;
  fs::remove_all(dir_, ec);
  if (ec) return ErrnoStatus(ec.value(), "remove " + dir_);
  if (ids_.has_value()) rt_.ids_.Release(spec_.slot);  // nothing of it runs or is mounted now
  ids_.reset();
  return absl::OkStatus();
}

absl::Status OciInstance::Destroy() {
  if (destroyed_) return absl::OkStatus();
  destroyed_ = true;
  relay_.reset();  // closes the relayed connections
  StopContainer();
  handoff_.reset();  // after the workload: a bind() it still made would fail with ENOSYS
  if (pump_) pump_->Stop();
  report_fd_.reset();
  std::error_code ec;
  // runc keeps a directory per container (gone once `runc run` has cleaned up); runsc
  // keeps files named after the sandbox: ask it to delete whatever is left.
  if (runc_pid_ > 0 &&
      (rt_.gvisor() || fs::exists(fmt::format("{}/runc/{}", rt_.options_.state_dir, cid_), ec))) {
    auto r = Runc({"delete", "--force", cid_});
    if (!r.ok() || r->exit_code != 0) {
      spdlog::warn("oci: runc delete {}: {}", cid_, r.ok() ? r->output : r.status().ToString());
    }
  }
  return ReleaseHostResources();
}

OciRuntime::OciRuntime(OciOptions options, ProcessRunner& runner, Mounter& mounter)
    : runner_(runner), mounter_(mounter), options_(std::move(options)) {}

OciRuntime::OciRuntime(OciOptions options, ProcessRunner& runner)
    : runner_(runner),
      owned_mounter_(std::make_unique<RealMounter>()),
      mounter_(*owned_mounter_),
      options_(std::move(options)) {}

absl::StatusOr<std::string> OciRuntime::PrecompiledSeccomp(bool handoff) {
  std::lock_guard lock(seccomp_mu_);
  std::optional<std::string>& cached = seccomp_filter_[handoff ? 1 : 0];
  if (cached.has_value()) return *cached;
  auto compile = [this, handoff]() -> absl::StatusOr<std::string> {
    if (options_.seccomp_exec.empty() || ::access(options_.seccomp_exec.c_str(), X_OK) != 0) {
      return absl::FailedPreconditionError(fmt::format(
          "seccomp: default needs prewarm-seccomp-exec, not found at '{}'", options_.seccomp_exec));
    }
    ASSIGN_OR_RETURN(SeccompFile filter, CompiledSeccompFile(handoff));
    std::string dir = SeccompDir();
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return ErrnoStatus(ec.value(), "mkdir " + dir);
    // Read by each instance's user (its own host ids): readable by all, writable by none.
    fs::permissions(dir,
                    fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                        fs::perms::others_read | fs::perms::others_exec,
                    ec);
    if (ec) return ErrnoStatus(ec.value(), "chmod " + dir);
    // Written aside and renamed into place: an instance never sees half a file.
    auto place = [&](const std::string& file, const fs::perms mode, auto write) -> absl::Status {
      std::string tmp = fmt::format("{}/.{}.tmp", dir, file);
      RETURN_IF_ERROR(write(tmp));
      fs::permissions(tmp, mode, ec);
      if (ec) return ErrnoStatus(ec.value(), "chmod " + tmp);
      fs::rename(tmp, dir + "/" + file, ec);
      if (ec) return ErrnoStatus(ec.value(), "rename " + tmp);
      return absl::OkStatus();
    };
    const fs::perms read_only =
        fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read;
    const fs::perms exec_only =
        read_only | fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec;
    RETURN_IF_ERROR(place(kSeccompExecName, exec_only, [&](const std::string& tmp) {
      fs::copy_file(options_.seccomp_exec, tmp, fs::copy_options::overwrite_existing, ec);
      return ec ? ErrnoStatus(ec.value(), "copy " + options_.seccomp_exec) : absl::OkStatus();
    }));
    RETURN_IF_ERROR(place(filter.name, read_only, [&](const std::string& tmp) {
      return WriteWholeFile(tmp, filter.bytes);
    }));
    spdlog::info("oci: seccomp profile{} compiled: {} instructions in {}/{}",
                 handoff ? " (bind to the agent)" : "", filter.instructions, dir, filter.name);
    return filter.name;
  };
  absl::StatusOr<std::string> name = compile();
  if (name.ok()) cached = *name;  // a failure is tried again on the next Create()
  return name;
}

bool OciRuntime::gvisor() const { return fs::path(options_.runtime_binary).filename() == "runsc"; }

std::string OciRuntime::ContainerId(std::string_view instance_id) const {
  return fmt::format("{}{}", options_.id_prefix, instance_id);
}

std::string OciRuntime::InstanceDir(std::string_view instance_id) const {
  return fmt::format("{}/instances/{}", options_.state_dir, instance_id);
}

std::string OciRuntime::CgroupPath(std::string_view instance_id) const {
  return fmt::format("{}/{}", options_.cgroup_parent, ContainerId(instance_id));
}

std::string OciRuntime::CgroupDir(std::string_view instance_id, std::string_view controller) const {
  return cgroups_.Dir(CgroupPath(instance_id), controller);
}

std::vector<std::string> OciRuntime::RuncCommand(std::vector<std::string> args) const {
  std::vector<std::string> cmd = {options_.runtime_binary, "--root", options_.state_dir + "/runc"};
  // gVisor: the sandbox uses the network namespace it joins (the instance's own, made by
  // the agent) through the host kernel, so the relay reaches the app's port there.
  if (gvisor()) cmd.push_back("--network=host");
  cmd.insert(cmd.end(), args.begin(), args.end());
  return cmd;
}

absl::StatusOr<std::unique_ptr<RuntimeInstance>> OciRuntime::Create(const InstanceSpec& spec) {
  if (!ValidId(spec.id)) return absl::InvalidArgumentError("bad instance id: " + spec.id);
  if (spec.tmpl.layers.empty() || spec.tmpl.command.empty()) {
    return absl::InvalidArgumentError("template needs layers and a command: " + spec.tmpl.name);
  }
  if (gvisor() && spec.tmpl.app_port == 0) {
    return absl::InvalidArgumentError(
        fmt::format("template {}: runsc cannot hand an instance its listening socket (it has no "
                    "--preserve-fds): give the template a port of its own (the agent relays to it)",
                    spec.tmpl.name));
  }
  if (spec.tmpl.scratch_mount.empty() || spec.tmpl.scratch_mount.front() != '/') {
    return absl::InvalidArgumentError("scratch_mount must be absolute");
  }
  auto instance = std::make_unique<OciInstance>(*this, spec);
  absl::Status st = instance->Prepare();
  if (!st.ok()) {
    // A clash must not tear down the existing instance's directory.
    if (absl::IsAlreadyExists(st)) instance->Abandon();
    return st;
  }
  return std::unique_ptr<RuntimeInstance>(std::move(instance));
}

absl::Status OciRuntime::CleanupStale() {
  // Instances in a user namespace of their own reach their bundle as an unprivileged host
  // uid, so the state directory must be searchable by others. runc makes its --root (and
  // so this directory, if missing) 0700: make it first, and fix one made before.
  std::error_code made;
  fs::create_directories(options_.state_dir, made);
  if (made) return ErrnoStatus(made.value(), "mkdir " + options_.state_dir);
  fs::permissions(options_.state_dir,
                  fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec, made);
  if (made) return ErrnoStatus(made.value(), "chmod " + options_.state_dir);
  ASSIGN_OR_RETURN(ProcessResult list,
                   runner_.Run(RuncCommand({"list", "--quiet"}), options_.command_timeout));
  std::istringstream ids(list.output);
  std::string id;
  while (std::getline(ids, id)) {
    if (id.rfind(options_.id_prefix, 0) != 0) continue;
    spdlog::info("oci: removing stale container {}", id);
    runner_.Run(RuncCommand({"kill", id, "KILL"}), options_.command_timeout).IgnoreError();
    auto del = runner_.Run(RuncCommand({"delete", "--force", id}), options_.command_timeout);
    if (!del.ok()) return del.status();
    if (del->exit_code != 0) return absl::InternalError("runc delete " + id + ": " + del->output);
  }
  std::string instances = options_.state_dir + "/instances";
  ASSIGN_OR_RETURN(std::vector<std::string> mounts, mounter_.MountsUnder(instances));
  for (const auto& m : mounts) RETURN_IF_ERROR(mounter_.Unmount(m, /*lazy=*/true));
  std::error_code ec;
  fs::remove_all(instances, ec);
  if (ec) return ErrnoStatus(ec.value(), "remove " + instances);
  return CollectSeccompFiles();
}

absl::Status OciRuntime::CollectSeccompFiles() {
  std::string dir = SeccompDir();
  std::error_code ec;
  if (!fs::exists(dir, ec)) return absl::OkStatus();
  // What this runtime's instances use: under kPrecompiled the current profiles' filters
  // and the wrapper (rewritten on the first Create() that uses them); otherwise nothing.
  std::set<std::string> used;
  if (options_.seccomp == SeccompMode::kPrecompiled && !gvisor()) {
    ASSIGN_OR_RETURN(SeccompFile filter, CompiledSeccompFile(/*handoff=*/false));
    ASSIGN_OR_RETURN(SeccompFile handoff, CompiledSeccompFile(/*handoff=*/true));
    used = {filter.name, handoff.name, kSeccompExecName};
  }
  // No instance of this state directory is left (CleanupStale removed them first), and
  // each held its files as hard links of its own: nothing else reads these.
  std::vector<std::string> unused;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    if (!used.contains(e.path().filename().string())) unused.push_back(e.path().string());
  }
  if (ec) return ErrnoStatus(ec.value(), "list " + dir);
  for (const std::string& path : unused) {
    fs::remove_all(path, ec);
    if (ec) return ErrnoStatus(ec.value(), "remove " + path);
  }
  if (!unused.empty()) {
    spdlog::info("oci: removed {} unused seccomp file(s) from {}", unused.size(), dir);
  }
  return absl::OkStatus();
}

}  // namespace prewarm::agent::oci
