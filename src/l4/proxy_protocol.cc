#include "l4/proxy_protocol.h"

#include <cstring>

namespace sluice::l4 {
namespace {

core::IpAddress as_v6(core::IpAddress ip) {
  ip.is_v4 = false;  // the mapped form is already stored
  return ip;
}

}  // namespace

std::string proxy_v1_header(const core::SocketAddress& source,
                            const core::SocketAddress& destination) {
  const bool v4 = source.ip.is_v4 && destination.ip.is_v4;
  std::string out = v4 ? "PROXY TCP4 " : "PROXY TCP6 ";
  out.append(v4 ? source.ip.to_string() : as_v6(source.ip).to_string());
  out.push_back(' ');
  out.append(v4 ? destination.ip.to_string() : as_v6(destination.ip).to_string());
  out.push_back(' ');
  out.append(std::to_string(source.port));
  out.push_back(' ');
  out.append(std::to_string(destination.port));
  out.append("\r\n");
  return out;
}

std::string proxy_v2_header(const core::SocketAddress& source,
                            const core::SocketAddress& destination) {
  static constexpr unsigned char kSignature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
  const bool v4 = source.ip.is_v4 && destination.ip.is_v4;
  std::string out(reinterpret_cast<const char*>(kSignature), 12);
  out.push_back(static_cast<char>(0x21));              // version 2, command PROXY
  out.push_back(static_cast<char>(v4 ? 0x11 : 0x21));  // TCP over IPv4 / IPv6
  const uint16_t length = v4 ? 12 : 36;
  out.push_back(static_cast<char>(length >> 8));
  out.push_back(static_cast<char>(length & 0xff));
  const size_t offset = v4 ? 12 : 0;
  const size_t size = v4 ? 4 : 16;
  out.append(reinterpret_cast<const char*>(source.ip.bytes.data() + offset), size);
  out.append(reinterpret_cast<const char*>(destination.ip.bytes.data() + offset), size);
  for (uint16_t port : {source.port, destination.port}) {
    out.push_back(static_cast<char>(port >> 8));
    out.push_back(static_cast<char>(port & 0xff));
  }
  return out;
}

}  // namespace sluice::l4
