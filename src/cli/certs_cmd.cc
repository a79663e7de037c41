#include "cli/certs_cmd.h"

#include <iostream>

#include "fmt/format.h"
#include "security/cluster_certs.h"

namespace prewarm::cli {
namespace {

using security::ClusterPlan;
using security::WrittenFile;

struct CertsFlags {
  std::string dir;
  std::vector<std::string> orchestrators;
  std::vector<std::string> etcd;
  std::vector<std::string> agents;
  int days = 365;
  int ca_days = 3650;
  bool force = false;
  // issue
  std::string role;
  std::string name;
  std::string range;
  std::vector<std::string> ips;
  std::vector<std::string> dns;
  bool expired = false;
};

[[noreturn]] void Exit(const absl::Status& status) {
  if (status.ok()) {
    throw CLI::Success();
  }
  std::cerr << "prewarm certs: " << status.message() << "\n";
  throw CLI::RuntimeError(1);
}

void Print(const std::vector<WrittenFile>& files) {
  size_t width = 0;
  for (const WrittenFile& f : files) {
    width = std::max(width, f.path.size());
  }
  for (const WrittenFile& f : files) {
    fmt::print("wrote {:<{}}  {}\n", f.path, width, f.what);
  }
}

// The members named by NAME=ADDR,... options, or `defaults` when there are none.
absl::StatusOr<std::vector<security::Member>> ParseMembers(const std::vector<std::string>& texts,
                                                           std::vector<security::Member> defaults) {
  if (texts.empty()) {
    return defaults;
  }
  std::vector<security::Member> out;
  for (const std::string& t : texts) {
    ASSIGN_OR_RETURN(security::Member m, security::ParseMember(t));
    out.push_back(std::move(m));
  }
  return out;
}

absl::Status Init(const CertsFlags& f) {
  ClusterPlan plan = security::DefaultClusterPlan();
  ASSIGN_OR_RETURN(plan.orchestrators, ParseMembers(f.orchestrators, plan.orchestrators));
  ASSIGN_OR_RETURN(plan.etcd_members, ParseMembers(f.etcd, plan.etcd_members));
  if (!f.agents.empty()) {
    plan.agents.clear();
  }
  for (const std::string& a : f.agents) {
    ASSIGN_OR_RETURN(security::Identity id, security::ParseAgent(a));
    plan.agents.push_back(std::move(id));
  }
  plan.days = f.days;
  plan.ca_days = f.ca_days;
  ASSIGN_OR_RETURN(std::vector<WrittenFile> files, security::InitCertDir(f.dir, plan, f.force));
  Print(files);
  return absl::OkStatus();
}

absl::StatusOr<security::LeafSpec> IssueSpec(const CertsFlags& f) {
  security::LeafSpec spec;
  ASSIGN_OR_RETURN(spec.identity.role, security::ParseRole(f.role));
  spec.identity.name = f.name;
  if (!f.range.empty()) {
    ASSIGN_OR_RETURN(Cidr range, Cidr::Parse(f.range));
    spec.identity.range = range;
  }
  for (const std::string& text : f.ips) {
    ASSIGN_OR_RETURN(IpAddr ip, IpAddr::Parse(text));
    spec.ips.push_back(ip);
  }
  spec.dns_names = f.dns;
  spec.days = f.days;
  spec.expired = f.expired;
  return spec;
}

absl::Status Issue(const CertsFlags& f) {
  ASSIGN_OR_RETURN(security::LeafSpec spec, IssueSpec(f));
  ASSIGN_OR_RETURN(std::vector<WrittenFile> files, security::IssueCert(f.dir, spec, f.force));
  Print(files);
  return absl::OkStatus();
}

void AddInit(CLI::App& certs, const std::shared_ptr<CertsFlags>& f) {
  auto* init =
      certs.add_subcommand("init", "make a CA and the certificates of a one-machine cluster");
  init->add_option("dir", f->dir, "directory to write (created 0700)")->required();
  init->add_option(
      "--orchestrator", f->orchestrators,
      "orchestrator replica NAME=ADDR[,ADDR...] (IPs and DNS names clients dial; repeatable; "
      "default orchestrator-1=127.0.0.1,localhost orchestrator-2=127.0.0.2,localhost)");
  init->add_option(
      "--etcd", f->etcd,
      "etcd member NAME=ADDR[,ADDR...] (repeatable; default etcd-1..3 on 127.0.0.11-13, each "
      "also naming 127.0.0.1: etcd checks peers' certificates against their source address)");
  init->add_option("--agent", f->agents,
                   "agent ID=CIDR (repeatable; default fra-1=127.77.1.0/24 iad-1=127.77.2.0/24 "
                   "sin-1=127.77.3.0/24)");
  init->add_option("--days", f->days, "validity of each certificate")->capture_default_str();
  init->add_option("--ca-days", f->ca_days, "validity of the CA")->capture_default_str();
  init->add_flag("--force", f->force,
                 "replace an existing CA (every certificate it signed stops working)");
  init->callback([f] { Exit(Init(*f)); });
}

void AddIssue(CLI::App& certs, const std::shared_ptr<CertsFlags>& f) {
  auto* issue = certs.add_subcommand("issue", "sign one more certificate with the CA in --dir");
  issue
      ->add_option("--dir", f->dir,
                   "directory holding ca.crt and ca.key; the new files go there too")
      ->required();
  issue->add_option("--role", f->role, "agent, orchestrator, forecaster, operator or etcd")
      ->required();
  issue->add_option("--name", f->name, "its name (an agent: its node id)")->required();
  issue->add_option("--range", f->range, "an agent's instance address range (CIDR)");
  issue->add_option("--ip", f->ips, "an IP address clients dial (servers; repeatable)");
  issue->add_option("--dns", f->dns, "a DNS name clients dial (servers; repeatable)");
  issue->add_option("--days", f->days, "validity")->capture_default_str();
  issue->add_flag("--expired", f->expired, "issue one that has already expired (for tests)");
  issue->add_flag("--force", f->force, "replace an existing certificate of that name");
  issue->callback([f] { Exit(Issue(*f)); });
}

}  // namespace

void AddCertsCommand(CLI::App& app) {
  auto f = std::make_shared<CertsFlags>();
  auto* certs =
      app.add_subcommand("certs", "certificates for mutual TLS between prewarm's processes");
  certs->require_subcommand(1);
  AddInit(*certs, f);
  AddIssue(*certs, f);
}

}  // namespace prewarm::cli
