#include "agent/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "agent/runtime/qemu/qemu_runtime.h"
#include "agent/templates.h"
#include "fmt/format.h"

namespace prewarm::agent {
namespace {

constexpr const char* kAgent = R"(
node: {id: sin-1, region: singapore, latitude: 1.35, longitude: 103.82}
orchestrator: 127.0.0.1:7400
capacity: {slots: 4, memory: 1GiB}
addresses: {range: 127.77.3.0/24, port: 8080, standby: 3}
origin: http://127.0.0.1:8400/content
templates:
  - name: static
    command: [/usr/bin/prewarm-httpd, --root, /srv/content]
    files: {"@prewarm-httpd": /usr/bin/prewarm-httpd}
    memory: 32MiB
    preload: [index.html]
)";

absl::StatusOr<AgentConfig> Parse(const std::string& text) {
  auto r = YamlReader::FromString(text, "a.yaml");
  if (!r.ok()) return r.status();
  return ParseAgentConfig(*r);
}

TEST(AgentConfigTest, ParsesAFullConfig) {
  auto c = Parse(kAgent);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->node_id, "sin-1");
  EXPECT_EQ(c->slots, 4u);
  EXPECT_EQ(c->memory_bytes, 1ull << 30);
  EXPECT_EQ(c->address_range.ToString(), "127.77.3.0/24");
  EXPECT_EQ(c->port, 8080);
  EXPECT_EQ(c->standby, 3u);
  EXPECT_EQ(c->state_dir, "/run/prewarm/sin-1");
  ASSERT_EQ(c->templates.size(), 1u);
  EXPECT_EQ(c->templates[0].memory_bytes, 32ull << 20);
  EXPECT_EQ(c->templates[0].files.at("@prewarm-httpd"), "/usr/bin/prewarm-httpd");
  EXPECT_EQ(c->FindTemplate("static")->preload.at(0), "index.html");
}

TEST(AgentConfigTest, ErrorsNameTheFieldAndLine) {
  std::string bad = kAgent;
  bad.replace(bad.find("127.77.3.0/24"), 13, "127.77.3.0/31");
  EXPECT_EQ(Parse(bad).status().message(),
            "a.yaml:5: addresses.range: must be a prefix of at least 4 addresses (IPv4 or IPv6)");
  EXPECT_NE(Parse("node: {id: x}\n").status().message().find("node.region"), std::string::npos);
  std::string no_tmpl = kAgent;
  no_tmpl = no_tmpl.substr(0, no_tmpl.find("templates:"));
  EXPECT_NE(Parse(no_tmpl).status().message().find("templates"), std::string::npos);
  std::string bad_rt = std::string(kAgent) + "runtime: {kind: crun}\n";
  EXPECT_NE(Parse(bad_rt).status().message().find("runtime.kind"), std::string::npos);
  std::string bad_accel = std::string(kAgent) + "runtime: {kind: qemu, accel: hvf}\n";
  EXPECT_NE(Parse(bad_accel).status().message().find("runtime.accel"), std::string::npos);
}

TEST(AgentConfigTest, QemuRuntimeDefaultsAndKnobs) {
  auto c = Parse(std::string(kAgent) + "runtime: {kind: qemu}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->runtime, "qemu");
  EXPECT_EQ(c->runtime_binary, "qemu-system-x86_64");
  EXPECT_EQ(c->qemu_accel, "auto");
  EXPECT_EQ(c->qemu_kernel_package, "linux-image-amd64");
  EXPECT_EQ(c->qemu_forward_port, 18080);
  EXPECT_EQ(c->qemu_snapshot, "clone");
  EXPECT_FALSE(Parse(std::string(kAgent) + "runtime: {kind: qemu, snapshot: lazy}\n").ok());
  c = Parse(std::string(kAgent) +
            "runtime: {kind: qemu, accel: tcg, kernel_package: linux-image-6.1.0-57-amd64, "
            "forward_port: 9000}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->qemu_accel, "tcg");
  EXPECT_EQ(c->qemu_kernel_package, "linux-image-6.1.0-57-amd64");
  EXPECT_EQ(c->qemu_forward_port, 9000);
  EXPECT_EQ(c->qemu_network, "slirp");
  c = Parse(std::string(kAgent) +
            "runtime: {kind: qemu, network: tap, bridge: br7, guest_network: 10.9.0.0/16}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->qemu_network, "tap");
  EXPECT_EQ(c->qemu_bridge, "br7");
  EXPECT_EQ(c->qemu_guest_network, "10.9.0.0/16");
  EXPECT_FALSE(Parse(std::string(kAgent) + "runtime: {kind: qemu, network: vde}\n").ok());
  // Jailed unless turned off, and only with a boolean.
  EXPECT_TRUE(c->qemu_jail);
  c = Parse(std::string(kAgent) + "runtime: {kind: qemu, jail: false}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->qemu_jail);
  EXPECT_NE(Parse(std::string(kAgent) + "runtime: {kind: qemu, jail: sometimes}\n")
                .status()
                .message()
                .find("runtime.jail"),
            std::string::npos);
  std::string many = kAgent;
  many.replace(many.find("slots: 4"), 8, "slots: 300");
  EXPECT_NE(Parse(many + "runtime: {kind: qemu}\n").status().message().find("jail gives at most"),
            std::string::npos);
  EXPECT_TRUE(Parse(many + "runtime: {kind: qemu, jail: false}\n").ok());
  EXPECT_FALSE(
      Parse(std::string(kAgent) + "runtime: {kind: qemu, network: tap, guest_network: fd00::/64}\n")
          .ok());
}

TEST(AgentConfigTest, QemuTranslationBuffersAndHugePages) {
  // Unset: QemuOptions' own defaults, what the agent ran with before they were settings.
  const qemu::QemuOptions defaults;
  EXPECT_EQ(defaults.tb_size_mb, 32u);
  EXPECT_EQ(defaults.restore_tb_size_mb, 16u);
  EXPECT_FALSE(defaults.thp);
  EXPECT_FALSE(defaults.capstone);
  struct Case {
    std::string runtime;
    uint32_t tb, restore_tb;
    bool thp;
  };
  for (const Case& k : std::vector<Case>{
           {"{kind: qemu}", defaults.tb_size_mb, defaults.restore_tb_size_mb, defaults.thp},
           {"{kind: qemu, tb_size_mb: 64, restore_tb_size_mb: 12, thp: true}", 64, 12, true},
           // QEMU's bounds, 1 MiB .. 2 GiB, inclusive.
           {"{kind: qemu, tb_size_mb: 2048, restore_tb_size_mb: 1}", 2048, 1, false},
           {"{kind: qemu, jail: false}", 32, 16, false}}) {
    auto c = Parse(std::string(kAgent) + "runtime: " + k.runtime + "\n");
    ASSERT_TRUE(c.ok()) << k.runtime << ": " << c.status();
    EXPECT_EQ(c->qemu_tb_size_mb, k.tb) << k.runtime;
    EXPECT_EQ(c->qemu_restore_tb_size_mb, k.restore_tb) << k.runtime;
    EXPECT_EQ(c->qemu_thp, k.thp) << k.runtime;
    EXPECT_FALSE(c->qemu_capstone) << k.runtime;
  }
  auto cs = Parse(std::string(kAgent) + "runtime: {kind: qemu, capstone: true}\n");
  ASSERT_TRUE(cs.ok()) << cs.status();
  EXPECT_TRUE(cs->qemu_capstone);
  // Standby VMs: QemuOptions' default unless set, 0 turns them off.
  EXPECT_EQ(defaults.standby_vms, 1u);
  for (const auto& [runtime, want] :
       std::vector<std::pair<std::string, uint32_t>>{{"{kind: qemu}", defaults.standby_vms},
                                                     {"{kind: qemu, standby_vms: 0}", 0},
                                                     {"{kind: qemu, standby_vms: 3}", 3}}) {
    auto c = Parse(std::string(kAgent) + "runtime: " + runtime + "\n");
    ASSERT_TRUE(c.ok()) << runtime << ": " << c.status();
    EXPECT_EQ(c->qemu_standby_vms, want) << runtime;
  }
  // Each refusal names the key and says why.
  for (const auto& [runtime, said] : std::vector<std::pair<std::string, std::string>>{
           {"{kind: qemu, tb_size_mb: 0}", "runtime.tb_size_mb: 0 is out of range [1, 2048]"},
           {"{kind: qemu, restore_tb_size_mb: 4096}",
            "runtime.restore_tb_size_mb: 4096 is out of range [1, 2048]"},
           {"{kind: qemu, restore_tb_size_mb: -3}", "out of range"},
           {"{kind: qemu, tb_size_mb: 16MiB}", "runtime.tb_size_mb: '16MiB' is not an integer"},
           {"{kind: qemu, thp: madvise}", "runtime.thp"},
           {"{kind: qemu, capstone: maybe}", "runtime.capstone"},
           {"{kind: qemu, standby_vms: 17}", "runtime.standby_vms: 17 is out of range [0, 16]"},
           {"{kind: qemu, standby_vms: -1}", "runtime.standby_vms: -1 is out of range [0, 16]"},
           // Only the jailer turns huge pages off: saying so without the jail is refused.
           {"{kind: qemu, jail: false, thp: false}", "applies to jailed QEMUs only"},
           {"{kind: qemu, tb_size: 16}", "tb_size"}}) {
    auto c = Parse(std::string(kAgent) + "runtime: " + runtime + "\n");
    ASSERT_FALSE(c.ok()) << runtime;
    EXPECT_NE(c.status().message().find(said), std::string::npos) << runtime << ": " << c.status();
  }
}

TEST(AgentConfigTest, AnOwnPortAppGetsItsSocketHandedOverUnlessARelayIsAskedFor) {
  auto c = Parse(kAgent);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->relay, "handoff");
  for (const char* mode : {"kernel", "threads"}) {
    c = Parse(std::string(kAgent) + "runtime: {kind: oci, relay: " + mode + "}\n");
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->relay, mode);
  }
  EXPECT_NE(Parse(std::string(kAgent) + "runtime: {relay: ebpf}\n")
                .status()
                .message()
                .find("runtime.relay"),
            std::string::npos);
}

TEST(AgentConfigTest, OciIsHardenedByDefaultAndSaysSoWhenTurnedOff) {
  auto c = Parse(kAgent);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->seccomp, "default");
  EXPECT_EQ(c->userns, "private");
  EXPECT_EQ(c->userns_base, 1000000u);
  c = Parse(std::string(kAgent) +
            "runtime: {kind: oci, seccomp: unconfined, userns: host, userns_base: 2000000}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->seccomp, "unconfined");
  EXPECT_EQ(c->userns, "host");
  EXPECT_EQ(c->userns_base, 2000000u);
  c = Parse(std::string(kAgent) + "runtime: {kind: oci, seccomp: runtime}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->seccomp, "runtime");
  EXPECT_NE(Parse(std::string(kAgent) + "runtime: {seccomp: strict}\n")
                .status()
                .message()
                .find("runtime.seccomp"),
            std::string::npos);
  EXPECT_NE(Parse(std::string(kAgent) + "runtime: {userns: yes}\n")
                .status()
                .message()
                .find("runtime.userns"),
            std::string::npos);
  // The host's own ids and the top of the id space are not handed out.
  EXPECT_FALSE(Parse(std::string(kAgent) + "runtime: {userns_base: 1000}\n").ok());
  EXPECT_FALSE(Parse(std::string(kAgent) + "runtime: {userns_base: 4294000000}\n").ok());
  std::string many = kAgent;
  many.replace(many.find("slots: 4"), 8, "slots: 300");
  EXPECT_NE(Parse(many).status().message().find("userns private"), std::string::npos);
  EXPECT_TRUE(Parse(many + "runtime: {userns: host}\n").ok());
}

TEST(AgentConfigTest, InstanceOutputBytesHasADefaultAndABoundedRange) {
  EXPECT_EQ(Parse(kAgent)->output_bytes, 64u << 10);
  EXPECT_EQ(Parse(std::string(kAgent) + "instance_output_bytes: 1MiB\n")->output_bytes, 1u << 20);
  auto big = Parse(std::string(kAgent) + "instance_output_bytes: 2MiB\n");
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("instance_output_bytes: 2097152 is out of range"),
            std::string::npos)
      << big.status();
  EXPECT_FALSE(Parse(std::string(kAgent) + "instance_output_bytes: 100\n").ok());
  EXPECT_FALSE(Parse(std::string(kAgent) + "instance_output_bytes: lots\n").ok());
}

TEST(AgentConfigTest, OrchestratorsAreAListAndTheSingleFormStillWorks) {
  auto one = Parse(kAgent);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->orchestrators, std::vector<std::string>{"127.0.0.1:7400"});
  std::string list = kAgent;
  list.replace(list.find("orchestrator: 127.0.0.1:7400"), 28,
               "orchestrators: [127.0.0.1:7400, 127.0.0.2:7400, '[::1]:7401']");
  auto many = Parse(list);
  ASSERT_TRUE(many.ok()) << many.status();
  EXPECT_EQ(many->orchestrators,
            (std::vector<std::string>{"127.0.0.1:7400", "127.0.0.2:7400", "[::1]:7401"}));
  EXPECT_EQ(many->orchestrator, "127.0.0.1:7400");
  std::string none = kAgent;
  none.erase(none.find("orchestrator: 127.0.0.1:7400"), 28);
  EXPECT_EQ(Parse(none)->orchestrators, std::vector<std::string>{"127.0.0.1:7400"}) << "default";
}

TEST(AgentConfigTest, OrchestratorListErrorsNameTheField) {
  auto both = Parse(std::string(kAgent) + "orchestrators: [127.0.0.2:7400]\n");
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find("not both"), std::string::npos) << both.status();
  std::string list = kAgent;
  list.erase(list.find("orchestrator: 127.0.0.1:7400"), 28);
  for (const char* bad : {"[]", "[127.0.0.1]", "[127.0.0.1:7400, 127.0.0.1:7400]", "[x:99999]"}) {
    auto c = Parse(list + "orchestrators: " + bad + "\n");
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_NE(c.status().message().find("orchestrators"), std::string::npos) << c.status();
  }
}

TEST(AgentConfigTest, TheExampleParsesWithAndWithoutItsTlsLine) {
  std::ifstream in(std::string(PREWARM_EXAMPLES) + "/agent.yaml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Read from a string, its template_dir is not beside a file: name where it is.
  text.replace(text.find("template_dir: templates.d"), 25,
               "template_dir: " + std::string(PREWARM_EXAMPLES) + "/templates.d");
  auto plain = Parse(text);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->orchestrators, std::vector<std::string>{"127.0.0.1:7401"});
  EXPECT_FALSE(plain->tls.enabled());
  EXPECT_NE(plain->FindTemplate("static"), nullptr) << "from examples/templates.d";
  text.replace(text.find("# tls:"), 6, "tls:");
  auto tls = Parse(text);
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_EQ(tls->tls.cert_file, "/etc/prewarm/agent-fra-2.crt");
}

TEST(TemplateConfigTest, PreloadIdsMustStayInsideTheScratch) {
  auto r = YamlReader::FromString("name: s\ncommand: [/x]\npreload: [ok.html, ../x]\n", "t.yaml");
  ASSERT_TRUE(r.ok());
  auto t = ParseTemplateConfig(*r);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("t.yaml:3: preload: bad content id '../x'"),
            std::string::npos)
      << t.status();
}

TEST(TemplateConfigTest, InstallPackagesAreATemplateOption) {
  auto r = YamlReader::FromString(
      "name: api\ncommand: [/usr/bin/python3]\ninstall_packages: [python3]\n", "t.yaml");
  ASSERT_TRUE(r.ok());
  auto t = ParseTemplateConfig(*r);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->install_packages, std::vector<std::string>{"python3"});
  EXPECT_TRUE(t->packages.empty());
  for (const char* bad : {"../x", "Api", "a b", "-api", ""}) {
    auto r2 =
        YamlReader::FromString(fmt::format("name: '{}'\ncommand: [/bin/true]\n", bad), "t.yaml");
    ASSERT_TRUE(r2.ok());
    auto t2 = ParseTemplateConfig(*r2);
    EXPECT_FALSE(t2.ok()) << bad;
    if (!t2.ok()) {
      EXPECT_NE(t2.status().message().find("DNS label"), std::string::npos) << t2.status();
    }
  }
}

TEST(TemplateConfigTest, AnImageTemplateNeedsNoCommandAndTakesUserWorkdirPort) {
  auto r = YamlReader::FromString(
      "name: web\nimage: docker://127.0.0.1:5000/t/web:1\nuser: '1000:1000'\nworkdir: /app\nport: "
      "8080\n",
      "t.yaml");
  ASSERT_TRUE(r.ok());
  auto t = ParseTemplateConfig(*r);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->image, "docker://127.0.0.1:5000/t/web:1");
  EXPECT_TRUE(t->command.empty());
  EXPECT_EQ(t->user, "1000:1000");
  EXPECT_EQ(t->workdir, "/app");
  EXPECT_EQ(t->app_port, 8080);
}

TEST(TemplateConfigTest, ImageErrorsNameTheField) {
  struct Case {
    const char* yaml;
    const char* error;
  };
  for (const Case& c : {
           Case{"name: w\nimage: docker://web:1\n",
                "t.yaml:2: image: image 'docker://web:1': no registry host"},
           Case{"name: w\nimage: oci:/x\n", "unknown transport"},
           Case{"name: w\ncommand: [/x]\nuser: root\n",
                "user: only applies to a template with an image"},
           Case{"name: w\ncommand: [/x]\nport: 80\n",
                "port: only applies to a template with an image"},
           Case{"name: w\nimage: oci-archive:/x.tar\nworkdir: rel\n", "workdir: must be absolute"},
           Case{"name: w\nimage: oci-archive:/x.tar\nport: 70000\n", "port"},
           Case{"name: w\nimage: oci-archive:/x.tar\npackages: [python3]\n",
                "cannot also have packages"},
           Case{"name: w\n", "command"},
       }) {
    auto r = YamlReader::FromString(c.yaml, "t.yaml");
    ASSERT_TRUE(r.ok()) << c.yaml;
    auto t = ParseTemplateConfig(*r);
    ASSERT_FALSE(t.ok()) << c.yaml;
    EXPECT_NE(t.status().message().find(c.error), std::string::npos) << t.status();
  }
}

TEST(TemplateConfigTest, EveryExampleTemplateParses) {
  int n = 0;
  for (const char* dir : {"/templates", "/templates.d"}) {
    for (const auto& e : std::filesystem::directory_iterator(std::string(PREWARM_EXAMPLES) + dir)) {
      if (e.path().extension() != ".yaml") continue;
      auto t = LoadTemplateConfig(e.path().string());
      EXPECT_TRUE(t.ok()) << e.path() << ": " << t.status();
      ++n;
    }
  }
  EXPECT_GE(n, 5);
}

TEST(TemplateConfigTest, AnImageTemplateUnderQemuIsBuiltLikeUnderRunc) {
  // No longer refused for the runtime: it gets as far as the image, whose absence is the
  // same clear error under either runtime.
  std::string cache = ::testing::TempDir() + "/prewarm-qemu-image-cache";
  for (const char* runtime : {"qemu", "oci"}) {
    AgentConfig c;
    c.runtime = runtime;
    c.cache_dir = cache;
    TemplateConfig t;
    t.name = "web";
    t.image = "oci-archive:/nonexistent/web.tar";
    c.templates = {t};
    RealProcessRunner runner;
    auto built = BuildTemplates(c, "/nonexistent", runner);
    ASSERT_FALSE(built.ok()) << runtime;
    EXPECT_FALSE(absl::IsUnimplemented(built.status())) << built.status();
    EXPECT_NE(built.status().message().find(
                  "template web: image archive /nonexistent/web.tar does not exist"),
              std::string::npos)
        << runtime << ": " << built.status();
  }
  std::filesystem::remove_all(cache);
}

}  // namespace
}  // namespace prewarm::agent
