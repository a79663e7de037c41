// Certificates for the store's TLS tests, made with the openssl command-line tool (the
// project's own certificate code is not a dependency of src/store).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "store/etcd_cluster.h"

namespace prewarm::store::testkit {

// A directory removed (with everything in it) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct TestCerts {
  // A CA and one certificate it signed, naming every given IP, for servers and clients.
  EtcdTlsFiles cluster;
  // Another CA's certificate and key: valid, but not one the cluster trusts.
  std::string stranger_cert_file;
  std::string stranger_key_file;
};

// The whole file ("" if unreadable).
std::string ReadFile(const std::string& path);

absl::StatusOr<TestCerts> MakeTestCerts(const std::string& dir,
                                        const std::vector<std::string>& ips);

}  // namespace prewarm::store::testkit
