#include "security/cluster_certs.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <set>

#include "security/testing.h"
#include "security/verify.h"

namespace prewarm::security {
namespace {

unsigned ModeOf(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 0777 : 0;
}

std::set<std::string> FilesIn(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.insert(e.path().filename().string());
  }
  return names;
}

CertInfo InfoOf(const std::string& path) { return Inspect(**CertFromPem(*ReadFile(path), path)); }

TEST(ClusterCertsTest, InitWritesEverythingAOneMachineClusterNeedsWithPrivateKeys) {
  testing::ScratchDir tmp;
  std::string dir = tmp / "certs";
  absl::StatusOr<std::vector<WrittenFile>> written = InitCertDir(dir, DefaultClusterPlan(), false);
  ASSERT_TRUE(written.ok()) << written.status();
  std::set<std::string> expected;
  for (const char* stem : {"ca", "orchestrator-1", "orchestrator-2", "etcd-1", "etcd-2", "etcd-3",
                           "agent-fra-1", "agent-iad-1", "agent-sin-1", "forecaster", "operator"}) {
    expected.insert(std::string(stem) + ".crt");
    expected.insert(std::string(stem) + ".key");
  }
  EXPECT_EQ(FilesIn(dir), expected);
  EXPECT_EQ(written->size(), expected.size());
  EXPECT_EQ(ModeOf(dir), 0700u);
  for (const std::string& name : expected) {
    EXPECT_EQ(ModeOf((std::filesystem::path(dir) / name).string()),
              name.ends_with(".key") ? 0600u : 0644u)
        << name;
  }
}

TEST(ClusterCertsTest, InitsCertificatesChainToItsCaAndNameTheirAddresses) {
  testing::ScratchDir tmp;
  ASSERT_TRUE(InitCertDir(tmp.path(), DefaultClusterPlan(), false).ok());
  TrustAnchor ca = *TrustAnchor::Load(tmp / "ca.crt");
  for (const char* stem : {"orchestrator-2", "etcd-3", "agent-sin-1", "operator"}) {
    Credential c =
        *LoadCredential(tmp / (std::string(stem) + ".crt"), tmp / (std::string(stem) + ".key"));
    EXPECT_TRUE(
        ca.Verify(*c.cert, nullptr, Purpose::kTlsClient, std::chrono::system_clock::now()).ok())
        << stem;
  }
  CertInfo orchestrator = InfoOf(tmp / "orchestrator-2.crt");
  EXPECT_EQ(orchestrator.ips, std::vector<std::string>{"127.0.0.2"});
  EXPECT_EQ(orchestrator.dns_names, std::vector<std::string>{"localhost"});
  EXPECT_TRUE(orchestrator.usage.server_auth && orchestrator.usage.client_auth);
  CertInfo etcd = InfoOf(tmp / "etcd-3.crt");
  // Its own address, and the source of its peers' connections on loopback.
  EXPECT_EQ(etcd.ips, (std::vector<std::string>{"127.0.0.13", "127.0.0.1"}));
  EXPECT_TRUE(etcd.usage.server_auth && etcd.usage.client_auth);
  Identity sin = *IdentityOf(**CertFromPem(*ReadFile(tmp / "agent-sin-1.crt"), "sin"));
  EXPECT_EQ(sin, (Identity{Role::kAgent, "sin-1", *Cidr::Parse("127.77.3.0/24")}));
}

TEST(ClusterCertsTest, InitRefusesToReplaceACaUnlessForced) {
  testing::ScratchDir tmp;
  ASSERT_TRUE(InitCertDir(tmp.path(), DefaultClusterPlan(), false).ok());
  std::string before = *ReadFile(tmp / "ca.crt");
  absl::StatusOr<std::vector<WrittenFile>> again =
      InitCertDir(tmp.path(), DefaultClusterPlan(), false);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(again.status().message().find("--force"), std::string::npos);
  EXPECT_EQ(*ReadFile(tmp / "ca.crt"), before);
  ASSERT_TRUE(InitCertDir(tmp.path(), DefaultClusterPlan(), true).ok());
  EXPECT_NE(*ReadFile(tmp / "ca.crt"), before);
}

TEST(ClusterCertsTest, InitTakesOtherReplicasMembersAndAgents) {
  testing::ScratchDir tmp;
  ClusterPlan plan = DefaultClusterPlan();
  plan.orchestrators = {*ParseMember("orch-a=127.0.0.5,orch-a.example")};
  plan.agents = {*ParseAgent("ams-1=127.77.9.0/24")};
  ASSERT_TRUE(InitCertDir(tmp.path(), plan, false).ok());
  EXPECT_TRUE(std::filesystem::exists(tmp / "orchestrator-orch-a.crt"));
  EXPECT_TRUE(std::filesystem::exists(tmp / "agent-ams-1.crt"));
  EXPECT_FALSE(std::filesystem::exists(tmp / "agent-fra-1.crt"));
  EXPECT_EQ(InfoOf(tmp / "orchestrator-orch-a.crt").dns_names,
            std::vector<std::string>{"orch-a.example"});
}

TEST(ClusterCertsTest, IssueAddsANodeSignedByTheExistingCa) {
  testing::ScratchDir tmp;
  ASSERT_TRUE(InitCertDir(tmp.path(), DefaultClusterPlan(), false).ok());
  LeafSpec spec;
  spec.identity = *ParseAgent("ams-1=127.77.4.0/24");
  absl::StatusOr<std::vector<WrittenFile>> written = IssueCert(tmp.path(), spec, false);
  ASSERT_TRUE(written.ok()) << written.status();
  ASSERT_EQ(written->size(), 2u);
  EXPECT_EQ((*written)[0].path, tmp / "agent-ams-1.crt");
  EXPECT_NE((*written)[0].what.find("agent ams-1 (range 127.77.4.0/24), client, until "),
            std::string::npos);
  EXPECT_EQ(ModeOf(tmp / "agent-ams-1.key"), 0600u);
  Credential c = *LoadCredential(tmp / "agent-ams-1.crt", tmp / "agent-ams-1.key");
  TrustAnchor ca = *TrustAnchor::Load(tmp / "ca.crt");
  EXPECT_TRUE(
      ca.Verify(*c.cert, nullptr, Purpose::kTlsClient, std::chrono::system_clock::now()).ok());
}

TEST(ClusterCertsTest, IssueRefusesAServerWithoutAddressesAndAnExistingFile) {
  testing::ScratchDir tmp;
  ASSERT_TRUE(InitCertDir(tmp.path(), DefaultClusterPlan(), false).ok());
  LeafSpec server;
  server.identity = Identity{Role::kOrchestrator, "orchestrator-3", std::nullopt};
  EXPECT_NE(IssueCert(tmp.path(), server, false).status().message().find("--ip"),
            std::string::npos);
  LeafSpec agent;
  agent.identity = *ParseAgent("fra-1=127.77.1.0/24");
  EXPECT_EQ(IssueCert(tmp.path(), agent, false).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(IssueCert(tmp.path(), agent, true).ok());
}

TEST(ClusterCertsTest, IssueWithoutACaSaysWhichFileIsMissing) {
  testing::ScratchDir tmp;
  LeafSpec agent;
  agent.identity = *ParseAgent("fra-1=127.77.1.0/24");
  absl::Status st = IssueCert(tmp.path(), agent, false).status();
  EXPECT_NE(st.message().find("ca.crt"), std::string::npos) << st;
}

TEST(ClusterCertsTest, MembersSplitIntoIpsAndNamesAndAgentsNeedARange) {
  Member m = *ParseMember("etcd-9=127.0.0.19,etcd-9.example,::1");
  EXPECT_EQ(m.name, "etcd-9");
  EXPECT_EQ(m.dns_names, std::vector<std::string>{"etcd-9.example"});
  ASSERT_EQ(m.ips.size(), 2u);
  EXPECT_EQ(m.ips[1].ToString(), "::1");
  EXPECT_FALSE(ParseMember("etcd-9").ok());
  EXPECT_FALSE(ParseAgent("fra-1").ok());
  EXPECT_FALSE(ParseAgent("fra-1=127.77.1.0/99").ok());
  EXPECT_FALSE(ParseAgent("fra 1=127.77.1.0/24").ok());
}

}  // namespace
}  // namespace prewarm::security
