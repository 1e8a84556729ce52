#include "l4/proxy_protocol.h"

#include <gtest/gtest.h>

namespace sluice::l4 {
namespace {

TEST(ProxyProtocol, V1Text) {
  auto src = *core::SocketAddress::parse("10.1.2.3:4567");
  auto dst = *core::SocketAddress::parse("192.0.2.10:80");
  EXPECT_EQ(proxy_v1_header(src, dst), "PROXY TCP4 10.1.2.3 192.0.2.10 4567 80\r\n");
  auto src6 = *core::SocketAddress::parse("[2001:db8::1]:1000");
  auto dst6 = *core::SocketAddress::parse("[2001:db8::2]:443");
  EXPECT_EQ(proxy_v1_header(src6, dst6), "PROXY TCP6 2001:db8::1 2001:db8::2 1000 443\r\n");
}

TEST(ProxyProtocol, V2Binary) {
  auto src = *core::SocketAddress::parse("10.1.2.3:4567");
  auto dst = *core::SocketAddress::parse("192.0.2.10:80");
  std::string h = proxy_v2_header(src, dst);
  ASSERT_EQ(h.size(), 16u + 12u);
  EXPECT_EQ(h.substr(0, 12), std::string("\r\n\r\n\0\r\nQUIT\n", 12));
  EXPECT_EQ(static_cast<uint8_t>(h[12]), 0x21);  // v2, PROXY
  EXPECT_EQ(static_cast<uint8_t>(h[13]), 0x11);  // TCP over IPv4
  EXPECT_EQ(static_cast<uint8_t>(h[15]), 12);    // address block length
  EXPECT_EQ(static_cast<uint8_t>(h[16]), 10);    // source 10.1.2.3
  EXPECT_EQ(static_cast<uint8_t>(h[20]), 192);   // destination 192.0.2.10
  EXPECT_EQ((static_cast<uint8_t>(h[24]) << 8) | static_cast<uint8_t>(h[25]), 4567);
  EXPECT_EQ((static_cast<uint8_t>(h[26]) << 8) | static_cast<uint8_t>(h[27]), 80);
}

}  // namespace
}  // namespace sluice::l4
