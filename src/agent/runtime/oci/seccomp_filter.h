// A seccomp profile ("linux.seccomp" of an OCI config, seccomp_profile.h) compiled once
// into the BPF program runc 1.1 would build from it at every start, for
// prewarm-seccomp-exec to install right before the workload's execve.
//
// The compilation follows runc's (libcontainer/seccomp): libseccomp's filter with the
// profile's default action, architectures and rules in the profile's order (a rule whose
// action is the default one is skipped, a name libseccomp does not know is skipped,
// conditions on the same argument become rules of their own; runc 1.1.5 asks for no
// binary-tree optimisation), exported with seccomp_export_bpf, then runc's -ENOSYS stub put in
// front (patchbpf: a syscall numbered above every name the profile knows answers ENOSYS instead of
// the default error, so a libc probing a newer syscall falls back). One architecture only; anything
// of the OCI format this does not handle is refused, never approximated. With the default profile,
// Debian 12's runc 1.1.5 and libseccomp 2.5.4 the program is byte for byte the one runc installs
// (hardening_test reads both back from the kernel).
#pragma once

#include <linux/filter.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace prewarm::agent::oci {

absl::StatusOr<std::vector<sock_filter>> CompileSeccompProfile(const nlohmann::json& profile);

// The file prewarm-seccomp-exec reads (seccomp_filter_file.h), for this host's ABI.
std::string EncodeSeccompFile(const std::vector<sock_filter>& program);
absl::StatusOr<std::vector<sock_filter>> DecodeSeccompFile(std::string_view bytes);

}  // namespace prewarm::agent::oci
