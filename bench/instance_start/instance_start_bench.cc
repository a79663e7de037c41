// instance_start_bench: how long from "the agent decides to start an instance" to "the
// instance answers HTTP 200", side by side in one run for every runtime path:
// the `static` template (prewarm-httpd over the busybox base, one preloaded file)
//   oci          runc, overlayfs of the layers, tmpfs scratch, socket activation
//   qemu-cold    QEMU microvm cold boot (Debian kernel, erofs layers, TCG here)
//   qemu-restore QEMU microvm restored from the template's full snapshot (RAM in the
//                state file), seed and scratch handed over
//   qemu-clone   QEMU microvm restored from the template's snapshot (RAM file mapped
//                copy-on-write, device state loaded, seed and scratch handed over)
// and the `api` template (examples/templates/api.yaml: python3 from Debian) two ways:
//   oci-api, qemu-api                  python3's closure pre-built as layers
//   oci-api-install, qemu-api-install  python3 installed in each instance at start by
//                                      its own dpkg (examples/templates/api-install.yaml)
// (qemu-api* restore template clones, as the agent does by default).
//
//   sudo instance_start_bench [--n 20] [--density 4] [--variants oci,qemu-cold,...]
//
// One cycle: Create -> preload one small file -> bind the instance's 127.77.x.y:80 ->
// Start -> GET until 200 -> Destroy. Variants run round-robin (cycle i of each, then i+1)
// so the machine's noise spreads evenly. Memory: oci = the container's cgroup usage; qemu =
// the QEMU process's PSS. --density K also runs K instances of each qemu variant at once
// and reports their PSS (clones share the template's RAM file).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <map>
#include <thread>
#include <vector>

#include "agent/config.h"
#include "agent/image.h"
#include "agent/layers.h"
#include "agent/runtime/oci/oci_runtime.h"
#include "agent/runtime/qemu/qemu_runtime.h"
#include "agent/runtime/static_test_layers.h"
#include "common/process.h"
#include "fmt/format.h"
#include "workload/http_client.h"

namespace {

namespace fs = std::filesystem;
using namespace prewarm;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Args {
  int n = 20;
  int density = 4;
  std::vector<std::string> variants = {"oci",     "qemu-cold",       "qemu-restore", "qemu-clone",
                                       "oci-api", "oci-api-install", "qemu-api",     "qemu-api-install"};
  std::string httpd = PREWARM_HTTPD_PATH;
};

struct Sample {
  double create_ms, start_to_ready_ms, create_to_ready_ms, destroy_ms;
  uint64_t memory_bytes;
};

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::optional<Args> ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--n") {
      a.n = std::max(1, std::atoi(argv[i + 1]));
    } else if (flag == "--density") {
      a.density = std::max(0, std::atoi(argv[i + 1]));
    } else if (flag == "--variants") {
      a.variants.clear();
      std::string v = argv[i + 1];
      for (size_t p = 0; p <= v.size();) {
        size_t c = v.find(',', p);
        if (c == std::string::npos) c = v.size();
        a.variants.push_back(v.substr(p, c - p));
        p = c + 1;
      }
    } else if (flag == "--httpd") {
      a.httpd = argv[i + 1];
    } else {
      return std::nullopt;
    }
  }
  if (argc % 2 == 0) return std::nullopt;
  return a;
}

absl::Status WaitFor200(const IpAddr& addr, const std::string& path) {
  auto deadline = Clock::now() + milliseconds(300000);  // an install under TCG takes a while
  absl::Status last = absl::DeadlineExceededError("never answered");
  while (Clock::now() < deadline) {
    auto r = workload::HttpGet(addr, 80, path, milliseconds(1000));
    if (r.ok() && r->status == 200) return absl::OkStatus();
    last = r.ok() ? absl::InternalError(fmt::format("HTTP {}", r->status)) : r.status();
  }
  return last;
}

absl::StatusOr<Sample> Cycle(agent::Runtime& rt, const agent::InstanceSpec& spec) {
  Sample s{};
  auto t0 = Clock::now();
  ASSIGN_OR_RETURN(auto inst, rt.Create(spec));
  fs::create_directories(inst->scratch_dir() + "/content");
  std::ofstream(inst->scratch_dir() + "/content/hello.txt") << "hello from the edge\n";
  ASSIGN_OR_RETURN(ScopedFd fd, ListenTcp(spec.address, 80));
  auto t1 = Clock::now();
  RETURN_IF_ERROR(inst->Start(fd.get()));
  RETURN_IF_ERROR(WaitFor200(spec.address, spec.tmpl.probe_path));
  auto t2 = Clock::now();
  s.memory_bytes = inst->Usage().memory_bytes;
  auto t3 = Clock::now();
  RETURN_IF_ERROR(inst->Destroy());
  auto t4 = Clock::now();
  s.create_ms = Ms(t1 - t0);
  s.start_to_ready_ms = Ms(t2 - t1);
  s.create_to_ready_ms = Ms(t2 - t0);
  s.destroy_ms = Ms(t4 - t3);
  return s;
}

struct Variant {
  std::string name;
  std::unique_ptr<agent::Runtime> runtime;
  agent::TemplateSpec tmpl;
  std::vector<Sample> samples;
  std::vector<double> density_kib;
  std::string note;
};

std::vector<double> Column(const std::vector<Sample>& samples, double Sample::*field) {
  std::vector<double> v;
  for (const auto& s : samples) v.push_back(s.*field);
  return v;
}

agent::TemplateSpec StaticTemplate(const std::vector<std::string>& layers) {
  agent::TemplateSpec t;
  t.name = "static";
  t.layers = layers;
  t.command = {"/usr/bin/prewarm-httpd", "--root", "/srv/content"};
  t.memory_limit_bytes = 48ull << 20;
  t.scratch_bytes = 16ull << 20;
  t.probe_path = "/hello.txt";
  return t;
}

// examples/templates/<file>, built into `cache` as the agent would.
absl::StatusOr<agent::TemplateSpec> ExampleTemplate(const std::string& file, const std::string& cache,
                                                    ProcessRunner& runner) {
  ASSIGN_OR_RETURN(agent::TemplateConfig c,
                   agent::LoadTemplateConfig(std::string(PREWARM_SOURCE_DIR) + "/examples/templates/" + file));
  agent::LayerFiles files;
  for (const auto& [host, guest] : c.files) {
    files[host.starts_with("/") ? host : std::string(PREWARM_SOURCE_DIR) + "/" + host] = guest;
  }
  c.files = files;
  ASSIGN_OR_RETURN(agent::TemplateImage img,
                   agent::BuildTemplateImage(cache, c, fs::path(PREWARM_GUEST_ACTIVATE_PATH).parent_path(), runner));
  return agent::TemplateSpecOf(c, std::move(img));
}

agent::InstanceSpec Spec(const agent::TemplateSpec& tmpl, const std::string& id, int slot) {
  agent::InstanceSpec spec;
  spec.id = id;
  spec.address = IpAddr::V4((127u << 24) | (77u << 16) | (200u << 8) | (1 + slot % 250));
  spec.tmpl = tmpl;
  return spec;
}

// K instances of `v` running at once: their memory each, then destroyed.
absl::Status Density(Variant& v, int k) {
  std::vector<std::unique_ptr<agent::RuntimeInstance>> insts;
  std::vector<ScopedFd> fds;
  for (int i = 0; i < k; ++i) {
    agent::InstanceSpec spec = Spec(v.tmpl, fmt::format("d{}", i), 240 + i);
    ASSIGN_OR_RETURN(auto inst, v.runtime->Create(spec));
    fs::create_directories(inst->scratch_dir() + "/content");
    std::ofstream(inst->scratch_dir() + "/content/hello.txt") << "hello from the edge\n";
    ASSIGN_OR_RETURN(ScopedFd fd, ListenTcp(spec.address, 80));
    RETURN_IF_ERROR(inst->Start(fd.get()));
    insts.push_back(std::move(inst));
    fds.push_back(std::move(fd));
  }
  for (int i = 0; i < k; ++i) RETURN_IF_ERROR(WaitFor200(Spec(v.tmpl, "", 240 + i).address, v.tmpl.probe_path));
  std::this_thread::sleep_for(std::chrono::seconds(2));  // settle, as the lab note did
  for (auto& inst : insts) v.density_kib.push_back(static_cast<double>(inst->Usage().memory_bytes) / 1024.0);
  for (auto& inst : insts) RETURN_IF_ERROR(inst->Destroy());
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Args> args = ParseArgs(argc, argv);
  if (!args.has_value()) {
    std::fprintf(stderr,
                 "usage: %s [--n N] [--density K] [--variants oci,qemu-cold,qemu-restore,qemu-clone,oci-api,"
                 "oci-api-install,qemu-api,qemu-api-install] [--httpd PATH]\n",
                 argv[0]);
    return 2;
  }
  std::string tag = std::to_string(::getpid());
  fs::path work = fs::temp_directory_path() / ("prewarm-bench-" + tag);
  auto layers = agent::StaticTestLayers((work / "layers").string(), args->httpd);
  if (!layers.ok()) {
    fmt::print(stderr, "layers: {}\n", layers.status().ToString());
    return 1;
  }
  RealProcessRunner runner;
  agent::oci::OciOptions oci;
  oci.state_dir = "/run/prewarm-bench/" + tag + "-oci";
  oci.id_prefix = "pwb" + tag + "-";
  oci.cgroup_parent = "prewarm-bench";
  std::vector<Variant> variants;
  std::map<std::string, agent::TemplateSpec> api;  // api.yaml / api-install.yaml, built once
  for (const std::string& name : args->variants) {
    Variant v;
    v.name = name;
    v.tmpl = StaticTemplate(*layers);
    if (name.find("-api") != std::string::npos) {
      std::string file = name.ends_with("-install") ? "api-install.yaml" : "api.yaml";
      if (!api.count(file)) {
        auto t = ExampleTemplate(file, "/var/cache/prewarm", runner);
        if (!t.ok()) {
          fmt::print(stderr, "{}: {}\n", file, t.status().ToString());
          return 1;
        }
        api[file] = *t;
      }
      v.tmpl = api[file];
    }
    if (name == "oci" || name.starts_with("oci-api")) {
      v.runtime = std::make_unique<agent::oci::OciRuntime>(oci, runner);
    } else if (name == "qemu-cold" || name == "qemu-restore" || name == "qemu-clone" || name.starts_with("qemu-api")) {
      agent::qemu::QemuOptions q;
      q.state_dir = fmt::format("/run/prewarm-bench/{}-{}", tag, name);
      q.cache_dir = "/var/cache/prewarm";
      q.ram_dir = "/dev/shm/prewarm-bench";
      q.activate = PREWARM_GUEST_ACTIVATE_PATH;
      q.snapshot = name == "qemu-restore" ? "full" : name == "qemu-cold" ? "none" : "clone";
      auto rt = std::make_unique<agent::qemu::QemuRuntime>(q, runner);
      if (auto st = rt->Prepare(); !st.ok()) {
        fmt::print(stderr, "{}: {}\n", name, st.ToString());
        return 1;
      }
      v.note = "accel " + rt->accel();
      v.runtime = std::move(rt);
    } else {
      fmt::print(stderr, "unknown variant '{}'\n", name);
      return 2;
    }
    variants.push_back(std::move(v));
  }
  int status = 0;
  // The snapshot variants' template snapshot is made once, before the timed cycles.
  for (Variant& v : variants) {
    if (v.name != "qemu-clone" && v.name != "qemu-restore" && !v.name.starts_with("qemu-api")) continue;
    auto t0 = Clock::now();
    auto s = Cycle(*v.runtime, Spec(v.tmpl, "warm", 230));
    if (!s.ok()) {
      fmt::print(stderr, "{} template: {}\n", v.name, s.status().ToString());
      return 1;
    }
    v.note += fmt::format(", template snapshot + first instance {:.0f} ms (once per template)", Ms(Clock::now() - t0));
  }
  for (int i = 0; i < args->n && status == 0; ++i) {
    for (size_t j = 0; j < variants.size(); ++j) {
      Variant& v = variants[j];
      auto s = Cycle(*v.runtime, Spec(v.tmpl, fmt::format("i{}", i), static_cast<int>(1 + j * 25 + i % 25)));
      if (!s.ok()) {
        fmt::print(stderr, "{} cycle {}: {}\n", v.name, i, s.status().ToString());
        status = 1;
        break;
      }
      v.samples.push_back(*s);
    }
  }
  for (Variant& v : variants) {
    if (status != 0 || args->density == 0 || !v.name.starts_with("qemu")) continue;
    if (auto st = Density(v, args->density); !st.ok()) {
      fmt::print(stderr, "{} density: {}\n", v.name, st.ToString());
      status = 1;
    }
  }
  fmt::print("instance_start_bench: {} cycles per variant, round-robin, {} cores, load {}\n", args->n,
             ::sysconf(_SC_NPROCESSORS_ONLN), [] {
               std::ifstream in("/proc/loadavg");
               std::string l;
               std::getline(in, l);
               return l.substr(0, l.find(' '));
             }());
  fmt::print("{:<17} {:>4} {:>12} {:>10} {:>10} {:>14} {:>16} {:>22}\n", "variant", "n", "median ms", "p90 ms",
             "p99 ms", "create/start", "memory KiB (1)", fmt::format("PSS KiB, {} at once", args->density));
  std::map<std::string, double> median;
  for (Variant& v : variants) {
    if (v.samples.empty()) continue;
    std::vector<double> ready = Column(v.samples, &Sample::create_to_ready_ms);
    std::vector<double> mem;
    for (const auto& s : v.samples) mem.push_back(static_cast<double>(s.memory_bytes) / 1024.0);
    std::string dens = "-";
    if (!v.density_kib.empty()) {
      dens = fmt::format("{:.0f} (max {:.0f})", Percentile(v.density_kib, 0.5), Percentile(v.density_kib, 1.0));
    }
    median[v.name] = Percentile(ready, 0.5);
    std::string phases = fmt::format("{:.0f}/{:.0f}", Percentile(Column(v.samples, &Sample::create_ms), 0.5),
                                     Percentile(Column(v.samples, &Sample::start_to_ready_ms), 0.5));
    fmt::print("{:<17} {:>4} {:>12.1f} {:>10.1f} {:>10.1f} {:>14} {:>16.0f} {:>22}\n", v.name, v.samples.size(),
               Percentile(ready, 0.5), Percentile(ready, 0.9), Percentile(ready, 0.99), phases, Percentile(mem, 0.5),
               dens);
  }
  for (Variant& v : variants) {
    if (!v.note.empty()) fmt::print("  {}: {}\n", v.name, v.note);
  }
  if (median.count("qemu-restore") && median.count("qemu-cold")) {
    fmt::print("ratio qemu-restore / qemu-cold (median create->ready): {:.2f}\n",
               median["qemu-restore"] / median["qemu-cold"]);
  }
  if (median.count("qemu-clone") && median.count("qemu-cold")) {
    fmt::print("ratio qemu-clone / qemu-cold (median create->ready): {:.2f}\n",
               median["qemu-clone"] / median["qemu-cold"]);
  }
  if (median.count("oci") && median.count("qemu-clone")) {
    fmt::print("ratio qemu-clone / oci: {:.1f}\n", median["qemu-clone"] / median["oci"]);
  }
  for (const char* rt : {"oci", "qemu"}) {
    std::string layered = fmt::format("{}-api", rt), installing = layered + "-install";
    if (median.count(layered) && median.count(installing)) {
      fmt::print("ratio {} / {} (in-instance install vs pre-built layers, median create->ready): {:.1f}\n",
                 installing, layered, median[installing] / median[layered]);
    }
  }
  fmt::print("create/start: medians of create+preload+bind ms / Start -> first HTTP 200 ms\n");
  fmt::print("(1) oci: cgroup memory usage; qemu: PSS of the QEMU process with it alone\n");
  fmt::print("anchor: Firecracker boots to init in <= 125 ms with <= 5 MiB overhead on KVM hardware; this machine runs "
             "TCG, so the ratios are what count\n");
  if (!api.empty()) {
    fmt::print("api: {} layers (python3's closure) pre-built; api-install: {} layers (dpkg's closure) + {} packages "
               "({} MiB installed) installed at start\n",
               api.count("api.yaml") ? api["api.yaml"].layers.size() : 0,
               api.count("api-install.yaml") ? api["api-install.yaml"].layers.size() : 0,
               api.count("api-install.yaml") ? std::distance(fs::directory_iterator(api["api-install.yaml"].install_dir + "/debs"), fs::directory_iterator{}) : 0,
               api.count("api-install.yaml") ? api["api-install.yaml"].install_bytes >> 20 : 0);
  }
  variants.clear();
  agent::oci::OciRuntime(oci, runner).CleanupStale().IgnoreError();
  std::error_code ec;
  fs::remove_all(work, ec);
  fs::remove_all("/run/prewarm-bench", ec);
  fs::remove_all("/dev/shm/prewarm-bench", ec);
  for (const auto& controller : fs::directory_iterator("/sys/fs/cgroup", ec)) {
    ::rmdir((controller.path() / oci.cgroup_parent).c_str());  // runc leaves the parent
  }
  return status;
}
