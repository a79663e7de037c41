// What `prewarm certs init` and `prewarm certs issue` write (src/cli/certs_cmd.h parses the
// flags; this is the library, so tests check exactly what ships). A certificate directory:
//
//   ca.crt ca.key                  the cluster's CA; ca.key is needed only to issue more
//   orchestrator-1.crt/.key ...    one per orchestrator replica: server + client
//   etcd-1.crt/.key ...            one per etcd member: server + client (peer and client links)
//   agent-<node>.crt/.key          one per edge node, carrying its instance address range
//   forecaster.crt/.key            the forecaster
//   operator.crt/.key              `prewarm ctl`
//
// File names follow FileStem (certs.h). Keys are 0600, certificates 0644, every file is
// written atomically; the directory is created 0700 when missing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "security/certs.h"

namespace prewarm::security {

// A server's name and the addresses clients dial it at.
struct Member {
  std::string name;
  std::vector<std::string> dns_names;
  std::vector<IpAddr> ips;
};
// "NAME=ADDR[,ADDR...]", each ADDR an IP address or a DNS name:
// "orchestrator-1=127.0.0.1,localhost".
absl::StatusOr<Member> ParseMember(std::string_view text);
// "ID=CIDR": "fra-1=127.77.1.0/24".
absl::StatusOr<Identity> ParseAgent(std::string_view text);

struct ClusterPlan {
  std::vector<Member> orchestrators;
  std::vector<Member> etcd_members;
  std::vector<Identity> agents;
  std::string forecaster = "forecaster";
  std::string operator_name = "operator";
  int days = 365;      // leaves
  int ca_days = 3650;  // the CA
};
// One machine: orchestrator-1 (127.0.0.1) and orchestrator-2 (127.0.0.2), both also
// "localhost"; etcd-1..3 on 127.0.0.11-13; agents fra-1 127.77.1.0/24, iad-1 127.77.2.0/24,
// sin-1 127.77.3.0/24; one forecaster and one operator.
ClusterPlan DefaultClusterPlan();

struct WrittenFile {
  std::string path;
  std::string what;  // "agent fra-1 (range 127.77.1.0/24), client, until 2027-12-05"
};

// A new CA in `dir` and every certificate of `plan`. Refuses when `dir` already holds a CA
// (ca.crt or ca.key) unless `force`: replacing it invalidates every certificate it signed.
absl::StatusOr<std::vector<WrittenFile>> InitCertDir(const std::string& dir,
                                                     const ClusterPlan& plan, bool force);

// One more certificate, signed by the CA in `dir` (ca.crt + ca.key). Refuses to replace an
// existing certificate unless `force`; a server role needs at least one DNS name or IP.
absl::StatusOr<std::vector<WrittenFile>> IssueCert(const std::string& dir, const LeafSpec& spec,
                                                   bool force);

}  // namespace prewarm::security
