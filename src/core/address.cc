#include "core/address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace sluice::core {
namespace {
constexpr std::array<uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  char buf[64];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress ip;
  in_addr v4{};
  if (inet_pton(AF_INET, buf, &v4) == 1) {
    std::memcpy(ip.bytes.data(), kV4MappedPrefix.data(), 12);
    std::memcpy(ip.bytes.data() + 12, &v4, 4);
    ip.is_v4 = true;
    return ip;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, buf, &v6) == 1) {
    std::memcpy(ip.bytes.data(), &v6, 16);
    return ip;
  }
  return std::nullopt;
}

IpAddress IpAddress::from_sockaddr(const sockaddr* sa) {
  IpAddress ip;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    std::memcpy(ip.bytes.data(), kV4MappedPrefix.data(), 12);
    std::memcpy(ip.bytes.data() + 12, &in->sin_addr, 4);
    ip.is_v4 = true;
  } else if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    std::memcpy(ip.bytes.data(), &in6->sin6_addr, 16);
    if (std::memcmp(ip.bytes.data(), kV4MappedPrefix.data(), 12) == 0) ip.is_v4 = true;
  }
  return ip;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  if (is_v4) {
    // By hand: inet_ntop formats through sprintf, which cost more than the rest of accepting a
    // connection's bookkeeping.
    char* p = buf;
    for (int i = 12; i < 16; ++i) {
      unsigned v = bytes[i];
      if (v >= 100) *p++ = static_cast<char>('0' + v / 100);
      if (v >= 10) *p++ = static_cast<char>('0' + v / 10 % 10);
      *p++ = static_cast<char>('0' + v % 10);
      if (i < 15) *p++ = '.';
    }
    return std::string(buf, static_cast<size_t>(p - buf));
  } else {
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  }
  return buf;
}

std::optional<SocketAddress> SocketAddress::parse(std::string_view text) {
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // unbracketed IPv6
  }
  uint32_t port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port_text.empty() ||
      port > 65535) {
    return std::nullopt;
  }
  auto ip = IpAddress::parse(host);
  if (!ip) return std::nullopt;
  if (!text.empty() && text.front() == '[' && ip->is_v4) return std::nullopt;
  return SocketAddress{*ip, static_cast<uint16_t>(port)};
}

std::string SocketAddress::to_string() const {
  // Built with append: GCC 12's -Wrestrict misfires on chained operator+ at -O3.
  std::string out;
  out.reserve(48);
  if (!ip.is_v4) out.push_back('[');
  out.append(ip.to_string());
  if (!ip.is_v4) out.push_back(']');
  out.push_back(':');
  out.append(std::to_string(port));
  return out;
}

socklen_t SocketAddress::to_sockaddr(sockaddr_storage* storage) const {
  std::memset(storage, 0, sizeof *storage);
  if (ip.is_v4) {
    auto* in = reinterpret_cast<sockaddr_in*>(storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    std::memcpy(&in->sin_addr, ip.bytes.data() + 12, 4);
    return sizeof(sockaddr_in);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(storage);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  std::memcpy(&in6->sin6_addr, ip.bytes.data(), 16);
  return sizeof(sockaddr_in6);
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  auto ip = IpAddress::parse(text.substr(0, slash));
  if (!ip) return std::nullopt;
  int max_bits = ip->is_v4 ? 32 : 128;
  int bits = max_bits;
  if (slash != std::string_view::npos) {
    auto bits_text = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(bits_text.data(), bits_text.data() + bits_text.size(), bits);
    if (ec != std::errc() || end != bits_text.data() + bits_text.size() || bits_text.empty() ||
        bits < 0 || bits > max_bits) {
      return std::nullopt;
    }
  }
  Cidr cidr{*ip, ip->is_v4 ? bits + 96 : bits};
  // Reject host bits set after the prefix: `10.0.0.1/8` is almost always a typo.
  for (int i = cidr.bits; i < 128; ++i) {
    if (cidr.prefix.bytes[i / 8] & (0x80 >> (i % 8))) return std::nullopt;
  }
  return cidr;
}

bool Cidr::contains(const IpAddress& ip) const {
  int full = bits / 8;
  if (std::memcmp(ip.bytes.data(), prefix.bytes.data(), full) != 0) return false;
  int rest = bits % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (ip.bytes[full] & mask) == (prefix.bytes[full] & mask);
}

std::optional<MacAddress> parse_mac(std::string_view text) {
  MacAddress mac{};
  if (text.size() != 17) return std::nullopt;
  for (size_t i = 0; i < 6; ++i) {
    if (i > 0 && text[i * 3 - 1] != ':') return std::nullopt;
    auto [end, ec] = std::from_chars(text.data() + i * 3, text.data() + i * 3 + 2, mac[i], 16);
    if (ec != std::errc() || end != text.data() + i * 3 + 2) return std::nullopt;
  }
  return mac;
}

}  // namespace sluice::core
