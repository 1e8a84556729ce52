// SPDX-License-Identifier: GPL-2.0
/* The backend side of `forward: ipip` (sluice decap): strips the outer IPv4 or IPv6 header of
 * IP-in-IP packets whose inner destination is a local VIP, and hands the inner packet to the
 * kernel, which delivers it to the VIP on the loopback. The kernels this runs on may have no
 * ipip/ip6_tunnel modules; this needs none. Everything else passes untouched. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "lb_shared.h"

char LICENSE[] SEC("license") = "GPL";

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SLUICE_MAX_DECAP_VIPS);
  __type(key, struct sluice_decap_key);
  __type(value, __u8);
} decap_vips SEC(".maps");

enum { DECAP_STRIPPED, DECAP_PASSED, DECAP_NOT_LOCAL, DECAP_COUNTERS };

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, DECAP_COUNTERS);
  __type(key, __u32);
  __type(value, struct sluice_counter);
} decap_counters SEC(".maps");

static __always_inline int done(__u32 index, __u64 bytes, int action) {
  struct sluice_counter *c = bpf_map_lookup_elem(&decap_counters, &index);
  if (c) {
    c->packets += 1;
    c->bytes += bytes;
  }
  return action;
}

/* Is the inner packet at `inner` (family from the outer protocol) for a local VIP? */
static __always_inline int inner_is_local(void *inner, void *end, __u8 inner_proto,
                                          __be16 *ethertype) {
  struct sluice_decap_key key = {};
  if (inner_proto == IPPROTO_IPIP) {
    struct iphdr *ip = inner;
    if ((void *)(ip + 1) > end || ip->version != 4) return 0;
    key.family = 4;
    key.addr[0] = ip->daddr;
    *ethertype = bpf_htons(ETH_P_IP);
  } else if (inner_proto == IPPROTO_IPV6) {
    struct ipv6hdr *ip6 = inner;
    if ((void *)(ip6 + 1) > end || ip6->version != 6) return 0;
    key.family = 6;
    __builtin_memcpy(key.addr, &ip6->daddr, 16);
    *ethertype = bpf_htons(ETH_P_IPV6);
  } else {
    return 0;
  }
  return bpf_map_lookup_elem(&decap_vips, &key) != NULL;
}

SEC("xdp")
int sluice_decap(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  __u64 frame = end - data;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return done(DECAP_PASSED, frame, XDP_PASS);
  /* Untagged frames only: a backend's VLAN is usually its own interface. */
  __u8 inner_proto;
  int outer;
  if (eth->h_proto == bpf_htons(ETH_P_IP)) {
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end || ip->ihl != 5) return done(DECAP_PASSED, frame, XDP_PASS);
    if (ip->frag_off & bpf_htons(0x3fff)) return done(DECAP_PASSED, frame, XDP_PASS);
    inner_proto = ip->protocol;
    outer = sizeof(struct iphdr);
  } else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr *ip6 = (void *)(eth + 1);
    if ((void *)(ip6 + 1) > end) return done(DECAP_PASSED, frame, XDP_PASS);
    inner_proto = ip6->nexthdr;
    outer = sizeof(struct ipv6hdr);
  } else {
    return done(DECAP_PASSED, frame, XDP_PASS);
  }
  if (inner_proto != IPPROTO_IPIP && inner_proto != IPPROTO_IPV6)
    return done(DECAP_PASSED, frame, XDP_PASS);
  __be16 ethertype = 0;
  if (!inner_is_local(data + sizeof(struct ethhdr) + outer, end, inner_proto, &ethertype))
    return done(DECAP_NOT_LOCAL, frame, XDP_PASS);
  /* Move the Ethernet header forward over the outer IP header, then drop the front. */
  struct ethhdr copy = *eth;
  copy.h_proto = ethertype;
  if (bpf_xdp_adjust_head(ctx, outer)) return done(DECAP_PASSED, frame, XDP_PASS);
  data = (void *)(long)ctx->data;
  end = (void *)(long)ctx->data_end;
  eth = data;
  if ((void *)(eth + 1) > end) return XDP_DROP;
  *eth = copy;
  return done(DECAP_STRIPPED, frame, XDP_PASS);
}
