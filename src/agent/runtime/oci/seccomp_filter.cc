#include "agent/runtime/oci/seccomp_filter.h"

#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>

#include "agent/runtime/oci/seccomp_filter_file.h"
#include "common/net.h"
#include "common/status.h"
#include "fmt/format.h"

namespace prewarm::agent::oci {
namespace {

using nlohmann::json;

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

absl::Status Libseccomp(int rc, std::string_view what) {
  if (rc == 0) return absl::OkStatus();
  return ErrnoStatus(-rc, fmt::format("libseccomp: {}", what));
}

// A JSON number that is a whole number >= 0 (built in code or parsed from text alike).
bool Unsigned(const json& j) {
  return j.is_number_unsigned() || (j.is_number_integer() && j.get<int64_t>() >= 0);
}

bool IsAllow(std::string_view action) {
  // runc's isAllowAction: no -ENOSYS stub in front of a permissive default.
  return action == "SCMP_ACT_ALLOW" || action == "SCMP_ACT_LOG" || action == "SCMP_ACT_TRACE";
}

// runc's getAction. An errno not given is EPERM.
absl::StatusOr<uint32_t> Action(const std::string& action, const json& errno_ret) {
  if (!errno_ret.is_null() && !Unsigned(errno_ret)) {
    return absl::InvalidArgumentError("seccomp: errnoRet is not a number");
  }
  uint32_t err = errno_ret.is_null() ? EPERM : errno_ret.get<uint32_t>();
  if (err > 0xffff) return absl::InvalidArgumentError("seccomp: errnoRet out of range");
  if (action == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (action == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(err);
  if (action == "SCMP_ACT_KILL" || action == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
  if (action == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  if (action == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
  if (action == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
  // The listener is prewarm-seccomp-exec's (--notify-fd), handed to the agent.
  if (action == "SCMP_ACT_NOTIFY") return SCMP_ACT_NOTIFY;
  // TRACE needs a tracer the agent does not run.
  return absl::InvalidArgumentError(
      fmt::format("seccomp: action {} cannot be precompiled (use seccomp: runtime)", action));
}

absl::StatusOr<scmp_compare> Op(const std::string& op) {
  static const std::map<std::string, scmp_compare> kOps = {
      {"SCMP_CMP_NE", SCMP_CMP_NE},
      {"SCMP_CMP_LT", SCMP_CMP_LT},
      {"SCMP_CMP_LE", SCMP_CMP_LE},
      {"SCMP_CMP_EQ", SCMP_CMP_EQ},
      {"SCMP_CMP_GE", SCMP_CMP_GE},
      {"SCMP_CMP_GT", SCMP_CMP_GT},
      {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ}};
  auto it = kOps.find(op);
  if (it == kOps.end()) return absl::InvalidArgumentError("seccomp: unknown operator " + op);
  return it->second;
}

absl::StatusOr<uint32_t> Arch(const std::string& name) {
  static const std::map<std::string, uint32_t> kArchs = {{"SCMP_ARCH_X86_64", SCMP_ARCH_X86_64},
                                                         {"SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64}};
  auto it = kArchs.find(name);
  if (it == kArchs.end()) {
    return absl::InvalidArgumentError(
        fmt::format("seccomp: architecture {} cannot be precompiled (use seccomp: runtime)", name));
  }
  return it->second;
}

absl::StatusOr<std::vector<scmp_arg_cmp>> Conditions(const json& args) {
  std::vector<scmp_arg_cmp> out;
  if (args.is_null()) return out;
  if (!args.is_array()) return absl::InvalidArgumentError("seccomp: args is not a list");
  for (const json& a : args) {
    if (!a.is_object() || !Unsigned(a.value("index", json())) ||
        !Unsigned(a.value("value", json())) || !Unsigned(a.value("valueTwo", json(0)))) {
      return absl::InvalidArgumentError("seccomp: an argument needs index and value");
    }
    uint32_t index = a["index"].get<uint32_t>();
    if (index >= 6) return absl::InvalidArgumentError("seccomp: argument index past 5");
    ASSIGN_OR_RETURN(scmp_compare op, Op(a.value("op", std::string())));
    out.push_back(
        {index, op, a["value"].get<uint64_t>(), a.value("valueTwo", json(0)).get<uint64_t>()});
  }
  return out;
}

sock_filter Stmt(uint16_t code, uint32_t k) { return {code, 0, 0, k}; }
sock_filter Jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) { return {code, jt, jf, k}; }

// runc's generateEnosysStub for one architecture (and not x32): syscalls numbered above
// `last` answer ENOSYS; everything else, and any other architecture, falls into the
// filter that follows.
std::vector<sock_filter> EnosysStub(uint32_t audit_arch, uint32_t last) {
  constexpr uint32_t kEnosys = SCMP_ACT_ERRNO(ENOSYS);
  std::vector<sock_filter> tail = {Stmt(BPF_JMP | BPF_JA, 1), Stmt(BPF_RET | BPF_K, kEnosys)};
  const uint32_t to_enosys = tail.size() - 1, to_filter = to_enosys + 1;
  std::vector<sock_filter> section_tail = {
      Jump(BPF_JMP | BPF_JGT | BPF_K, last, static_cast<uint8_t>(to_enosys + 1), 0),
      Stmt(BPF_JMP | BPF_JA, to_filter)};
  if (audit_arch == AUDIT_ARCH_X86_64) {
    // x32 syscalls (bit 30 set) go straight to the filter.
    section_tail.insert(section_tail.begin(),
                        Jump(BPF_JMP | BPF_JSET | BPF_K, 1u << 30,
                             static_cast<uint8_t>(section_tail.size() - 1), 0));
  }
  std::vector<sock_filter> section = {Stmt(BPF_LD | BPF_W | BPF_ABS, 0)};  // the number
  section.insert(section.end(), section_tail.begin(), section_tail.end());
  tail.insert(tail.begin(), section.begin(), section.end());
  const uint32_t arch_entry = tail.size();  // measured from the end
  tail.insert(tail.begin(), Stmt(BPF_JMP | BPF_JA, tail.size()));
  tail.insert(tail.begin(), Jump(BPF_JMP | BPF_JEQ | BPF_K, audit_arch,
                                 static_cast<uint8_t>(tail.size() - arch_entry), 0));
  tail.insert(tail.begin(), Stmt(BPF_LD | BPF_W | BPF_ABS, 4));  // the architecture
  return tail;
}

absl::StatusOr<std::vector<sock_filter>> Export(void* ctx) {
  ScopedFd fd(::memfd_create("seccomp-bpf", MFD_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, "memfd_create");
  RETURN_IF_ERROR(Libseccomp(seccomp_export_bpf(ctx, fd.get()), "export"));
  off_t size = ::lseek(fd.get(), 0, SEEK_END);
  if (size <= 0 || size % sizeof(sock_filter) != 0) {
    return absl::InternalError(fmt::format("libseccomp exported {} bytes", size));
  }
  std::vector<sock_filter> program(size / sizeof(sock_filter));
  if (::pread(fd.get(), program.data(), size, 0) != size) return ErrnoStatus(errno, "read BPF");
  return program;
}

}  // namespace

absl::StatusOr<std::vector<sock_filter>> CompileSeccompProfile(const json& profile) {
  if (!profile.is_object()) return absl::InvalidArgumentError("seccomp: profile is not an object");
  for (const char* unsupported : {"flags", "listenerPath", "listenerMetadata"}) {
    if (profile.contains(unsupported)) {
      return absl::InvalidArgumentError(
          fmt::format("seccomp: '{}' cannot be precompiled (use seccomp: runtime)", unsupported));
    }
  }
  std::string default_name = profile.value("defaultAction", std::string());
  ASSIGN_OR_RETURN(uint32_t default_action,
                   Action(default_name, profile.value("defaultErrnoRet", json())));
  json archs = profile.value("architectures", json::array());
  if (!archs.is_array() || archs.size() != 1 || !archs[0].is_string()) {
    return absl::InvalidArgumentError(
        "seccomp: a precompiled profile names exactly one architecture (use seccomp: runtime)");
  }
  ASSIGN_OR_RETURN(uint32_t arch, Arch(archs[0].get<std::string>()));
  if (arch != seccomp_arch_native()) {
    return absl::InvalidArgumentError("seccomp: the profile's architecture is not this host's");
  }
  json rules = profile.value("syscalls", json::array());
  if (!rules.is_array()) return absl::InvalidArgumentError("seccomp: syscalls is not a list");

  Ctx ctx(seccomp_init(default_action));
  if (!ctx) return absl::InternalError("libseccomp: seccomp_init failed");
  RETURN_IF_ERROR(Libseccomp(seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0), "nnp"));

  int last = 0;  // the highest syscall number the profile names (runc's findLastSyscalls)
  for (const json& r : rules) {
    if (!r.is_object() || !r.value("names", json()).is_array()) {
      return absl::InvalidArgumentError("seccomp: a rule needs a list of names");
    }
    ASSIGN_OR_RETURN(uint32_t action,
                     Action(r.value("action", std::string()), r.value("errnoRet", json())));
    ASSIGN_OR_RETURN(std::vector<scmp_arg_cmp> conds, Conditions(r.value("args", json())));
    bool shared_index = false;
    for (size_t i = 0; i < conds.size(); ++i) {
      for (size_t j = i + 1; j < conds.size(); ++j) {
        shared_index = shared_index || conds[i].arg == conds[j].arg;
      }
    }
    for (const json& n : r["names"]) {
      if (!n.is_string() || n.get<std::string>().empty()) {
        return absl::InvalidArgumentError("seccomp: a syscall name is not a string");
      }
      std::string name = n.get<std::string>();
      int nr = seccomp_syscall_resolve_name_arch(arch, name.c_str());
      if (nr > last) last = nr;
      if (action == default_action) continue;  // redundant: runc skips it
      nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) continue;  // unknown to libseccomp: runc skips it
      std::string what = fmt::format("rule for {}", name);
      if (conds.empty()) {
        RETURN_IF_ERROR(Libseccomp(seccomp_rule_add(ctx.get(), action, nr, 0), what));
      } else if (shared_index) {
        for (const scmp_arg_cmp& c : conds) {
          RETURN_IF_ERROR(Libseccomp(seccomp_rule_add_array(ctx.get(), action, nr, 1, &c), what));
        }
      } else {
        RETURN_IF_ERROR(Libseccomp(
            seccomp_rule_add_array(ctx.get(), action, nr, conds.size(), conds.data()), what));
      }
    }
  }
  ASSIGN_OR_RETURN(std::vector<sock_filter> program, Export(ctx.get()));
  if (IsAllow(default_name) || last == 0) return program;
  std::vector<sock_filter> stub = EnosysStub(kNativeAuditArch, static_cast<uint32_t>(last));
  program.insert(program.begin(), stub.begin(), stub.end());
  if (program.size() > BPF_MAXINSNS) {
    return absl::InvalidArgumentError(fmt::format(
        "seccomp: the program has {} instructions, more than the kernel takes", program.size()));
  }
  return program;
}

std::string EncodeSeccompFile(const std::vector<sock_filter>& program) {
  SeccompFileHeader h = {};
  std::memcpy(h.magic, kSeccompFileMagic, sizeof(h.magic));
  h.version = kSeccompFileVersion;
  h.arch = kNativeAuditArch;
  h.count = static_cast<uint32_t>(program.size());
  size_t bytes = program.size() * sizeof(sock_filter);
  h.checksum = SeccompChecksum(program.data(), bytes);
  std::string out(reinterpret_cast<const char*>(&h), sizeof(h));
  out.append(reinterpret_cast<const char*>(program.data()), bytes);
  return out;
}

absl::StatusOr<std::vector<sock_filter>> DecodeSeccompFile(std::string_view bytes) {
  const sock_filter* insns = nullptr;
  uint32_t count = 0;
  // Copy first: the instructions inside a string need not be aligned.
  std::vector<char> copy(bytes.begin(), bytes.end());
  if (const char* err =
          CheckSeccompFile(copy.data(), copy.size(), kNativeAuditArch, &insns, &count)) {
    return absl::InvalidArgumentError(fmt::format("seccomp filter file: {}", err));
  }
  return std::vector<sock_filter>(insns, insns + count);
}

}  // namespace prewarm::agent::oci
