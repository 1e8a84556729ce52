#include "packet/interface.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace sluice::packet {
namespace {

std::optional<std::array<uint8_t, 6>> arp_lookup(const std::string& ip, const std::string& dev) {
  std::ifstream arp("/proc/net/arp");
  std::string line;
  std::getline(arp, line);  // header
  while (std::getline(arp, line)) {
    std::istringstream fields(line);
    std::string address, type, flags, mac, mask, device;
    fields >> address >> type >> flags >> mac >> mask >> device;
    if (address != ip || device != dev || flags == "0x0") continue;
    auto parsed = core::parse_mac(mac);
    if (parsed && *parsed != core::MacAddress{}) return parsed;  // all zero: incomplete
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::string mac_to_string(const std::array<uint8_t, 6>& mac) {
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                mac[4], mac[5]);
  return text;
}

std::optional<InterfaceInfo> interface_info(const std::string& name, std::string* error) {
  InterfaceInfo info;
  info.index = static_cast<int>(if_nametoindex(name.c_str()));
  if (info.index == 0) {
    *error = "packet: no interface '" + name + "'";
    return std::nullopt;
  }
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return std::nullopt;
  }
  ifreq req{};
  std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (::ioctl(fd, SIOCGIFMTU, &req) == 0) info.mtu = static_cast<uint32_t>(req.ifr_mtu);
  if (::ioctl(fd, SIOCGIFHWADDR, &req) == 0)
    std::memcpy(info.mac.data(), req.ifr_hwaddr.sa_data, 6);
  ::close(fd);
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) == 0) {
    for (auto* a = list; a; a = a->ifa_next) {
      if (!a->ifa_addr || name != a->ifa_name) continue;
      if (a->ifa_addr->sa_family == AF_INET && !info.ipv4) {
        info.ipv4 = core::IpAddress::from_sockaddr(a->ifa_addr);
      } else if (a->ifa_addr->sa_family == AF_INET6 && !info.ipv6) {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(a->ifa_addr);
        if (!IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr))
          info.ipv6 = core::IpAddress::from_sockaddr(a->ifa_addr);
      }
    }
    ::freeifaddrs(list);
  }
  return info;
}

std::optional<std::array<uint8_t, 6>> neighbour_mac(const core::IpAddress& ip,
                                                    const std::string& interface) {
  return arp_lookup(ip.to_string(), interface);
}

void trigger_resolution(const core::IpAddress& ip, const std::string& interface) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  ::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, interface.c_str(),
               static_cast<socklen_t>(interface.size()));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9);  // discard
  std::memcpy(&to.sin_addr, ip.bytes.data() + 12, 4);
  ::sendto(fd, "", 0, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  ::close(fd);
}

std::optional<std::array<uint8_t, 6>> resolve_gateway_mac(const core::IpAddress& gateway,
                                                          const std::string& interface,
                                                          std::string* error) {
  if (auto mac = neighbour_mac(gateway, interface)) return mac;
  trigger_resolution(gateway, interface);
  // Bounded: 20 reads 50 ms apart.
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (auto mac = neighbour_mac(gateway, interface)) return mac;
  }
  *error = "packet: gateway " + gateway.to_string() + " does not answer ARP on " + interface +
           " (set packet.gateway_mac, or check the gateway)";
  return std::nullopt;
}

}  // namespace sluice::packet
