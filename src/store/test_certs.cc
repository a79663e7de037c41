#include "store/test_certs.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "common/process.h"
#include "fmt/format.h"

namespace prewarm::store::testkit {
namespace {

absl::Status Openssl(const std::vector<std::string>& args) {
  RealProcessRunner runner;
  std::vector<std::string> argv = {"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  ASSIGN_OR_RETURN(ProcessResult r, runner.Run(argv, std::chrono::milliseconds(30000)));
  if (r.exit_code != 0) {
    return absl::InternalError(fmt::format("openssl {} failed: {}", args[0], r.output));
  }
  return absl::OkStatus();
}

// A self-signed CA: <dir>/<name>.crt and .key.
absl::Status MakeCa(const std::string& dir, const std::string& name) {
  return Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                  "-nodes", "-days", "2", "-subj", "/CN=" + name, "-keyout",
                  dir + "/" + name + ".key", "-out", dir + "/" + name + ".crt"});
}

// <dir>/<name>.crt and .key, signed by <dir>/<ca>.crt, for servers and clients.
absl::Status MakeLeaf(const std::string& dir, const std::string& name, const std::string& ca,
                      const std::vector<std::string>& ips) {
  std::string base = dir + "/" + name;
  std::vector<std::string> sans;
  sans.reserve(ips.size());
  for (const std::string& ip : ips) {
    sans.push_back("IP:" + ip);
  }
  {
    std::ofstream ext(base + ".ext");
    ext << "basicConstraints=CA:FALSE\n"
        << "keyUsage=digitalSignature,keyEncipherment\n"
        << "extendedKeyUsage=serverAuth,clientAuth\n"
        << fmt::format("subjectAltName={}\n", fmt::join(sans, ","));
  }
  RETURN_IF_ERROR(
      Openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
               "-subj", "/CN=" + name, "-keyout", base + ".key", "-out", base + ".csr"}));
  return Openssl({"x509", "-req", "-in", base + ".csr", "-CA", dir + "/" + ca + ".crt", "-CAkey",
                  dir + "/" + ca + ".key", "-CAcreateserial", "-days", "2", "-extfile",
                  base + ".ext", "-out", base + ".crt"});
}

}  // namespace

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TempDir::TempDir() {
  std::string tmpl =
      (std::filesystem::temp_directory_path() / "prewarm-store-test-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) != nullptr) {
    path_ = tmpl;
  }
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) {
    std::filesystem::remove_all(path_, ec);
  }
}

absl::StatusOr<TestCerts> MakeTestCerts(const std::string& dir,
                                        const std::vector<std::string>& ips) {
  if (dir.empty()) {
    return absl::InternalError("no directory for the test certificates");
  }
  RETURN_IF_ERROR(MakeCa(dir, "ca"));
  // 127.0.0.1 too: etcd checks a peer's certificate against the connection's source
  // address, and the kernel sends from 127.0.0.1 to any other loopback address.
  std::vector<std::string> names = ips;
  names.push_back("127.0.0.1");
  RETURN_IF_ERROR(MakeLeaf(dir, "member", "ca", names));
  RETURN_IF_ERROR(MakeCa(dir, "stranger-ca"));
  RETURN_IF_ERROR(MakeLeaf(dir, "stranger", "stranger-ca", {"127.0.0.1"}));
  TestCerts certs;
  certs.cluster = {dir + "/ca.crt", dir + "/member.crt", dir + "/member.key"};
  certs.stranger_cert_file = dir + "/stranger.crt";
  certs.stranger_key_file = dir + "/stranger.key";
  return certs;
}

}  // namespace prewarm::store::testkit
