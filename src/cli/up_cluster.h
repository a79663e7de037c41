// The cluster part of `prewarm up --cluster`: a CA and certificates for every daemon
// (security/cluster_certs.h), the etcd members (store/etcd_cluster.h) with TLS on client and
// peer links, and one orchestrator config per replica on that etcd. It also points the
// forecaster at every replica and each agent at every replica (each starting at another),
// all with their own certificates. Internal to src/cli.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cli/up_config.h"
#include "orchestrator/config.h"
#include "store/etcd_cluster.h"

namespace prewarm::cli {

class UpClusterParts {
 public:
  ~UpClusterParts() { Stop(); }
  // Makes the certificates (unless cluster.certs names a directory that has them), starts
  // etcd, fills in cfg's forecaster and agents; returns the replicas' configs.
  absl::StatusOr<std::vector<orchestrator::OrchestratorConfig>> Start(UpConfig& cfg);
  // Stops etcd and removes the temporary certificate directory.
  void Stop();
  // What runs where, and how to reach it with `prewarm ctl`.
  std::string Banner(const UpConfig& cfg) const;

 private:
  absl::Status MakeCerts(const UpConfig& cfg);
  security::TlsConfig Tls(const std::string& stem) const;

  std::string certs_dir_;
  bool temp_certs_ = false;
  std::unique_ptr<store::EtcdCluster> etcd_;
};

}  // namespace prewarm::cli
