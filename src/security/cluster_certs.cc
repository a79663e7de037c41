#include "security/cluster_certs.h"

#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_join.h"
#include "fmt/format.h"

namespace prewarm::security {
namespace {
namespace fs = std::filesystem;

std::string Describe(const LeafSpec& spec, const X509& cert) {
  KeyUsage usage = spec.usage.value_or(DefaultUsage(spec.identity.role));
  std::string use = usage.server_auth && usage.client_auth ? "server+client"
                    : usage.server_auth                    ? "server"
                                                           : "client";
  std::vector<std::string> at = spec.dns_names;
  for (const IpAddr& ip : spec.ips) {
    at.push_back(ip.ToString());
  }
  std::string where = at.empty() ? "" : fmt::format(" for {}", absl::StrJoin(at, ", "));
  return fmt::format("{}, {}{}, until {}", spec.identity.Describe(), use, where,
                     FormatDate(NotAfter(cert)));
}

absl::Status EnsureDir(const std::string& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) {
    return absl::OkStatus();
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, "mkdir " + dir);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<WrittenFile>> WriteLeaf(const std::string& dir, const Credential& ca,
                                                   const LeafSpec& spec) {
  ASSIGN_OR_RETURN(Credential leaf, IssueLeaf(ca, spec));
  std::string stem = fmt::format("{}/{}", dir, FileStem(spec.identity));
  RETURN_IF_ERROR(WriteCredential(leaf, stem + ".crt", stem + ".key"));
  return std::vector<WrittenFile>{{stem + ".crt", Describe(spec, *leaf.cert)},
                                  {stem + ".key", "its private key (0600)"}};
}

LeafSpec ServerSpec(Role role, const Member& m, int days) {
  LeafSpec spec;
  spec.identity = Identity{role, m.name, std::nullopt};
  spec.dns_names = m.dns_names;
  spec.ips = m.ips;
  spec.days = days;
  return spec;
}

LeafSpec ClientSpec(Identity id, int days) {
  LeafSpec spec;
  spec.identity = std::move(id);
  spec.days = days;
  return spec;
}

std::vector<LeafSpec> LeafSpecs(const ClusterPlan& plan) {
  std::vector<LeafSpec> specs;
  for (const Member& m : plan.orchestrators) {
    specs.push_back(ServerSpec(Role::kOrchestrator, m, plan.days));
  }
  for (const Member& m : plan.etcd_members) {
    specs.push_back(ServerSpec(Role::kEtcd, m, plan.days));
  }
  for (const Identity& a : plan.agents) {
    specs.push_back(ClientSpec(a, plan.days));
  }
  specs.push_back(
      ClientSpec(Identity{Role::kForecaster, plan.forecaster, std::nullopt}, plan.days));
  specs.push_back(
      ClientSpec(Identity{Role::kOperator, plan.operator_name, std::nullopt}, plan.days));
  return specs;
}

// "<hostname>-<6 hex digits>": tells two CAs apart in every error that names one.
std::string CaName() {
  char host[64] = "prewarm";
  ::gethostname(host, sizeof(host) - 1);
  unsigned char r[3] = {0, 0, 0};
  RAND_bytes(r, sizeof(r));
  return fmt::format("{}-{:02x}{:02x}{:02x}", host, r[0], r[1], r[2]);
}

// "a=b" -> {"a", "b"}; nullopt without '=' or with an empty side.
std::optional<std::pair<std::string, std::string>> SplitAssignment(std::string_view text) {
  size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == text.size()) {
    return std::nullopt;
  }
  return std::pair{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
}

Member MakeMember(std::string name, std::string_view ip, bool localhost) {
  Member m{std::move(name), {}, {*IpAddr::Parse(ip)}};
  if (localhost) {
    m.dns_names.push_back("localhost");
  }
  return m;
}

}  // namespace

absl::StatusOr<Member> ParseMember(std::string_view text) {
  auto parts = SplitAssignment(text);
  if (!parts) {
    return absl::InvalidArgumentError(fmt::format("'{}': expected NAME=ADDR[,ADDR...]", text));
  }
  Member m{parts->first, {}, {}};
  std::string_view rest = parts->second;
  for (size_t i = 0; i <= parts->second.size() && !rest.empty(); ++i) {  // bounded by the length
    std::string_view addr = rest.substr(0, rest.find(','));
    rest.remove_prefix(std::min(rest.size(), addr.size() + 1));
    absl::StatusOr<IpAddr> ip = IpAddr::Parse(addr);
    if (ip.ok()) {
      m.ips.push_back(*ip);
    } else {
      m.dns_names.emplace_back(addr);
    }
  }
  return m;
}

absl::StatusOr<Identity> ParseAgent(std::string_view text) {
  auto parts = SplitAssignment(text);
  if (!parts) {
    return absl::InvalidArgumentError(fmt::format("'{}': expected ID=CIDR", text));
  }
  absl::StatusOr<Cidr> range = Cidr::Parse(parts->second);
  if (!range.ok()) {
    return absl::InvalidArgumentError(fmt::format("'{}': {}", text, range.status().message()));
  }
  Identity id{Role::kAgent, parts->first, *range};
  RETURN_IF_ERROR(ValidateIdentity(id));
  return id;
}

ClusterPlan DefaultClusterPlan() {
  ClusterPlan plan;
  plan.orchestrators = {MakeMember("orchestrator-1", "127.0.0.1", true),
                        MakeMember("orchestrator-2", "127.0.0.2", true)};
  // etcd checks a peer's certificate against the connection's source address
  // (--peer-client-cert-auth), and between loopback addresses that is 127.0.0.1.
  plan.etcd_members = {MakeMember("etcd-1", "127.0.0.11", false),
                       MakeMember("etcd-2", "127.0.0.12", false),
                       MakeMember("etcd-3", "127.0.0.13", false)};
  for (Member& m : plan.etcd_members) m.ips.push_back(*IpAddr::Parse("127.0.0.1"));
  for (const char* agent : {"fra-1=127.77.1.0/24", "iad-1=127.77.2.0/24", "sin-1=127.77.3.0/24"}) {
    plan.agents.push_back(*ParseAgent(agent));
  }
  return plan;
}

absl::StatusOr<std::vector<WrittenFile>> InitCertDir(const std::string& dir,
                                                     const ClusterPlan& plan, bool force) {
  std::string ca_crt = dir + "/ca.crt", ca_key = dir + "/ca.key";
  std::error_code ec;
  if (!force && (fs::exists(ca_crt, ec) || fs::exists(ca_key, ec))) {
    return absl::AlreadyExistsError(fmt::format(
        "{} already holds a CA: replacing it would invalidate every certificate it signed "
        "(--force to do it anyway; `prewarm certs issue` adds certificates to it)",
        dir));
  }
  std::vector<LeafSpec> specs = LeafSpecs(plan);
  for (const LeafSpec& spec : specs) {
    RETURN_IF_ERROR(ValidateIdentity(spec.identity));
  }
  RETURN_IF_ERROR(EnsureDir(dir));
  ASSIGN_OR_RETURN(Credential ca, MakeCa(CaName(), plan.ca_days));
  RETURN_IF_ERROR(WriteCredential(ca, ca_crt, ca_key));
  std::vector<WrittenFile> out = {
      {ca_crt, fmt::format("{}, until {}", SubjectOf(*ca.cert), FormatDate(NotAfter(*ca.cert)))},
      {ca_key, "the CA's private key (0600): only `prewarm certs issue` needs it"}};
  for (const LeafSpec& spec : specs) {
    ASSIGN_OR_RETURN(std::vector<WrittenFile> files, WriteLeaf(dir, ca, spec));
    out.insert(out.end(), files.begin(), files.end());
  }
  return out;
}

absl::StatusOr<std::vector<WrittenFile>> IssueCert(const std::string& dir, const LeafSpec& spec,
                                                   bool force) {
  RETURN_IF_ERROR(ValidateIdentity(spec.identity));
  KeyUsage usage = spec.usage.value_or(DefaultUsage(spec.identity.role));
  if (usage.server_auth && spec.dns_names.empty() && spec.ips.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("{} {} serves: name the addresses clients dial with --ip and/or --dns",
                    RoleName(spec.identity.role), spec.identity.name));
  }
  std::string crt = fmt::format("{}/{}.crt", dir, FileStem(spec.identity));
  std::error_code ec;
  if (!force && fs::exists(crt, ec)) {
    return absl::AlreadyExistsError(fmt::format("{} exists (--force to replace it)", crt));
  }
  ASSIGN_OR_RETURN(Credential ca, LoadCredential(dir + "/ca.crt", dir + "/ca.key"));
  if (X509_check_ca(ca.cert.get()) <= 0) {
    return absl::InvalidArgumentError(fmt::format("{}/ca.crt: not a CA certificate", dir));
  }
  return WriteLeaf(dir, ca, spec);
}

}  // namespace prewarm::security
