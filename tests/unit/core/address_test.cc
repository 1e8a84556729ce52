#include "core/address.h"

#include <gtest/gtest.h>

namespace sluice::core {
namespace {

TEST(Address, ParsesIpv4AndIpv6) {
  auto a = SocketAddress::parse("127.0.0.1:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->port, 8080);
  EXPECT_EQ(a->to_string(), "127.0.0.1:8080");
  auto b = SocketAddress::parse("[::1]:443");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->to_string(), "[::1]:443");
}

TEST(Address, FormatsIpv4ByHand) {
  for (const char* text :
       {"0.0.0.0", "10.0.0.1", "127.0.0.1", "192.168.100.254", "255.255.255.255", "8.80.9.100"}) {
    EXPECT_EQ(IpAddress::parse(text)->to_string(), text);
  }
}

TEST(Address, RejectsBadAddresses) {
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "::1:80",
                          "[127.0.0.1]:80", "localhost:80", "1.2.3:80", "127.0.0.1:8o"}) {
    EXPECT_FALSE(SocketAddress::parse(bad)) << bad;
  }
}

TEST(Cidr, ContainsAndRejectsHostBits) {
  auto c = Cidr::parse("10.0.0.0/8");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->contains(*IpAddress::parse("10.1.2.3")));
  EXPECT_FALSE(c->contains(*IpAddress::parse("11.0.0.1")));
  EXPECT_FALSE(c->contains(*IpAddress::parse("::1")));
  auto v6 = Cidr::parse("fd00::/8");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(*IpAddress::parse("fd12::1")));
  EXPECT_TRUE(Cidr::parse("127.0.0.1")->contains(*IpAddress::parse("127.0.0.1")));
  EXPECT_FALSE(Cidr::parse("10.0.0.1/8"));
  EXPECT_FALSE(Cidr::parse("10.0.0.0/33"));
}

}  // namespace
}  // namespace sluice::core

namespace sluice::core {
namespace {

TEST(MacAddress, ParsesTheColonFormStrictly) {
  auto mac = parse_mac("02:aB:00:ff:10:9c");
  ASSERT_TRUE(mac);
  EXPECT_EQ(*mac, (MacAddress{0x02, 0xab, 0x00, 0xff, 0x10, 0x9c}));
  for (const char* bad : {"", "02:ab:00:ff:10", "02:ab:00:ff:10:9c:00", "2:ab:00:ff:10:9c0",
                          "02-ab-00-ff-10-9c", "02:ab:00:ff:10:9g", " 02:ab:00:ff:10:9c"}) {
    EXPECT_FALSE(parse_mac(bad)) << bad;
  }
}

}  // namespace
}  // namespace sluice::core
