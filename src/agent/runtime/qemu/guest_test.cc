#include "agent/runtime/qemu/guest.h"

#include <gtest/gtest.h>
#include <lzma.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "agent/runtime/qemu/qemu_runtime.h"
#include "agent/runtime/qemu/qmp.h"
#include "agent/runtime/qemu/tap.h"
#include "common/net.h"

namespace prewarm::agent::qemu {
namespace {
namespace fs = std::filesystem;

std::string TempPath(const std::string& name) {
  return (fs::temp_directory_path() / fmt::format("prewarm-guest-{}-{}", ::getpid(), name))
      .string();
}

void Write(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

TEST(CpioWriterTest, BusyboxCpioReadsWhatItWrites) {
  CpioWriter w;
  w.AddDir("bin");
  w.AddFile("bin/hello", "hi there\n", 0755);
  w.AddFile("odd", "abc", 0644);  // sizes not a multiple of 4 exercise the padding
  w.AddSymlink("bin/sh", "busybox");
  w.AddCharDevice("dev/console", 5, 1);
  std::string path = TempPath("a.cpio");
  Write(path, w.Finish());
  std::string listing = Shell("/bin/busybox cpio -t < " + path + " 2>&1");
  EXPECT_NE(listing.find("bin/hello"), std::string::npos) << listing;
  EXPECT_NE(listing.find("odd"), std::string::npos);
  EXPECT_NE(listing.find("bin/sh"), std::string::npos);
  EXPECT_NE(listing.find("dev/console"), std::string::npos);
  std::string dir = TempPath("x");
  fs::create_directories(dir);
  Shell("cd " + dir + " && /bin/busybox cpio -i -d < " + path + " 2>&1");
  std::ifstream in(dir + "/bin/hello");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "hi there");
  EXPECT_EQ(fs::read_symlink(dir + "/bin/sh"), "busybox");
  fs::remove_all(dir);
  fs::remove(path);
}

std::string Xz(const std::string& data) {
  std::string out(data.size() + 4096, '\0');
  size_t pos = 0;
  EXPECT_EQ(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, nullptr,
                                    reinterpret_cast<const uint8_t*>(data.data()), data.size(),
                                    reinterpret_cast<uint8_t*>(out.data()), &pos, out.size()),
            LZMA_OK);
  out.resize(pos);
  return out;
}

TEST(ExtractVmlinuxTest, FindsTheXzElfPayloadAmidOtherBytes) {
  std::string elf = std::string(
                        "\x7f"
                        "ELF",
                        4) +
                    std::string(10000, 'k');
  // A setup header, a decoy XZ stream that is not an ELF, the payload, trailing bytes.
  std::string image =
      std::string(512, '\x01') + Xz("not an elf") + Xz(elf) + std::string(100, '\x02');
  std::string path = TempPath("bzImage");
  Write(path, image);
  auto out = ExtractVmlinux(path);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, elf);
  Write(path, std::string(4096, '\x03'));
  auto bad = ExtractVmlinux(path);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("no XZ-compressed ELF payload"), std::string::npos);
  fs::remove(path);
  EXPECT_FALSE(ExtractVmlinux(path).ok());
}

TEST(HostTscKhzTest, ReadsCpuMhz) {
  std::string path = TempPath("cpuinfo");
  Write(path, "processor\t: 0\nmodel name\t: X\ncpu MHz\t\t: 2096.034\n");
  auto khz = HostTscKhz(path);
  ASSERT_TRUE(khz.ok());
  EXPECT_EQ(*khz, 2096034);
  EXPECT_NE(KernelCommandLine(*khz).find("tsc_early_khz=2096034"), std::string::npos);
  Write(path, "processor\t: 0\n");
  EXPECT_FALSE(HostTscKhz(path).ok());
  fs::remove(path);
}

// A kernel whose modules are stand-ins, and a stand-in prewarm-guest-activate, in `cache`.
GuestKernel FakeKernel(const std::string& cache) {
  std::string mods = cache + "/mods";
  fs::create_directories(mods + "/kernel/fs");
  for (const std::string& m : GuestModules())
    Write(mods + "/kernel/fs/" + m + ".ko", "module " + m);
  Write(cache + "/activate", "activate-binary");
  return GuestKernel{"6.1.0-test", "", mods};
}

TEST(InitramfsTest, CarriesTheTemplateAndIsContentAddressed) {
  std::string cache = TempPath("cache");
  std::string mods = cache + "/mods", act = cache + "/activate";
  GuestKernel k = FakeKernel(cache);
  GuestWorkload w;
  w.argv = {"/usr/bin/prewarm-httpd", "--root", "/srv/content"};
  w.env = {{"A", "1"}};
  w.layers = 2;
  auto a = EnsureInitramfs(cache, k, w, "/bin/busybox", act);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = EnsureInitramfs(cache, k, w, "/bin/busybox", act);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*a, *b);
  w.argv.push_back("--verbose");
  auto c = EnsureInitramfs(cache, k, w, "/bin/busybox", act);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(*a, *c);
  std::string listing = Shell("/bin/busybox cpio -t < " + *a);
  for (const char* f : {"init", "prewarm/conf", "prewarm/argv", "bin/prewarm-guest-activate",
                        "lib/modules/virtio_blk.ko", "dev/console"}) {
    EXPECT_NE(listing.find(f), std::string::npos) << f;
  }
  std::string conf = Shell("cd " + cache + " && /bin/busybox cpio -i -d prewarm/conf < " + *a +
                           " 2>/dev/null; cat prewarm/conf");
  EXPECT_NE(conf.find("LAYERS=2"), std::string::npos) << conf;
  EXPECT_NE(conf.find("SCRATCH_MOUNT='/srv'"), std::string::npos) << conf;
  // A missing module and a bad scratch mount are clear errors.
  w.scratch_mount = "/srv; reboot";
  EXPECT_FALSE(EnsureInitramfs(cache, k, w, "/bin/busybox", act).ok());
  w.scratch_mount = "/srv";
  fs::remove(mods + "/kernel/fs/erofs.ko");
  auto missing = EnsureInitramfs(cache, k, w, "/bin/busybox", act);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("module erofs not found"), std::string::npos);
  fs::remove_all(cache);
}

// microvm's second IO-APIC brings 16 more virtio-mmio transports: a VM whose disks and NIC
// fit in 8 goes without it, one with more keeps it (QEMU would refuse a 9th device).
// A template's RAM file: sealed once nothing maps it writable; while something does, the
// seal fails after its bounded retries with the reason, and the file stays writable.
TEST(SealRamFileTest, SealsOnceNoWritableMappingIsLeftAndRetriesBoundedWhileOneIs) {
  ScopedFd fd(::memfd_create("ram-test", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  ASSERT_TRUE(fd.valid()) << std::strerror(errno);
  ASSERT_EQ(::ftruncate(fd.get(), 1 << 20), 0);
  void* map = ::mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  ASSERT_NE(map, MAP_FAILED);
  static_cast<char*>(map)[0] = 1;
  absl::Status busy = SealRamFile(fd.get(), 3);
  EXPECT_FALSE(busy.ok());
  EXPECT_NE(busy.message().find("Device or resource busy"), std::string_view::npos) << busy;
  EXPECT_NE(busy.message().find("attempt 3 of 3"), std::string_view::npos) << busy;
  ASSERT_EQ(::munmap(map, 1 << 20), 0);
  ASSERT_TRUE(SealRamFile(fd.get()).ok());
  const char c = 2;
  EXPECT_EQ(::pwrite(fd.get(), &c, 1, 0), -1);
  EXPECT_EQ(errno, EPERM);
}

TEST(QemuCommandTest, OneIoapicWhileTheVirtioDevicesFitInEightTransports) {
  RealProcessRunner runner;
  QemuOptions o;
  QemuRuntime rt(o, runner);
  VmLaunch l;
  l.name = "i1";
  l.dir = "/run/x/i1";
  l.scratch_image = "/run/x/i1/scratch.erofs";
  l.initramfs = "/c/init.cpio";
  auto machine = [&](const QemuRuntime& r) {
    std::vector<std::string> argv = r.QemuCommand(l);
    auto m = std::find(argv.begin(), argv.end(), "-M");
    return m == argv.end() || m + 1 == argv.end() ? std::string() : *(m + 1);
  };
  // Layers + scratch + NIC: 6 + 1 + 1 = 8 fit, with an install disk 9 do not.
  l.layer_images.assign(6, "/c/layer.erofs");
  EXPECT_EQ(machine(rt), "microvm,x-option-roms=off,ioapic2=off");
  l.install_image = "/c/install.erofs";
  EXPECT_EQ(machine(rt), "microvm,x-option-roms=off");
  l.install_image.clear();
  l.layer_images.assign(kMaxLayerDisks, "/c/layer.erofs");
  EXPECT_EQ(machine(rt), "microvm,x-option-roms=off");
  l.layer_images.assign(1, "/c/layer.erofs");
  l.ram_fd = 9;  // a clone: the same machine as its template
  EXPECT_EQ(machine(rt), "microvm,x-option-roms=off,ioapic2=off,memory-backend=ram0");
  QemuOptions two = o;
  two.ioapic2 = true;
  EXPECT_EQ(machine(QemuRuntime(two, runner)), "microvm,x-option-roms=off,memory-backend=ram0");
}

// QEMU runs without glib's slice allocator (G_SLICE=always-malloc) unless glib_slices is
// set; the rest of its environment is the agent's, with no second G_SLICE.
TEST(QemuCommandTest, QemuRunsWithoutGlibSlicesByDefault) {
  RealProcessRunner runner;
  ASSERT_EQ(::setenv("G_SLICE", "debug-blocks", 1), 0);
  ASSERT_EQ(::setenv("PREWARM_GUEST_TEST_MARK", "kept", 1), 0);
  QemuOptions o;
  std::vector<std::string> env = QemuRuntime(o, runner).QemuEnvironment();
  EXPECT_EQ(std::count(env.begin(), env.end(), "G_SLICE=always-malloc"), 1);
  EXPECT_EQ(std::count_if(env.begin(), env.end(),
                          [](const std::string& e) { return e.starts_with("G_SLICE="); }),
            1);
  EXPECT_EQ(std::count(env.begin(), env.end(), "PREWARM_GUEST_TEST_MARK=kept"), 1);
  o.glib_slices = true;
  env = QemuRuntime(o, runner).QemuEnvironment();
  EXPECT_EQ(std::count_if(env.begin(), env.end(),
                          [](const std::string& e) { return e.starts_with("G_SLICE="); }),
            0);
  EXPECT_EQ(std::count(env.begin(), env.end(), "PREWARM_GUEST_TEST_MARK=kept"), 1);
  ::unsetenv("G_SLICE");
  ::unsetenv("PREWARM_GUEST_TEST_MARK");
}

// By default QEMU gets prewarm's capstone replacement in front of the agent's own
// LD_PRELOAD; glibc's malloc settings, when set, replace the agent's own; capstone: true
// leaves the agent's LD_PRELOAD as it was. No variable appears twice.
TEST(QemuCommandTest, QemuPreloadsTheCapstoneReplacementAndTheMallocSettings) {
  RealProcessRunner runner;
  ASSERT_EQ(::setenv("LD_PRELOAD", "/opt/agent-preload.so", 1), 0);
  ASSERT_EQ(::setenv("MALLOC_ARENA_MAX", "7", 1), 0);
  auto count = [](const std::vector<std::string>& env, std::string_view prefix) {
    return std::count_if(env.begin(), env.end(),
                         [&](const std::string& e) { return e.starts_with(prefix); });
  };
  auto has = [](const std::vector<std::string>& env, const std::string& e) {
    return std::count(env.begin(), env.end(), e) == 1;
  };
  QemuOptions o;
  o.capstone_off_lib = "/usr/lib/prewarm/libprewarm-capstone-off.so";
  std::vector<std::string> env = QemuRuntime(o, runner).QemuEnvironment();
  EXPECT_TRUE(
      has(env, "LD_PRELOAD=/usr/lib/prewarm/libprewarm-capstone-off.so:/opt/agent-preload.so"));
  EXPECT_EQ(count(env, "LD_PRELOAD="), 1);
  EXPECT_TRUE(has(env, "MALLOC_ARENA_MAX=7"));  // unset: the agent's own goes through
  EXPECT_EQ(count(env, "MALLOC_TRIM_THRESHOLD_="), 0);
  o.malloc_arena_max = 2;
  o.malloc_trim_threshold_kb = 256;
  env = QemuRuntime(o, runner).QemuEnvironment();
  EXPECT_TRUE(has(env, "MALLOC_ARENA_MAX=2"));
  EXPECT_TRUE(has(env, "MALLOC_TRIM_THRESHOLD_=262144"));
  EXPECT_EQ(count(env, "MALLOC_ARENA_MAX="), 1);
  o.capstone = true;
  env = QemuRuntime(o, runner).QemuEnvironment();
  EXPECT_TRUE(has(env, "LD_PRELOAD=/opt/agent-preload.so"));
  ::unsetenv("LD_PRELOAD");
  env = QemuRuntime(o, runner).QemuEnvironment();
  EXPECT_EQ(count(env, "LD_PRELOAD="), 0);
  o.capstone = false;
  env = QemuRuntime(o, runner).QemuEnvironment();
  EXPECT_TRUE(has(env, "LD_PRELOAD=/usr/lib/prewarm/libprewarm-capstone-off.so"));
  o.capstone_off_lib.clear();  // none given: QEMU loads its own capstone
  env = QemuRuntime(o, runner).QemuEnvironment();
  EXPECT_EQ(count(env, "LD_PRELOAD="), 0);
  ::unsetenv("MALLOC_ARENA_MAX");
}

// The replacement takes capstone's place in Debian's QEMU: with QEMU's environment the
// dynamic linker loads it and not libcapstone.so.4 (its list of what it would load,
// LD_TRACE_LOADED_OBJECTS, as ldd prints it); the jail binds it into QEMU's root.
TEST(QemuCommandTest, TheCapstoneReplacementIsLoadedInsteadOfCapstone) {
  const std::string qemu = "/usr/bin/qemu-system-x86_64";
  if (!fs::exists(qemu)) GTEST_SKIP() << "no " << qemu;
  RealProcessRunner runner;
  auto loads = [&](const QemuOptions& o) {
    std::vector<std::string> argv = {"/usr/bin/env", "-i"};
    for (const std::string& e : QemuRuntime(o, runner).QemuEnvironment()) {
      if (e.starts_with("LD_PRELOAD=") || e.starts_with("PATH=")) argv.push_back(e);
    }
    argv.insert(argv.end(), {"LD_TRACE_LOADED_OBJECTS=1", qemu});
    absl::StatusOr<ProcessResult> r = runner.Run(argv, std::chrono::seconds(30));
    EXPECT_TRUE(r.ok() && r->exit_code == 0) << (r.ok() ? r->output : r.status().ToString());
    return r.ok() ? r->output : std::string();
  };
  QemuOptions o;
  std::string stock = loads(o);  // no replacement given
  if (stock.find("libcapstone.so.4 =>") == std::string::npos) {
    GTEST_SKIP() << "this QEMU does not link libcapstone.so.4:\n" << stock;
  }
  o.capstone_off_lib = PREWARM_CAPSTONE_OFF_PATH;
  std::string off = loads(o);
  EXPECT_EQ(off.find("libcapstone"), std::string::npos) << off;
  EXPECT_NE(off.find(PREWARM_CAPSTONE_OFF_PATH), std::string::npos) << off;
  EXPECT_NE(off.find("libglib-2.0.so"), std::string::npos) << off;  // the rest as before

  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& a : v) s += a + " ";
    return s;
  };
  o.jail = true;
  VmLaunch l;
  l.dir = "/run/vm";
  l.initramfs = "/c/initrd";
  l.host_id = 1000001;
  EXPECT_NE(join(QemuRuntime(o, runner).JailCommand(l))
                .find(std::string("--ro ") + PREWARM_CAPSTONE_OFF_PATH + " "),
            std::string::npos);
  o.capstone = true;
  EXPECT_EQ(join(QemuRuntime(o, runner).JailCommand(l)).find("capstone"), std::string::npos);
}

TEST(QemuCommandTest, DisksByLayerOrderOneForwardAndACloneMapsTheTemplateRam) {
  RealProcessRunner runner;
  QemuOptions o;
  QemuRuntime rt(o, runner);
  TemplateSpec tmpl;
  tmpl.memory_limit_bytes = 32ull << 20;
  VmLaunch l;
  l.name = "i1";
  l.dir = "/run/x/i1";
  l.layer_images = {"/c/top.erofs", "/c/base.erofs"};
  l.scratch_image = "/run/x/i1/scratch.erofs";
  l.initramfs = "/c/init.cpio";
  l.memory_bytes = rt.GuestMemory(tmpl);
  l.hostfwd = "127.77.0.9:18080-:80";
  auto join = [](const std::vector<std::string>& argv) {
    std::string all;
    for (const auto& a : argv) all += a + " ";
    return all;
  };
  std::string all = join(rt.QemuCommand(l));
  EXPECT_NE(all.find("-m 128M"), std::string::npos) << all;  // raised to the guest's floor
  EXPECT_LT(all.find("file=/c/top.erofs"), all.find("file=/c/base.erofs"));
  EXPECT_NE(all.find("serial=L0"), std::string::npos);
  EXPECT_NE(all.find("serial=L1"), std::string::npos);
  EXPECT_NE(all.find("file=/run/x/i1/scratch.erofs"), std::string::npos);
  EXPECT_NE(all.find("restrict=on,hostfwd=tcp:127.77.0.9:18080-:80"), std::string::npos);
  EXPECT_NE(all.find("logfile=/run/x/i1/console.log"), std::string::npos);
  EXPECT_NE(all.find("-no-reboot"), std::string::npos);
  EXPECT_EQ(all.find("memory-backend"), std::string::npos);
  EXPECT_EQ(all.find("-incoming"), std::string::npos);
  EXPECT_NE(all.find("-kernel  -initrd /c/init.cpio -append console=ttyS0 "), std::string::npos)
      << "a VM that boots gets the kernel (no kernel prepared here), initramfs and command line";
  EXPECT_NE(all.find("-object main-loop,id=main-loop,thread-pool-max=16 "), std::string::npos)
      << "QEMU's block-I/O workers are capped (its cgroup's pids.max counts them)";
  EXPECT_NE(
      all.find("-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"),
      std::string::npos)
      << "jailed by default";
  l.ram_fd = 9;
  l.incoming = true;
  all = join(rt.QemuCommand(l));
  EXPECT_NE(all.find("microvm,x-option-roms=off,ioapic2=off,memory-backend=ram0"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("memory-backend-file,id=ram0,size=128M,mem-path=/proc/self/fd/4,share=off"),
            std::string::npos);
  EXPECT_NE(all.find("-incoming defer"), std::string::npos);
  EXPECT_NE(all.find("-smp 1 "), std::string::npos);
  // A restored guest's kernel and initramfs are in its RAM: QEMU is not given them.
  for (const char* boot : {"-kernel", "-initrd", "-append", "/c/init.cpio"})
    EXPECT_EQ(all.find(boot), std::string::npos) << boot << " in " << all;
  QemuOptions with_kernel = o;
  with_kernel.restore_kernel = true;
  EXPECT_NE(join(QemuRuntime(with_kernel, runner).QemuCommand(l)).find("-initrd /c/init.cpio "),
            std::string::npos);
  // A restore runs with its own translation buffer size, a boot with the other.
  QemuOptions tb = o;
  tb.tb_size_mb = 24;
  tb.restore_tb_size_mb = 10;
  QemuRuntime tb_rt(tb, runner);
  EXPECT_NE(join(tb_rt.QemuCommand(l)).find("-accel tcg,thread=single,tb-size=10 "),
            std::string::npos);
  EXPECT_EQ(tb_rt.TbSizeMb(l), 10u);
  l.incoming = false;
  EXPECT_NE(join(tb_rt.QemuCommand(l)).find("-accel tcg,thread=single,tb-size=24 "),
            std::string::npos);
  EXPECT_EQ(tb_rt.TbSizeMb(l), 24u);
  l.incoming = true;
  QemuOptions zero_tb = tb;
  zero_tb.restore_tb_size_mb = 0;  // QEMU would take 0 for its own default size
  absl::Status zero = QemuRuntime(zero_tb, runner).Prepare();
  EXPECT_EQ(zero.code(), absl::StatusCode::kInvalidArgument) << zero;
  EXPECT_NE(zero.message().find("translation buffer"), std::string::npos) << zero;
  // The template's CPU share, rounded up to whole vCPUs; the tap backend and its MAC.
  tmpl.cpus = 2;
  EXPECT_EQ(rt.GuestVcpus(tmpl), 2u);
  tmpl.cpus = 0.25;
  EXPECT_EQ(rt.GuestVcpus(tmpl), 1u);
  l.vcpus = 2;
  l.tap_fd = 7;
  l.mac = "52:54:00:4d:01:09";
  all = join(rt.QemuCommand(l));
  EXPECT_NE(all.find("-smp 2 "), std::string::npos);
  EXPECT_NE(all.find("-netdev tap,id=n0,fd=3,vhost=off"), std::string::npos) << all;
  EXPECT_NE(all.find("virtio-net-device,netdev=n0,mac=52:54:00:4d:01:09"), std::string::npos);
  EXPECT_EQ(all.find("hostfwd"), std::string::npos);
  // The jail binds only what this VM opens, its own directory writable; a tap VM needs
  // no loopback in the jail, a slirp one does.
  o.jailer = "/bin/prewarm-qemu-jail";
  QemuRuntime jailed(o, runner);
  l.host_id = 1065536;
  std::string jail = join(jailed.JailCommand(l));
  EXPECT_EQ(
      jail.rfind("/bin/prewarm-qemu-jail --root /run/x/i1/jail --uid 1065536 --gid 1065536 ", 0),
      0u)
      << jail;
  for (const char* want : {"--ro /usr ", "--ro /c/top.erofs ", "--ro /c/base.erofs ",
                           "--rw /run/x/i1 ", "--dev /dev/urandom "}) {
    EXPECT_NE(jail.find(want), std::string::npos) << want << " in " << jail;
  }
  // The restore (l.incoming) opens no initramfs; the same VM booting does.
  EXPECT_EQ(jail.find("/c/init.cpio"), std::string::npos) << jail;
  l.incoming = false;
  EXPECT_NE(join(jailed.JailCommand(l)).find("--ro /c/init.cpio "), std::string::npos);
  l.incoming = true;
  EXPECT_EQ(jail.find("--lo"), std::string::npos);
  // It joins the VM's own cgroup: <cgroup_parent>/qemu-<node>/<name>, every controller.
  EXPECT_EQ(jailed.VmCgroup("i1"), "prewarm/qemu-node/i1");
  for (const std::string& dir : jailed.cgroups().JoinDirs("prewarm/qemu-node/i1"))
    EXPECT_NE(jail.find("--cgroup " + dir + " "), std::string::npos) << dir << " in " << jail;
  // Its limits: the guest's RAM + QEMU's overhead + TCG's translation buffer (no
  // accelerator chosen yet: TCG's), its threads, whole vCPUs and the template's share.
  l.cpus = 0.5;
  CgroupLimits lim = jailed.VmLimits(l);
  EXPECT_EQ(lim.memory_bytes,
            (128ull << 20) + kQemuOverheadBytes + (uint64_t{o.restore_tb_size_mb} << 20));
  EXPECT_EQ(tb_rt.VmLimits(l).memory_bytes, (128ull << 20) + kQemuOverheadBytes + (10ull << 20));
  EXPECT_EQ(lim.pids, 2 + kQemuWorkerThreads + kQemuOtherThreads);
  EXPECT_EQ(lim.cpu_cores, 3);  // 2 vCPUs + QEMU's own threads
  EXPECT_EQ(lim.cpu_weight, 50u);
  l.accel = "kvm";
  EXPECT_EQ(jailed.VmLimits(l).memory_bytes, (128ull << 20) + kQemuOverheadBytes);
  // A full snapshot's template writes its RAM into a state file on ram_dir's tmpfs, charged
  // to its group beside the RAM itself (without it, the template was OOM-killed mid-save).
  l.state_bytes = 128ull << 20;
  EXPECT_EQ(jailed.VmLimits(l).memory_bytes, (256ull << 20) + kQemuOverheadBytes);
  l.state_bytes = 0;
  EXPECT_NE(join(jailed.JailCommand(l)).find("--dev /dev/kvm"), std::string::npos);
  l.accel = "";
  EXPECT_EQ(jail.find("/dev/kvm"), std::string::npos) << "not before Prepare() chose kvm";
  EXPECT_EQ(jail.substr(jail.size() - 3), "-- ");
  l.tap_fd = -1;
  EXPECT_NE(join(jailed.JailCommand(l)).find("--lo "), std::string::npos);
  // Transparent huge pages: the jailer turns them off for QEMU unless thp is set.
  EXPECT_EQ(join(jailed.JailCommand(l)).find("--no-thp") != std::string::npos, !o.thp);
  QemuOptions thp = o;
  thp.thp = !o.thp;
  EXPECT_EQ(join(QemuRuntime(thp, runner).JailCommand(l)).find("--no-thp") != std::string::npos,
            o.thp);
  o.jail = false;
  EXPECT_EQ(join(QemuRuntime(o, runner).QemuCommand(l)).find("-sandbox"), std::string::npos);
}

// The jailer refuses what would leave QEMU privileged or outside its namespaces, with a
// reason, before it touches anything (exit 125; not run as pid 1 of a new namespace here).
TEST(QemuJailTest, RefusesBadArgumentsAndAnUnjailedStart) {
  RealProcessRunner runner;
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), PREWARM_QEMU_JAIL_PATH);
    auto r = runner.Run(args, std::chrono::seconds(10));
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 125) << r->output;
    return r->output;
  };
  EXPECT_NE(run({"--root", "/tmp", "--uid", "0", "--gid", "5", "--", "true"}).find("unprivileged"),
            std::string::npos);
  EXPECT_NE(run({"--root", "/tmp", "--uid", "5", "--gid", "5", "--", "true"}).find("not pid 1"),
            std::string::npos);
  EXPECT_NE(run({"--root", "tmp", "--uid", "5", "--gid", "5", "--", "true"}).find("absolute"),
            std::string::npos);
  EXPECT_NE(run({"--root", "/tmp", "--uid", "5x", "--gid", "5", "--", "true"}).find("bad uid"),
            std::string::npos);
  EXPECT_NE(run({"--root", "/tmp", "--uid", "5", "--gid", "5"}).find("no command"),
            std::string::npos);
  EXPECT_NE(run({"--chroot", "/tmp"}).find("unknown option"), std::string::npos);
  EXPECT_NE(run({"--cgroup", "sys/fs/cgroup/x", "--root", "/tmp", "--uid", "5", "--gid", "5", "--",
                 "true"})
                .find("not an absolute path: sys/fs/cgroup/x"),
            std::string::npos);
}

TEST(QmpTest, ParsesRepliesAndRejectsGarbage) {
  auto m = ParseQmpMessage(R"({"return": {"status": "paused", "running": false}})");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->fields().at("return").struct_value().fields().at("status").string_value(), "paused");
  EXPECT_FALSE(ParseQmpMessage("{\"return\": ").ok());
  EXPECT_FALSE(ParseQmpMessage("\x01\x02").ok());
}

TEST(TapTest, GuestAddressesMacsAndTheBridgeRuleset) {
  Cidr net = *Cidr::Parse("10.77.0.0/16");
  auto a = GuestAddress(net, *IpAddr::Parse("127.77.1.9"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->ToString(), "10.77.1.9");
  EXPECT_EQ(GuestMac(*a), "52:54:00:4d:01:09");
  EXPECT_EQ(GatewayAddress(net).ToString(), "10.77.0.1");
  EXPECT_FALSE(GuestAddress(net, *IpAddr::Parse("127.77.0.1")).ok());  // the gateway
  EXPECT_FALSE(GuestAddress(net, *IpAddr::Parse("127.77.0.0")).ok());
  EXPECT_FALSE(GuestAddress(net, *IpAddr::Parse("127.77.255.255")).ok());
  std::string rules = BridgeRuleset("prewarm0");
  EXPECT_NE(rules.find("iifname \"prewarm0\" ct state established,related accept\n    iifname "
                       "\"prewarm0\" drop"),
            std::string::npos)
      << rules;
  EXPECT_NE(rules.find("oifname \"prewarm0\" drop"), std::string::npos);
}

TEST(InitramfsTest, CarriesTheWorkingDirAndTheOwnPortMode) {
  std::string cache = TempPath("cache-own");
  std::string act = cache + "/activate";
  GuestKernel k = FakeKernel(cache);
  GuestWorkload w;
  w.argv = {"busybox", "httpd", "-f", "-p", "8080"};
  w.port = 8080;
  w.own_port = true;
  w.cwd = "/srv/my app";  // a file, not a shell word: any absolute path
  auto a = EnsureInitramfs(cache, k, w, "/bin/busybox", act);
  ASSERT_TRUE(a.ok()) << a.status();
  std::string out =
      Shell("cd " + cache + " && /bin/busybox cpio -i -d prewarm/conf prewarm/cwd < " + *a +
            " 2>/dev/null; cat prewarm/conf; echo; cat prewarm/cwd");
  EXPECT_NE(out.find("OWN_PORT=1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("PORT=8080\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\n/srv/my app"), std::string::npos) << out;
  EXPECT_NE(GuestInitScript().find("$PORT $OWN_PORT $RUN_UID $RUN_GID /.prewarm/argv "
                                   "/.prewarm/env /.prewarm/cwd"),
            std::string::npos);
  w.own_port = false;
  auto b = EnsureInitramfs(cache, k, w, "/bin/busybox", act);
  ASSERT_TRUE(b.ok());
  EXPECT_NE(*a, *b) << "the mode is part of the initramfs";
  w.cwd = "www";
  auto rel = EnsureInitramfs(cache, k, w, "/bin/busybox", act);
  ASSERT_FALSE(rel.ok());
  EXPECT_NE(rel.status().message().find("working dir 'www' must be absolute"), std::string::npos);
  fs::remove_all(cache);
}

TEST(GuestWorkloadTest, AnImageTemplatesUserWorkdirAndOwnPortReachTheGuest) {
  QemuOptions o;
  InstanceSpec spec;
  spec.port = 80;
  spec.tmpl.command = {"/usr/bin/prewarm-httpd"};
  spec.tmpl.env = {{"GREETING", "hi"}};
  GuestWorkload w = GuestWorkloadOf(spec, o);
  // A shipped template: the runtime's unprivileged user, /, the socket on the instance's port.
  EXPECT_EQ(w.uid, 65534u);
  EXPECT_EQ(w.gid, 65534u);
  EXPECT_EQ(w.cwd, "/");
  EXPECT_EQ(w.port, 80);
  EXPECT_FALSE(w.own_port);
  EXPECT_EQ(GuestPort(spec), 80);
  EXPECT_TRUE(w.snapshot);
  EXPECT_EQ(w.env.at("GREETING"), "hi");
  // An image's user, working dir and exposed port.
  spec.tmpl.user = std::pair<uint32_t, uint32_t>{4242, 4343};
  spec.tmpl.cwd = "/www";
  spec.tmpl.app_port = 8080;
  w = GuestWorkloadOf(spec, o);
  EXPECT_EQ(w.uid, 4242u);
  EXPECT_EQ(w.gid, 4343u);
  EXPECT_EQ(w.cwd, "/www");
  EXPECT_EQ(w.port, 8080);
  EXPECT_TRUE(w.own_port);
  EXPECT_EQ(GuestPort(spec), 8080) << "slirp's forward and the tap forwarder go to the app";
  spec.tmpl.cwd = "";
  EXPECT_EQ(GuestWorkloadOf(spec, o).cwd, "/");
}

}  // namespace
}  // namespace prewarm::agent::qemu
