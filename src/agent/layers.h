// Read-only root filesystem layers on the node. A layer is a directory tree, named by a
// hash of everything that went into it, built in a temporary directory and renamed into
// place atomically: building twice (or concurrently) yields the same directory, and a
// directory that exists is complete. The oci runtime stacks layers with overlayfs.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/process.h"
#include "common/status.h"

namespace prewarm::agent {

// host path -> absolute guest path, e.g. {"/opt/prewarm/bin/prewarm-httpd",
// "/usr/bin/prewarm-httpd"}.
using LayerFiles = std::map<std::string, std::string>;

// The minimal base every instance starts from: busybox (static) with applet links in
// /bin (sh, ls, ip, ...), /etc/passwd and /etc/group (root, nobody), and empty /proc
// /dev /sys /tmp /srv /usr/bin as mount points. Returns the layer's directory.
absl::StatusOr<std::string> BuildBaseLayer(const std::string& cache_dir,
                                           const std::string& busybox = "/bin/busybox");

// A layer holding exactly `files` (content and permission bits copied). `name` is a
// human-readable prefix of the directory name ([a-zA-Z0-9_.-]+).
absl::StatusOr<std::string> BuildFileLayer(const std::string& cache_dir, const std::string& name,
                                           const LayerFiles& files);

// The layer of one Debian package file: <cache_dir>/deb-<package>-<digest of the .deb>,
// unpacked with `dpkg-deb -x` (no maintainer scripts). See packages.h.
absl::StatusOr<std::string> BuildDebLayer(ProcessRunner& runner, const std::string& cache_dir,
                                          const std::string& deb, const std::string& package);

// The (link, path) pairs a maintainer script registers with `update-alternatives
// --install LINK NAME PATH PRIORITY`, literal absolute paths only. BuildDebLayer adds them
// as symlinks, since the scripts themselves never run.
std::vector<std::pair<std::string, std::string>> AlternativesInstalled(const std::string& script);

// One layer holding `layers` (top first) merged, the top one winning where they overlap:
// <cache_dir>/merged-<digest of the layer names>, hard links into the layers (no copies).
// Whiteouts in the layers (overlayfs' form, see oci_image.h) are applied: a whiteout
// removes what the layers below have at its path, an opaque directory hides everything
// below it, and neither is left in the merged layer.
// For runtimes that cannot stack many layers: an overlay mount's options must fit one
// page (about 40 long layer paths), a microvm has 24 virtio-mmio slots.
absl::StatusOr<std::string> BuildMergedLayer(ProcessRunner& runner, const std::string& cache_dir,
                                             const std::vector<std::string>& layers);

// Returns <cache_dir>/<name>-<first 32 hex digits of digest>, building it with `fill` into
// a temporary directory first if it does not exist yet (the atomic build above).
absl::StatusOr<std::string> MaterializeLayer(
    const std::string& cache_dir, const std::string& name, const std::string& digest,
    const std::function<absl::Status(const std::filesystem::path&)>& fill);

// Lower-case hex SHA-256 of `data`.
std::string Sha256OfString(std::string_view data);

// Lower-case hex SHA-256 of a file's content.
absl::StatusOr<std::string> Sha256OfFile(const std::string& path);

}  // namespace prewarm::agent
