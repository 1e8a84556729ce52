#pragma once
// What the packet tier needs to know about the host: an interface's index, MTU, MAC and
// addresses, and the gateway's MAC from the neighbour table.
#include <array>
#include <optional>
#include <string>

#include "core/address.h"

namespace sluice::packet {

struct InterfaceInfo {
  int index = 0;
  uint32_t mtu = 1500;
  std::array<uint8_t, 6> mac{};
  std::optional<core::IpAddress> ipv4;  // the first address
  std::optional<core::IpAddress> ipv6;  // the first global address
};

std::optional<InterfaceInfo> interface_info(const std::string& name, std::string* error);

// The gateway's MAC from /proc/net/arp; if it is not there yet, one UDP datagram to its discard
// port makes the kernel resolve it, and the table is read again for up to a second.
std::optional<std::array<uint8_t, 6>> resolve_gateway_mac(const core::IpAddress& gateway,
                                                          const std::string& interface,
                                                          std::string* error);

// The neighbour table's entry, without waiting; nullopt if there is none (yet).
std::optional<std::array<uint8_t, 6>> neighbour_mac(const core::IpAddress& ip,
                                                    const std::string& interface);
// Makes the kernel resolve `ip` (one empty UDP datagram to its discard port).
void trigger_resolution(const core::IpAddress& ip, const std::string& interface);

std::string mac_to_string(const std::array<uint8_t, 6>& mac);

}  // namespace sluice::packet
