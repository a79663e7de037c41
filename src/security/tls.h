// Mutual TLS for every gRPC link (agent, forecaster and ctl to the orchestrator; the
// orchestrator to etcd), and who a verified peer is.
//
// Identities live in the certificates `prewarm certs init` issues (certs.h): the role
// (agent, orchestrator, forecaster, operator, etcd) and the name (for an agent, its node
// id; it may also carry the node's instance address range). The orchestrator takes a
// node's id and range from there, never from what the agent's Register claims.
//
// Without TLS configured, a link is plaintext: allowed only on loopback addresses, and
// it says so in the log.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/net.h"
#include "common/yaml_reader.h"

namespace grpc {
class ChannelCredentials;
class Status;
class ServerCredentials;
class ServerContext;
}  // namespace grpc

namespace prewarm::security {

enum class Role { kAgent, kOrchestrator, kForecaster, kOperator, kEtcd };
const char* RoleName(Role r);

// `tls: {ca: FILE, cert: FILE, key: FILE}` in a daemon's config (all three or none).
struct TlsConfig {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool enabled() const { return !ca_file.empty(); }
};

// Parses the optional `tls` mapping under `r` (absent: plaintext).
absl::StatusOr<TlsConfig> ParseTlsConfig(const YamlReader& r);

// Loads and checks the files at start (readable, the key matches the certificate, the
// certificate chains to the CA and is inside its validity period), so a bad file is a
// clear error at start, not a failed handshake later.
absl::Status CheckTlsFiles(const TlsConfig& tls);

// Server side: requires and verifies a client certificate signed by the CA. Plaintext
// (tls not enabled) only when `listen` is a loopback address; logs a warning that says so.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const TlsConfig& tls,
                                                                           const HostPort& listen);
// Client side: verifies the server against the CA and presents our certificate.
// Plaintext only to a loopback target.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(
    const TlsConfig& tls, const std::string& target);

// The caller of an RPC, from its verified certificate. On a plaintext (loopback) server
// every caller is `authenticated = false` with every role: the operator chose no auth.
struct Peer {
  bool authenticated = false;
  Role role = Role::kOperator;
  std::string name;              // the certificate's name (an agent's node id)
  std::optional<Cidr> range;     // an agent certificate's instance address range
  std::string address;           // ctx.peer(), e.g. "ipv4:127.0.0.1:41234"
  std::string Describe() const;  // "agent fra-1 (ipv4:127.0.0.1:41234)"
};
absl::StatusOr<Peer> PeerOf(const grpc::ServerContext& ctx);
// PermissionDenied naming the peer, its role and what it tried, unless it has `role`.
absl::Status Require(const Peer& peer, Role role, std::string_view action);

// Added with the implementation (security/tls.cc, grpc_diag.cc):
//
// ServerCredentials and ChannelCredentials load the files (readable, key matches) but do
// not refuse an expired certificate or one from another CA: a daemon calls CheckTlsFiles
// at start for that, and a certificate that expires while running is refused by the peer.
// Both verify the peer's certificate themselves with OpenSSL (security/peer_verifier.h), so
// the refusing side logs the certificate's subject and the exact reason.

// An agent acting for node `node_id` (Register, its stream): PermissionDenied naming the
// peer unless its certificate is an agent certificate for that node (plaintext passes).
absl::Status RequireAgent(const Peer& peer, std::string_view node_id, std::string_view action);

// gRPC core's own log (gpr_log: among others TLS handshake failures) goes to spdlog as
// "grpc: ..." from now on. Idempotent; call once at start, before channels and servers.
void RouteGrpcLogsToSpdlog();

// A failed RPC to `target` in words, TLS failures first, e.g. "TLS to 127.0.0.1:7400 failed:
// our certificate was refused: expired on 2026-11-30 (now 2026-12-05) (tls.cert
// /etc/prewarm/agent-fra-1.crt: agent fra-1)". Anything else: "<target>: <CODE>: <message>".
std::string DescribeRpcError(const grpc::Status& status, std::string_view target);

}  // namespace prewarm::security
