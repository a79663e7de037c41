// Tap networking for qemu guests (QemuOptions::network = "tap", the production option
// beside slirp): each guest's virtio-net sits on a tap device enslaved to one bridge per
// node, and the agent relays the instance's address to <guest address>:<port> on it.
//
// - The bridge holds the first address of guest_network (the guests' gateway), e.g.
//   10.77.0.1/16. An nftables table named prewarm_<bridge> makes it a dead end: the
//   host accepts nothing from the bridge but replies to connections it opened (the
//   relay) and routes nothing from or to it; every tap is an isolated bridge port, so no
//   frame goes from one guest to another. So a guest reaches nothing but is reached on
//   its workload's port, as under slirp.
// - A guest's address is guest_network plus the host part of its instance address
//   (127.77.1.9 -> 10.77.1.9 in a /16) and its MAC follows from that address, so a
//   reused instance address finds the host's neighbour entry still right.
// - Taps are not persistent: the agent opens one (TUNSETIFF), enslaves it, hands the fd
//   to QEMU and closes its own copy. It vanishes with QEMU, however QEMU ends, so no tap
//   outlives its VM (and VMs die with the agent).
#pragma once

#include <string>

#include "common/net.h"
#include "common/process.h"
#include "common/status.h"

namespace prewarm::agent::qemu {

// Creates `bridge` with the gateway address of `guest_network` (or checks the one there)
// and (re)writes its nftables isolation. Idempotent.
absl::Status EnsureBridge(ProcessRunner& runner, const std::string& bridge, const Cidr& guest_network);

// Removes the bridge and its nftables table (for tests; the agent leaves them, like any
// node-level network set-up).
absl::Status RemoveBridge(ProcessRunner& runner, const std::string& bridge);

// The nft script EnsureBridge loads (for tests and review).
std::string BridgeRuleset(const std::string& bridge);

// The guest address for `instance` in `guest_network`: an error when it would be the
// network, gateway or broadcast address.
absl::StatusOr<IpAddr> GuestAddress(const Cidr& guest_network, const IpAddr& instance);
IpAddr GatewayAddress(const Cidr& guest_network);
// 52:54:00 (QEMU's prefix) and the low three bytes of `guest`.
std::string GuestMac(const IpAddr& guest);

// Opens a new non-persistent tap `name` (at most 15 characters), enslaves it to `bridge`
// as an isolated port and sets it up. The returned fd is the tap; closing the last copy removes it.
absl::StatusOr<ScopedFd> OpenTap(ProcessRunner& runner, const std::string& name, const std::string& bridge);

}  // namespace prewarm::agent::qemu
