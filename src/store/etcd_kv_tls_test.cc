// EtcdKv over TLS to an EtcdCluster started with TLS on every link, with certificates
// made by the openssl command-line tool.
#include "fmt/format.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "store/etcd_cluster.h"
#include "store/etcd_kv.h"
#include "store/kv_test_backends.h"
#include "store/test_certs.h"

namespace prewarm::store {
namespace {

using testkit::Show;
using testkit::WatchRecorder;

bool Failed(const absl::Status& s) { return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s); }

// TLS on every link: the cluster requires client certificates signed by its CA.
TEST(EtcdKvOverTlsTest, ClientsWithTheClustersCaWorkAndEveryoneElseIsRefused) {
  if (!testkit::HaveEtcd()) {
    GTEST_SKIP() << testkit::kNoEtcd;
  }
  testkit::TempDir dir;
  EtcdClusterOptions options = testkit::TestClusterOptions(3, 21);
  auto certs = testkit::MakeTestCerts(dir.path(), options.ips);
  ASSERT_TRUE(certs.ok()) << certs.status();
  options.tls = certs->cluster;
  EtcdCluster cluster(options);
  absl::Status started = cluster.Start();
  ASSERT_TRUE(started.ok()) << started;
  auto client = [&](std::shared_ptr<grpc::ChannelCredentials> credentials) {
    EtcdKvOptions o;
    o.endpoints = cluster.ClientEndpoints();
    o.credentials = std::move(credentials);
    o.request_timeout_ms = 2000;
    o.dial_timeout_ms = 1000;
    return std::move(EtcdKv::Create(o)).value();
  };

  auto trusted = client(*cluster.ClientCredentials());
  EXPECT_TRUE(trusted->Describe().starts_with("etcd https://")) << trusted->Describe();
  WatchRecorder rec;
  auto handle = trusted->Watch("tls/", 0, rec.Sink());
  ASSERT_TRUE(handle.ok()) << handle.status();
  auto put = trusted->Put("tls/k", "v");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(trusted->Get("tls/k")->kvs[0].value, "v");
  ASSERT_TRUE(rec.WaitForEvents(1));
  EXPECT_EQ(Show(rec.events()), std::vector<std::string>{fmt::format("put tls/k=v@{}", *put)});

  grpc::SslCredentialsOptions stranger;
  stranger.pem_root_certs = testkit::ReadFile(certs->cluster.ca_file);
  stranger.pem_cert_chain = testkit::ReadFile(certs->stranger_cert_file);
  stranger.pem_private_key = testkit::ReadFile(certs->stranger_key_file);
  EXPECT_TRUE(Failed(client(grpc::SslCredentials(stranger))->Get("tls/k").status()));
  EXPECT_TRUE(Failed(client(nullptr)->Get("tls/k").status())) << "plaintext to a TLS port";
}

}  // namespace
}  // namespace prewarm::store
