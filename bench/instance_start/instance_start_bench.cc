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
// (qemu-api* restore template clones, as the agent does by default), and, with
// --image REF (bench/instance_start/oci_image.sh builds one and serves it from a local
// docker-registry):
//   oci-image    the same content as `static` (busybox, prewarm-httpd) as an OCI image
//                pulled with skopeo, layers unpacked into a fresh cache
//   qemu-image   that image under QEMU: its layers as erofs disks, clones of its
//                template's snapshot (the peer: qemu-clone)
// and the cost of hardening runc (oci runs with the agent's defaults: the seccomp profile,
// precompiled and installed by prewarm-seccomp-exec, and a user namespace per instance):
//   oci-unhardened  `static` with neither (seccomp unconfined, the host's ids)
//   oci-no-seccomp, oci-no-userns  with one of them
//   oci-seccomp-runtime  the same profile handed to runc in config.json (`seccomp:
//                        runtime`: runc compiles it at every start), user namespace on
// and the cost of the QEMU jail (qemu-* run jailed, the agent's default):
//   qemu-cold-nojail, qemu-clone-nojail  qemu-cold and qemu-clone with `jail: false`
// and of each jailed QEMU's own cgroup (made, limited, joined, read back, removed):
//   qemu-cold-nocgroup, qemu-clone-nocgroup  jailed, but QEMU left in the agent's cgroup
// plus, for oci, oci-image, qemu-clone and qemu-image, --first K times from an empty cache:
// build the layers or pull and unpack the image, then the first create -> HTTP 200 (under
// QEMU: erofs disks, the template's boot and snapshot, its first clone); and
//   oci-relay    `static` with prewarm-httpd listening on its own port (--listen
//                127.0.0.1:8080, TemplateSpec::app_port), as the agent runs it by default:
//                its bind() gets the instance's socket (port_handoff.h), nothing relays
//   oci-relay-kernel  the same behind the agent's relay, connections relayed by the
//                kernel (BPF sockmap; `runtime: {relay: kernel}`)
//   oci-relay-threads  the same, relayed by the relay's thread (RelayOptions::kernel_splice
//                false, the agent's `runtime: {relay: threads}`)
// with --wrk SECONDS, Debian's wrk against one running instance of oci and of each relay
// variant given (2 CPUs each, so the quota does not throttle the app), in alternating
// rounds: requests/s and p99 of socket activation vs the relay.
//
//   sudo instance_start_bench [--n 20] [--density 4] [--variants oci,qemu-cold,...]
//                             [--image docker://127.0.0.1:PORT/NAME:TAG] [--first 5]
//                             [--wrk 10]
//
// One cycle: Create -> preload one small file -> bind the instance's 127.77.x.y:80 ->
// Start -> GET until 200 -> Destroy. Variants run round-robin (cycle i of each, then i+1)
// so the machine's noise spreads evenly. Memory: oci = the container's cgroup usage; qemu =
// the QEMU process's PSS. --density K also runs K instances of each qemu variant at once
// and reports their PSS (clones share the template's RAM file). For each qemu variant it
// also prints the medians of its starts' phases (QemuRuntime::StartPhases: scratch disk,
// spawn, QMP, state load, cont, identity, root, listen, gate open, then the GET's 200).
//
// --burst 1,4,16,32 (oci only): K instances started at once, each on a thread of its own as
// the agent starts them, R rounds per K (--burst-rounds, 3): every instance's create -> HTTP
// 200 and the time until the last one answered, i.e. how start time grows with concurrent
// starts on this machine. `prewarm sim --start-contention` models that growth; the line
// `parallelism` (K x the median lone start / the makespan) is the number of starts the
// machine runs at full speed at once.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/config.h"
#include "agent/image.h"
#include "agent/layers.h"
#include "agent/oci_image.h"
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
  int density_rounds = 1;  // --density K runs of each qemu variant, round-robin
  std::vector<std::string> variants = {"oci",        "qemu-cold",       "qemu-restore",
                                       "qemu-clone", "oci-api",         "oci-api-install",
                                       "qemu-api",   "qemu-api-install"};
  std::string httpd = PREWARM_HTTPD_PATH;
  std::string image;    // oci-image: the image's reference
  std::string pad;      // a file every `static` layer set gets (oci_image.sh's PAD_MB)
  int first = 5;        // oci(-image), qemu-clone/-image from an empty cache, this many times each
  int wrk_seconds = 0;  // oci vs oci-relay under wrk, per round (0: no load test)
  std::vector<int> burst;  // oci: K instances started at once, for each K
  int burst_rounds = 3;
  std::string smaps_dir;  // --smaps-dir: each density instance's /proc/PID/smaps kept here
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
    } else if (flag == "--density-rounds") {
      a.density_rounds = std::max(1, std::atoi(argv[i + 1]));
    } else if (flag == "--variants") {
      a.variants.clear();
      std::string v = argv[i + 1];
      for (size_t p = 0; p <= v.size();) {
        size_t c = v.find(',', p);
        if (c == std::string::npos) c = v.size();
        a.variants.push_back(v.substr(p, c - p));
        p = c + 1;
      }
    } else if (flag == "--smaps-dir") {
      a.smaps_dir = argv[i + 1];
    } else if (flag == "--httpd") {
      a.httpd = argv[i + 1];
    } else if (flag == "--image") {
      a.image = argv[i + 1];
    } else if (flag == "--pad") {
      a.pad = argv[i + 1];
    } else if (flag == "--first") {
      a.first = std::max(0, std::atoi(argv[i + 1]));
    } else if (flag == "--wrk") {
      a.wrk_seconds = std::max(0, std::atoi(argv[i + 1]));
    } else if (flag == "--burst") {
      std::string v = argv[i + 1];
      for (size_t p = 0; p <= v.size();) {
        size_t c = v.find(',', p);
        if (c == std::string::npos) c = v.size();
        int k = std::atoi(v.substr(p, c - p).c_str());
        if (k < 1 || k > 200) return std::nullopt;  // addresses 127.77.201.1 .. .200
        a.burst.push_back(k);
        p = c + 1;
      }
    } else if (flag == "--burst-rounds") {
      a.burst_rounds = std::max(1, std::atoi(argv[i + 1]));
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
    // One request that waits as long as it takes: the instance's socket is bound before it
    // starts, so the connection waits in its backlog. (Requests given up after a second
    // stayed queued too, and a cold guest served those first: ~0.6 s of its figure.)
    auto r = workload::HttpGet(addr, 80, path,
                               std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
    if (r.ok() && r->status == 200) return absl::OkStatus();
    last = r.ok() ? absl::InternalError(fmt::format("HTTP {}", r->status)) : r.status();
  }
  return last;
}

// The one file every variant preloads (its probe path is /hello.txt).
void PreloadHello(agent::RuntimeInstance& inst) {
  fs::create_directories(inst.scratch_dir() + "/content");
  std::ofstream(inst.scratch_dir() + "/content/hello.txt") << "hello from the edge\n";
}

struct Started {
  std::unique_ptr<agent::RuntimeInstance> inst;
  ScopedFd fd;  // its listening socket, held while it runs
};

// Create -> preload -> bind the instance's address -> Start (not waiting for HTTP 200). An
// instance whose Start fails is destroyed.
absl::StatusOr<Started> Launch(agent::Runtime& rt, const agent::InstanceSpec& spec) {
  Started s;
  ASSIGN_OR_RETURN(s.inst, rt.Create(spec));
  PreloadHello(*s.inst);
  absl::StatusOr<ScopedFd> fd = ListenTcp(spec.address, 80);
  absl::Status st = fd.ok() ? s.inst->Start(fd->get()) : fd.status();
  if (!st.ok()) {
    s.inst->Destroy().IgnoreError();
    return st;
  }
  s.fd = std::move(*fd);
  return s;
}

absl::StatusOr<Sample> Cycle(agent::Runtime& rt, const agent::InstanceSpec& spec) {
  Sample s{};
  auto t0 = Clock::now();
  ASSIGN_OR_RETURN(auto inst, rt.Create(spec));
  PreloadHello(*inst);
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

struct WrkResult {
  double rps = 0, p99_ms = 0;
};

// A QEMU process's memory by what its mappings hold, from /proc/PID/smaps (KiB). PSS counts
// a page shared by N processes as 1/N; a page a process wrote in a private mapping
// (copy-on-write) is its own (Anonymous).
struct Smaps {
  double guest_copied = 0;  // guest RAM pages this clone wrote: copies of the template's
  double guest_shared = 0;  // guest RAM pages read from the template's RAM file (PSS)
  double tcg = 0;           // TCG's translation buffer (the anonymous executable mapping)
  double ram_blocks = 0;    // QEMU's other RAM blocks: firmware, ACPI tables (madvised)
  double heap = 0;          // malloc's heap and arenas, thread stacks, other anonymous
  double lib_written = 0;   // QEMU's binary and libraries: pages it wrote (relocations, data)
  double lib_shared = 0;    // QEMU's binary, libraries, kernel image: read pages (PSS)
  double pss = 0, rss = 0, thp = 0;  // thp: of the rss, in transparent huge pages
};

// Guest RAM: the template's RAM file (memfd "prewarm-ram-...") or, without one, the largest
// anonymous RAM block.
absl::StatusOr<Smaps> ReadSmaps(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/smaps", pid));
  if (!in) return absl::NotFoundError(fmt::format("/proc/{}/smaps", pid));
  struct Map {
    uint64_t size = 0;
    std::string perms, name, flags;
    std::map<std::string, double> kib;
  };
  std::vector<Map> maps;
  for (std::string line; std::getline(in, line);) {
    size_t colon = line.find(':');
    size_t dash = line.find('-');
    if (dash != std::string::npos && (colon == std::string::npos || dash < colon) &&
        std::isxdigit(static_cast<unsigned char>(line[0]))) {
      std::istringstream f(line);
      std::string range, offset, dev, inode;
      Map m;
      f >> range >> m.perms >> offset >> dev >> inode;
      std::getline(f >> std::ws, m.name);
      m.size = std::stoull(range.substr(range.find('-') + 1), nullptr, 16) -
               std::stoull(range.substr(0, range.find('-')), nullptr, 16);
      maps.push_back(std::move(m));
    } else if (!maps.empty() && colon != std::string::npos) {
      std::string key = line.substr(0, colon);
      if (key == "VmFlags") {
        maps.back().flags = line.substr(colon + 1);
      } else {
        maps.back().kib[key] = std::atof(line.c_str() + colon + 1);
      }
    }
  }
  const Map* ram = nullptr;
  for (const Map& m : maps) {
    if (m.name.find("/memfd:prewarm-ram-") == 0) ram = &m;
  }
  if (ram == nullptr) {
    for (const Map& m : maps) {
      if (m.name.empty() && m.flags.find(" dc") != std::string::npos &&
          (ram == nullptr || m.size > ram->size))
        ram = &m;
    }
  }
  Smaps s;
  for (const Map& m : maps) {
    auto k = [&](const char* key) {
      auto it = m.kib.find(key);
      return it == m.kib.end() ? 0.0 : it->second;
    };
    double pss = k("Pss"), anon = k("Anonymous");
    s.pss += pss;
    s.rss += k("Rss");
    s.thp += k("AnonHugePages");
    if (&m == ram) {
      s.guest_copied += anon;
      s.guest_shared += pss - anon;
    } else if (m.name.starts_with("/")) {
      s.lib_written += anon;
      s.lib_shared += pss - anon;
    } else if (m.name.empty() && m.perms.find('x') != std::string::npos) {
      s.tcg += pss;
    } else if (m.name.empty() && m.flags.find(" dc") != std::string::npos) {
      s.ram_blocks += pss;  // QEMU marks its RAM blocks MADV_DONTFORK
    } else {
      s.heap += pss;
    }
  }
  return s;
}

struct Variant {
  std::string name;  // as given: base name and settings (qemu-clone:tb8)
  std::string base;  // qemu-clone
  std::unique_ptr<agent::Runtime> runtime;
  agent::TemplateSpec tmpl;
  std::vector<Sample> samples;
  std::vector<double> density_kib;
  std::vector<Smaps> smaps;          // qemu: each instance of the density runs, by mapping
  std::vector<Smaps> standby_smaps;  // qemu: the standby VMs waiting beside them
  std::vector<WrkResult> wrk;
  std::string note;
  std::vector<agent::qemu::StartPhases> phases;  // qemu: each cycle's Start(), by phase
};

std::vector<double> Column(const std::vector<Sample>& samples, double Sample::*field) {
  std::vector<double> v;
  for (const auto& s : samples) v.push_back(s.*field);
  return v;
}

// The `static` template's layers in `cache` (StaticTestLayers) and, with --pad FILE, a
// layer holding FILE as /opt/pad.bin on top: the same bytes oci_image.sh puts in its image.
absl::StatusOr<std::vector<std::string>> StaticLayers(const std::string& cache, const Args& a) {
  ASSIGN_OR_RETURN(std::vector<std::string> layers, agent::StaticTestLayers(cache, a.httpd));
  if (!a.pad.empty()) {
    ASSIGN_OR_RETURN(std::string pad,
                     agent::BuildFileLayer(cache, "pad", {{a.pad, "/opt/pad.bin"}}));
    layers.insert(layers.begin(), pad);
  }
  return layers;
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
absl::StatusOr<agent::TemplateSpec> ExampleTemplate(const std::string& file,
                                                    const std::string& cache,
                                                    ProcessRunner& runner) {
  ASSIGN_OR_RETURN(
      agent::TemplateConfig c,
      agent::LoadTemplateConfig(std::string(PREWARM_SOURCE_DIR) + "/examples/templates/" + file));
  agent::LayerFiles files;
  for (const auto& [host, guest] : c.files) {
    files[host.starts_with("/") ? host : std::string(PREWARM_SOURCE_DIR) + "/" + host] = guest;
  }
  c.files = files;
  ASSIGN_OR_RETURN(agent::TemplateImage img,
                   agent::BuildTemplateImage(
                       cache, c, fs::path(PREWARM_GUEST_ACTIVATE_PATH).parent_path(), runner));
  return agent::TemplateSpecOf(c, std::move(img));
}

// The `static` instance from an OCI image (its entrypoint is prewarm-httpd --root
// /srv/content), pulled into `cache`.
absl::StatusOr<agent::TemplateSpec> ImageTemplate(const std::string& ref, const std::string& cache,
                                                  ProcessRunner& runner) {
  agent::TemplateConfig c;
  c.name = "static-image";
  c.image = ref;
  ASSIGN_OR_RETURN(agent::TemplateImage img,
                   agent::BuildTemplateImage(cache, c, "/nonexistent", runner));
  agent::TemplateSpec t = agent::TemplateSpecOf(c, std::move(img));
  agent::TemplateSpec s = StaticTemplate({});
  s.layers = t.layers;
  s.command = t.command;
  s.env = t.env;
  s.user = t.user;
  s.cwd = t.cwd;
  s.app_port = t.app_port;
  return s;
}

agent::InstanceSpec Spec(const agent::TemplateSpec& tmpl, const std::string& id, int slot) {
  agent::InstanceSpec spec;
  spec.id = id;
  spec.slot =
      static_cast<uint32_t>(slot);  // unique among live instances, as the agent hands them out
  spec.address = IpAddr::V4((127u << 24) | (77u << 16) | (200u << 8) | (1 + slot % 250));
  spec.tmpl = tmpl;
  return spec;
}

// K instances of `v` running at once: their memory each (PSS, and for qemu by mapping), then
// destroyed. With `smaps_dir`, each QEMU's smaps is copied there (<variant>-<round>-<i>).
absl::Status Density(Variant& v, int k, const std::string& smaps_dir) {
  std::vector<Started> insts;
  for (int i = 0; i < k; ++i) {
    ASSIGN_OR_RETURN(Started s, Launch(*v.runtime, Spec(v.tmpl, fmt::format("d{}", i), 240 + i)));
    insts.push_back(std::move(s));
  }
  for (int i = 0; i < k; ++i)
    RETURN_IF_ERROR(WaitFor200(Spec(v.tmpl, "", 240 + i).address, v.tmpl.probe_path));
  std::this_thread::sleep_for(std::chrono::seconds(2));  // settle, as the lab note did
  auto* q = dynamic_cast<agent::qemu::QemuRuntime*>(v.runtime.get());
  for (int i = 0; i < k; ++i) {
    v.density_kib.push_back(
        static_cast<double>(insts[static_cast<size_t>(i)].inst->Usage().memory_bytes) / 1024.0);
    if (q == nullptr) continue;
    // Its directory: the instance's own, or the standby VM's it took.
    std::ifstream pid_file(
        fs::path(insts[static_cast<size_t>(i)].inst->scratch_dir()).parent_path() / "qemu.pid");
    pid_t pid = 0;
    pid_file >> pid;
    absl::StatusOr<Smaps> m = pid > 0 ? ReadSmaps(pid) : absl::NotFoundError("no qemu.pid");
    if (!m.ok()) return m.status();
    if (!smaps_dir.empty()) {
      std::error_code ec;
      fs::create_directories(smaps_dir, ec);
      std::string name = v.name;
      std::replace(name.begin(), name.end(), ':', '_');
      std::ifstream from(fmt::format("/proc/{}/smaps", pid));
      std::ofstream(fmt::format("{}/{}-{}-{}.smaps", smaps_dir, name, v.smaps.size() / k, i))
          << from.rdbuf();
    }
    v.smaps.push_back(*m);
  }
  // What the standby VMs cost meanwhile (QemuOptions::standby): memory no instance uses.
  if (q != nullptr) {
    for (pid_t pid : q->StandbyPids()) {
      if (absl::StatusOr<Smaps> m = ReadSmaps(pid); m.ok()) v.standby_smaps.push_back(*m);
    }
  }
  for (auto& s : insts) RETURN_IF_ERROR(s.inst->Destroy());
  return absl::OkStatus();
}

struct BurstResult {
  std::vector<double> ready_ms;     // every instance's create -> HTTP 200
  std::vector<double> makespan_ms;  // per round: until the last one answered
};

// K instances of `v` started at once, each on its own thread (the agent runs a thread per
// start): create, preload, bind, start, first HTTP 200; destroyed once all answered.
absl::Status Burst(Variant& v, int k, int round, BurstResult& out) {
  std::vector<Started> insts(static_cast<size_t>(k));
  std::vector<absl::Status> status(static_cast<size_t>(k));
  std::vector<double> ready(static_cast<size_t>(k));
  std::vector<std::thread> threads;
  auto t0 = Clock::now();
  for (int i = 0; i < k; ++i) {
    threads.emplace_back([&, i] {
      auto idx = static_cast<size_t>(i);
      status[idx] = [&]() -> absl::Status {
        agent::InstanceSpec spec = Spec(v.tmpl, fmt::format("b{}-{}", round, i), i);
        spec.address = IpAddr::V4((127u << 24) | (77u << 16) | (201u << 8) | (1 + i));
        ASSIGN_OR_RETURN(insts[idx], Launch(*v.runtime, spec));
        RETURN_IF_ERROR(WaitFor200(spec.address, spec.tmpl.probe_path));
        ready[idx] = Ms(Clock::now() - t0);
        return absl::OkStatus();
      }();
    });
  }
  for (auto& t : threads) t.join();
  double makespan = Ms(Clock::now() - t0);
  absl::Status first = absl::OkStatus();
  for (int i = 0; i < k; ++i) {
    auto idx = static_cast<size_t>(i);
    if (insts[idx].inst) {
      absl::Status d = insts[idx].inst->Destroy();
      if (first.ok() && !d.ok()) first = d;
    }
    if (first.ok() && !status[idx].ok()) first = status[idx];
  }
  if (!first.ok()) return first;
  out.ready_ms.insert(out.ready_ms.end(), ready.begin(), ready.end());
  out.makespan_ms.push_back(makespan);
  return absl::OkStatus();
}

// "1.23ms", "850.00us", "1.02s" -> ms
double WrkMs(const std::string& v) {
  double x = std::atof(v.c_str());
  if (v.ends_with("us")) return x / 1000;
  if (v.ends_with("ms")) return x;
  if (v.ends_with("s")) return x * 1000;
  return x;
}

// Debian's wrk (2 threads, 32 connections) against http://addr/path for `seconds`.
absl::StatusOr<WrkResult> Wrk(ProcessRunner& runner, const IpAddr& addr, const std::string& path,
                              int seconds) {
  ASSIGN_OR_RETURN(ProcessResult r,
                   runner.Run({"wrk", "-t2", "-c32", fmt::format("-d{}s", seconds), "--latency",
                               fmt::format("http://{}{}", addr.ToString(), path)},
                              std::chrono::seconds(seconds + 30)));
  if (r.exit_code != 0) return absl::InternalError("wrk: " + r.output.substr(0, 300));
  WrkResult w;
  std::istringstream in(r.output);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string a, b;
    words >> a >> b;
    if (a == "Requests/sec:") w.rps = std::atof(b.c_str());
    if (a == "99%") w.p99_ms = WrkMs(b);
    if (a == "Non-2xx" || a == "Socket") return absl::InternalError("wrk saw errors: " + line);
  }
  if (w.rps <= 0) return absl::InternalError("wrk printed no Requests/sec");
  return w;
}

// One running instance of each of `names`, then `rounds` rounds of wrk on each in turn.
absl::Status LoadTest(std::vector<Variant>& variants, const std::vector<std::string>& names,
                      int seconds, int rounds, ProcessRunner& runner) {
  std::vector<Started> insts;
  std::vector<std::pair<Variant*, IpAddr>> targets;
  for (Variant& v : variants) {
    if (std::find(names.begin(), names.end(), v.name) == names.end()) continue;
    agent::InstanceSpec spec =
        Spec(v.tmpl, "w" + std::to_string(targets.size()), 200 + static_cast<int>(targets.size()));
    spec.tmpl.cpus = 2;  // the app not throttled by its quota: what is measured is the path to it
    ASSIGN_OR_RETURN(Started s, Launch(*v.runtime, spec));
    RETURN_IF_ERROR(WaitFor200(spec.address, v.tmpl.probe_path));
    insts.push_back(std::move(s));
    targets.emplace_back(&v, spec.address);
  }
  for (int r = 0; r < rounds; ++r) {
    for (auto& [v, addr] : targets) {
      ASSIGN_OR_RETURN(WrkResult w, Wrk(runner, addr, v->tmpl.probe_path, seconds));
      v->wrk.push_back(w);
    }
  }
  for (auto& s : insts) RETURN_IF_ERROR(s.inst->Destroy());
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Args> args = ParseArgs(argc, argv);
  if (!args.has_value()) {
    std::fprintf(
        stderr,
        "usage: %s [--n N] [--density K] [--variants oci,qemu-cold,qemu-restore,qemu-clone,oci-api,"
        "oci-api-install,qemu-api,qemu-api-install,oci-image,qemu-image,oci-relay,oci-relay-"
        "kernel,oci-relay-threads,oci-unhardened,"
        "oci-no-"
        "seccomp,oci-no-userns,oci-seccomp-runtime,qemu-cold-nojail,qemu-clone-nojail,qemu-cold-"
        "nocgroup,qemu-clone-"
        "nocgroup] [--httpd PATH] [--pad FILE] [--image "
        "REF] [--first K] "
        "[--wrk SECONDS] [--burst K,K,...] [--burst-rounds R] [--density-rounds R]\n"
        "       [--smaps-dir DIR]\n"
        "qemu variants take settings after the name: qemu-clone:tb8:nothp (restore_tb_size_mb, "
        "thp; slices/noslices: glib_slices; ioapic2/noioapic2: ioapic2; capstone/nocapstone: "
        "capstone; kernel/nokernel: restore_kernel; arenaN: malloc_arena_max (0 glibc's); trimK: "
        "malloc_trim_threshold_kb; standbyN: standby_vms, 0 none)\n",
        argv[0]);
    return 2;
  }
  std::string tag = std::to_string(::getpid());
  fs::path work = fs::temp_directory_path() / ("prewarm-bench-" + tag);
  auto layers = StaticLayers((work / "layers").string(), *args);
  if (!layers.ok()) {
    fmt::print(stderr, "layers: {}\n", layers.status().ToString());
    return 1;
  }
  RealProcessRunner runner;
  agent::oci::OciOptions oci;
  // Roots of this run alone (another run may be going on beside it); the last component
  // keeps the tag too, as it names the runtimes' cgroups.
  const std::string run_root = "/run/prewarm-bench-" + tag,
                    shm_root = "/dev/shm/prewarm-bench-" + tag;
  oci.state_dir = run_root + "/" + tag + "-oci";
  oci.id_prefix = "pwb" + tag + "-";
  oci.cgroup_parent = "prewarm-bench";
  oci.seccomp_exec = PREWARM_SECCOMP_EXEC_PATH;
  std::vector<Variant> variants;
  std::map<std::string, agent::TemplateSpec> api;  // api.yaml / api-install.yaml, built once
  for (const std::string& variant : args->variants) {
    Variant v;
    v.name = variant;
    // A qemu variant may carry settings after its name: qemu-clone:tb8:nothp (QemuOptions).
    const std::string name = variant.substr(0, variant.find(':'));
    v.base = name;
    std::vector<std::string> settings;
    for (size_t p = variant.find(':'); p != std::string::npos;) {
      size_t c = variant.find(':', p + 1);
      settings.push_back(variant.substr(p + 1, c == std::string::npos ? c : c - p - 1));
      p = c;
    }
    if (!settings.empty() && !name.starts_with("qemu")) {
      fmt::print(stderr, "{}: settings are for qemu variants only\n", variant);
      return 2;
    }
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
    if (name == "oci-image" || name == "qemu-image") {
      if (args->image.empty()) {
        fmt::print(stderr, "{} needs --image REF (bench/instance_start/oci_image.sh)\n", name);
        return 2;
      }
      auto t = ImageTemplate(args->image, (work / "image-cache").string(), runner);
      if (!t.ok()) {
        fmt::print(stderr, "{}: {}\n", name, t.status().ToString());
        return 1;
      }
      v.tmpl = *t;
    }
    if (name.starts_with("oci-relay")) {
      v.tmpl.command = {"/usr/bin/prewarm-httpd", "--root", "/srv/content", "--listen",
                        "127.0.0.1:8080"};
      v.tmpl.app_port = 8080;
    }
    if (name == "oci" || name == "oci-image" || name == "oci-relay" ||
        name.starts_with("oci-api")) {
      v.runtime = std::make_unique<agent::oci::OciRuntime>(oci, runner);
    } else if (name == "oci-relay-kernel" || name == "oci-relay-threads") {  // a relay instead
      agent::oci::OciOptions o = oci;
      o.port_handoff = false;
      o.relay.kernel_splice = name == "oci-relay-kernel";
      v.runtime = std::make_unique<agent::oci::OciRuntime>(o, runner);
    } else if (name == "oci-unhardened" || name == "oci-no-seccomp" || name == "oci-no-userns" ||
               name == "oci-seccomp-runtime") {
      agent::oci::OciOptions o = oci;
      using agent::oci::SeccompMode;
      o.seccomp = name == "oci-no-userns"         ? SeccompMode::kPrecompiled
                  : name == "oci-seccomp-runtime" ? SeccompMode::kRuntime
                                                  : SeccompMode::kUnconfined;
      o.userns = name == "oci-no-seccomp" || name == "oci-seccomp-runtime";
      v.runtime = std::make_unique<agent::oci::OciRuntime>(o, runner);
    } else if (name == "qemu-cold" || name == "qemu-restore" || name == "qemu-clone" ||
               name.starts_with("qemu-api") || name == "qemu-cold-nojail" ||
               name == "qemu-clone-nojail" || name == "qemu-cold-nocgroup" ||
               name == "qemu-clone-nocgroup" || name == "qemu-image") {
      agent::qemu::QemuOptions q;
      std::string dir_name = variant;  // each variant its own directories and cgroups
      std::replace(dir_name.begin(), dir_name.end(), ':', '_');
      q.state_dir = fmt::format("{}/{}-{}", run_root, tag, dir_name);
      q.cache_dir = "/var/cache/prewarm";
      q.ram_dir = shm_root;
      q.activate = PREWARM_GUEST_ACTIVATE_PATH;
      q.jailer = PREWARM_QEMU_JAIL_PATH;
      q.capstone_off_lib = PREWARM_CAPSTONE_OFF_PATH;
      q.jail = !name.ends_with("-nojail");
      q.cgroup = !name.ends_with("-nocgroup");
      q.cgroup_parent = "prewarm-bench";
      q.snapshot = name == "qemu-restore"          ? "full"
                   : name.starts_with("qemu-cold") ? "none"
                                                   : "clone";
      for (const std::string& set : settings) {
        if (set.starts_with("tb") && std::atoi(set.c_str() + 2) > 0) {
          q.restore_tb_size_mb = static_cast<uint32_t>(std::atoi(set.c_str() + 2));
        } else if (set == "thp" || set == "nothp") {
          q.thp = set == "thp";
        } else if (set == "slices" || set == "noslices") {
          q.glib_slices = set == "slices";
        } else if (set == "ioapic2" || set == "noioapic2") {
          q.ioapic2 = set == "ioapic2";
        } else if (set == "kernel" || set == "nokernel") {
          q.restore_kernel = set == "kernel";
        } else if (set == "capstone" || set == "nocapstone") {
          q.capstone = set == "capstone";
        } else if (set.starts_with("arena") && std::atoi(set.c_str() + 5) >= 0) {
          q.malloc_arena_max = static_cast<uint32_t>(std::atoi(set.c_str() + 5));
        } else if (set.starts_with("standby") && std::atoi(set.c_str() + 7) >= 0) {
          q.standby_vms = static_cast<uint32_t>(std::atoi(set.c_str() + 7));
        } else if (set.starts_with("trim") && std::atoi(set.c_str() + 4) >= 0) {
          q.malloc_trim_threshold_kb = static_cast<uint32_t>(std::atoi(set.c_str() + 4));
        } else {
          fmt::print(
              stderr,
              "{}: unknown setting '{}' (tbN, thp, nothp, slices, noslices, ioapic2, "
              "noioapic2, capstone, nocapstone, kernel, nokernel, arenaN, trimKIB, standbyN)\n",
              variant, set);
          return 2;
        }
      }
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
    if (!v.base.starts_with("qemu-clone") && v.base != "qemu-restore" &&
        !v.base.starts_with("qemu-api") && v.base != "qemu-image")
      continue;
    auto t0 = Clock::now();
    auto s = Cycle(*v.runtime, Spec(v.tmpl, "warm", 230));
    if (!s.ok()) {
      fmt::print(stderr, "{} template: {}\n", v.name, s.status().ToString());
      return 1;
    }
    v.note += fmt::format(", template snapshot + first instance {:.0f} ms (once per template)",
                          Ms(Clock::now() - t0));
  }
  // From an empty cache: layers built (oci, qemu-clone) or image pulled (oci-image,
  // qemu-image), then the first instance, alternating, each in a directory of its own. A
  // qemu variant's first start runs on a runtime of its own over that cache (the kernel
  // linked in): its erofs disks made, its template booted and snapshotted, then its clone.
  std::map<std::string, std::vector<double>> first, first_prepare;
  // variant -> phase -> samples, in the order printed (see the table after the cycles)
  std::map<std::string, std::map<std::string, std::vector<double>>> first_phases;
  for (int k = 0; k < args->first && status == 0; ++k) {
    for (Variant& v : variants) {
      if (v.name != "oci" && v.name != "oci-image" && v.name != "qemu-clone" &&
          v.name != "qemu-image")
        continue;
      const bool image = v.name.ends_with("-image");
      std::string cache = (work / fmt::format("first-{}-{}", v.name, k)).string();
      std::unique_ptr<agent::qemu::QemuRuntime> fresh;
      if (auto* q = dynamic_cast<agent::qemu::QemuRuntime*>(v.runtime.get())) {
        agent::qemu::QemuOptions o = q->options();
        o.cache_dir = cache;
        o.state_dir += fmt::format("-first{}", k);
        o.accel = q->accel();
        std::error_code ec;
        fs::create_directories(cache, ec);
        fs::create_directory_symlink(q->options().cache_dir + "/kernel", cache + "/kernel", ec);
        fresh = std::make_unique<agent::qemu::QemuRuntime>(o, runner);
        if (auto st = fresh->Prepare(); !st.ok()) {
          fmt::print(stderr, "{} first {}: {}\n", v.name, k, st.ToString());
          status = 1;
          break;
        }
      }
      auto t0 = Clock::now();
      // The image is pulled first on its own (PullOciImage's phases), then made a template
      // (which finds it recorded: the mount-point layer and the user resolved).
      agent::PullPhases pulled;
      absl::Status pull_status = absl::OkStatus();
      if (image) {
        auto ref = agent::ParseImageRef(args->image);
        auto img = ref.ok() ? agent::PullOciImage(runner, cache, *ref) : ref.status();
        if (img.ok()) pulled = img->phases;
        pull_status = img.status();
      }
      auto t_pulled = Clock::now();
      absl::StatusOr<agent::TemplateSpec> t =
          !pull_status.ok() ? pull_status : !image ? [&]() -> absl::StatusOr<agent::TemplateSpec> {
        ASSIGN_OR_RETURN(auto l, StaticLayers(cache, *args));
        return StaticTemplate(l);
      }()
          : ImageTemplate(args->image, cache, runner);
      auto t1 = Clock::now();
      agent::Runtime& rt = fresh ? *fresh : *v.runtime;
      absl::StatusOr<Sample> s =
          t.ok() ? Cycle(rt, Spec(*t, fmt::format("f{}", k), 210 + k % 10)) : t.status();
      fresh.reset();
      if (!s.ok()) {
        fmt::print(stderr, "{} first {}: {}\n", v.name, k, s.status().ToString());
        status = 1;
        break;
      }
      first_prepare[v.name].push_back(Ms(t1 - t0));
      first[v.name].push_back(Ms(t1 - t0) + s->create_to_ready_ms);
      auto& ph = first_phases[v.name];
      if (image) {
        ph["skopeo copy"].push_back(pulled.fetch_ms);
        ph["digest checks"].push_back(pulled.verify_ms);
        ph["unpack into the layer cache"].push_back(pulled.unpack_ms);
        ph["layers: checks + unpack, wall"].push_back(pulled.layers_ms);
        ph["record + layout removed"].push_back(pulled.record_ms);
        ph["pull total"].push_back(Ms(t_pulled - t0));
        ph["template (mount points, user)"].push_back(Ms(t1 - t_pulled));
      } else {
        ph["build layers"].push_back(Ms(t1 - t0));
      }
      ph["create + preload + bind"].push_back(s->create_ms);
      ph["start -> first HTTP 200"].push_back(s->start_to_ready_ms);
      ph["total"].push_back(Ms(t1 - t0) + s->create_to_ready_ms);
      std::error_code ec;
      fs::remove_all(cache, ec);
    }
  }
  for (int i = 0; i < args->n && status == 0; ++i) {
    for (size_t j = 0; j < variants.size(); ++j) {
      Variant& v = variants[j];
      auto s = Cycle(*v.runtime,
                     Spec(v.tmpl, fmt::format("i{}", i), static_cast<int>(1 + j * 25 + i % 25)));
      if (!s.ok()) {
        fmt::print(stderr, "{} cycle {}: {}\n", v.name, i, s.status().ToString());
        status = 1;
        break;
      }
      v.samples.push_back(*s);
      if (auto* q = dynamic_cast<agent::qemu::QemuRuntime*>(v.runtime.get()))
        v.phases.push_back(q->LastStartPhases());
    }
  }
  if (status == 0 && args->wrk_seconds > 0) {
    if (auto st = LoadTest(variants, {"oci", "oci-relay", "oci-relay-kernel", "oci-relay-threads"},
                           args->wrk_seconds, 3, runner);
        !st.ok()) {
      fmt::print(stderr, "wrk: {}\n", st.ToString());
      status = 1;
    }
  }
  for (int r = 0; r < args->density_rounds; ++r) {
    for (Variant& v : variants) {
      if (status != 0 || args->density == 0 || !v.name.starts_with("qemu")) continue;
      if (auto st = Density(v, args->density, args->smaps_dir); !st.ok()) {
        fmt::print(stderr, "{} density: {}\n", v.name, st.ToString());
        status = 1;
      }
    }
  }
  std::map<int, BurstResult> bursts;
  Variant* burst_variant = nullptr;
  for (Variant& v : variants) {
    if (v.name == "oci") burst_variant = &v;
  }
  if (!args->burst.empty() && burst_variant == nullptr) {
    fmt::print(stderr, "--burst needs the oci variant\n");
    status = 2;
  }
  for (int r = 0; r < args->burst_rounds && status == 0 && burst_variant; ++r) {
    for (int k : args->burst) {  // round-robin over K, as the cycles are
      if (auto st = Burst(*burst_variant, k, r, bursts[k]); !st.ok()) {
        fmt::print(stderr, "burst {} round {}: {}\n", k, r, st.ToString());
        status = 1;
        break;
      }
    }
  }
  fmt::print("instance_start_bench: {} cycles per variant, round-robin, {} cores, load {}\n",
             args->n, ::sysconf(_SC_NPROCESSORS_ONLN), [] {
               std::ifstream in("/proc/loadavg");
               std::string l;
               std::getline(in, l);
               return l.substr(0, l.find(' '));
             }());
  fmt::print("{:<17} {:>4} {:>12} {:>10} {:>10} {:>14} {:>16} {:>22}\n", "variant", "n",
             "median ms", "p90 ms", "p99 ms", "create/start", "memory KiB (1)",
             fmt::format("PSS KiB, {} at once", args->density));
  std::map<std::string, double> median;
  for (Variant& v : variants) {
    if (v.samples.empty()) continue;
    std::vector<double> ready = Column(v.samples, &Sample::create_to_ready_ms);
    std::vector<double> mem;
    for (const auto& s : v.samples) mem.push_back(static_cast<double>(s.memory_bytes) / 1024.0);
    std::string dens = "-";
    if (!v.density_kib.empty()) {
      dens = fmt::format("{:.0f} (max {:.0f})", Percentile(v.density_kib, 0.5),
                         Percentile(v.density_kib, 1.0));
    }
    median[v.name] = Percentile(ready, 0.5);
    std::string phases =
        fmt::format("{:.0f}/{:.0f}", Percentile(Column(v.samples, &Sample::create_ms), 0.5),
                    Percentile(Column(v.samples, &Sample::start_to_ready_ms), 0.5));
    fmt::print("{:<17} {:>4} {:>12.1f} {:>10.1f} {:>10.1f} {:>14} {:>16.0f} {:>22}\n", v.name,
               v.samples.size(), Percentile(ready, 0.5), Percentile(ready, 0.9),
               Percentile(ready, 0.99), phases, Percentile(mem, 0.5), dens);
  }
  for (Variant& v : variants) {
    if (!v.note.empty()) fmt::print("  {}: {}\n", v.name, v.note);
  }
  // Where a qemu start's time goes (QemuRuntime::StartPhases), medians of the cycles; the
  // rest of create -> 200 is Create(), the preload and the bench's own GET.
  bool phase_header = false;
  for (Variant& v : variants) {
    if (v.phases.empty()) continue;
    if (!phase_header) {
      fmt::print("{:<17} {:>7} {:>6} {:>5} {:>5} {:>5} {:>8} {:>5} {:>7} {:>6} {:>6} {:>6}\n",
                 "start phases ms", "scratch", "spawn", "qmp", "load", "cont", "identity", "root",
                 "listen", "probe", "total", "->200");
      phase_header = true;
    }
    auto med = [&](double agent::qemu::StartPhases::*f) {
      std::vector<double> c;
      for (const auto& p : v.phases) c.push_back(p.*f);
      return Percentile(c, 0.5);
    };
    using P = agent::qemu::StartPhases;
    // ->200: the forwarder open until the bench's own GET (waiting since Start) got its 200.
    std::vector<double> rest;
    for (size_t i = 0; i < v.phases.size() && i < v.samples.size(); ++i)
      rest.push_back(v.samples[i].start_to_ready_ms - v.phases[i].total_ms);
    fmt::print(
        "{:<17} {:>7.1f} {:>6.1f} {:>5.1f} {:>5.1f} {:>5.1f} {:>8.1f} {:>5.1f} {:>7.1f} {:>6.1f} "
        "{:>6.1f} {:>6.1f}\n",
        v.name, med(&P::scratch_ms), med(&P::spawn_ms), med(&P::qmp_ms), med(&P::load_ms),
        med(&P::cont_ms), med(&P::identity_ms), med(&P::root_ms), med(&P::listen_ms),
        med(&P::probe_ms), med(&P::total_ms), Percentile(rest, 0.5));
  }
  // Where a qemu instance's memory goes with K running (Smaps), medians over the instances of
  // the density runs, MiB.
  // One row: the medians of `rows` by mapping.
  auto smaps_row = [](const std::string& label, const std::vector<Smaps>& rows) {
    auto med = [&](double Smaps::*f) {
      std::vector<double> c;
      for (const auto& m : rows) c.push_back(m.*f / 1024.0);
      return Percentile(c, 0.5);
    };
    fmt::print(
        "{:<28} {:>6.1f} {:>6.1f} {:>6.1f} {:>6.1f} {:>6.1f} {:>6.1f} {:>6.1f} {:>6.1f} {:>6.1f} "
        "{:>6.1f}\n",
        label, med(&Smaps::pss), med(&Smaps::guest_copied), med(&Smaps::guest_shared),
        med(&Smaps::tcg), med(&Smaps::ram_blocks), med(&Smaps::heap), med(&Smaps::lib_written),
        med(&Smaps::lib_shared), med(&Smaps::rss), med(&Smaps::thp));
  };
  bool smaps_header = false;
  for (Variant& v : variants) {
    if (v.smaps.empty()) continue;
    if (!smaps_header) {
      fmt::print("{:<28} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}\n",
                 fmt::format("memory MiB, {} at once", args->density), "PSS", "g.copy", "g.shar",
                 "TCG", "blocks", "heap", "lib.wr", "lib.sh", "RSS", "THP");
      smaps_header = true;
    }
    smaps_row(v.name, v.smaps);
  }
  // The standby VMs waiting beside them (QemuOptions::standby_vms).
  for (Variant& v : variants) {
    if (!v.standby_smaps.empty())
      smaps_row(fmt::format("{} standby ({})", v.name, v.standby_smaps.size()), v.standby_smaps);
  }
  if (smaps_header) {
    fmt::print(
        "  g.copy: guest RAM the clone wrote (its own copies); g.shar: guest RAM read from the "
        "template's file, its share; TCG: translation buffer; blocks: QEMU's other RAM blocks "
        "(firmware, ACPI); heap: malloc, stacks, other anonymous; lib.wr/lib.sh: QEMU and its "
        "libraries, written / read (share); THP: of the RSS, in huge pages\n");
  }
  if (!bursts.empty() && status == 0) {
    // The lone start: the burst of 1 if measured, else the oci cycles' median.
    double lone = bursts.count(1)       ? Percentile(bursts[1].ready_ms, 0.5)
                  : median.count("oci") ? median["oci"]
                                        : 0;
    fmt::print(
        "oci burst: K started at once, {} rounds each; create -> HTTP 200 of every instance\n",
        args->burst_rounds);
    fmt::print("{:>5} {:>12} {:>10} {:>10} {:>14} {:>12} {:>12}\n", "K", "median ms", "p90 ms",
               "max ms", "makespan ms", "x lone", "parallelism");
    for (const auto& [k, b] : bursts) {
      double makespan = Percentile(b.makespan_ms, 0.5);
      fmt::print("{:>5} {:>12.1f} {:>10.1f} {:>10.1f} {:>14.1f} {:>12.2f} {:>12.2f}\n", k,
                 Percentile(b.ready_ms, 0.5), Percentile(b.ready_ms, 0.9),
                 Percentile(b.ready_ms, 1.0), makespan,
                 lone > 0 ? Percentile(b.ready_ms, 0.5) / lone : 0.0,
                 lone > 0 ? k * lone / makespan : 0.0);
    }
    fmt::print(
        "x lone: the median over the lone start's median; parallelism: K x the lone "
        "median / the median makespan\n");
  }
  if (median.count("qemu-restore") && median.count("qemu-cold")) {
    fmt::print("ratio qemu-restore / qemu-cold (median create->ready): {:.2f}\n",
               median["qemu-restore"] / median["qemu-cold"]);
  }
  if (median.count("qemu-clone") && median.count("qemu-cold")) {
    fmt::print("ratio qemu-clone / qemu-cold (median create->ready): {:.2f}\n",
               median["qemu-clone"] / median["qemu-cold"]);
  }
  for (const char* jailed : {"qemu-cold", "qemu-clone"}) {
    std::string unjailed = std::string(jailed) + "-nojail";
    if (median.count(jailed) && median.count(unjailed)) {
      fmt::print("ratio {} / {} (what the jail costs, median create->ready): {:.2f}\n", jailed,
                 unjailed, median[jailed] / median[unjailed]);
    }
    std::string uncgrouped = std::string(jailed) + "-nocgroup";
    if (median.count(jailed) && median.count(uncgrouped)) {
      fmt::print("ratio {} / {} (what the VM's cgroup costs, median create->ready): {:.2f}\n",
                 jailed, uncgrouped, median[jailed] / median[uncgrouped]);
    }
  }
  if (median.count("qemu-image") && median.count("qemu-clone")) {
    fmt::print("ratio qemu-image / qemu-clone (median create->ready, warm cache): {:.2f}\n",
               median["qemu-image"] / median["qemu-clone"]);
  }
  if (median.count("oci") && median.count("qemu-clone")) {
    fmt::print("ratio qemu-clone / oci: {:.1f}\n", median["qemu-clone"] / median["oci"]);
  }
  for (const auto& [name, v] : first) {
    fmt::print(
        "{} from an empty cache ({} times): median {:.1f} ms = {} {:.1f} ms + first "
        "create->ready\n",
        name, v.size(), Percentile(v, 0.5),
        name.ends_with("-image") ? "pull + unpack" : "build layers",
        Percentile(first_prepare[name], 0.5));
  }
  static const char* kFirstPhases[] = {"build layers",
                                       "skopeo copy",
                                       "digest checks",
                                       "unpack into the layer cache",
                                       "layers: checks + unpack, wall",
                                       "record + layout removed",
                                       "pull total",
                                       "template (mount points, user)",
                                       "create + preload + bind",
                                       "start -> first HTTP 200",
                                       "total"};
  for (const auto& [name, phases] : first_phases) {
    fmt::print("{} from an empty cache, by phase (median / min / max of {}, ms):\n", name,
               first[name].size());
    for (const char* phase : kFirstPhases) {
      auto it = phases.find(phase);
      if (it == phases.end()) continue;
      const std::vector<double>& x = it->second;
      fmt::print("  {:<32} {:8.1f} {:8.1f} {:8.1f}\n", phase, Percentile(x, 0.5),
                 *std::min_element(x.begin(), x.end()), *std::max_element(x.begin(), x.end()));
    }
  }
  for (auto [image, shipped] : {std::pair{"oci-image", "oci"}, {"qemu-image", "qemu-clone"}}) {
    if (!first.count(image) || !first.count(shipped)) continue;
    fmt::print("ratio {} / {} from an empty cache (first pull included, median): {:.2f}\n", image,
               shipped, Percentile(first[image], 0.5) / Percentile(first[shipped], 0.5));
  }
  std::map<std::string, std::pair<double, double>> load;  // median requests/s, median p99 ms
  for (Variant& v : variants) {
    if (v.wrk.empty()) continue;
    std::vector<double> rps, p99;
    for (const auto& w : v.wrk) {
      rps.push_back(w.rps);
      p99.push_back(w.p99_ms);
    }
    load[v.name] = {Percentile(rps, 0.5), Percentile(p99, 0.5)};
    fmt::print(
        "{} under wrk -t2 -c32, {} rounds of {} s: median {:.0f} requests/s (min {:.0f}), p99 "
        "{:.2f} ms\n",
        v.name, v.wrk.size(), args->wrk_seconds, Percentile(rps, 0.5), Percentile(rps, 0.0),
        Percentile(p99, 0.5));
  }
  for (const char* relay : {"oci-relay", "oci-relay-kernel", "oci-relay-threads"}) {
    if (!load.count("oci") || !load.count(relay)) continue;
    fmt::print("ratio {} / oci (own port vs socket activation): requests/s {:.2f}, p99 {:.2f}\n",
               relay, load[relay].first / load["oci"].first,
               load[relay].second / load["oci"].second);
  }
  for (const char* peer :
       {"oci-unhardened", "oci-no-seccomp", "oci-no-userns", "oci-seccomp-runtime"}) {
    if (median.count("oci") && median.count(peer)) {
      fmt::print("ratio oci / {} (hardening cost, median create->ready): {:.3f}\n", peer,
                 median["oci"] / median[peer]);
    }
  }
  if (median.count("oci-seccomp-runtime") && median.count("oci-unhardened")) {
    fmt::print(
        "ratio oci-seccomp-runtime / oci-unhardened (hardening cost with the profile "
        "compiled by runc): {:.3f}\n",
        median["oci-seccomp-runtime"] / median["oci-unhardened"]);
  }
  if (median.count("oci") && median.count("oci-relay")) {
    fmt::print("ratio oci-relay / oci (median create->ready): {:.2f}\n",
               median["oci-relay"] / median["oci"]);
  }
  if (median.count("oci") && median.count("oci-image")) {
    fmt::print("ratio oci-image / oci warm cache (median create->ready): {:.2f}\n",
               median["oci-image"] / median["oci"]);
  }
  for (const char* rt : {"oci", "qemu"}) {
    std::string layered = fmt::format("{}-api", rt), installing = layered + "-install";
    if (median.count(layered) && median.count(installing)) {
      fmt::print(
          "ratio {} / {} (in-instance install vs pre-built layers, median create->ready): {:.1f}\n",
          installing, layered, median[installing] / median[layered]);
    }
  }
  fmt::print("create/start: medians of create+preload+bind ms / Start -> first HTTP 200 ms\n");
  fmt::print("(1) oci: cgroup memory usage; qemu: PSS of the QEMU process with it alone\n");
  fmt::print(
      "anchor: Firecracker boots to init in <= 125 ms with <= 5 MiB overhead on KVM hardware; this "
      "machine runs "
      "TCG, so the ratios are what count\n");
  if (!api.empty()) {
    fmt::print(
        "api: {} layers (python3's closure) pre-built; api-install: {} layers (dpkg's closure) + "
        "{} packages "
        "({} MiB installed) installed at start\n",
        api.count("api.yaml") ? api["api.yaml"].layers.size() : 0,
        api.count("api-install.yaml") ? api["api-install.yaml"].layers.size() : 0,
        api.count("api-install.yaml")
            ? std::distance(fs::directory_iterator(api["api-install.yaml"].install_dir + "/debs"),
                            fs::directory_iterator{})
            : 0,
        api.count("api-install.yaml") ? api["api-install.yaml"].install_bytes >> 20 : 0);
  }
  variants.clear();
  agent::oci::OciRuntime(oci, runner).CleanupStale().IgnoreError();
  std::error_code ec;
  fs::remove_all(work, ec);
  fs::remove_all(run_root, ec);
  fs::remove_all(shm_root, ec);
  for (const auto& controller : fs::directory_iterator("/sys/fs/cgroup", ec)) {
    ::rmdir((controller.path() / oci.cgroup_parent).c_str());  // runc leaves the parent
  }
  return status;
}
