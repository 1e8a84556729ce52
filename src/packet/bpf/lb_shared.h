/* The structs and the flow hash shared by the BPF programs and the C++ control plane: the one
 * place where their layout is written down. C, so that clang -target bpf compiles it too.
 * Addresses and ports are kept in network byte order, exactly as they sit in the packet; an IPv4
 * address is addr[0] with addr[1..3] zero. */
#ifndef SLUICE_PACKET_BPF_LB_SHARED_H
#define SLUICE_PACKET_BPF_LB_SHARED_H

#include <linux/types.h>

/* C names (snake_case structs), as BPF code and the kernel's own headers write them; this file
 * is compiled as C for the BPF target. */
/* NOLINTBEGIN(readability-identifier-naming) */

#define SLUICE_MAX_VIPS 512
#define SLUICE_MAX_REALS 4096
/* Maglev lookup table size, prime; a VIP may have up to SLUICE_MAGLEV_SIZE / 100 reals. */
#define SLUICE_MAGLEV_SIZE 65537
#define SLUICE_MAX_DECAP_VIPS 256

enum sluice_vip_flag {
  SLUICE_VIP_L3 = 1,       /* addresses only, any protocol, stateless */
  SLUICE_VIP_NAT = 2,      /* rewrite the destination instead of IP-in-IP */
  SLUICE_VIP_HASH_SRC = 4, /* hash the source address alone (stickiness) */
  SLUICE_VIP_ADDR = 8,     /* only marks an address as ours (ICMP echo); balances nothing */
};

struct sluice_vip_key {
  __u32 addr[4];
  __u16 port;  /* 0: any port (and for l3 VIPs) */
  __u8 proto;  /* 0 for l3 VIPs */
  __u8 family; /* 4 or 6 */
};

struct sluice_vip_info {
  __u32 id; /* index into the maglev outer map and the VIP counters */
  __u32 flags;
};

struct sluice_real {
  __u32 addr[4];
  __u16 port;  /* nat: the new destination port (0 keeps the client's) */
  __u8 family; /* 0: no such real (removed); a connection to it picks again */
  __u8 pad;
};

/* A flow as the packet carries it; the connection table's key. */
struct sluice_flow {
  __u32 src[4];
  __u32 dst[4];
  __u16 sport;
  __u16 dport;
  __u8 proto;
  __u8 family;
  __u8 pad[2];
};

struct sluice_conn {
  __u32 real_id;
  __u32 vip_id;
};

/* Reverse NAT: keyed by the backend's reply flow (src = real, dst = client). */
struct sluice_nat_origin {
  __u32 vip_addr[4];
  __u16 vip_port;
  __u16 pad;
  __u32 vip_id;
};

struct sluice_lb_config {
  __u8 gateway_mac[6];
  __u8 has_nat; /* any nat VIP: look for replies to translate back */
  __u8 pad;
  /* ipip outer source: base | (flow hash & host mask); both network order */
  __u32 source_v4;
  __u32 source_v4_host_mask;
  __u32 source_v6[4];
  __u32 source_v6_host_mask; /* applied to the last word */
  __u32 mtu;                 /* of the interface; an encapsulated packet may not exceed it */
};

struct sluice_counter {
  __u64 packets;
  __u64 bytes;
};

/* Counters besides the per-VIP and per-real ones. */
enum sluice_reason {
  SLUICE_PASS_NOT_VIP = 0,     /* not for us: XDP_PASS untouched */
  SLUICE_PASS_MALFORMED,       /* too short or bad header, not for a VIP: left to the kernel */
  SLUICE_DROP_MALFORMED,       /* to a VIP but truncated or malformed */
  SLUICE_DROP_FRAGMENT,        /* IP fragment to an l4 VIP (no ports to hash) */
  SLUICE_DROP_NO_REAL,         /* the VIP has no usable real */
  SLUICE_DROP_HEADROOM,        /* no room for the outer header */
  SLUICE_DROP_UNSUPPORTED,     /* e.g. ICMP other than echo or errors to a VIP */
  SLUICE_TX_ICMP_ECHO,         /* echo request to a VIP answered */
  SLUICE_TX_ICMP_TOO_BIG,      /* "fragmentation needed" / "packet too big" sent */
  SLUICE_TX_ICMP_ERROR_ROUTED, /* an ICMP error for a flow sent on to that flow's real */
  SLUICE_TX_NAT_REPLY,         /* a backend's reply translated back to the VIP */
  SLUICE_CONN_HIT,             /* the connection table chose the real */
  SLUICE_CONN_NEW,             /* Maglev chose the real */
  SLUICE_REASON_COUNT
};

/* Counter array layout: VIPs, then reals, then the reasons above. */
#define SLUICE_COUNTER_REAL_BASE SLUICE_MAX_VIPS
#define SLUICE_COUNTER_REASON_BASE (SLUICE_MAX_VIPS + SLUICE_MAX_REALS)
#define SLUICE_COUNTERS (SLUICE_COUNTER_REASON_BASE + SLUICE_REASON_COUNT)

struct sluice_decap_key {
  __u32 addr[4];
  __u8 family;
  __u8 pad[3];
};

/* Flow hash: MurmurHash3's 32-bit block mix over the words that identify the flow. l3 VIPs
 * hash both addresses (so fragments and ICMP errors follow their flow), l4 VIPs add the ports
 * and the protocol, `hash: source_ip` takes the source address alone. Network-order words as
 * they are in the packet, so the C++ side computes the same value from the same bytes. */
static inline __u32 sluice_rotl32(__u32 x, int r) { return (x << r) | (x >> (32 - r)); }

static inline __u32 sluice_hash_mix(__u32 h, __u32 k) {
  k *= 0xcc9e2d51u;
  k = sluice_rotl32(k, 15);
  k *= 0x1b873593u;
  h ^= k;
  h = sluice_rotl32(h, 13);
  return h * 5 + 0xe6546b64u;
}

static inline __u32 sluice_flow_hash(const struct sluice_flow* f, __u32 vip_flags) {
  __u32 h = 0x736c7563u; /* "sluc" */
  h = sluice_hash_mix(h, f->src[0]);
  h = sluice_hash_mix(h, f->src[1]);
  h = sluice_hash_mix(h, f->src[2]);
  h = sluice_hash_mix(h, f->src[3]);
  if (!(vip_flags & SLUICE_VIP_HASH_SRC)) {
    h = sluice_hash_mix(h, f->dst[0]);
    h = sluice_hash_mix(h, f->dst[1]);
    h = sluice_hash_mix(h, f->dst[2]);
    h = sluice_hash_mix(h, f->dst[3]);
    if (!(vip_flags & SLUICE_VIP_L3)) {
      h = sluice_hash_mix(h, ((__u32)f->sport << 16) | f->dport);
      h = sluice_hash_mix(h, f->proto);
    }
  }
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

/* NOLINTEND(readability-identifier-naming) */

#endif
