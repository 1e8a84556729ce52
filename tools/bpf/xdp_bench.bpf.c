// SPDX-License-Identifier: GPL-2.0
/* The packet benchmark's own XDP programs (bench/packet.sh, tools/xdp_bench.cc):
 *  - bench_gen: run by BPF_PROG_TEST_RUN with live frames on the generator's interface; writes
 *    the template frame (live mode recycles pages without restoring what the device under test
 *    wrote into them, e.g. an outer header), gives it the next of N flows (source port, and the
 *    source address beyond 32k flows), fixes the checksums incrementally, and transmits it.
 *  - bench_sink: on the same interface, counts what comes back and drops it.
 *  - bench_noop: the ceiling: sends every frame straight back (XDP_TX).
 *  - bench_pass: XDP_PASS, so a veth accepts XDP_TX'd frames while the kernel stack handles
 *    them (the nftables case). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/tcp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define BENCH_FRAME 60 /* 64 bytes on the wire with the FCS */

struct bench_config {
  __u32 flows;
  __u8 frame[BENCH_FRAME];
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct bench_config);
} bench_config SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 2); /* 0: generated, 1: received at the sink */
  __type(key, __u32);
  __type(value, __u64);
} bench_counts SEC(".maps");

static __always_inline void bump(__u32 index) {
  __u64 *count = bpf_map_lookup_elem(&bench_counts, &index);
  if (count) *count += 1;
}

static __always_inline __u16 fold(__u32 sum) {
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return (__u16)~sum;
}

static __always_inline void replace16(__u16 *check, __u16 from, __u16 to) {
  __u32 sum = (__u16)~*check;
  sum += (__u16)~from + to;
  *check = fold(sum);
}

SEC("xdp")
int bench_gen(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  __u32 zero = 0;
  struct bench_config *cfg = bpf_map_lookup_elem(&bench_config, &zero);
  __u64 *seq = bpf_map_lookup_elem(&bench_counts, &zero);
  if (!cfg || !seq || cfg->flows == 0) return XDP_DROP;
  if (data + BENCH_FRAME > end) return XDP_DROP;
  __builtin_memcpy(data, cfg->frame, BENCH_FRAME);
  struct ethhdr *eth = data;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end || ip->ihl != 5) return XDP_DROP;
  __u32 flow = (__u32)(*seq % cfg->flows);
  *seq += 1;
  __u16 new_port = bpf_htons(1024 + (flow & 0x7fff));
  __u16 new_low = bpf_htons((__u16)(flow >> 15)); /* low 16 bits of the source address */
  __u16 *src_low = (__u16 *)&ip->saddr + 1;
  __u16 old_low = *src_low;
  __u16 *port = NULL, *check = NULL;
  if (ip->protocol == IPPROTO_UDP) {
    struct udphdr *udp = (void *)(ip + 1);
    if ((void *)(udp + 1) > end) return XDP_DROP;
    port = &udp->source;
    check = &udp->check;
  } else if (ip->protocol == IPPROTO_TCP) {
    struct tcphdr *tcp = (void *)(ip + 1);
    if ((void *)(tcp + 1) > end) return XDP_DROP;
    port = &tcp->source;
    check = &tcp->check;
  } else {
    return XDP_DROP;
  }
  replace16(check, *port, new_port);
  replace16(check, old_low, new_low);
  *port = new_port;
  *src_low = new_low;
  replace16(&ip->check, old_low, new_low);
  return XDP_TX;
}

SEC("xdp")
int bench_sink(struct xdp_md *ctx) {
  (void)ctx;
  bump(1);
  return XDP_DROP;
}

SEC("xdp")
int bench_noop(struct xdp_md *ctx) {
  (void)ctx;
  return XDP_TX;
}

SEC("xdp")
int bench_pass(struct xdp_md *ctx) {
  (void)ctx;
  return XDP_PASS;
}
