// Fixture tests of the packet tier's BPF program: a built frame in through BPF_PROG_TEST_RUN,
// the verdict, the bytes out and the counters checked. Needs root (CAP_BPF), as the packet
// tier itself does.
#include "packet/xdp_balancer.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <cstring>
#include <iostream>
#include <map>
#include <set>

#include "packet/flow.h"
#include "packet/frame.h"

namespace sluice::packet {
namespace {

using Bytes = std::vector<uint8_t>;

const Mac kGatewayMac{0x02, 0xee, 0, 0, 0, 0x01};
const Mac kClientSideMac{0x02, 0, 0, 0, 0, 0x01};  // FrameOptions' default source
const Mac kOurMac{0x02, 0, 0, 0, 0, 0x02};         // FrameOptions' default destination

core::IpAddress ip(const char* text) { return *core::IpAddress::parse(text); }

FlowSpec flow(const char* text) {
  std::string error;
  auto spec = parse_flow_spec(text, &error);
  EXPECT_TRUE(spec) << error;
  return *spec;
}

config::PacketVip vip(const char* address, uint16_t port, const char* protocol,
                      std::vector<const char*> reals, const char* mode = "l4",
                      const char* forward = "ipip") {
  config::PacketVip v;
  v.address = ip(address);
  v.port = port;
  v.protocol = mode == std::string("l3") ? "" : protocol;
  v.mode = mode;
  v.forward = forward;
  for (const char* r : reals) {
    config::PacketReal real;
    std::string text = r;
    if (auto sa = core::SocketAddress::parse(text)) {
      real.address = sa->ip;
      real.port = sa->port;
    } else {
      real.address = ip(r);
    }
    v.reals.push_back(real);
  }
  return v;
}

// The IP header and payload of a frame (what an outer header wraps).
Bytes l3_of(const Bytes& frame) {
  auto layout = parse_layout(frame);
  return Bytes(frame.begin() + static_cast<long>(layout->l3), frame.end());
}

std::string ipv4_at(const Bytes& b, size_t at) {
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, b.data() + at, text, sizeof text);
  return text;
}

std::string ipv6_at(const Bytes& b, size_t at) {
  char text[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, b.data() + at, text, sizeof text);
  return text;
}

uint16_t u16_at(const Bytes& b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }

class XdpBalancerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    lb_ = XdpBalancer::load(4096, &error);
    ASSERT_TRUE(lb_) << error << " (the packet tier's tests need root)";
    settings_.gateway_mac = kGatewayMac;
    settings_.source_v4 = core::Cidr::parse("10.99.0.0/16");
    settings_.source_v6 = core::Cidr::parse("fd00:99::/112");
  }

  void configure(std::vector<config::PacketVip> vips, XdpBalancer::Usable usable = nullptr) {
    vips_ = std::move(vips);
    std::string error;
    ASSERT_TRUE(lb_->configure(vips_, settings_, usable, &error)) << error;
  }

  TestRun run(const Bytes& frame) {
    auto result = lb_->test_run(frame);
    if (result.action == XDP_DROP || result.action == XDP_ABORTED) {
      for (int r = 0; r < SLUICE_REASON_COUNT; ++r) {
        if (auto c = lb_->counters().reasons[r]; c.packets)
          std::cerr << "  " << reason_name(r) << " " << c.packets << "\n";
      }
    }
    EXPECT_GE(result.action, 0) << "BPF_PROG_TEST_RUN failed";
    return result;
  }

  Counter reason(int r) { return lb_->counters().reasons[r]; }
  Counter vip_counter(const std::string& name) {
    for (const auto& [n, c] : lb_->counters().vips) {
      if (n == name) return c;
    }
    ADD_FAILURE() << "no counters for " << name;
    return {};
  }

  // The real the program must pick for a flow new to it: Maglev over the C++ flow hash.
  std::string expected_real(const config::PacketVip& v, const FlowSpec& f) {
    return lb_->table_real(v.name(), flow_hash(make_flow(f), vip_flags(v))).value_or("none");
  }

  // A new TCP flow to `v` (port 80) that its Maglev table puts on `real`.
  FlowSpec flow_to(const config::PacketVip& v, const std::string& real) {
    for (int i = 0; i < 1000; ++i) {
      auto f = flow(
          ("tcp 198.51.100.7:" + std::to_string(30000 + i) + " -> " + v.address.to_string() + ":80")
              .c_str());
      if (expected_real(v, f) == real) return f;
    }
    ADD_FAILURE() << "no flow of 1000 lands on " << real;
    return {};
  }

  std::unique_ptr<XdpBalancer> lb_;
  LbSettings settings_;
  std::vector<config::PacketVip> vips_;
};

// Checks an IPv4-in-IPv4 frame: addresses, lengths, checksums, and the inner packet unchanged.
void expect_ipip4(const Bytes& in, const Bytes& out, const std::string& real) {
  ASSERT_EQ(out.size(), in.size() + 20);
  EXPECT_TRUE(std::equal(kGatewayMac.begin(), kGatewayMac.end(), out.begin()));
  EXPECT_TRUE(std::equal(out.begin() + 6, out.begin() + 12, kOurMac.begin()));
  EXPECT_EQ(u16_at(out, 12), 0x0800);
  EXPECT_EQ(out[14], 0x45);
  EXPECT_EQ(out[14 + 9], 4) << "outer protocol IPIP";
  EXPECT_EQ(u16_at(out, 16), in.size() - 14 + 20) << "outer total length";
  EXPECT_EQ(internet_checksum({out.data() + 14, 20}), 0) << "outer header checksum";
  EXPECT_EQ(ipv4_at(out, 14 + 16), real);
  EXPECT_EQ(Bytes(out.begin() + 34, out.end()), l3_of(in)) << "inner packet changed";
}

TEST_F(XdpBalancerTest, Tcp4ToAnL4VipIsEncapsulatedToTheMaglevReal) {
  configure({vip("192.0.2.10", 80, "tcp", {"10.0.1.2", "10.0.2.2", "10.0.3.2"})});
  std::map<std::string, int> spread;
  for (int i = 0; i < 64; ++i) {
    auto f = flow(("tcp 198.51.100.7:" + std::to_string(40000 + i) + " -> 192.0.2.10:80").c_str());
    auto in = build_frame(f);
    auto out = run(in);
    ASSERT_EQ(out.action, XDP_TX);
    auto real = expected_real(vips_[0], f);
    expect_ipip4(in, out.frame, real);
    ++spread[real];
    // The outer source is 10.99.x.y with the low 16 bits of the flow hash: the BPF hash and the
    // C++ one agree bit for bit.
    const uint32_t hash = flow_hash(make_flow(f), 0);
    EXPECT_EQ(out.frame[14 + 12], 10);
    EXPECT_EQ(out.frame[14 + 13], 99);
    EXPECT_EQ(u16_at(out.frame, 14 + 14), hash & 0xffff);
  }
  EXPECT_EQ(spread.size(), 3u) << "64 flows over 3 reals";
  EXPECT_EQ(vip_counter("tcp 192.0.2.10:80").packets, 64u);
  EXPECT_EQ(reason(SLUICE_CONN_NEW).packets, 64u);
}

TEST_F(XdpBalancerTest, UdpOverIpv4AndIpv6AndMixedFamilies) {
  configure({vip("192.0.2.11", 53, "udp", {"10.0.1.2", "10.0.2.2"}),
             vip("2001:db8::11", 53, "udp", {"2001:db8:1::2", "2001:db8:2::2"}),
             vip("192.0.2.12", 53, "udp", {"2001:db8:3::2"})});
  {
    auto f = flow("udp 198.51.100.7:5353 -> 192.0.2.11:53");
    auto in = build_frame(f);
    auto out = run(in);
    ASSERT_EQ(out.action, XDP_TX);
    expect_ipip4(in, out.frame, expected_real(vips_[0], f));
  }
  {
    auto f = flow("udp [2001:db8:9::7]:5353 -> [2001:db8::11]:53");
    auto in = build_frame(f);
    auto out = run(in);
    ASSERT_EQ(out.action, XDP_TX);
    ASSERT_EQ(out.frame.size(), in.size() + 40);
    EXPECT_EQ(u16_at(out.frame, 12), 0x86dd);
    EXPECT_EQ(out.frame[14] >> 4, 6);
    EXPECT_EQ(out.frame[14 + 6], 41) << "IPv6 in IPv6";
    EXPECT_EQ(u16_at(out.frame, 14 + 4), in.size() - 14) << "outer payload length";
    EXPECT_EQ(ipv6_at(out.frame, 14 + 24), expected_real(vips_[1], f));
    EXPECT_EQ(ipv6_at(out.frame, 14 + 8).rfind("fd00:99::", 0), 0u) << ipv6_at(out.frame, 22);
    EXPECT_EQ(Bytes(out.frame.begin() + 54, out.frame.end()), l3_of(in));
  }
  {
    auto f = flow("udp 198.51.100.7:5353 -> 192.0.2.12:53");
    auto in = build_frame(f);
    auto out = run(in);
    ASSERT_EQ(out.action, XDP_TX);
    EXPECT_EQ(out.frame[14 + 6], 4) << "IPv4 in IPv6";
    EXPECT_EQ(ipv6_at(out.frame, 14 + 24), "2001:db8:3::2");
    EXPECT_EQ(Bytes(out.frame.begin() + 54, out.frame.end()), l3_of(in));
  }
}

TEST_F(XdpBalancerTest, Tcp6ToAnL4Vip) {
  configure({vip("2001:db8::10", 443, "tcp", {"2001:db8:1::2", "2001:db8:2::2", "2001:db8:3::2"})});
  auto f = flow("tcp [2001:db8:9::7]:40000 -> [2001:db8::10]:443");
  auto in = build_frame(f);
  auto out = run(in);
  ASSERT_EQ(out.action, XDP_TX);
  EXPECT_EQ(ipv6_at(out.frame, 14 + 24), expected_real(vips_[0], f));
  Bytes stripped(out.frame.begin(), out.frame.begin() + 14);
  stripped.insert(stripped.end(), out.frame.begin() + 54, out.frame.end());
  std::string why;
  EXPECT_TRUE(checksums_ok(stripped, &why)) << "inner packet after decapsulation: " << why;
  EXPECT_EQ(Bytes(stripped.begin() + 14, stripped.end()), l3_of(in));
}

TEST_F(XdpBalancerTest, L3VipBalancesAnyProtocolByAddressesAlone) {
  configure({vip("192.0.2.20", 0, "", {"10.0.1.2", "10.0.2.2", "10.0.3.2"}, "l3")});
  // GRE, and TCP between the same two addresses on any ports, all go to one real.
  auto gre = flow("gre 198.51.100.7 -> 192.0.2.20");
  auto out = run(build_frame(gre));
  ASSERT_EQ(out.action, XDP_TX);
  const auto real = ipv4_at(out.frame, 14 + 16);
  EXPECT_EQ(real, expected_real(vips_[0], gre));
  for (int port : {1, 80, 40000}) {
    auto tcp = flow(("tcp 198.51.100.7:" + std::to_string(port) + " -> 192.0.2.20:443").c_str());
    auto o = run(build_frame(tcp));
    ASSERT_EQ(o.action, XDP_TX);
    EXPECT_EQ(ipv4_at(o.frame, 14 + 16), real) << "port " << port;
  }
  // An ICMP error (not an echo) between them follows the same flow; so do later fragments.
  FrameOptions unreachable;
  unreachable.icmp_type = 3;
  auto o = run(build_frame(flow("icmp 198.51.100.7 -> 192.0.2.20"), unreachable));
  ASSERT_EQ(o.action, XDP_TX);
  EXPECT_EQ(ipv4_at(o.frame, 14 + 16), real);
  FrameOptions fragment;
  fragment.ipv4_frag = 100;  // offset 800 bytes
  o = run(build_frame(flow("udp 198.51.100.7:1 -> 192.0.2.20:2"), fragment));
  ASSERT_EQ(o.action, XDP_TX);
  EXPECT_EQ(ipv4_at(o.frame, 14 + 16), real);
  EXPECT_EQ(reason(SLUICE_CONN_NEW).packets, 0u) << "l3 is stateless";
}

TEST_F(XdpBalancerTest, AnyPortVipTakesEveryPortOfItsProtocolOnly) {
  configure({vip("192.0.2.30", 0, "tcp", {"10.0.1.2", "10.0.2.2"})});
  for (int port : {22, 80, 65535}) {
    auto o = run(build_frame(
        flow(("tcp 198.51.100.7:40000 -> 192.0.2.30:" + std::to_string(port)).c_str())));
    EXPECT_EQ(o.action, XDP_TX) << port;
  }
  auto udp = build_frame(flow("udp 198.51.100.7:40000 -> 192.0.2.30:80"));
  auto o = run(udp);
  EXPECT_EQ(o.action, XDP_PASS);
  EXPECT_EQ(o.frame, udp);
}

TEST_F(XdpBalancerTest, EstablishedFlowKeepsItsRealWhileASynTakesTheNewTable) {
  auto v = vip("192.0.2.10", 80, "tcp", {"10.0.1.2", "10.0.2.2", "10.0.3.2"});
  configure({v});
  // Find a flow that lands on 10.0.1.2, then drain that real.
  const FlowSpec f = flow_to(vips_[0], "10.0.1.2");
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(run(build_frame(f)).action, XDP_TX);  // SYN: remembered
  const auto built = lb_->tables_built();
  configure({v}, [](const config::PacketVip&, const config::PacketReal& r) {
    return r.address.to_string() != "10.0.1.2";
  });
  EXPECT_EQ(lb_->tables_built(), built + 1) << "one table rebuilt";
  FrameOptions ack;
  ack.tcp_flags = kTcpAck;
  auto o = run(build_frame(f, ack));
  ASSERT_EQ(o.action, XDP_TX);
  EXPECT_EQ(ipv4_at(o.frame, 14 + 16), "10.0.1.2") << "the established flow stays";
  EXPECT_EQ(reason(SLUICE_CONN_HIT).packets, 1u);
  o = run(build_frame(f));  // a new SYN of the same 5-tuple
  ASSERT_EQ(o.action, XDP_TX);
  EXPECT_NE(ipv4_at(o.frame, 14 + 16), "10.0.1.2") << "a SYN takes the current table";
  // Reconfiguring with nothing changed rebuilds nothing.
  configure({v}, [](const config::PacketVip&, const config::PacketReal& r) {
    return r.address.to_string() != "10.0.1.2";
  });
  EXPECT_EQ(lb_->tables_built(), built + 1);
}

TEST_F(XdpBalancerTest, RemovedRealLosesItsConnections) {
  auto v = vip("192.0.2.10", 80, "tcp", {"10.0.1.2", "10.0.2.2"});
  configure({v});
  const FlowSpec f = flow_to(vips_[0], "10.0.1.2");
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(run(build_frame(f)).action, XDP_TX);
  configure({vip("192.0.2.10", 80, "tcp", {"10.0.2.2"})});
  FrameOptions ack;
  ack.tcp_flags = kTcpAck;
  auto o = run(build_frame(f, ack));
  ASSERT_EQ(o.action, XDP_TX);
  EXPECT_EQ(ipv4_at(o.frame, 14 + 16), "10.0.2.2");
}

TEST_F(XdpBalancerTest, NatRewritesTheDestinationAndTranslatesTheReplyBack) {
  configure({vip("192.0.2.40", 80, "tcp", {"10.0.5.2:8080"}, "l4", "nat")});
  auto in = build_frame(flow("tcp 198.51.100.7:40000 -> 192.0.2.40:80"));
  auto out = run(in);
  ASSERT_EQ(out.action, XDP_TX);
  ASSERT_EQ(out.frame.size(), in.size());
  EXPECT_TRUE(std::equal(kGatewayMac.begin(), kGatewayMac.end(), out.frame.begin()));
  EXPECT_EQ(ipv4_at(out.frame, 14 + 12), "198.51.100.7");
  EXPECT_EQ(ipv4_at(out.frame, 14 + 16), "10.0.5.2");
  EXPECT_EQ(u16_at(out.frame, 34 + 2), 8080);
  std::string why;
  EXPECT_TRUE(checksums_ok(out.frame, &why)) << why;

  FrameOptions reply_options;
  reply_options.tcp_flags = kTcpSyn | kTcpAck;
  auto reply = build_frame(flow("tcp 10.0.5.2:8080 -> 198.51.100.7:40000"), reply_options);
  out = run(reply);
  ASSERT_EQ(out.action, XDP_TX);
  EXPECT_EQ(ipv4_at(out.frame, 14 + 12), "192.0.2.40");
  EXPECT_EQ(u16_at(out.frame, 34), 80);
  EXPECT_EQ(ipv4_at(out.frame, 14 + 16), "198.51.100.7");
  EXPECT_TRUE(checksums_ok(out.frame, &why)) << why;
  EXPECT_EQ(reason(SLUICE_TX_NAT_REPLY).packets, 1u);
  // A packet from the real to someone it was not translated for passes untouched.
  auto other = build_frame(flow("tcp 10.0.5.2:8080 -> 198.51.100.8:40000"));
  out = run(other);
  EXPECT_EQ(out.action, XDP_PASS);
  EXPECT_EQ(out.frame, other);
}

TEST_F(XdpBalancerTest, NatOverIpv6AndUdpWithoutChecksum) {
  configure({vip("2001:db8::40", 53, "udp", {"2001:db8:5::2"}, "l4", "nat"),
             vip("192.0.2.41", 53, "udp", {"10.0.5.3"}, "l4", "nat")});
  std::string why;
  auto out = run(build_frame(flow("udp [2001:db8:9::7]:5000 -> [2001:db8::40]:53")));
  ASSERT_EQ(out.action, XDP_TX);
  EXPECT_EQ(ipv6_at(out.frame, 14 + 24), "2001:db8:5::2");
  EXPECT_TRUE(checksums_ok(out.frame, &why)) << why;
  auto back = run(build_frame(flow("udp [2001:db8:5::2]:53 -> [2001:db8:9::7]:5000")));
  ASSERT_EQ(back.action, XDP_TX);
  EXPECT_EQ(ipv6_at(back.frame, 14 + 8), "2001:db8::40");
  EXPECT_TRUE(checksums_ok(back.frame, &why)) << why;

  auto in = build_frame(flow("udp 198.51.100.7:5000 -> 192.0.2.41:53"));
  in[34 + 6] = in[34 + 7] = 0;  // IPv4 UDP without a checksum
  out = run(in);
  ASSERT_EQ(out.action, XDP_TX);
  EXPECT_EQ(u16_at(out.frame, 34 + 6), 0) << "stays without a checksum";
  EXPECT_TRUE(checksums_ok(out.frame, &why)) << why;
}

TEST_F(XdpBalancerTest, IcmpEchoToAVipIsAnswered) {
  configure({vip("192.0.2.10", 80, "tcp", {"10.0.1.2"}),
             vip("2001:db8::10", 80, "tcp", {"2001:db8:1::2"})});
  auto in = build_frame(flow("icmp 198.51.100.7 -> 192.0.2.10"));
  auto out = run(in);
  ASSERT_EQ(out.action, XDP_TX);
  EXPECT_TRUE(std::equal(kClientSideMac.begin(), kClientSideMac.end(), out.frame.begin()));
  EXPECT_EQ(ipv4_at(out.frame, 14 + 12), "192.0.2.10");
  EXPECT_EQ(ipv4_at(out.frame, 14 + 16), "198.51.100.7");
  EXPECT_EQ(out.frame[34], 0) << "echo reply";
  std::string why;
  EXPECT_TRUE(checksums_ok(out.frame, &why)) << why;
  out = run(build_frame(flow("icmp 2001:db8:9::7 -> 2001:db8::10")));
  ASSERT_EQ(out.action, XDP_TX);
  EXPECT_EQ(out.frame[54], 129) << "ICMPv6 echo reply";
  EXPECT_EQ(ipv6_at(out.frame, 14 + 8), "2001:db8::10");
  EXPECT_TRUE(checksums_ok(out.frame, &why)) << why;
  EXPECT_EQ(reason(SLUICE_TX_ICMP_ECHO).packets, 2u);
  // Not a VIP: not ours to answer.
  auto other = build_frame(flow("icmp 198.51.100.7 -> 192.0.2.99"));
  EXPECT_EQ(run(other).action, XDP_PASS);
}

TEST_F(XdpBalancerTest, TruncatedAndMalformedPackets) {
  configure({vip("192.0.2.10", 80, "tcp", {"10.0.1.2"})});
  auto good = build_frame(flow("tcp 198.51.100.7:40000 -> 192.0.2.10:80"));
  // Nothing after the Ethernet header, or half an IPv4 header: left to the kernel. (The kernel
  // runs no program on a frame shorter than an Ethernet header.)
  EXPECT_EQ(run(Bytes(good.begin(), good.begin() + 14)).action, XDP_PASS);
  EXPECT_EQ(run(Bytes(good.begin(), good.begin() + 30)).action, XDP_PASS);
  // The IP total length says more than the frame holds.
  auto longer = good;
  longer[16] = 0x05;
  EXPECT_EQ(run(longer).action, XDP_PASS);
  // IHL below 5.
  auto bad_ihl = good;
  bad_ihl[14] = 0x44;
  EXPECT_EQ(run(bad_ihl).action, XDP_PASS);
  EXPECT_EQ(reason(SLUICE_PASS_MALFORMED).packets, 4u);
  // To the VIP, but the TCP header is cut short: dropped.
  Bytes cut(good.begin(), good.begin() + 34 + 10);
  cut[16] = 0;
  cut[17] = 30;
  EXPECT_EQ(run(cut).action, XDP_DROP);
  EXPECT_EQ(reason(SLUICE_DROP_MALFORMED).packets, 1u);
  // A fragment to an l4 VIP carries no ports to hash: dropped.
  FrameOptions fragment;
  fragment.ipv4_frag = 0x2000;  // more fragments
  EXPECT_EQ(run(build_frame(flow("tcp 198.51.100.7:40000 -> 192.0.2.10:80"), fragment)).action,
            XDP_DROP);
  EXPECT_EQ(reason(SLUICE_DROP_FRAGMENT).packets, 1u);
}

TEST_F(XdpBalancerTest, NonVipTrafficAndArpPassUntouched) {
  configure({vip("192.0.2.10", 80, "tcp", {"10.0.1.2"})});
  for (const char* text :
       {"tcp 198.51.100.7:40000 -> 192.0.2.10:81", "tcp 198.51.100.7:40000 -> 192.0.2.11:80",
        "udp 198.51.100.7:40000 -> 192.0.2.10:80"}) {
    auto in = build_frame(flow(text));
    auto out = run(in);
    EXPECT_EQ(out.action, XDP_PASS) << text;
    EXPECT_EQ(out.frame, in) << text;
  }
  Bytes arp(42, 0);
  std::fill(arp.begin(), arp.begin() + 6, 0xff);
  arp[12] = 0x08;
  arp[13] = 0x06;
  auto out = run(arp);
  EXPECT_EQ(out.action, XDP_PASS);
  EXPECT_EQ(out.frame, arp);
}

TEST_F(XdpBalancerTest, VlanTagIsKept) {
  configure({vip("192.0.2.10", 80, "tcp", {"10.0.1.2"})});
  FrameOptions tagged;
  tagged.vlan = 42;
  auto in = build_frame(flow("tcp 198.51.100.7:40000 -> 192.0.2.10:80"), tagged);
  auto out = run(in);
  ASSERT_EQ(out.action, XDP_TX);
  ASSERT_EQ(out.frame.size(), in.size() + 20);
  EXPECT_EQ(u16_at(out.frame, 12), 0x8100);
  EXPECT_EQ(u16_at(out.frame, 14), 42);
  EXPECT_EQ(u16_at(out.frame, 16), 0x0800);
  EXPECT_EQ(ipv4_at(out.frame, 18 + 16), "10.0.1.2");
  EXPECT_EQ(Bytes(out.frame.begin() + 38, out.frame.end()), Bytes(in.begin() + 18, in.end()));
}

TEST_F(XdpBalancerTest, VipWithoutUsableRealDrops) {
  configure({vip("192.0.2.10", 80, "tcp", {"10.0.1.2"})},
            [](const config::PacketVip&, const config::PacketReal&) { return false; });
  EXPECT_EQ(run(build_frame(flow("tcp 198.51.100.7:40000 -> 192.0.2.10:80"))).action, XDP_DROP);
  EXPECT_EQ(reason(SLUICE_DROP_NO_REAL).packets, 1u);
}

TEST_F(XdpBalancerTest, SourceIpHashKeepsAClientOnOneReal) {
  auto v = vip("192.0.2.10", 80, "tcp", {"10.0.1.2", "10.0.2.2", "10.0.3.2", "10.0.4.2"});
  v.hash_source_only = true;
  configure({v});
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    auto o = run(build_frame(
        flow(("tcp 198.51.100.7:" + std::to_string(20000 + i) + " -> 192.0.2.10:80").c_str())));
    ASSERT_EQ(o.action, XDP_TX);
    seen.insert(ipv4_at(o.frame, 14 + 16));
  }
  EXPECT_EQ(seen.size(), 1u);
}

TEST_F(XdpBalancerTest, TooBigForTheTunnelIsAnsweredWithFragmentationNeeded) {
  settings_.mtu = 1500;
  configure({vip("192.0.2.10", 80, "tcp", {"10.0.1.2"}),
             vip("2001:db8::10", 80, "tcp", {"2001:db8:1::2"})});
  FrameOptions big;
  big.payload.assign(1460, 'x');  // IPv4 total 1500: fits the wire, not the tunnel
  big.ipv4_frag = 0x4000;         // DF
  big.tcp_flags = kTcpAck;
  auto in = build_frame(flow("tcp 198.51.100.7:40000 -> 192.0.2.10:80"), big);
  auto out = run(in);
  ASSERT_EQ(out.action, XDP_TX);
  ASSERT_EQ(out.frame.size(), 14u + 20 + 8 + 28);
  EXPECT_TRUE(std::equal(kClientSideMac.begin(), kClientSideMac.end(), out.frame.begin()));
  EXPECT_EQ(out.frame[14 + 9], 1) << "ICMP";
  EXPECT_EQ(ipv4_at(out.frame, 14 + 12), "192.0.2.10");
  EXPECT_EQ(ipv4_at(out.frame, 14 + 16), "198.51.100.7");
  EXPECT_EQ(out.frame[34], 3);
  EXPECT_EQ(out.frame[35], 4);
  EXPECT_EQ(u16_at(out.frame, 34 + 6), 1480) << "the MTU left inside the tunnel";
  EXPECT_EQ(Bytes(out.frame.begin() + 42, out.frame.end()),
            Bytes(in.begin() + 14, in.begin() + 14 + 28))
      << "quotes the IP header and 8 bytes";
  std::string why;
  EXPECT_TRUE(checksums_ok(out.frame, &why)) << why;
  // Without DF the sender would allow fragments, which XDP cannot make: dropped, counted.
  big.ipv4_frag = 0;
  EXPECT_EQ(run(build_frame(flow("tcp 198.51.100.7:40000 -> 192.0.2.10:80"), big)).action,
            XDP_DROP);
  // IPv6: "packet too big" with the MTU inside an IPv6 tunnel.
  big.payload.assign(1440, 'x');  // IPv6 total 1500
  out = run(build_frame(flow("tcp [2001:db8:9::7]:40000 -> [2001:db8::10]:80"), big));
  ASSERT_EQ(out.action, XDP_TX);
  ASSERT_EQ(out.frame.size(), 14u + 40 + 8 + 48);
  EXPECT_EQ(out.frame[14 + 6], 58) << "ICMPv6";
  EXPECT_EQ(out.frame[54], 2) << "packet too big";
  EXPECT_EQ(ipv6_at(out.frame, 14 + 8), "2001:db8::10");
  EXPECT_EQ(ipv6_at(out.frame, 14 + 24), "2001:db8:9::7");
  EXPECT_EQ(u16_at(out.frame, 54 + 6), 1460);
  EXPECT_TRUE(checksums_ok(out.frame, &why)) << why;
  EXPECT_EQ(reason(SLUICE_TX_ICMP_TOO_BIG).packets, 2u);
  // A packet that fits is tunnelled as usual.
  big.payload.assign(1400, 'x');
  EXPECT_EQ(run(build_frame(flow("tcp [2001:db8:9::7]:40000 -> [2001:db8::10]:80"), big)).action,
            XDP_TX);
  EXPECT_EQ(reason(SLUICE_TX_ICMP_TOO_BIG).packets, 2u);
}

TEST_F(XdpBalancerTest, IcmpErrorAboutAFlowGoesToThatFlowsReal) {
  configure({vip("192.0.2.10", 80, "tcp", {"10.0.1.2", "10.0.2.2", "10.0.3.2"})});
  for (int port : {40000, 40001, 40002, 40003}) {
    auto client_flow =
        flow(("tcp 198.51.100.7:" + std::to_string(port) + " -> 192.0.2.10:80").c_str());
    // A router on the way back says the backend's packet (VIP:80 -> client) was too big.
    auto quoted =
        build_frame(flow(("tcp 192.0.2.10:80 -> 198.51.100.7:" + std::to_string(port)).c_str()));
    FrameOptions error;
    error.icmp_type = 3;
    error.icmp_code = 4;
    error.payload.assign(quoted.begin() + 14, quoted.begin() + 14 + 28);
    auto in = build_frame(flow("icmp 203.0.113.1 -> 192.0.2.10"), error);
    auto out = run(in);
    ASSERT_EQ(out.action, XDP_TX);
    expect_ipip4(in, out.frame, expected_real(vips_[0], client_flow));
  }
  EXPECT_EQ(reason(SLUICE_TX_ICMP_ERROR_ROUTED).packets, 4u);
}

TEST_F(XdpBalancerTest, TcBuildEncapsulatesAndRedirectsLikeTheXdpProgram) {
  configure({vip("192.0.2.10", 80, "tcp", {"10.0.1.2", "10.0.2.2", "10.0.3.2"}),
             vip("192.0.2.40", 80, "tcp", {"10.0.5.2:8080"}, "l4", "nat")});
  for (int port : {40000, 40001, 40002}) {
    auto f = flow(("tcp 198.51.100.7:" + std::to_string(port) + " -> 192.0.2.10:80").c_str());
    auto in = build_frame(f);
    auto out = lb_->test_run(in, 1, /*tc=*/true);
    ASSERT_EQ(out.action, TC_ACT_REDIRECT);
    expect_ipip4(in, out.frame, expected_real(vips_[0], f));
  }
  auto out = lb_->test_run(build_frame(flow("tcp 198.51.100.7:40000 -> 192.0.2.40:80")), 1, true);
  ASSERT_EQ(out.action, TC_ACT_REDIRECT);
  EXPECT_EQ(ipv4_at(out.frame, 14 + 16), "10.0.5.2");
  std::string why;
  EXPECT_TRUE(checksums_ok(out.frame, &why)) << why;
  auto other = build_frame(flow("tcp 198.51.100.7:40000 -> 192.0.2.11:80"));
  out = lb_->test_run(other, 1, true);
  EXPECT_EQ(out.action, TC_ACT_OK);
  EXPECT_EQ(out.frame, other);
}

}  // namespace
}  // namespace sluice::packet
