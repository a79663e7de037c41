#include "security/certs.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "security/testing.h"
#include "security/verify.h"

namespace prewarm::security {
namespace {

using std::chrono::system_clock;

Credential Ca(std::string_view name) {
  absl::StatusOr<Credential> ca = MakeCa(name, 30);
  EXPECT_TRUE(ca.ok()) << ca.status();
  return *std::move(ca);
}

LeafSpec AgentSpec(std::string name, const std::string& range) {
  LeafSpec spec;
  spec.identity = Identity{Role::kAgent, std::move(name), *Cidr::Parse(range)};
  return spec;
}

LeafSpec OrchestratorSpec() {
  LeafSpec spec;
  spec.identity = Identity{Role::kOrchestrator, "orchestrator-1", std::nullopt};
  spec.dns_names = {"localhost"};
  spec.ips = {*IpAddr::Parse("127.0.0.1"), *IpAddr::Parse("::1")};
  return spec;
}

TrustAnchor AnchorOf(const Credential& ca) {
  return *TrustAnchor::FromPem(*CertToPem(*ca.cert), "ca.crt");
}

TEST(CertsTest, AnAgentCertificateCarriesItsNodeAndRangeAndParsesBack) {
  Credential ca = Ca("test");
  absl::StatusOr<Credential> leaf = IssueLeaf(ca, AgentSpec("fra-1", "127.77.1.0/24"));
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  absl::StatusOr<Identity> id = IdentityOf(*leaf->cert);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, (Identity{Role::kAgent, "fra-1", *Cidr::Parse("127.77.1.0/24")}));
  EXPECT_EQ(id->Describe(), "agent fra-1 (range 127.77.1.0/24)");
  CertInfo info = Inspect(*leaf->cert);
  EXPECT_EQ(info.subject, "O=prewarm, OU=agent, CN=fra-1");
  EXPECT_EQ(info.uris,
            (std::vector<std::string>{"prewarm://agent/fra-1", "prewarm://range/127.77.1.0/24"}));
  EXPECT_FALSE(info.is_ca);
  EXPECT_EQ(info.usage, (KeyUsage{.server_auth = false, .client_auth = true}));
}

TEST(CertsTest, AnOrchestratorCertificateServesAndNamesItsAddresses) {
  Credential ca = Ca("test");
  absl::StatusOr<Credential> leaf = IssueLeaf(ca, OrchestratorSpec());
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  CertInfo info = Inspect(*leaf->cert);
  EXPECT_EQ(info.usage, (KeyUsage{.server_auth = true, .client_auth = true}));
  EXPECT_EQ(info.dns_names, std::vector<std::string>{"localhost"});
  EXPECT_EQ(info.ips, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_EQ(IdentityOf(*leaf->cert)->range, std::nullopt);
}

TEST(CertsTest, TheCaIsACaAndVerifiesWhatItSigned) {
  Credential ca = Ca("test");
  EXPECT_TRUE(Inspect(*ca.cert).is_ca);
  EXPECT_EQ(Inspect(*ca.cert).subject, "O=prewarm, CN=prewarm CA test");
  Credential leaf = *IssueLeaf(ca, OrchestratorSpec());
  EXPECT_TRUE(
      AnchorOf(ca).Verify(*leaf.cert, nullptr, Purpose::kTlsServer, system_clock::now()).ok());
}

TEST(CertsTest, ValidityStartsAnHourEarlyAndLastsTheDaysAsked) {
  LeafSpec spec = AgentSpec("fra-1", "127.77.1.0/24");
  spec.days = 10;
  Credential leaf = *IssueLeaf(Ca("test"), spec);
  EXPECT_EQ(NotAfter(*leaf.cert) - NotBefore(*leaf.cert), std::chrono::hours(24 * 10 + 1));
}

TEST(CertsTest, AnExpiredCertificateEndedInThePastAndIsRefusedAsExpired) {
  Credential ca = Ca("test");
  LeafSpec spec = AgentSpec("fra-1", "127.77.1.0/24");
  spec.expired = true;
  Credential leaf = *IssueLeaf(ca, spec);
  EXPECT_LT(NotAfter(*leaf.cert), system_clock::now());
  absl::Status st =
      AnchorOf(ca).Verify(*leaf.cert, nullptr, Purpose::kTlsClient, system_clock::now());
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(std::string(st.message())
                  .starts_with("expired on " + FormatDate(NotAfter(*leaf.cert)) + " (now "))
      << st.message();
}

TEST(CertsTest, ACertificateFromAnotherCaIsNotSignedByOurs) {
  Credential leaf = *IssueLeaf(Ca("theirs"), AgentSpec("fra-1", "127.77.1.0/24"));
  absl::Status st =
      AnchorOf(Ca("ours")).Verify(*leaf.cert, nullptr, Purpose::kTlsClient, system_clock::now());
  EXPECT_EQ(st.message(),
            "issued by O=prewarm, CN=prewarm CA theirs, not by our CA (ca.crt: O=prewarm, "
            "CN=prewarm CA ours)");
}

TEST(CertsTest, AClientOnlyCertificateCannotServe) {
  Credential ca = Ca("test");
  Credential leaf = *IssueLeaf(ca, AgentSpec("fra-1", "127.77.1.0/24"));
  absl::Status st =
      AnchorOf(ca).Verify(*leaf.cert, nullptr, Purpose::kTlsServer, system_clock::now());
  EXPECT_NE(st.message().find("not for use as a TLS server: its extendedKeyUsage lacks serverAuth"),
            std::string::npos)
      << st.message();
}

TEST(CertsTest, SerialNumbersAreRandom) {
  Credential ca = Ca("test");
  Credential a = *IssueLeaf(ca, OrchestratorSpec());
  Credential b = *IssueLeaf(ca, OrchestratorSpec());
  EXPECT_NE(
      ASN1_INTEGER_cmp(X509_get0_serialNumber(a.cert.get()), X509_get0_serialNumber(b.cert.get())),
      0);
}

TEST(CertsTest, WrittenFilesLoadBackWithAPrivateKeyFile) {
  testing::ScratchDir dir;
  Credential leaf = *IssueLeaf(Ca("test"), OrchestratorSpec());
  ASSERT_TRUE(WriteCredential(leaf, dir / "o.crt", dir / "o.key").ok());
  struct stat st {};
  ASSERT_EQ(::stat((dir / "o.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir / "o.crt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  absl::StatusOr<Credential> back = LoadCredential(dir / "o.crt", dir / "o.key");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(EVP_PKEY_eq(back->key.get(), leaf.key.get()), 1);
  EXPECT_EQ(X509_cmp(back->cert.get(), leaf.cert.get()), 0);
}

TEST(CertsTest, AKeyThatIsNotTheCertificatesIsRefused) {
  testing::ScratchDir dir;
  Credential ca = Ca("test");
  Credential a = *IssueLeaf(ca, OrchestratorSpec());
  Credential b = *IssueLeaf(ca, OrchestratorSpec());
  ASSERT_TRUE(WriteCredential(a, dir / "a.crt", dir / "a.key").ok());
  ASSERT_TRUE(WriteCredential(b, dir / "b.crt", dir / "b.key").ok());
  absl::StatusOr<Credential> mixed = LoadCredential(dir / "a.crt", dir / "b.key");
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.status().message().find("does not belong to the certificate"), std::string::npos);
}

TEST(CertsTest, BadNamesRangesOnNonAgentsAndTwoIdentitiesAreRefused) {
  Credential ca = Ca("test");
  LeafSpec bad_name = AgentSpec("fra 1", "127.77.1.0/24");
  EXPECT_FALSE(IssueLeaf(ca, bad_name).ok());
  LeafSpec ranged = OrchestratorSpec();
  ranged.identity.range = *Cidr::Parse("127.77.1.0/24");
  EXPECT_FALSE(IssueLeaf(ca, ranged).ok());
  LeafSpec two = AgentSpec("fra-1", "127.77.1.0/24");
  two.extra_uris = {"prewarm://operator/root"};
  Credential leaf = *IssueLeaf(ca, two);
  absl::StatusOr<Identity> id = IdentityOf(*leaf.cert);
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.status().message().find("exactly one prewarm://<role>/<name>"), std::string::npos);
}

TEST(CertsTest, FileStemsDoNotRepeatTheRole) {
  EXPECT_EQ(FileStem(Identity{Role::kAgent, "fra-1", std::nullopt}), "agent-fra-1");
  EXPECT_EQ(FileStem(Identity{Role::kOrchestrator, "orchestrator-1", std::nullopt}),
            "orchestrator-1");
  EXPECT_EQ(FileStem(Identity{Role::kForecaster, "forecaster", std::nullopt}), "forecaster");
  EXPECT_EQ(FileStem(Identity{Role::kOperator, "alice", std::nullopt}), "operator-alice");
}

TEST(CertsTest, RolesParseByName) {
  EXPECT_EQ(*ParseRole("etcd"), Role::kEtcd);
  EXPECT_EQ(RoleName(*ParseRole("forecaster")), std::string("forecaster"));
  EXPECT_FALSE(ParseRole("admin").ok());
}

}  // namespace
}  // namespace prewarm::security
