#include "cli/image_cmd.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <set>

#include "agent/config.h"
#include "agent/oci_image.h"
#include "agent/templates.h"
#include "common/process.h"
#include "fmt/format.h"
#include "fmt/ranges.h"

namespace prewarm::cli {
namespace {
namespace fs = std::filesystem;

struct ImageFlags {
  std::string cache = "/var/cache/prewarm";
  std::string file;
  std::string ref;
  std::vector<std::string> keep;
};

// Progress of a pull on stderr, when stderr is a terminal (skopeo draws its own bars).
agent::PullOptions Progress() {
  agent::PullOptions o;
  if (::isatty(STDERR_FILENO)) {
    o.skopeo_log = "/dev/stderr";
    o.progress = [](const std::string& line) { std::cerr << line << "\n"; };
  }
  return o;
}

[[noreturn]] void Exit(const absl::Status& status) {
  if (status.ok()) throw CLI::Success();
  std::cerr << "prewarm image: " << status.message() << "\n";
  throw CLI::RuntimeError(1);
}

// Bytes of regular files under `dir` (hard links counted once), symlinks included.
uint64_t TreeBytes(const std::string& dir) {
  uint64_t total = 0;
  std::set<std::pair<dev_t, ino_t>> seen;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) continue;
    if (st.st_nlink > 1 && !seen.insert({st.st_dev, st.st_ino}).second) continue;
    total += static_cast<uint64_t>(st.st_size);
  }
  return total;
}

std::string Mb(uint64_t b) { return fmt::format("{:.1f} MB", static_cast<double>(b) / 1e6); }

// Layer directories end in "-" and 32 hex digits of their content digest (layers.h).
bool IsLayer(const fs::path& p) {
  std::string n = p.filename().string();
  if (n.size() < 34 || n[n.size() - 33] != '-' || !fs::is_directory(p)) return false;
  return n.find_first_not_of("0123456789abcdef", n.size() - 32) == std::string::npos;
}

absl::StatusOr<agent::TemplateImage> Image(const ImageFlags& f, const std::string& file) {
  ASSIGN_OR_RETURN(agent::TemplateConfig t, agent::LoadTemplateConfig(file));
  RealProcessRunner runner;
  return agent::BuildTemplateImage(f.cache, t, agent::SelfBinaryDir(), runner, Progress());
}

uint64_t LayersBytes(const std::vector<std::string>& layers) {
  uint64_t total = 0;
  for (const std::string& l : layers) total += TreeBytes(l);
  return total;
}

absl::Status Pull(const ImageFlags& f) {
  ASSIGN_OR_RETURN(agent::ImageRef ref, agent::ParseImageRef(f.ref));
  RealProcessRunner runner;
  ASSIGN_OR_RETURN(agent::OciImage img, agent::PullOciImage(runner, f.cache, ref, Progress()));
  fmt::print("{}: {} layers (top first), {} pulled, {} unpacked, manifest {}\n", img.ref,
             img.layers.size(), Mb(img.blob_bytes), Mb(LayersBytes(img.layers)),
             img.manifest_digest);
  for (size_t i = 0; i < img.layers.size(); ++i) {
    fmt::print("  {:>10}  {}  {}\n", Mb(TreeBytes(img.layers[i])),
               fs::path(img.layers[i]).filename().string(), img.layer_digests[i]);
  }
  return absl::OkStatus();
}

absl::Status Build(const ImageFlags& f) {
  ASSIGN_OR_RETURN(agent::TemplateConfig t, agent::LoadTemplateConfig(f.file));
  ASSIGN_OR_RETURN(agent::TemplateImage img, Image(f, f.file));
  uint64_t total = 0, base = 0;
  fmt::print("template {}: {} layers (top first) in {}\n", t.name, img.layers.size(), f.cache);
  for (const std::string& l : img.layers) {
    uint64_t b = TreeBytes(l);
    total += b;
    if (fs::path(l).filename().string().starts_with("base-")) base = b;
    fmt::print("  {:>10}  {}\n", Mb(b), fs::path(l).filename().string());
  }
  if (!img.image_ref.empty()) {
    fmt::print("size: {} total; image {}; runs {} as {} in {}{}\n", Mb(total), img.image_ref,
               fmt::join(img.command, " "),
               img.user ? fmt::format("{}:{}", img.user->first, img.user->second)
                        : std::string("the node's default user"),
               img.cwd, img.app_port ? fmt::format("; app port {}", img.app_port) : std::string());
    return absl::OkStatus();
  }
  fmt::print("size: {} total, of which the base {} ({} packages)\n", Mb(total), Mb(base),
             img.layers.size() - 1 - (t.files.empty() ? 0 : 1));
  if (!img.install_dir.empty()) {
    fmt::print(
        "installed in each instance at start: {} packages, {} of .debs in {}, {} once installed\n",
        img.installed.size(), Mb(TreeBytes(img.install_dir)),
        fs::path(img.install_dir).filename().string(), Mb(img.install_bytes));
  }
  return absl::OkStatus();
}

absl::Status List(const ImageFlags& f) {
  std::error_code ec;
  uint64_t total = 0;
  size_t n = 0;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(f.cache, ec)) {
    if (IsLayer(e.path())) names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    uint64_t b = TreeBytes(f.cache + "/" + name);
    total += b;
    ++n;
    std::string erofs = f.cache + "/erofs/" + name + ".erofs";
    fmt::print("{:>10}  {}{}\n", Mb(b), name, fs::exists(erofs) ? "  (+erofs image)" : "");
  }
  if (ec) return absl::NotFoundError(fmt::format("cannot list {}: {}", f.cache, ec.message()));
  fmt::print("{} layers, {}\n", n, Mb(total));
  ASSIGN_OR_RETURN(std::vector<agent::OciImage> images, agent::ListOciImages(f.cache));
  if (images.empty()) return absl::OkStatus();
  fmt::print("\nOCI images (pulled; their layers are listed above):\n");
  for (const agent::OciImage& img : images) {
    bool complete = std::all_of(img.layers.begin(), img.layers.end(),
                                [](const std::string& l) { return fs::is_directory(l); });
    fmt::print("{:>10}  {}  {} layers, {} pulled, manifest {}{}\n", Mb(LayersBytes(img.layers)),
               img.ref, img.layers.size(), Mb(img.blob_bytes), img.manifest_digest.substr(0, 19),
               complete ? "" : "  (layers missing: pulled again when used)");
  }
  return absl::OkStatus();
}

absl::Status Gc(const ImageFlags& f) {
  if (f.keep.empty())
    return absl::InvalidArgumentError("gc needs --keep TEMPLATE_FILE (the templates still in use)");
  std::set<std::string> used, used_images;
  for (const std::string& file : f.keep) {
    ASSIGN_OR_RETURN(agent::TemplateImage img, Image(f, file));
    for (const std::string& l : img.layers) used.insert(fs::path(l).filename().string());
    if (!img.install_dir.empty()) used.insert(fs::path(img.install_dir).filename().string());
    if (!img.image_ref.empty()) used_images.insert(img.image_ref);
  }
  // OCI images no kept template names: forget them (their layers go below, unless shared).
  ASSIGN_OR_RETURN(std::vector<agent::OciImage> images, agent::ListOciImages(f.cache));
  for (const agent::OciImage& img : images) {
    if (used_images.count(img.ref)) continue;
    RETURN_IF_ERROR(agent::ForgetOciImage(f.cache, img.ref));
    fmt::print("removed image {}\n", img.ref);
  }
  std::error_code ec;
  uint64_t freed = 0;
  size_t removed = 0;
  for (const auto& e : fs::directory_iterator(f.cache, ec)) {
    std::string name = e.path().filename().string();
    if (!IsLayer(e.path()) || used.count(name)) continue;
    freed += TreeBytes(e.path().string());
    fs::remove_all(e.path(), ec);
    fs::remove(f.cache + "/erofs/" + name + ".erofs", ec);
    ++removed;
    fmt::print("removed {}\n", name);
  }
  // Merged images name no layer; they are rebuilt on demand.
  for (const auto& e : fs::directory_iterator(f.cache + "/erofs", ec)) {
    if (e.path().filename().string().starts_with("merged-")) fs::remove(e.path(), ec);
  }
  fmt::print("gc: removed {} layers ({}), kept {}\n", removed, Mb(freed), used.size());
  return absl::OkStatus();
}

}  // namespace

void AddImageCommand(CLI::App& app) {
  auto f = std::make_shared<ImageFlags>();
  auto* img = app.add_subcommand("image", "template images: build, pull, list and collect layers");
  img->require_subcommand(1);
  auto* b = img->add_subcommand("build", "build a template's layers and print their sizes");
  b->add_option("template", f->file, "template file (examples/templates/*.yaml)")->required();
  b->add_option("--cache", f->cache, "layer cache")->capture_default_str();
  b->callback([f] { Exit(Build(*f)); });
  auto* p =
      img->add_subcommand("pull", "pull an OCI image into the layer cache (again, if it is there)");
  p->add_option("ref", f->ref, "docker://HOST:PORT/NAME:TAG or oci-archive:FILE")->required();
  p->add_option("--cache", f->cache, "layer cache")->capture_default_str();
  p->callback([f] { Exit(Pull(*f)); });
  auto* l = img->add_subcommand("ls", "list the cached layers and OCI images and their sizes");
  l->add_option("--cache", f->cache, "layer cache")->capture_default_str();
  l->callback([f] { Exit(List(*f)); });
  auto* g = img->add_subcommand("gc", "remove layers and OCI images no kept template uses");
  g->add_option("--cache", f->cache, "layer cache")->capture_default_str();
  g->add_option("--keep", f->keep, "template file still in use (repeatable)");
  g->callback([f] { Exit(Gc(*f)); });
}

}  // namespace prewarm::cli
