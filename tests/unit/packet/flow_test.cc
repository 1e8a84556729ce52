#include "packet/flow.h"

#include <gtest/gtest.h>

#include "packet/frame.h"

namespace sluice::packet {
namespace {

TEST(FlowSpec, ParsesProtocolsAndFamilies) {
  std::string error;
  auto tcp = parse_flow_spec("tcp 198.51.100.7:40000 -> 192.0.2.10:80", &error);
  ASSERT_TRUE(tcp) << error;
  EXPECT_EQ(tcp->proto, kProtoTcp);
  EXPECT_EQ(tcp->src.port, 40000);
  EXPECT_EQ(tcp->dst.to_string(), "192.0.2.10:80");
  auto udp6 = parse_flow_spec("udp [2001:db8::1]:53 -> [2001:db8::10]:53", &error);
  ASSERT_TRUE(udp6) << error;
  EXPECT_FALSE(udp6->src.ip.is_v4);
  auto icmp6 = parse_flow_spec("icmp 2001:db8::1 -> 2001:db8::10", &error);
  ASSERT_TRUE(icmp6) << error;
  EXPECT_EQ(icmp6->proto, kProtoIcmpV6);
}

TEST(FlowSpec, RejectsWhatItCannotBuild) {
  std::string error;
  EXPECT_FALSE(parse_flow_spec("tcp 198.51.100.7 -> 192.0.2.10:80", &error));
  EXPECT_NE(error.find("bad address '198.51.100.7'"), std::string::npos) << error;
  EXPECT_FALSE(parse_flow_spec("sctp 1.2.3.4:1 -> 1.2.3.5:2", &error));
  EXPECT_NE(error.find("unknown protocol"), std::string::npos) << error;
  EXPECT_FALSE(parse_flow_spec("tcp 1.2.3.4:1 -> [::1]:2", &error));
  EXPECT_NE(error.find("one address family"), std::string::npos) << error;
  EXPECT_FALSE(parse_flow_spec("tcp 1.2.3.4:1", &error));
}

TEST(FlowHash, ModesHashWhatTheySay) {
  std::string error;
  auto a = make_flow(*parse_flow_spec("tcp 198.51.100.7:1000 -> 192.0.2.10:80", &error));
  auto b = make_flow(*parse_flow_spec("tcp 198.51.100.7:2000 -> 192.0.2.10:80", &error));
  auto c = make_flow(*parse_flow_spec("tcp 198.51.100.7:2000 -> 192.0.2.11:80", &error));
  EXPECT_NE(flow_hash(a, 0), flow_hash(b, 0)) << "l4 hashes the ports";
  EXPECT_EQ(flow_hash(a, SLUICE_VIP_L3), flow_hash(b, SLUICE_VIP_L3)) << "l3: addresses only";
  EXPECT_NE(flow_hash(b, SLUICE_VIP_L3), flow_hash(c, SLUICE_VIP_L3));
  EXPECT_EQ(flow_hash(b, SLUICE_VIP_HASH_SRC), flow_hash(c, SLUICE_VIP_HASH_SRC));
}

TEST(Frame, BuiltFramesHaveRightChecksums) {
  std::string error;
  for (const char* text :
       {"tcp 198.51.100.7:1000 -> 192.0.2.10:80", "udp [2001:db8::1]:53 -> [2001:db8::10]:53",
        "icmp 198.51.100.7 -> 192.0.2.10", "icmp 2001:db8::1 -> 2001:db8::10"}) {
    auto frame = build_frame(*parse_flow_spec(text, &error));
    std::string why;
    EXPECT_TRUE(checksums_ok(frame, &why)) << text << ": " << why;
    frame[frame.size() - 1] ^= 1;
    EXPECT_FALSE(checksums_ok(frame)) << text << " with a flipped payload bit";
  }
}

}  // namespace
}  // namespace sluice::packet
