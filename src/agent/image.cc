#include "agent/image.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "agent/layers.h"
#include "agent/packages.h"
#include "fmt/format.h"

namespace prewarm::agent {

const std::vector<std::string>& GuestPackageTool() {
  static const std::vector<std::string> kTool = {"dpkg", "libc-bin", "diffutils"};
  return kTool;
}

namespace {

// The image part of BuildTemplateImage: `img` already holds the template's file layer.
absl::Status AddOciImage(const std::string& cache_dir, const TemplateConfig& t,
                         ProcessRunner& runner, const PullOptions& pull, TemplateImage& img) {
  ASSIGN_OR_RETURN(ImageRef ref, ParseImageRef(t.image));
  ASSIGN_OR_RETURN(OciImage oci, EnsureOciImage(runner, cache_dir, ref, pull));
  ASSIGN_OR_RETURN(std::string mount_points, BuildMountPointLayer(cache_dir));
  img.image_ref = oci.ref;
  img.layers.push_back(mount_points);
  img.layers.insert(img.layers.end(), oci.layers.begin(), oci.layers.end());
  if (t.command.empty()) {
    img.command = oci.config.entrypoint;
    img.command.insert(img.command.end(), oci.config.cmd.begin(), oci.config.cmd.end());
    if (img.command.empty()) {
      return absl::InvalidArgumentError(
          fmt::format("image {} has no entrypoint or cmd: the template needs a command", oci.ref));
    }
  }
  // An image that sets no PATH gets the one container engines give it (its binaries
  // are often in /usr/local/bin or /sbin, which the busybox templates' default lacks).
  img.env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const std::string& kv : oci.config.env) {
    size_t eq = kv.find('=');
    img.env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  std::string user = t.user.empty() ? oci.config.user : t.user;
  auto resolved = ResolveImageUser(user, img.layers);
  if (!resolved.ok()) {
    return absl::Status(resolved.status().code(),
                        fmt::format("image {}: {}", oci.ref, resolved.status().message()));
  }
  img.user = *resolved;
  img.cwd = !t.workdir.empty() ? t.workdir : !oci.config.workdir.empty() ? oci.config.workdir : "/";
  img.app_port = t.app_port != 0                ? t.app_port
                 : oci.config.tcp_ports.empty() ? 0
                                                : oci.config.tcp_ports.front();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TemplateImage> BuildTemplateImage(const std::string& cache_dir,
                                                 const TemplateConfig& t,
                                                 const std::string& binary_dir,
                                                 ProcessRunner& runner, const PullOptions& pull) {
  auto in_template = [&t](const absl::Status& st) {
    return absl::Status(st.code(), fmt::format("template {}: {}", t.name, st.message()));
  };
  TemplateImage img;
  img.command = t.command;
  LayerFiles files;
  for (const auto& [host, guest] : t.files) {
    std::string path = host.starts_with("@") ? binary_dir + "/" + host.substr(1) : host;
    if (!std::filesystem::exists(path)) {
      return absl::NotFoundError(
          fmt::format("template {}: file '{}' (for {}) does not exist", t.name, path, guest));
    }
    files[path] = guest;
  }
  if (!files.empty()) {
    ASSIGN_OR_RETURN(std::string layer, BuildFileLayer(cache_dir, t.name, files));
    img.layers.push_back(layer);
  }
  if (!t.image.empty()) {
    if (absl::Status st = AddOciImage(cache_dir, t, runner, pull, img); !st.ok())
      return in_template(st);
    return img;
  }
  std::set<std::string> exclude = DefaultExcludedPackages();
  for (const std::string& e : t.exclude_packages) {
    if (e.starts_with("-")) {
      exclude.erase(e.substr(1));
    } else {
      exclude.insert(e);
    }
  }
  std::vector<std::string> wanted = t.packages;
  if (!t.install_packages.empty())
    wanted.insert(wanted.end(), GuestPackageTool().begin(), GuestPackageTool().end());
  std::set<std::string> prebuilt;
  std::string status;  // dpkg's view of the pre-built packages, for the instance's dpkg
  if (!wanted.empty()) {
    auto pkgs = ResolvePackages(runner, wanted, exclude);
    if (!pkgs.ok()) return in_template(pkgs.status());
    auto layers = BuildDebLayers(runner, cache_dir, *pkgs);
    if (!layers.ok()) return in_template(layers.status());
    img.layers.insert(img.layers.end(), layers->begin(), layers->end());
    for (const DebPackage& p : *pkgs) {
      prebuilt.insert(p.name);
      // libc6_2.36-9+deb12u14_amd64.deb: the architecture ends the file name.
      size_t us = p.filename.rfind('_'), dot = p.filename.rfind(".deb");
      std::string arch =
          us != std::string::npos && dot > us ? p.filename.substr(us + 1, dot - us - 1) : "amd64";
      status += fmt::format(
          "Package: {}\nStatus: install ok installed\nVersion: {}\nArchitecture: {}\n"
          "Description: pre-built as a layer by prewarm\n\n",
          p.name, p.version, arch);
    }
  }
  ASSIGN_OR_RETURN(std::string base, BuildBaseLayer(cache_dir));
  img.layers.push_back(base);
  if (t.install_packages.empty()) return img;

  auto closure = ResolvePackages(runner, t.install_packages, exclude);
  if (!closure.ok()) return in_template(closure.status());
  std::vector<DebPackage> to_install;
  for (const DebPackage& p : *closure) {
    if (!prebuilt.count(p.name)) to_install.push_back(p);
  }
  if (to_install.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("template {}: install_packages are all in the pre-built layers already; drop "
                    "install_packages",
                    t.name));
  }
  if (absl::Status st = FetchDebs(runner, cache_dir, to_install); !st.ok()) return in_template(st);
  LayerFiles install;
  std::string activate = binary_dir + "/prewarm-guest-activate";
  if (!std::filesystem::exists(activate)) {
    return absl::NotFoundError(
        fmt::format("template {}: {} not found (install_packages needs it)", t.name, activate));
  }
  install[activate] = "/prewarm-guest-activate";
  for (const DebPackage& p : to_install) {
    std::string deb = cache_dir + "/debs/" + p.filename;
    install[deb] = "/debs/" + p.filename;
    ASSIGN_OR_RETURN(uint64_t bytes, InstalledBytes(runner, deb));
    img.install_bytes += bytes;
    img.installed.push_back(p.name);
  }
  std::string status_file =
      fmt::format("{}/.status-{}-{}", cache_dir, Sha256OfString(status).substr(0, 16), ::getpid());
  {
    std::ofstream out(status_file, std::ios::trunc);
    out << status;
    if (!out) return absl::InternalError("cannot write " + status_file);
  }
  install[status_file] = "/status";
  auto dir = BuildFileLayer(cache_dir, "install-" + t.name, install);
  std::error_code ec;
  std::filesystem::remove(status_file, ec);
  if (!dir.ok()) return dir.status();
  img.install_dir = *dir;
  return img;
}

TemplateSpec TemplateSpecOf(const TemplateConfig& t, TemplateImage img) {
  TemplateSpec spec;
  spec.name = t.name;
  spec.layers = std::move(img.layers);
  spec.command = std::move(img.command);
  spec.env = std::move(img.env);
  for (const auto& [k, v] : t.env) spec.env[k] = v;
  spec.user = img.user;
  spec.cwd = std::move(img.cwd);
  spec.app_port = img.app_port;
  spec.memory_limit_bytes = t.memory_bytes;
  spec.pids_limit = t.pids;
  spec.cpus = t.cpus;
  spec.scratch_bytes = t.scratch_bytes;
  spec.scratch_mount = t.scratch_mount;
  spec.probe_path = t.probe_path;
  spec.install_dir = std::move(img.install_dir);
  spec.install_bytes = img.install_bytes;
  return spec;
}

}  // namespace prewarm::agent
