#include <gtest/gtest.h>

#include "security/cluster_certs.h"
#include "security/testing.h"
#include "security/tls.h"

namespace prewarm::security {
namespace {

absl::StatusOr<TlsConfig> Parse(const std::string& yaml) {
  absl::StatusOr<YamlReader> r = YamlReader::FromString(yaml, "agent.yaml");
  if (!r.ok()) {
    return r.status();
  }
  return ParseTlsConfig(*r);
}

TEST(ParseTlsConfigTest, NoTlsMappingMeansPlaintext) {
  absl::StatusOr<TlsConfig> tls = Parse("node_id: fra-1\n");
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_FALSE(tls->enabled());
}

TEST(ParseTlsConfigTest, AllThreeFilesEnableTls) {
  absl::StatusOr<TlsConfig> tls = Parse("tls: {ca: c.crt, cert: a.crt, key: a.key}\n");
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_TRUE(tls->enabled());
  EXPECT_EQ(tls->ca_file, "c.crt");
  EXPECT_EQ(tls->cert_file, "a.crt");
  EXPECT_EQ(tls->key_file, "a.key");
}

TEST(ParseTlsConfigTest, AMissingFileIsAnErrorWithFileAndLine) {
  absl::StatusOr<TlsConfig> tls = Parse("node_id: fra-1\ntls:\n  ca: c.crt\n  cert: a.crt\n");
  ASSERT_FALSE(tls.ok());
  EXPECT_TRUE(std::string(tls.status().message())
                  .starts_with("agent.yaml:3: tls: needs all three of ca, cert and key"))
      << tls.status();
}

TEST(ParseTlsConfigTest, AnUnknownFieldOrEmptyFileIsAnError) {
  EXPECT_FALSE(Parse("tls: {ca: c, cert: a, key: k, verify: false}\n").ok());
  absl::StatusOr<TlsConfig> empty = Parse("tls: {ca: c, cert: '', key: k}\n");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("tls.cert: must name a file"), std::string::npos)
      << empty.status();
}

class CheckTlsFilesTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(InitCertDir(dir_.path(), DefaultClusterPlan(), false).ok()); }
  TlsConfig Files(const std::string& stem) {
    return TlsConfig{dir_ / "ca.crt", dir_ / (stem + ".crt"), dir_ / (stem + ".key")};
  }
  std::string Issue(const std::string& name, bool expired, int days) {
    LeafSpec spec;
    spec.identity = Identity{Role::kAgent, name, std::nullopt};
    spec.expired = expired;
    spec.days = days;
    EXPECT_TRUE(IssueCert(dir_.path(), spec, false).ok());
    return "agent-" + name;
  }
  testing::ScratchDir dir_;
};

TEST_F(CheckTlsFilesTest, GoodFilesPassAndSayWhoWeAre) {
  testing::LogCapture log;
  EXPECT_TRUE(CheckTlsFiles(Files("agent-fra-1")).ok());
  EXPECT_NE(log.text().find("TLS: we are agent fra-1 (range 127.77.1.0/24)"), std::string::npos)
      << log.text();
}

TEST_F(CheckTlsFilesTest, AnExpiredCertificateIsAnErrorNamingTheFileAndTheDate) {
  TlsConfig tls = Files(Issue("old-1", true, 1));
  absl::Status st = CheckTlsFiles(tls);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(std::string(st.message()).starts_with("tls.cert " + tls.cert_file + ": expired on "))
      << st;
  EXPECT_NE(st.message().find(" (now "), std::string::npos) << st;
}

TEST_F(CheckTlsFilesTest, ACertificateExpiringWithinAWeekPassesWithAWarning) {
  TlsConfig tls = Files(Issue("soon-1", false, 3));
  testing::LogCapture log;
  EXPECT_TRUE(CheckTlsFiles(tls).ok());
  EXPECT_NE(log.text().find("tls.cert " + tls.cert_file + ": expires on "), std::string::npos)
      << log.text();
}

TEST_F(CheckTlsFilesTest, ACertificateOfAnotherCaIsAnError) {
  testing::ScratchDir other;
  ASSERT_TRUE(InitCertDir(other.path(), DefaultClusterPlan(), false).ok());
  TlsConfig tls = Files("agent-fra-1");
  tls.cert_file = other / "agent-fra-1.crt";
  tls.key_file = other / "agent-fra-1.key";
  absl::Status st = CheckTlsFiles(tls);
  EXPECT_NE(st.message().find(", not by our CA (ca.crt: O=prewarm, CN=prewarm CA "),
            std::string::npos)
      << st;
}

TEST_F(CheckTlsFilesTest, AKeyOfAnotherCertificateOrAMissingFileIsAnError) {
  TlsConfig tls = Files("agent-fra-1");
  tls.key_file = dir_ / "agent-iad-1.key";
  EXPECT_NE(
      CheckTlsFiles(tls).message().find("tls.key " + tls.key_file + ": not the key of tls.cert"),
      std::string::npos);
  tls.ca_file = dir_ / "nope.crt";
  EXPECT_EQ(CheckTlsFiles(tls).message(), "tls.ca " + tls.ca_file + ": cannot read it");
}

TEST_F(CheckTlsFilesTest, ALeafGivenAsTheCaIsAnError) {
  TlsConfig tls = Files("agent-fra-1");
  tls.ca_file = dir_ / "operator.crt";
  EXPECT_NE(CheckTlsFiles(tls).message().find("is not a CA certificate"), std::string::npos);
}

}  // namespace
}  // namespace prewarm::security
