// EtcdCluster: a local etcd cluster of N members, each a child process of Debian's
// /usr/bin/etcd (etcd-server 3.4) on a loopback address of its own. `prewarm up
// --cluster`, the store's tests and the benchmarks start their etcd with it.
//
//   EtcdCluster cluster(options);          // nothing runs yet
//   RETURN_IF_ERROR(cluster.Start());      // every member up and answering
//   EtcdKvOptions kv{cluster.ClientEndpoints()};
//   cluster.Kill(0); cluster.Restart(0);   // faults: SIGKILL, then rejoin from its data
//   cluster.Stop();                        // also in the destructor
//
// Layout: one fresh directory (under /dev/shm when it is writable) holding, per member,
// m<i>/data (etcd's data dir) and m<i>/etcd.log (its log, appended across restarts). Stop
// removes the processes and the whole directory; the processes also die with the thread
// that started them (PR_SET_PDEATHSIG), and a later Start removes directories that a
// crashed process left behind.
//
// Errors name the cause: etcd missing (with the package to install), an address already
// in use, or a member that exited or never answered (with the end of its log).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/process.h"

namespace grpc {
class ChannelCredentials;
}  // namespace grpc

namespace prewarm::store {

namespace cluster_internal {
class Spawner;
}  // namespace cluster_internal

// One set of PEM files for every link, client and peer. The certificate must allow both
// serverAuth and clientAuth (members present it to each other as well as to clients) and
// name, as subjectAltName IP:..., every member's address and 127.0.0.1: with
// --peer-client-cert-auth etcd checks a peer's certificate against the source address of
// its connection, and from one loopback address to another the kernel sends from
// 127.0.0.1.
struct EtcdTlsFiles {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool enabled() const { return !ca_file.empty(); }
};

struct EtcdClusterOptions {
  // One member per address. Never 127.0.0.1:2379: a system etcd may be listening there.
  std::vector<std::string> ips = {"127.0.0.11", "127.0.0.12", "127.0.0.13"};
  uint16_t client_port = 2379;
  uint16_t peer_port = 2380;
  std::string etcd_binary = "/usr/bin/etcd";
  // Where the cluster's directory goes; empty: /dev/shm if writable, else $TMPDIR or /tmp.
  std::string temp_parent;
  // Raft timing. Loopback default 50/500 ms; etcd's minimum lease TTL follows from it:
  // 1.5 x election timeout rounded up to whole seconds (here 1 s).
  int64_t heartbeat_ms = 50;
  int64_t election_ms = 500;
  EtcdTlsFiles tls;  // empty: plaintext on every link
  // Bound on Start() and on Restart() waiting for members to answer.
  int64_t start_timeout_ms = 30000;
};

// Options whose member addresses are this process's own block of loopback addresses,
// 127.1xx.y.<first_host + i> derived from the pid, so that tests and benchmarks running
// side by side (ctest -j) never share a port. Never 127.0.0.1.
EtcdClusterOptions ProcessLocalClusterOptions(int members = 3, int first_host = 11);

class EtcdCluster {
 public:
  explicit EtcdCluster(EtcdClusterOptions options);
  // `runner` is borrowed; it must outlive the cluster.
  EtcdCluster(EtcdClusterOptions options, ProcessRunner& runner);
  ~EtcdCluster();  // Stop()
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  // Starts every member in a fresh directory and waits until each answers a linearizable
  // read. On failure nothing is left running or on disk.
  absl::Status Start();
  // SIGKILLs member i and reaps it.
  absl::Status Kill(size_t i);
  // Starts member i again on its data dir (killing it first if it runs). When a quorum of
  // members is then running, waits until every running member answers; otherwise (e.g.
  // the first of several restarted after a total outage) returns once it has started.
  absl::Status Restart(size_t i);
  // SIGKILLs every member and removes the directory. (Not SIGTERM: a member that is
  // leader spends seconds handing leadership to peers that are stopping too, and the
  // data is about to be deleted anyway.)
  void Stop();

  size_t size() const { return options_.ips.size(); }
  bool Running(size_t i) const;
  std::vector<std::string> ClientEndpoints() const;  // "127.0.0.11:2379", ...
  std::string ClientEndpoint(size_t i) const;
  const std::string& dir() const { return dir_; }
  std::string LogPath(size_t i) const;
  // The last lines of member i's log, for error messages.
  std::string LogTail(size_t i, size_t max_lines = 20) const;
  // What a client needs to reach this cluster: plaintext, or TLS with the options' CA,
  // presenting the options' certificate.
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ClientCredentials() const;
  // etcd's floor for lease TTLs with these options.
  int64_t MinLeaseTtlMs() const;

 private:
  absl::Status CheckPrerequisites() const;
  absl::Status Spawn(size_t i);
  // Waits until every member in `members` answers, or one exits, or the deadline passes.
  absl::Status WaitReady(const std::vector<size_t>& members);
  absl::Status WaitMember(size_t i, const std::shared_ptr<grpc::ChannelCredentials>& credentials,
                          std::chrono::steady_clock::time_point deadline);
  absl::Status MemberError(size_t i, std::string_view what) const;

  const EtcdClusterOptions options_;
  std::unique_ptr<RealProcessRunner> own_runner_;
  ProcessRunner& runner_;
  std::unique_ptr<cluster_internal::Spawner> spawner_;
  std::string dir_;          // empty when stopped
  std::string token_;        // --initial-cluster-token: this cluster's members only
  std::vector<pid_t> pids_;  // 0: not running
};

}  // namespace prewarm::store
