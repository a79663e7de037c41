#include "agent/runtime/qemu/tap.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "fmt/format.h"

namespace prewarm::agent::qemu {
namespace {

constexpr auto kIpTimeout = std::chrono::seconds(10);

bool ValidIfName(const std::string& n) {
  return !n.empty() && n.size() < IFNAMSIZ &&
         n.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string::npos;
}

absl::Status Ip(ProcessRunner& runner, std::vector<std::string> args) {
  args.insert(args.begin(), "ip");
  ASSIGN_OR_RETURN(ProcessResult r, runner.Run(args, kIpTimeout));
  if (r.exit_code != 0) {
    std::string cmd;
    for (const std::string& a : args) cmd += (cmd.empty() ? "" : " ") + a;
    return absl::InternalError(fmt::format("{}: {}", cmd, r.output));
  }
  return absl::OkStatus();
}

// Whether `name` exists in this thread's network namespace (/sys/class/net shows the
// namespace sysfs was mounted in, which may be another one).
absl::StatusOr<bool> LinkExists(ProcessRunner& runner, const std::string& name) {
  ASSIGN_OR_RETURN(ProcessResult r, runner.Run({"ip", "link", "show", "dev", name}, kIpTimeout));
  return r.exit_code == 0;
}

uint32_t HostMask(const Cidr& net) { return net.prefix >= 32 ? 0 : (0xffffffffu >> net.prefix); }

}  // namespace

std::string BridgeRuleset(const std::string& bridge) {
  // "table X {}" then "delete table X": replaces an older ruleset, and works when there
  // is none (nft applies the file atomically).
  return fmt::format(R"NFT(table inet prewarm_{0} {{}}
delete table inet prewarm_{0}
table inet prewarm_{0} {{
  chain input {{
    type filter hook input priority 0; policy accept;
    iifname "{0}" ct state established,related accept
    iifname "{0}" drop
  }}
  chain forward {{
    type filter hook forward priority 0; policy accept;
    iifname "{0}" drop
    oifname "{0}" drop
  }}
}}
)NFT",
                     bridge);
}

IpAddr GatewayAddress(const Cidr& guest_network) { return IpAddr::V4(guest_network.base.v4_host_order() + 1); }

absl::StatusOr<IpAddr> GuestAddress(const Cidr& guest_network, const IpAddr& instance) {
  if (!guest_network.base.is_v4() || !instance.is_v4()) return absl::InvalidArgumentError("tap networking is IPv4");
  uint32_t host = instance.v4_host_order() & HostMask(guest_network);
  if (host <= 1 || host == HostMask(guest_network)) {
    return absl::InvalidArgumentError(
        fmt::format("instance address {} maps to {}'s network, gateway or broadcast address", instance.ToString(),
                    guest_network.ToString()));
  }
  return IpAddr::V4(guest_network.base.v4_host_order() | host);
}

std::string GuestMac(const IpAddr& guest) {
  uint32_t a = guest.v4_host_order();
  return fmt::format("52:54:00:{:02x}:{:02x}:{:02x}", (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

absl::Status EnsureBridge(ProcessRunner& runner, const std::string& bridge, const Cidr& guest_network) {
  if (!ValidIfName(bridge)) return absl::InvalidArgumentError(fmt::format("bad bridge name '{}'", bridge));
  if (!guest_network.base.is_v4() || guest_network.prefix > 30 || guest_network.prefix < 8) {
    return absl::InvalidArgumentError(fmt::format("guest network {} must be IPv4, /8 to /30",
                                                  guest_network.ToString()));
  }
  ASSIGN_OR_RETURN(bool exists, LinkExists(runner, bridge));
  if (!exists) RETURN_IF_ERROR(Ip(runner, {"link", "add", "name", bridge, "type", "bridge"}));
  std::string gw = fmt::format("{}/{}", GatewayAddress(guest_network).ToString(), guest_network.prefix);
  ASSIGN_OR_RETURN(ProcessResult addrs, runner.Run({"ip", "-o", "-4", "addr", "show", "dev", bridge}, kIpTimeout));
  if (addrs.output.find(" " + gw + " ") == std::string::npos) {
    RETURN_IF_ERROR(Ip(runner, {"addr", "add", gw, "dev", bridge}));
  }
  RETURN_IF_ERROR(Ip(runner, {"link", "set", bridge, "up"}));
  std::string file = fmt::format("/run/prewarm-{}.nft", bridge);
  {
    std::ofstream out(file, std::ios::trunc);
    out << BridgeRuleset(bridge);
    if (!out) return absl::InternalError("cannot write " + file);
  }
  ASSIGN_OR_RETURN(ProcessResult nft, runner.Run({"nft", "-f", file}, kIpTimeout));
  std::error_code ec;
  std::filesystem::remove(file, ec);
  if (nft.exit_code != 0) {
    return absl::InternalError(fmt::format("nft -f (isolation of bridge {}): {}", bridge, nft.output));
  }
  return absl::OkStatus();
}

absl::Status RemoveBridge(ProcessRunner& runner, const std::string& bridge) {
  if (!ValidIfName(bridge)) return absl::InvalidArgumentError(fmt::format("bad bridge name '{}'", bridge));
  (void)runner.Run({"nft", "delete", "table", "inet", "prewarm_" + bridge}, kIpTimeout);
  ASSIGN_OR_RETURN(bool exists, LinkExists(runner, bridge));
  if (exists) RETURN_IF_ERROR(Ip(runner, {"link", "delete", bridge}));
  return absl::OkStatus();
}

absl::StatusOr<ScopedFd> OpenTap(ProcessRunner& runner, const std::string& name, const std::string& bridge) {
  if (!ValidIfName(name)) return absl::InvalidArgumentError(fmt::format("bad tap name '{}'", name));
  ScopedFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, "open /dev/net/tun");
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  std::memcpy(ifr.ifr_name, name.c_str(), name.size());
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0) return ErrnoStatus(errno, "TUNSETIFF " + name);
  RETURN_IF_ERROR(Ip(runner, {"link", "set", name, "master", bridge}));
  // An isolated bridge port forwards to the bridge itself only, never to another guest.
  RETURN_IF_ERROR(Ip(runner, {"link", "set", "dev", name, "type", "bridge_slave", "isolated", "on"}));
  RETURN_IF_ERROR(Ip(runner, {"link", "set", name, "up"}));
  return fd;
}

}  // namespace prewarm::agent::qemu
