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
  EXPECT_EQ(static_cast<uint8_t>(proxy_v2_header(src, dst, /*udp=*/true)[13]),
            0x12);                              // UDP over IPv4
  EXPECT_EQ(static_cast<uint8_t>(h[15]), 12);   // address block length
  EXPECT_EQ(static_cast<uint8_t>(h[16]), 10);   // source 10.1.2.3
  EXPECT_EQ(static_cast<uint8_t>(h[20]), 192);  // destination 192.0.2.10
  EXPECT_EQ((static_cast<uint8_t>(h[24]) << 8) | static_cast<uint8_t>(h[25]), 4567);
  EXPECT_EQ((static_cast<uint8_t>(h[26]) << 8) | static_cast<uint8_t>(h[27]), 80);
}

}  // namespace
}  // namespace sluice::l4

namespace sluice::l4 {
namespace {

TEST(ProxyProtocolParse, RoundTripsV1AndV2) {
  auto src = *core::SocketAddress::parse("203.0.113.7:4567");
  auto dst = *core::SocketAddress::parse("192.0.2.10:443");
  for (const auto& header : {proxy_v1_header(src, dst), proxy_v2_header(src, dst)}) {
    auto h = parse_proxy_header(header + "GET / HTTP/1.1\r\n");
    ASSERT_EQ(h.state, ProxyHeader::State::kDone) << h.error;
    EXPECT_EQ(h.consumed, header.size());
    EXPECT_EQ(h.source, src);
    EXPECT_EQ(h.destination, dst);
    for (size_t n = 0; n < header.size(); ++n) {  // any prefix is incomplete, never wrong
      EXPECT_EQ(parse_proxy_header(header.substr(0, n)).state, ProxyHeader::State::kIncomplete)
          << n;
    }
  }
  auto six = parse_proxy_header("PROXY TCP6 2001:db8::1 2001:db8::2 1000 443\r\n");
  ASSERT_EQ(six.state, ProxyHeader::State::kDone);
  EXPECT_EQ(six.source.to_string(), "[2001:db8::1]:1000");
  EXPECT_TRUE(parse_proxy_header("PROXY UNKNOWN\r\n").local);
}

TEST(ProxyProtocolParse, RejectsEverythingElse) {
  for (const char* bad :
       {"GET / HTTP/1.1\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "PROXY TCP4 1.2.3.4 ::1 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
        "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n"}) {
    EXPECT_EQ(parse_proxy_header(bad).state, ProxyHeader::State::kError) << bad;
  }
  EXPECT_EQ(parse_proxy_header("PROXY TCP4 " + std::string(120, '1')).state,
            ProxyHeader::State::kError);
  std::string v2 = proxy_v2_header(*core::SocketAddress::parse("1.2.3.4:1"),
                                   *core::SocketAddress::parse("5.6.7.8:2"));
  v2[15] = 4;  // an IPv4 block shorter than 12 bytes
  EXPECT_EQ(parse_proxy_header(v2).state, ProxyHeader::State::kError);
}

}  // namespace
}  // namespace sluice::l4
