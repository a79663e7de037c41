// The agent config's qemu settings reach the QEMU runtime's options (QemuOptionsFor).
#include "cli/daemons.h"

#include <gtest/gtest.h>

#include "common/yaml_reader.h"

namespace prewarm::cli {
namespace {

constexpr const char* kAgent = R"(
node: {id: ams-1, region: amsterdam, latitude: 52.37, longitude: 4.90}
addresses: {range: 127.77.5.0/24}
templates:
  - {name: static, command: [/usr/bin/prewarm-httpd]}
)";

agent::AgentConfig Config(const std::string& runtime) {
  auto r = YamlReader::FromString(std::string(kAgent) + "runtime: " + runtime + "\n", "a.yaml");
  EXPECT_TRUE(r.ok()) << r.status();
  auto c = agent::ParseAgentConfig(*r);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : agent::AgentConfig{};
}

TEST(QemuOptionsForTest, TranslationBuffersAndHugePagesComeFromTheConfig) {
  agent::qemu::QemuOptions o = QemuOptionsFor(
      Config("{kind: qemu, tb_size_mb: 48, restore_tb_size_mb: 14, thp: true, accel: tcg}"));
  EXPECT_EQ(o.tb_size_mb, 48u);
  EXPECT_EQ(o.restore_tb_size_mb, 14u);
  EXPECT_TRUE(o.thp);
  EXPECT_EQ(o.accel, "tcg");
  EXPECT_TRUE(o.jail);
  EXPECT_EQ(o.qemu_binary, "qemu-system-x86_64");

  // Unset: the runtime's own defaults, unchanged.
  const agent::qemu::QemuOptions defaults;
  o = QemuOptionsFor(Config("{kind: qemu}"));
  EXPECT_EQ(o.tb_size_mb, defaults.tb_size_mb);
  EXPECT_EQ(o.restore_tb_size_mb, defaults.restore_tb_size_mb);
  EXPECT_EQ(o.thp, defaults.thp);
}

}  // namespace
}  // namespace prewarm::cli
