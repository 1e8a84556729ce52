// SPDX-License-Identifier: GPL-2.0
/* sluice's packet tier: XDP balancer for l3 and l4 VIPs (see ../README.md). Its size (over
 * 600 lines) is on purpose: the program is one translation unit (clang -target bpf, embedded
 * through one bpftool skeleton); a split would need BPF static linking for no gain.
 *
 * Per packet: parse Ethernet (one VLAN tag), IPv4 or IPv6 and the ports; look the destination
 * up in `vips` ((addr, port, proto), then (addr, any port, proto), then (addr) for l3 VIPs);
 * pick the real from the connection table (l4) or the VIP's Maglev table; then IP-in-IP
 * encapsulate towards the gateway (XDP_TX) or rewrite the destination (nat). Everything not
 * for a VIP leaves with XDP_PASS untouched, except a nat backend's reply, translated back.
 * The program only reads the maps the control plane fills, apart from the connection and
 * reverse-NAT tables it learns into. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/icmpv6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "lb_shared.h"

char LICENSE[] SEC("license") = "GPL";

/* One body, two hooks: the XDP program and a tc (clsact ingress) build of the same code for
 * interfaces without native XDP and for comparison. `tc` is a constant in each inlined copy,
 * so each program keeps only its own context accesses. */
#define DATA(ctx, tc)                                            \
  ((tc) ? (void *)(long)((struct __sk_buff *)(ctx))->data \
        : (void *)(long)((struct xdp_md *)(ctx))->data)
#define DATA_END(ctx, tc)                                            \
  ((tc) ? (void *)(long)((struct __sk_buff *)(ctx))->data_end \
        : (void *)(long)((struct xdp_md *)(ctx))->data_end)

#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8
#define IP_MF_ 0x2000
#define IP_OFFSET_ 0x1FFF
#define IPV6_FRAG_HDR 44

struct vlan_hdr_ {
  __be16 tci;
  __be16 proto;
};

/* <linux/icmp.h> drags in libc's socket headers, which do not build for -target bpf. */
#define ICMP_ECHOREPLY_ 0
#define ICMP_DEST_UNREACH_ 3
#define ICMP_FRAG_NEEDED_ 4
#define ICMP_ECHO_ 8
#define ICMPV6_DEST_UNREACH_ 1
#define ICMPV6_PKT_TOOBIG_ 2
struct icmphdr_ {
  __u8 type;
  __u8 code;
  __sum16 checksum;
  __be16 id;
  __be16 sequence;
};

struct ipv6_frag_hdr_ {
  __u8 nexthdr;
  __u8 reserved;
  __be16 frag_off;
  __be32 id;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SLUICE_MAX_VIPS * 2);
  __type(key, struct sluice_vip_key);
  __type(value, struct sluice_vip_info);
} vips SEC(".maps");

struct maglev_table {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, SLUICE_MAGLEV_SIZE);
  __type(key, __u32);
  __type(value, __u32);
};

/* One Maglev table per VIP id; the control plane swaps a whole inner table at once. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
  __uint(max_entries, SLUICE_MAX_VIPS);
  __type(key, __u32);
  __array(values, struct maglev_table);
} maglev SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, SLUICE_MAX_REALS);
  __type(key, __u32);
  __type(value, struct sluice_real);
} reals SEC(".maps");

/* l4 connection table; per-CPU LRU lists so CPUs do not contend on one list lock. The loader
 * may resize it (packet.conn_table_size). */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(map_flags, BPF_F_NO_COMMON_LRU);
  __uint(max_entries, 262144);
  __type(key, struct sluice_flow);
  __type(value, struct sluice_conn);
} conns SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(map_flags, BPF_F_NO_COMMON_LRU);
  __uint(max_entries, 262144);
  __type(key, struct sluice_flow);
  __type(value, struct sluice_nat_origin);
} nat_origins SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct sluice_lb_config);
} lb_config SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SLUICE_COUNTERS);
  __type(key, __u32);
  __type(value, struct sluice_counter);
} counters SEC(".maps");

/* Offsets are masked where they meet the packet pointer (l3 <= 18, l4 <= 18 + 60 + 8), so the
 * verifier sees them bounded. */
struct packet {
  struct sluice_flow flow;
  __u32 l3_off;   /* 14, or 18 behind a VLAN tag */
  __u32 l4_off;   /* from the frame's start */
  __u32 l3_len;   /* IP header and payload: what an outer header wraps */
  __u8 tos;       /* IPv4 TOS / IPv6 traffic class, copied to the outer header */
  __u8 fragment;  /* any fragment: no ports to trust */
  __u8 later_fragment; /* not the first fragment: no L4 header at all */
  __u8 have_ports;
  __u8 truncated; /* the L4 header is cut short */
  __u8 syn;       /* TCP SYN without ACK: always takes the current Maglev table */
  __u8 dont_fragment; /* IPv4 DF (IPv6 never fragments on the way) */
};

static __always_inline void count(__u32 index, __u64 bytes) {
  struct sluice_counter *c = bpf_map_lookup_elem(&counters, &index);
  if (c) {
    c->packets += 1;
    c->bytes += bytes;
  }
}

static __always_inline int verdict(__u32 reason, __u64 bytes, int action) {
  count(SLUICE_COUNTER_REASON_BASE + reason, bytes);
  return action;
}

static __always_inline __u16 csum_fold(__u32 sum) {
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return (__u16)~sum;
}

/* RFC 1624 incremental update: HC' = ~(~HC + ~m + m'), over 16-bit words in packet order. */
static __always_inline void csum_replace(__u16 *check, const __u16 *from, const __u16 *to,
                                         int words) {
  __u32 sum = (__u16)~*check;
#pragma unroll
  for (int i = 0; i < 8; i++) {
    if (i < words) sum += (__u16)~from[i] + to[i];
  }
  *check = csum_fold(sum);
}

static __always_inline __u16 ipv4_csum(struct iphdr *ip) {
  __u32 sum = 0;
  __u16 *w = (__u16 *)ip;
#pragma unroll
  for (int i = 0; i < 10; i++) sum += w[i];
  return csum_fold(sum);
}

/* Reads the L4 ports of a TCP or UDP packet at `l4`. */
static __always_inline void parse_ports(struct packet *p, void *data, void *end) {
  void *l4 = data + (p->l4_off & 0xff);
  if (p->fragment) return;
  if (p->flow.proto == IPPROTO_TCP) {
    struct tcphdr *tcp = l4;
    if ((void *)(tcp + 1) > end) {
      p->truncated = 1;
      return;
    }
    p->flow.sport = tcp->source;
    p->flow.dport = tcp->dest;
    p->syn = tcp->syn && !tcp->ack;
    p->have_ports = 1;
  } else if (p->flow.proto == IPPROTO_UDP) {
    struct udphdr *udp = l4;
    if ((void *)(udp + 1) > end) {
      p->truncated = 1;
      return;
    }
    p->flow.sport = udp->source;
    p->flow.dport = udp->dest;
    p->have_ports = 1;
  }
}

/* 0: parsed; -1: not IP (pass); -2: malformed IP (pass, nothing to balance on). */
static __always_inline int parse(void *ctx, int tc, struct packet *p) {
  void *data = DATA(ctx, tc);
  void *end = DATA_END(ctx, tc);
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return -2;
  __u16 proto = eth->h_proto;
  p->l3_off = sizeof(struct ethhdr);
  if (proto == bpf_htons(ETH_P_8021Q_) || proto == bpf_htons(ETH_P_8021AD_)) {
    struct vlan_hdr_ *vlan = (void *)(eth + 1);
    if ((void *)(vlan + 1) > end) return -2;
    proto = vlan->proto;
    p->l3_off += sizeof(struct vlan_hdr_);
  }
  void *l3 = data + (p->l3_off & 0x1f);
  if (proto == bpf_htons(ETH_P_IP)) {
    struct iphdr *ip = l3;
    if ((void *)(ip + 1) > end) return -2;
    if (ip->version != 4 || ip->ihl < 5) return -2;
    __u32 header = ip->ihl * 4;
    __u32 total = bpf_ntohs(ip->tot_len);
    if (total < header || l3 + total > end) return -2;
    p->flow.family = 4;
    p->flow.src[0] = ip->saddr;
    p->flow.dst[0] = ip->daddr;
    p->flow.proto = ip->protocol;
    p->tos = ip->tos;
    p->fragment = (bpf_ntohs(ip->frag_off) & (IP_MF_ | IP_OFFSET_)) != 0;
    p->later_fragment = (bpf_ntohs(ip->frag_off) & IP_OFFSET_) != 0;
    p->dont_fragment = (bpf_ntohs(ip->frag_off) & 0x4000) != 0;
    p->l4_off = p->l3_off + header;
    p->l3_len = total;
  } else if (proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr *ip6 = l3;
    if ((void *)(ip6 + 1) > end) return -2;
    if (ip6->version != 6) return -2;
    __u32 total = bpf_ntohs(ip6->payload_len) + sizeof(struct ipv6hdr);
    if (l3 + total > end) return -2;
    p->flow.family = 6;
    __builtin_memcpy(p->flow.src, &ip6->saddr, 16);
    __builtin_memcpy(p->flow.dst, &ip6->daddr, 16);
    p->flow.proto = ip6->nexthdr;
    p->tos = (ip6->priority << 4) | (ip6->flow_lbl[0] >> 4);
    p->l4_off = p->l3_off + sizeof(struct ipv6hdr);
    p->l3_len = total;
    if (ip6->nexthdr == IPV6_FRAG_HDR) {
      struct ipv6_frag_hdr_ *frag = (void *)(ip6 + 1);
      if ((void *)(frag + 1) > end) return -2;
      p->flow.proto = frag->nexthdr;
      p->fragment = 1;
      p->later_fragment = (bpf_ntohs(frag->frag_off) & 0xfff8) != 0;
      p->l4_off += sizeof(*frag);
    }
  } else {
    return -1;
  }
  parse_ports(p, data, end);
  return 0;
}

static __always_inline struct sluice_vip_info *find_vip(const struct sluice_flow *flow,
                                                       const struct packet *p) {
  struct sluice_vip_key key = {};
  __builtin_memcpy(key.addr, flow->dst, 16);
  key.family = flow->family;
  struct sluice_vip_info *vip;
  if (p->have_ports) {
    key.port = flow->dport;
    key.proto = flow->proto;
    vip = bpf_map_lookup_elem(&vips, &key);
    if (vip) return vip;
    key.port = 0;
    vip = bpf_map_lookup_elem(&vips, &key);
    if (vip) return vip;
    key.proto = 0;
  }
  return bpf_map_lookup_elem(&vips, &key);
}

/* The real for `flow`, or NULL. l4: an established flow keeps its real through table changes;
 * a SYN, or a flow the table does not know, takes the Maglev table and is remembered. */
static __always_inline struct sluice_real *pick_real(const struct packet *p,
                                                     const struct sluice_vip_info *vip,
                                                     __u32 *real_id, __u32 *hash) {
  int stateful = !(vip->flags & SLUICE_VIP_L3);
  *hash = sluice_flow_hash(&p->flow, vip->flags);
  if (stateful && !p->syn) {
    struct sluice_conn *conn = bpf_map_lookup_elem(&conns, &p->flow);
    if (conn && conn->vip_id == vip->id) {
      __u32 id = conn->real_id;
      struct sluice_real *real = bpf_map_lookup_elem(&reals, &id);
      if (real && real->family) {
        *real_id = id;
        count(SLUICE_COUNTER_REASON_BASE + SLUICE_CONN_HIT, 0);
        return real;
      }
    }
  }
  __u32 vip_id = vip->id;
  void *table = bpf_map_lookup_elem(&maglev, &vip_id);
  if (!table) return NULL;
  __u32 slot = *hash % SLUICE_MAGLEV_SIZE;
  __u32 *id = bpf_map_lookup_elem(table, &slot);
  if (!id) return NULL;
  __u32 chosen = *id;
  struct sluice_real *real = bpf_map_lookup_elem(&reals, &chosen);
  if (!real || !real->family) return NULL;
  *real_id = chosen;
  if (stateful) {
    struct sluice_conn conn = {.real_id = chosen, .vip_id = vip->id};
    bpf_map_update_elem(&conns, &p->flow, &conn, BPF_ANY);
    count(SLUICE_COUNTER_REASON_BASE + SLUICE_CONN_NEW, 0);
  }
  return real;
}

/* New Ethernet source = the old destination (our MAC), new destination = the gateway. */
static __always_inline void readdress_eth(struct ethhdr *eth,
                                          const struct sluice_lb_config *cfg) {
  __builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
  __builtin_memcpy(eth->h_dest, cfg->gateway_mac, ETH_ALEN);
}

/* Turns the frame into the start of a reply: cut to its first `keep` bytes, `added` bytes of
 * room in front, and an Ethernet header there that answers the old one's sender. NULL: no
 * room (XDP only). */
static __always_inline struct ethhdr *make_reply(void *ctx, int keep, int added, __be16 proto) {
  void *data = DATA(ctx, 0);
  void *end = DATA_END(ctx, 0);
  if (bpf_xdp_adjust_tail(ctx, keep - (int)(end - data)) || bpf_xdp_adjust_head(ctx, -added))
    return NULL;
  data = DATA(ctx, 0);
  end = DATA_END(ctx, 0);
  if (data + added + keep > end) return NULL;
  struct ethhdr *eth = data;
  struct ethhdr *old_eth = data + added;
  __u8 mac[ETH_ALEN];
  __builtin_memcpy(mac, old_eth->h_source, ETH_ALEN);
  __builtin_memcpy(eth->h_source, old_eth->h_dest, ETH_ALEN);
  __builtin_memcpy(eth->h_dest, mac, ETH_ALEN);
  eth->h_proto = proto;
  return eth;
}

/* The packet would not fit the MTU once encapsulated: tell the sender, from the VIP, with
 * "fragmentation needed" (IPv4 with DF) or "packet too big" (IPv6), quoting the start of its
 * packet, so its path MTU discovery shrinks the flow. Untagged frames only. */
/* The sender's packet as the reply will quote it: right after an untagged Ethernet header, with
 * `quoted` bytes present. Null for tagged or short frames, and at tc (XDP only). */
static __always_inline void *quotable(void *ctx, int tc, const struct packet *p, int quoted) {
  if (tc) return 0;
  void *data = DATA(ctx, tc);
  void *end = DATA_END(ctx, tc);
  if (p->l3_off != sizeof(struct ethhdr) || data + sizeof(struct ethhdr) + quoted > end) return 0;
  return data + sizeof(struct ethhdr);
}

static __always_inline int too_big_v4(void *ctx, int tc, const struct packet *p, __u32 mtu) {
  const int quoted = sizeof(struct iphdr) + 8;
  const int added = sizeof(struct iphdr) + sizeof(struct icmphdr_);
  struct iphdr *orig = quotable(ctx, tc, p, quoted);
  if (!orig || orig->ihl != 5) return verdict(SLUICE_DROP_UNSUPPORTED, p->l3_len, XDP_DROP);
  __u32 client = orig->saddr, vip = orig->daddr;
  struct ethhdr *eth = make_reply(ctx, sizeof(struct ethhdr) + quoted, added,
                                  bpf_htons(ETH_P_IP));
  if (!eth) return verdict(SLUICE_DROP_HEADROOM, p->l3_len, XDP_DROP);
  struct iphdr *ip = (void *)(eth + 1);
  ip->version = 4;
  ip->ihl = 5;
  ip->tos = 0;
  ip->tot_len = bpf_htons(added + quoted);
  ip->id = 0;
  ip->frag_off = 0;
  ip->ttl = 64;
  ip->protocol = IPPROTO_ICMP;
  ip->check = 0;
  ip->saddr = vip;
  ip->daddr = client;
  ip->check = ipv4_csum(ip);
  struct icmphdr_ *icmp = (void *)(ip + 1);
  icmp->type = ICMP_DEST_UNREACH_;
  icmp->code = ICMP_FRAG_NEEDED_;
  icmp->checksum = 0;
  icmp->id = 0;
  icmp->sequence = bpf_htons(mtu);
  __u32 sum = 0;
  __u16 *w = (__u16 *)icmp;
#pragma unroll
  for (int i = 0; i < (int)(sizeof(struct icmphdr_) + 28) / 2; i++) sum += w[i];
  icmp->checksum = csum_fold(sum);
  return verdict(SLUICE_TX_ICMP_TOO_BIG, 0, XDP_TX);
}

static __always_inline int too_big_v6(void *ctx, int tc, const struct packet *p, __u32 mtu) {
  const int quoted = sizeof(struct ipv6hdr) + 8;
  const int added = sizeof(struct ipv6hdr) + sizeof(struct icmp6hdr);
  struct ipv6hdr *orig = quotable(ctx, tc, p, quoted);
  if (!orig) return verdict(SLUICE_DROP_UNSUPPORTED, p->l3_len, XDP_DROP);
  struct in6_addr client = orig->saddr, vip = orig->daddr;
  struct ethhdr *eth = make_reply(ctx, sizeof(struct ethhdr) + quoted, added,
                                  bpf_htons(ETH_P_IPV6));
  if (!eth) return verdict(SLUICE_DROP_HEADROOM, p->l3_len, XDP_DROP);
  struct ipv6hdr *ip6 = (void *)(eth + 1);
  __builtin_memset(ip6, 0, sizeof(*ip6));
  ip6->version = 6;
  ip6->payload_len = bpf_htons(sizeof(struct icmp6hdr) + quoted);
  ip6->nexthdr = IPPROTO_ICMPV6;
  ip6->hop_limit = 64;
  ip6->saddr = vip;
  ip6->daddr = client;
  struct icmp6hdr *icmp6 = (void *)(ip6 + 1);
  icmp6->icmp6_type = ICMPV6_PKT_TOOBIG_;
  icmp6->icmp6_code = 0;
  icmp6->icmp6_cksum = 0;
  icmp6->icmp6_dataun.un_data32[0] = bpf_htonl(mtu);
  /* Pseudo-header (addresses, upper-layer length, next header), then the message. */
  __u32 sum = bpf_htons(sizeof(struct icmp6hdr) + quoted) + bpf_htons(IPPROTO_ICMPV6);
  __u16 *w = (__u16 *)&ip6->saddr;
#pragma unroll
  for (int i = 0; i < 16; i++) sum += w[i];
  w = (__u16 *)icmp6;
#pragma unroll
  for (int i = 0; i < (int)(sizeof(struct icmp6hdr) + 48) / 2; i++) sum += w[i];
  icmp6->icmp6_cksum = csum_fold(sum);
  return verdict(SLUICE_TX_ICMP_TOO_BIG, 0, XDP_TX);
}

static __always_inline int encapsulate(void *ctx, int tc, const struct packet *p,
                                       const struct sluice_real *real, __u32 hash,
                                       const struct sluice_lb_config *cfg) {
  int outer_v4 = real->family == 4;
  int outer = outer_v4 ? (int)sizeof(struct iphdr) : (int)sizeof(struct ipv6hdr);
  __u32 inner_len = p->l3_len;
  int vlan = p->l3_off != sizeof(struct ethhdr);
  if (cfg->mtu && inner_len + outer > cfg->mtu) {
    if (p->flow.family == 6) return too_big_v6(ctx, tc, p, cfg->mtu - outer);
    if (p->dont_fragment) return too_big_v4(ctx, tc, p, cfg->mtu - outer);
    /* Without DF the sender allows fragmentation, which XDP cannot do. */
    return verdict(SLUICE_DROP_UNSUPPORTED, inner_len, XDP_DROP);
  }
  if (tc) {
    /* tc: the room goes between the L2 and the L3 header; nothing to move. */
    __u64 flags = outer_v4 ? BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 : BPF_F_ADJ_ROOM_ENCAP_L3_IPV6;
    if (bpf_skb_adjust_room(ctx, outer, BPF_ADJ_ROOM_MAC, flags))
      return verdict(SLUICE_DROP_HEADROOM, inner_len, XDP_DROP);
  } else if (bpf_xdp_adjust_head(ctx, -outer)) {
    return verdict(SLUICE_DROP_HEADROOM, inner_len, XDP_DROP);
  }
  void *data = DATA(ctx, tc);
  void *end = DATA_END(ctx, tc);
  /* The old L2 header now starts `outer` bytes in; move it to the front (no overlap). */
  struct ethhdr *eth = data;
  /* What is copied and written below lies within the first outer + 14 + 4 bytes; the frame
   * held at least 14 + 20 before the outer header was added. */
  if (data + outer + sizeof(struct ethhdr) + sizeof(struct vlan_hdr_) > end)
    return verdict(SLUICE_DROP_MALFORMED, inner_len, XDP_DROP);
  __u8 inner_proto = p->flow.family == 4 ? IPPROTO_IPIP : IPPROTO_IPV6;
  __be16 ethertype = bpf_htons(outer_v4 ? ETH_P_IP : ETH_P_IPV6);
  void *l3;
  if (tc) {
    /* already in place */
  } else if (outer_v4) {
    __builtin_memcpy(data, data + sizeof(struct iphdr), sizeof(struct ethhdr));
    if (vlan) {
      __builtin_memcpy(data + sizeof(struct ethhdr),
                       data + sizeof(struct iphdr) + sizeof(struct ethhdr),
                       sizeof(struct vlan_hdr_));
    }
  } else {
    __builtin_memcpy(data, data + sizeof(struct ipv6hdr), sizeof(struct ethhdr));
    if (vlan) {
      __builtin_memcpy(data + sizeof(struct ethhdr),
                       data + sizeof(struct ipv6hdr) + sizeof(struct ethhdr),
                       sizeof(struct vlan_hdr_));
    }
  }
  readdress_eth(eth, cfg);
  if (vlan) {
    struct vlan_hdr_ *tag = (void *)(eth + 1);
    tag->proto = ethertype;
    l3 = tag + 1;
  } else {
    eth->h_proto = ethertype;
    l3 = eth + 1;
  }
  if (outer_v4) {
    struct iphdr *ip = l3;
    if ((void *)(ip + 1) > end) return XDP_DROP;
    ip->version = 4;
    ip->ihl = 5;
    ip->tos = p->tos;
    ip->tot_len = bpf_htons(inner_len + sizeof(struct iphdr));
    ip->id = 0;
    ip->frag_off = 0;
    ip->ttl = 64;
    ip->protocol = inner_proto;
    ip->check = 0;
    ip->saddr = (cfg->source_v4 & ~cfg->source_v4_host_mask) |
                (bpf_htonl(hash) & cfg->source_v4_host_mask);
    ip->daddr = real->addr[0];
    ip->check = ipv4_csum(ip);
  } else {
    struct ipv6hdr *ip6 = l3;
    if ((void *)(ip6 + 1) > end) return XDP_DROP;
    ip6->version = 6;
    ip6->priority = p->tos >> 4;
    /* The flow label carries the flow hash, so routers' ECMP spreads tunnelled flows. */
    ip6->flow_lbl[0] = ((p->tos & 0xf) << 4) | ((hash >> 16) & 0xf);
    ip6->flow_lbl[1] = (hash >> 8) & 0xff;
    ip6->flow_lbl[2] = hash & 0xff;
    ip6->payload_len = bpf_htons(inner_len);
    ip6->nexthdr = inner_proto;
    ip6->hop_limit = 64;
    __builtin_memcpy(&ip6->saddr, cfg->source_v6, 16);
    ip6->saddr.in6_u.u6_addr32[3] = (cfg->source_v6[3] & ~cfg->source_v6_host_mask) |
                                    (bpf_htonl(hash) & cfg->source_v6_host_mask);
    __builtin_memcpy(&ip6->daddr, real->addr, 16);
  }
  return XDP_TX;
}


enum { PORT_NONE, PORT_DEST, PORT_SOURCE };

/* After an address change (and optionally a port change) in the IP header, fixes the L4
 * checksum, whose pseudo-header covers the addresses. -1: the L4 header is cut short. */
static __always_inline int rewrite_l4(void *data, void *end, const struct packet *p,
                                      const __u16 *old_addr, const __u16 *new_addr,
                                      int addr_words, int which_port, __u16 new_port) {
  if (p->later_fragment) return 0;
  void *l4 = data + (p->l4_off & 0xff);
  __u16 *check = NULL;
  __u16 *port = NULL;
  if (p->flow.proto == IPPROTO_TCP) {
    struct tcphdr *tcp = l4;
    if ((void *)(tcp + 1) > end) return -1;
    check = &tcp->check;
    port = which_port == PORT_DEST ? &tcp->dest : &tcp->source;
  } else if (p->flow.proto == IPPROTO_UDP) {
    struct udphdr *udp = l4;
    if ((void *)(udp + 1) > end) return -1;
    /* IPv4 UDP may go without a checksum (0); it stays without. */
    if (udp->check != 0 || p->flow.family == 6) check = &udp->check;
    port = which_port == PORT_DEST ? &udp->dest : &udp->source;
  } else if (p->flow.proto == IPPROTO_ICMPV6) {
    struct icmp6hdr *icmp6 = l4;
    if ((void *)(icmp6 + 1) > end) return -1;
    check = &icmp6->icmp6_cksum;
  }
  if (check) {
    csum_replace(check, old_addr, new_addr, addr_words);
    if (port && which_port != PORT_NONE && new_port != *port)
      csum_replace(check, port, &new_port, 1);
    if (p->flow.proto == IPPROTO_UDP && *check == 0) *check = 0xffff;
  }
  if (port && which_port != PORT_NONE) *port = new_port;
  return 0;
}

/* Writes `addr` over the destination (or source) address of the IP header, fixing the IPv4
 * header checksum; `old` receives the previous address. */
static __always_inline int rewrite_ip(void *data, void *end, const struct packet *p,
                                      int destination, const __u32 *addr, __u32 *old) {
  void *l3 = data + (p->l3_off & 0x1f);
  if (p->flow.family == 4) {
    struct iphdr *ip = l3;
    if ((void *)(ip + 1) > end) return -1;
    __u32 *field = destination ? &ip->daddr : &ip->saddr;
    old[0] = *field;
    *field = addr[0];
    csum_replace(&ip->check, (__u16 *)old, (__u16 *)addr, 2);
  } else {
    struct ipv6hdr *ip6 = l3;
    if ((void *)(ip6 + 1) > end) return -1;
    void *field = destination ? (void *)&ip6->daddr : (void *)&ip6->saddr;
    __builtin_memcpy(old, field, 16);
    __builtin_memcpy(field, addr, 16);
  }
  return 0;
}

static __always_inline int nat_forward(void *ctx, int tc, const struct packet *p,
                                       const struct sluice_vip_info *vip,
                                       const struct sluice_real *real,
                                       const struct sluice_lb_config *cfg) {
  void *data = DATA(ctx, tc);
  void *end = DATA_END(ctx, tc);
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return XDP_DROP;
  if (real->family != p->flow.family) return verdict(SLUICE_DROP_UNSUPPORTED, 0, XDP_DROP);
  __u32 old[4] = {};
  if (rewrite_ip(data, end, p, 1, real->addr, old))
    return verdict(SLUICE_DROP_MALFORMED, p->l3_len, XDP_DROP);
  __u16 new_port = real->port && p->have_ports ? real->port : p->flow.dport;
  int words = p->flow.family == 4 ? 2 : 8;
  if (rewrite_l4(data, end, p, (__u16 *)old, (__u16 *)real->addr, words,
                 p->have_ports ? PORT_DEST : PORT_NONE, new_port))
    return verdict(SLUICE_DROP_MALFORMED, p->l3_len, XDP_DROP);
  /* Remember where the reply must seem to come from. */
  struct sluice_flow reply = {};
  __builtin_memcpy(reply.src, real->addr, 16);
  __builtin_memcpy(reply.dst, p->flow.src, 16);
  reply.sport = new_port;
  reply.dport = p->flow.sport;
  reply.proto = p->flow.proto;
  reply.family = p->flow.family;
  struct sluice_nat_origin *known = bpf_map_lookup_elem(&nat_origins, &reply);
  if (!known || known->vip_port != p->flow.dport || known->vip_id != vip->id) {
    struct sluice_nat_origin origin = {.vip_port = p->flow.dport, .vip_id = vip->id};
    __builtin_memcpy(origin.vip_addr, p->flow.dst, 16);
    bpf_map_update_elem(&nat_origins, &reply, &origin, BPF_ANY);
  }
  readdress_eth(eth, cfg);
  return XDP_TX;
}

/* A nat backend's reply (src = real): the source becomes the VIP again. */
static __always_inline int nat_reverse(void *ctx, int tc, const struct packet *p,
                                       const struct sluice_lb_config *cfg, int *done) {
  struct sluice_flow key = p->flow;
  if (!p->have_ports) key.sport = key.dport = 0;
  struct sluice_nat_origin *origin = bpf_map_lookup_elem(&nat_origins, &key);
  if (!origin) return XDP_PASS;
  *done = 1;
  void *data = DATA(ctx, tc);
  void *end = DATA_END(ctx, tc);
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return XDP_DROP;
  __u32 vip_addr[4];
  __builtin_memcpy(vip_addr, origin->vip_addr, 16);
  __u16 vip_port = origin->vip_port;
  __u32 old[4] = {};
  if (rewrite_ip(data, end, p, 0, vip_addr, old))
    return verdict(SLUICE_DROP_MALFORMED, p->l3_len, XDP_DROP);
  int words = p->flow.family == 4 ? 2 : 8;
  if (rewrite_l4(data, end, p, (__u16 *)old, (__u16 *)vip_addr, words,
                 p->have_ports ? PORT_SOURCE : PORT_NONE, vip_port))
    return verdict(SLUICE_DROP_MALFORMED, p->l3_len, XDP_DROP);
  readdress_eth(eth, cfg);
  return verdict(SLUICE_TX_NAT_REPLY, p->l3_len, XDP_TX);
}

/* Echo request to a VIP: answered here, from the VIP, back the way it came. */
static __always_inline int icmp_echo(void *ctx, int tc, const struct packet *p) {
  void *data = DATA(ctx, tc);
  void *end = DATA_END(ctx, tc);
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return XDP_DROP;
  void *l3 = data + (p->l3_off & 0x1f);
  void *l4 = data + (p->l4_off & 0xff);
  if (p->flow.family == 4) {
    struct iphdr *ip = l3;
    struct icmphdr_ *icmp = l4;
    if ((void *)(ip + 1) > end || (void *)(icmp + 1) > end) return -1;
    if (icmp->type != ICMP_ECHO_ || icmp->code != 0) return -1;
    __u16 old = *(__u16 *)icmp;
    icmp->type = ICMP_ECHOREPLY_;
    csum_replace(&icmp->checksum, &old, (__u16 *)icmp, 1);
    __u32 addr = ip->saddr;
    ip->saddr = ip->daddr;
    ip->daddr = addr;
    ip->ttl = 64;
    ip->check = 0;
    if (ip->ihl != 5) return -1;
    ip->check = ipv4_csum(ip);
  } else {
    struct ipv6hdr *ip6 = l3;
    struct icmp6hdr *icmp6 = l4;
    if ((void *)(ip6 + 1) > end || (void *)(icmp6 + 1) > end) return -1;
    if (icmp6->icmp6_type != ICMPV6_ECHO_REQUEST || icmp6->icmp6_code != 0) return -1;
    __u16 old = *(__u16 *)icmp6;
    icmp6->icmp6_type = ICMPV6_ECHO_REPLY;
    csum_replace(&icmp6->icmp6_cksum, &old, (__u16 *)icmp6, 1);
    struct in6_addr addr = ip6->saddr;
    ip6->saddr = ip6->daddr;
    ip6->daddr = addr;
    ip6->hop_limit = 64;
  }
  __u8 mac[ETH_ALEN];
  __builtin_memcpy(mac, eth->h_source, ETH_ALEN);
  __builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
  __builtin_memcpy(eth->h_dest, mac, ETH_ALEN);
  return verdict(SLUICE_TX_ICMP_ECHO, p->l3_len, XDP_TX);
}

/* An ICMP error about a flow of a VIP (e.g. "fragmentation needed" from a router on the way to
 * the client) quotes the packet the backend sent: VIP:port -> client:port. The error goes to
 * the real that flow is on, which is the only host that can act on it. 1: handled. */
static __always_inline int icmp_error_flow(void *ctx, int tc, const struct packet *p,
                                          struct packet *inner) {
  void *data = DATA(ctx, tc);
  void *end = DATA_END(ctx, tc);
  void *l4 = data + (p->l4_off & 0xff);
  *inner = *p;
  inner->syn = 0;
  inner->fragment = 0;
  inner->truncated = 0;
  if (p->flow.family == 4) {
    struct icmphdr_ *icmp = l4;
    if ((void *)(icmp + 1) > end || icmp->type != ICMP_DEST_UNREACH_) return 0;
    struct iphdr *quoted = (void *)(icmp + 1);
    if ((void *)(quoted + 1) > end || quoted->ihl != 5) return 0;
    __u16 *ports = (void *)(quoted + 1);
    if ((void *)(ports + 2) > end) return 0;
    __builtin_memset(inner->flow.src, 0, 32);
    inner->flow.src[0] = quoted->daddr;
    inner->flow.dst[0] = quoted->saddr;
    inner->flow.proto = quoted->protocol;
    inner->flow.sport = ports[1];
    inner->flow.dport = ports[0];
  } else {
    struct icmp6hdr *icmp6 = l4;
    if ((void *)(icmp6 + 1) > end) return 0;
    if (icmp6->icmp6_type != ICMPV6_DEST_UNREACH_ && icmp6->icmp6_type != ICMPV6_PKT_TOOBIG_)
      return 0;
    struct ipv6hdr *quoted = (void *)(icmp6 + 1);
    if ((void *)(quoted + 1) > end) return 0;
    __u16 *ports = (void *)(quoted + 1);
    if ((void *)(ports + 2) > end) return 0;
    __builtin_memcpy(inner->flow.src, &quoted->daddr, 16);
    __builtin_memcpy(inner->flow.dst, &quoted->saddr, 16);
    inner->flow.proto = quoted->nexthdr;
    inner->flow.sport = ports[1];
    inner->flow.dport = ports[0];
  }
  inner->have_ports = inner->flow.proto == IPPROTO_TCP || inner->flow.proto == IPPROTO_UDP;
  if (!inner->have_ports) inner->flow.sport = inner->flow.dport = 0;
  return 1;
}

static __always_inline int is_icmp(const struct packet *p) {
  return (p->flow.family == 4 && p->flow.proto == IPPROTO_ICMP) ||
         (p->flow.family == 6 && p->flow.proto == IPPROTO_ICMPV6);
}

static __always_inline int balance(void *ctx, int tc) {
  struct packet p = {};
  __u32 frame = DATA_END(ctx, tc) - DATA(ctx, tc);
  int parsed = parse(ctx, tc, &p);
  if (parsed == -1) return verdict(SLUICE_PASS_NOT_VIP, frame, XDP_PASS);
  if (parsed == -2) return verdict(SLUICE_PASS_MALFORMED, frame, XDP_PASS);
  __u32 zero = 0;
  struct sluice_lb_config *cfg = bpf_map_lookup_elem(&lb_config, &zero);
  if (!cfg) return XDP_PASS;

  struct sluice_vip_info *vip = find_vip(&p.flow, &p);
  if (!vip) {
    if (cfg->has_nat) {
      int done = 0;
      int action = nat_reverse(ctx, tc, &p, cfg, &done);
      if (done) return action;
    }
    return verdict(SLUICE_PASS_NOT_VIP, frame, XDP_PASS);
  }
  if (is_icmp(&p) && !p.fragment) {
    int action = icmp_echo(ctx, tc, &p);
    if (action >= 0) return action;
    struct packet inner;
    if (icmp_error_flow(ctx, tc, &p, &inner)) {
      struct sluice_vip_info *flow_vip = find_vip(&inner.flow, &inner);
      if (!flow_vip || (flow_vip->flags & (SLUICE_VIP_ADDR | SLUICE_VIP_NAT)))
        return verdict(SLUICE_DROP_UNSUPPORTED, frame, XDP_DROP);
      __u32 real_id = 0, hash = 0;
      struct sluice_real *real = pick_real(&inner, flow_vip, &real_id, &hash);
      if (!real) return verdict(SLUICE_DROP_NO_REAL, frame, XDP_DROP);
      count(SLUICE_COUNTER_REASON_BASE + SLUICE_TX_ICMP_ERROR_ROUTED, p.l3_len);
      return encapsulate(ctx, tc, &p, real, hash, cfg);
    }
  }
  if (vip->flags & SLUICE_VIP_ADDR) {
    /* Our address, but no VIP for this port or protocol. */
    if (p.truncated) return verdict(SLUICE_DROP_MALFORMED, frame, XDP_DROP);
    /* A TCP or UDP fragment has no ports to say which VIP it is for. */
    if (p.fragment && (p.flow.proto == IPPROTO_TCP || p.flow.proto == IPPROTO_UDP))
      return verdict(SLUICE_DROP_FRAGMENT, frame, XDP_DROP);
    return verdict(SLUICE_PASS_NOT_VIP, frame, XDP_PASS);
  }
  if (p.truncated) return verdict(SLUICE_DROP_MALFORMED, frame, XDP_DROP);
  if (p.fragment && !(vip->flags & SLUICE_VIP_L3))
    return verdict(SLUICE_DROP_FRAGMENT, frame, XDP_DROP);

  __u32 real_id = 0, hash = 0;
  struct sluice_real *real = pick_real(&p, vip, &real_id, &hash);
  if (!real) return verdict(SLUICE_DROP_NO_REAL, frame, XDP_DROP);
  count(vip->id, p.l3_len);
  count(SLUICE_COUNTER_REAL_BASE + (real_id % SLUICE_MAX_REALS), p.l3_len);
  if (vip->flags & SLUICE_VIP_NAT) return nat_forward(ctx, tc, &p, vip, real, cfg);
  return encapsulate(ctx, tc, &p, real, hash, cfg);
}

SEC("xdp")
int sluice_balancer(struct xdp_md *ctx) { return balance(ctx, 0); }

SEC("tc")
int sluice_balancer_tc(struct __sk_buff *skb) {
  int action = balance(skb, 1);
  if (action == XDP_TX) return bpf_redirect(skb->ifindex, 0);
  return action == XDP_PASS ? TC_ACT_OK : TC_ACT_SHOT;
}
