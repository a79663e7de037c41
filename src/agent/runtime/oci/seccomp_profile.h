// The default seccomp profile of an instance: an allow-list in the shape container engines
// ship (Docker's / containerd's default.json), as the "linux.seccomp" object of an OCI
// config. Anything not listed fails with EPERM. Left out on purpose, among others:
// namespace creation (unshare, setns, clone with CLONE_NEW*; clone3 answers ENOSYS so libc
// falls back to the filtered clone), the kernel keyring (keyctl, add_key, request_key),
// io_uring, mount/umount/pivot_root, bpf, perf_event_open, ptrace, process_vm_*, kexec,
// modules, reboot, swap, clock setting, acct, quotactl, userfaultfd.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"

namespace prewarm::agent::oci {

// The syscalls the profile allows without conditions (names as libseccomp spells them;
// runc ignores names the architecture does not have).
const std::vector<std::string_view>& SeccompAllowedSyscalls();

// The "linux.seccomp" object for the architecture this agent was built for: x86_64 or
// aarch64 alone. Their 32-bit ABIs (x86, x32, arm) are not listed, so a syscall through
// one of them does not get through.
nlohmann::json DefaultSeccompProfile();

// The default profile with one change, for an app on its own port whose bind() of that
// port gets the instance's listening socket (port_handoff.h): bind is not allowed outright
// but answered by the filter's listener (SCMP_ACT_NOTIFY), which lets every other bind
// through unchanged. Installed only together with a listener (prewarm-seccomp-exec
// --notify-fd): without one, every bind() would fail with ENOSYS.
nlohmann::json HandoffSeccompProfile();

}  // namespace prewarm::agent::oci
