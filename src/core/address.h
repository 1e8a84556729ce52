#pragma once
// Socket addresses and CIDR prefixes as plain values, parsed strictly from config text.
// `127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:80`; host names are not resolved here (no DNS on the
// hot path; DNS discovery is a separate concern).
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::core {

// An IPv4 or IPv6 address; IPv4 is stored as IPv4-mapped IPv6 so comparisons are uniform.
struct IpAddress {
  std::array<uint8_t, 16> bytes{};
  bool is_v4 = false;

  static std::optional<IpAddress> parse(std::string_view text);
  static IpAddress from_sockaddr(const sockaddr* sa);
  std::string to_string() const;
  bool operator==(const IpAddress&) const = default;
};

struct SocketAddress {
  IpAddress ip;
  uint16_t port = 0;

  // Requires a port; IPv6 must be bracketed.
  static std::optional<SocketAddress> parse(std::string_view text);
  std::string to_string() const;
  // Fills `storage`, returns the length to pass to bind/connect.
  socklen_t to_sockaddr(sockaddr_storage* storage) const;
  // As an Asio endpoint (tcp or udp); a template so that core does not depend on Asio.
  template <typename Endpoint>
  Endpoint to_endpoint() const {
    sockaddr_storage storage;
    socklen_t len = to_sockaddr(&storage);
    Endpoint ep;
    std::memcpy(ep.data(), &storage, len);
    ep.resize(len);
    return ep;
  }
  bool operator==(const SocketAddress&) const = default;
};

struct Cidr {
  IpAddress prefix;
  int bits = 0;  // on the mapped form for IPv4 (i.e. 96 + v4 bits)

  static std::optional<Cidr> parse(std::string_view text);
  bool contains(const IpAddress& ip) const;
};

// `aa:bb:cc:dd:ee:ff` (hex, either case), as configs and /proc/net/arp write a MAC address.
using MacAddress = std::array<uint8_t, 6>;
std::optional<MacAddress> parse_mac(std::string_view text);

}  // namespace sluice::core
