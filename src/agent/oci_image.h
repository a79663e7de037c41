// OCI images as templates (`image: docker://HOST:PORT/NAME:TAG` or `image: oci-archive:FILE`).
//
// A pull copies the image with Debian's skopeo into a temporary OCI image layout under the
// cache (on a bounded tmpfs of its own when the agent may mount one: the layout is dropped
// at the end of the pull and never needs to reach the disk), checks every blob against
// its digest, and unpacks each layer into the same
// content-addressed layer cache as the shipped templates' layers (layers.h): one directory
// per layer digest, shared by every image that has it. Whiteouts are stored the way
// overlayfs reads them, so the oci runtime stacks the layers as they are:
//   .wh.NAME        -> NAME as a character device 0/0 (overlayfs' whiteout)
//   .wh..wh..opq    -> the directory gets the xattr trusted.overlay.opaque=y
// (BuildMergedLayer applies both when it flattens layers.) The pulled image is recorded
// in <cache>/images/<digest of the reference>.json: a template whose image is recorded
// starts without asking the registry again; `prewarm image pull` refreshes it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/process.h"
#include "common/status.h"

namespace prewarm::agent {

struct ImageRef {
  enum class Transport { kDocker, kOciArchive };
  Transport transport = Transport::kDocker;
  // kDocker: HOST[:PORT]/NAME[:TAG] (":latest" added when no tag or digest is given);
  // kOciArchive: the archive's absolute path.
  std::string location;
  std::string host;              // kDocker only: the registry host, without the port
  std::string ToString() const;  // the skopeo source: "docker://..." or "oci-archive:..."
  // A registry on the loopback (127.0.0.0/8, ::1, localhost): skopeo is told not to
  // verify TLS (such test registries speak plain HTTP). Every other registry is verified.
  bool loopback() const;
};

// Parses and validates a template's `image:` value. Relative archive paths are made
// absolute against the current directory.
absl::StatusOr<ImageRef> ParseImageRef(std::string_view ref);

// The parts of an image's config (the config blob's "config" object) an instance uses.
struct ImageConfig {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;     // "K=V"
  std::string user;                 // "", "name", "uid", "name:group", "uid:gid"
  std::string workdir;              // absolute, or empty
  std::vector<uint16_t> tcp_ports;  // ExposedPorts "8080/tcp" (udp ones are left out)
};

// Parses an image config blob (JSON). Fields of the wrong type are errors.
absl::StatusOr<ImageConfig> ParseImageConfig(std::string_view json);

// Where a pull's time went (not recorded: a recorded image was not pulled by this call).
struct PullPhases {
  double fetch_ms = 0;   // skopeo copy into the temporary layout
  double verify_ms = 0;  // sha256 of every blob (index, manifest, config, layers)
  double unpack_ms = 0;  // the layers unpacked into the layer cache (renamed into place)
  // Wall time of the layers' digest checks and unpacking: a layer's check runs beside
  // its unpacking, so this can be less than their sum.
  double layers_ms = 0;
  double record_ms = 0;  // the record written, the temporary layout removed
};

// A pulled image on this node.
struct OciImage {
  std::string ref;              // ImageRef::ToString()
  std::string manifest_digest;  // "sha256:..."
  ImageConfig config;
  std::vector<std::string> layer_digests;  // top first
  std::vector<std::string> layers;         // unpacked layer directories, top first
  uint64_t blob_bytes = 0;                 // the compressed layers, as pulled
  // oci-archive only: the archive's size and mtime when it was imported; a changed
  // archive is imported again.
  uint64_t archive_size = 0;
  int64_t archive_mtime_ns = 0;
  PullPhases phases;  // set by PullOciImage and ImportOciLayout only
};

// Called with one line of progress ("copying ...", "layer 2/3 sha256:... unpacked").
using PullProgress = std::function<void(const std::string&)>;

struct PullOptions {
  // Where skopeo's own output goes while it runs (e.g. "/dev/stderr" on a terminal, for
  // its progress bars); empty: captured and shown only in errors.
  std::string skopeo_log;
  PullProgress progress;  // may be empty
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
};

// Copies `ref` with skopeo, verifies and unpacks it, and records it (replacing an older
// record of the same reference).
absl::StatusOr<OciImage> PullOciImage(ProcessRunner& runner, const std::string& cache_dir,
                                      const ImageRef& ref, const PullOptions& options = {});

// The recorded image of `ref` when it is there and its layers are all in the cache (and,
// for an archive, the archive has not changed); else pulls it.
absl::StatusOr<OciImage> EnsureOciImage(ProcessRunner& runner, const std::string& cache_dir,
                                        const ImageRef& ref, const PullOptions& options = {});

// Every image recorded in the cache, sorted by reference. Unreadable records are errors.
absl::StatusOr<std::vector<OciImage>> ListOciImages(const std::string& cache_dir);

// Removes the record of `ref` (its layers stay until `prewarm image gc`).
absl::Status ForgetOciImage(const std::string& cache_dir, const std::string& ref);

// Reads the OCI image layout at `layout_dir` (index.json with one image), verifies the
// manifest, config and layer blobs against their digests and unpacks the layers into
// `cache_dir`. `ref` is only recorded. Exposed for tests.
absl::StatusOr<OciImage> ImportOciLayout(const std::string& cache_dir,
                                         const std::string& layout_dir, const std::string& ref,
                                         const PullProgress& progress = {});

// Unpacks one layer blob (tar, tar+gzip or tar+zstd per `media_type`) whose digest is
// `digest` into the layer cache, whiteouts as overlayfs reads them (see above). Entries
// whose path leaves the layer ("..", or through a symlink) are errors. Needs root (the
// whiteouts are device nodes and trusted.* xattrs). Returns the layer's directory.
absl::StatusOr<std::string> UnpackOciLayer(const std::string& cache_dir, const std::string& blob,
                                           const std::string& digest,
                                           const std::string& media_type);

// A layer of the directories every runc instance's root needs as mount points (proc,
// dev, sys, tmp, run), stacked on top of an image, whose own root may lack them.
absl::StatusOr<std::string> BuildMountPointLayer(const std::string& cache_dir);

// Resolves an OCI `user` ("", "name", "uid", "name:group", "uid:gid", "uid:group" ...)
// against /etc/passwd and /etc/group as the layers (top first) show them. "" is nullopt.
absl::StatusOr<std::optional<std::pair<uint32_t, uint32_t>>> ResolveImageUser(
    const std::string& user, const std::vector<std::string>& layers);

}  // namespace prewarm::agent
