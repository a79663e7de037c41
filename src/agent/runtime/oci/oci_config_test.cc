#include "agent/runtime/oci/oci_config.h"

#include "gtest/gtest.h"

namespace prewarm::agent::oci {
namespace {

bool Has(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

OciConfigParams Params() {
  OciConfigParams p;
  p.args = {"/usr/bin/prewarm-httpd", "--root", "/srv/content"};
  p.env = {"LISTEN_FDS=1", "LISTEN_PID=1"};
  p.hostname = "i-1";
  p.scratch_source = "/run/prewarm/n/instances/i-1/scratch";
  p.scratch_destination = "/srv";
  p.memory_limit_bytes = 32 << 20;
  p.pids_limit = 16;
  p.cpus = 0.25;
  p.cgroups_path = "/prewarm/prewarm-i-1";
  return p;
}

TEST(OciConfigTest, IsolatesTheWorkload) {
  std::string json = OciConfigJson(Params());
  EXPECT_TRUE(Has(json, R"("root": {"path": "rootfs", "readonly": true})"));
  EXPECT_TRUE(Has(json, R"({"type": "network"})"));
  EXPECT_TRUE(Has(json, R"({"type": "pid"})"));
  EXPECT_TRUE(Has(json, R"("noNewPrivileges": true)"));
  EXPECT_TRUE(Has(json, R"("bounding": [])"));
  EXPECT_TRUE(Has(json, R"("user": {"uid": 65534, "gid": 65534})"));
  EXPECT_TRUE(Has(json, R"("maskedPaths": ["/proc/acpi")"));
}

TEST(OciConfigTest, CarriesProcessResourcesAndScratch) {
  std::string json = OciConfigJson(Params());
  EXPECT_TRUE(Has(json, R"("args": ["/usr/bin/prewarm-httpd", "--root", "/srv/content"])"));
  EXPECT_TRUE(Has(json, R"("env": ["LISTEN_FDS=1", "LISTEN_PID=1"])"));
  EXPECT_TRUE(Has(json, R"("memory": {"limit": 33554432})"));
  EXPECT_TRUE(Has(json, R"("pids": {"limit": 16})"));
  EXPECT_TRUE(Has(json, R"("cpu": {"quota": 25000, "period": 100000})"));
  EXPECT_TRUE(Has(json, R"("cgroupsPath": "/prewarm/prewarm-i-1")"));
  EXPECT_TRUE(Has(json, R"({"destination": "/srv", "type": "bind", )"
                        R"("source": "/run/prewarm/n/instances/i-1/scratch", )"
                        R"("options": ["rbind", "rw", "nosuid", "nodev"]})"));
}

TEST(OciConfigTest, EscapesStrings) {
  EXPECT_EQ(JsonString("a\"b\\c\n\x01"), R"("a\"b\\c\n\u0001")");
  OciConfigParams p = Params();
  p.env = {"QUOTE=\"x\""};
  EXPECT_TRUE(Has(OciConfigJson(p), R"("env": ["QUOTE=\"x\""])"));
}

TEST(OciConfigTest, AnImagesUserWorkdirAndAnOwnNetworkNamespace) {
  OciConfigParams p = Params();
  p.uid = 4242;
  p.gid = 4343;
  p.cwd = "/srv/app";
  p.netns_path = "/run/prewarm/n/instances/i-1/netns";
  std::string json = OciConfigJson(p);
  EXPECT_TRUE(Has(json, R"("user": {"uid": 4242, "gid": 4343})"));
  EXPECT_TRUE(Has(json, R"("cwd": "/srv/app")"));
  EXPECT_TRUE(Has(json, R"({"type": "network", "path": "/run/prewarm/n/instances/i-1/netns"})"));
  EXPECT_FALSE(Has(json, R"({"type": "network"})"));
  EXPECT_TRUE(Has(OciConfigJson(Params()), R"("cwd": "/")"));
}

}  // namespace
}  // namespace prewarm::agent::oci
