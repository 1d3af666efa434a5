// SPDX-License-Identifier: GPL-2.0
// Network sensor: TC clsact programs on ingress and egress of host interfaces. They parse the
// Ethernet, IPv4/IPv6 and L4 headers, aggregate packets per conntrack entry (Cilium's
// monitorAggregation) and hand fixed-size events to user space; DNS packets also carry their
// payload. They never modify or drop a packet (always TC_ACT_UNSPEC). Non-IP packets (ARP, LLDP,
// ...) are not reported: they cannot form an L3/L4 flow.
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpf/intf/netflow.h"
#include "bpf/lib/ringbuf.h"

#define TC_ACT_UNSPEC (-1)
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_HLEN 14
#define LOUPE_IPPROTO_ICMPV6 58
#define LOUPE_TCP_FIN 0x01
#define LOUPE_TCP_SYN 0x02
#define LOUPE_TCP_RST 0x04
#define LOUPE_TCP_ACK 0x10

// Set by user space before load (enum loupe_aggregation, nanoseconds).
const volatile __u8 aggregation_level = LOUPE_AGG_MEDIUM;
const volatile __u64 monitor_interval_ns = 5000000000ULL;

// Packet events for user space; 4 MiB shared by all CPUs (about 35k events).
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4 * 1024 * 1024);
} packet_events SEC(".maps");

// Per-CPU count of packet events lost because packet_events was full; 1 slot.
LOUPE_DECLARE_LOST_MAP(packet_lost_map);

// Interfaces without an Ethernet header (tun, wireguard, ...), set by user space at attach time;
// ifindex -> 1; bounded to 4096 interfaces.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32);
  __type(value, __u8);
} l3_iface_map SEC(".maps");

// Aggregation state per (5-tuple, ifindex, direction): running packet/byte totals and what an
// idle flush needs; LRU, 65536 entries (~8 MiB). User space deletes closed and idle entries.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct loupe_ct_key);
  __type(value, struct loupe_ct_entry);
} flow_ct_map SEC(".maps");

// What the parser found besides the event fields.
struct netflow__parsed {
  __u32 payload_off;  // offset of the L4 payload from skb->data; 0 when unknown
  __u16 icmp_echo_id;
  __u8 has_l4;
  __u8 is_dns;
};

static __always_inline void netflow__l4(struct __sk_buff* skb, __u32 off, __u8 proto,
                                        struct loupe_packet_event* ev, struct netflow__parsed* p) {
  ev->l4_proto = proto;
  if (proto == IPPROTO_TCP) {
    __u8 hdr[14];
    if (bpf_skb_load_bytes(skb, off, hdr, sizeof(hdr)) < 0) return;
    ev->sport = ((__u16)hdr[0] << 8) | hdr[1];
    ev->dport = ((__u16)hdr[2] << 8) | hdr[3];
    ev->tcp_flags = hdr[13];
    p->payload_off = off + (hdr[12] >> 4) * 4;
    p->has_l4 = 1;
  } else if (proto == IPPROTO_UDP || proto == IPPROTO_SCTP) {
    __u8 hdr[4];
    if (bpf_skb_load_bytes(skb, off, hdr, sizeof(hdr)) < 0) return;
    ev->sport = ((__u16)hdr[0] << 8) | hdr[1];
    ev->dport = ((__u16)hdr[2] << 8) | hdr[3];
    p->payload_off = off + (proto == IPPROTO_UDP ? 8 : 12);
    p->has_l4 = 1;
  } else if (proto == IPPROTO_ICMP || proto == LOUPE_IPPROTO_ICMPV6) {
    __u8 hdr[6];
    if (bpf_skb_load_bytes(skb, off, hdr, sizeof(hdr)) < 0) return;
    ev->icmp_type = hdr[0];
    ev->icmp_code = hdr[1];
    // Echo request/reply: the identifier tells concurrent pings apart.
    if ((proto == IPPROTO_ICMP && (hdr[0] == 8 || hdr[0] == 0)) ||
        (proto == LOUPE_IPPROTO_ICMPV6 && (hdr[0] == 128 || hdr[0] == 129))) {
      p->icmp_echo_id = ((__u16)hdr[4] << 8) | hdr[5];
    }
    p->has_l4 = 1;
  } else {
    p->has_l4 = 1;
  }
  if ((proto == IPPROTO_TCP || proto == IPPROTO_UDP) && (ev->sport == 53 || ev->dport == 53))
    p->is_dns = 1;
}

// Skips IPv6 extension headers (hop-by-hop, routing, destination options, fragment); returns the
// upper-layer protocol, or 0 for non-first fragments and unparsable chains.
static __always_inline __u8 netflow__skip_ipv6_ext(struct __sk_buff* skb, __u32* off, __u8 nh) {
#pragma unroll
  for (int i = 0; i < 4; i++) {
    if (nh == 0 || nh == 43 || nh == 60) {
      __u8 h[2];
      if (bpf_skb_load_bytes(skb, *off, h, sizeof(h)) < 0) return 0;
      nh = h[0];
      *off += ((__u32)h[1] + 1) * 8;
    } else if (nh == 44) {
      __u8 h[4];
      if (bpf_skb_load_bytes(skb, *off, h, sizeof(h)) < 0) return 0;
      if (((((__u16)h[2]) << 8 | h[3]) & 0xFFF8) != 0) return 0;
      nh = h[0];
      *off += 8;
    } else {
      return nh;
    }
  }
  return 0;
}

// Returns 1 when the packet is IPv4/IPv6 and `ev` describes it.
static __always_inline int netflow__parse(struct __sk_buff* skb, struct loupe_packet_event* ev,
                                          struct netflow__parsed* p) {
  __u32 ifindex = skb->ifindex;
  __u32 off = ETH_HLEN;
  // Devices without an Ethernet header (tun, wireguard) start at the network header.
  if (bpf_map_lookup_elem(&l3_iface_map, &ifindex)) {
    off = 0;
  } else {
    __u8 macs[12];
    if (bpf_skb_load_bytes(skb, 0, macs, sizeof(macs)) == 0) {
      __builtin_memcpy(ev->dmac, macs, 6);
      __builtin_memcpy(ev->smac, macs + 6, 6);
      ev->has_eth = 1;
    }
  }
  ev->eth_proto = bpf_ntohs(skb->protocol);
  if (ev->eth_proto == ETH_P_IP) {
    struct iphdr ip;
    if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)) < 0) return 0;
    ev->ip_version = 4;
    __builtin_memcpy(ev->saddr, &ip.saddr, 4);
    __builtin_memcpy(ev->daddr, &ip.daddr, 4);
    // Only the first fragment carries the L4 header.
    if ((bpf_ntohs(ip.frag_off) & 0x1FFF) == 0)
      netflow__l4(skb, off + ip.ihl * 4, ip.protocol, ev, p);
    return 1;
  }
  if (ev->eth_proto == ETH_P_IPV6) {
    struct ipv6hdr ip6;
    if (bpf_skb_load_bytes(skb, off, &ip6, sizeof(ip6)) < 0) return 0;
    ev->ip_version = 6;
    __builtin_memcpy(ev->saddr, &ip6.saddr, 16);
    __builtin_memcpy(ev->daddr, &ip6.daddr, 16);
    off += sizeof(ip6);
    __u8 proto = netflow__skip_ipv6_ext(skb, &off, ip6.nexthdr);
    if (proto != 0) netflow__l4(skb, off, proto, ev, p);
    return 1;
  }
  return 0;
}

static __always_inline void netflow__ct_key(const struct loupe_packet_event* ev,
                                            const struct netflow__parsed* p,
                                            struct loupe_ct_key* key, int reverse) {
  __builtin_memset(key, 0, sizeof(*key));
  if (reverse) {
    __builtin_memcpy(key->saddr, ev->daddr, 16);
    __builtin_memcpy(key->daddr, ev->saddr, 16);
    key->sport = ev->dport;
    key->dport = ev->sport;
    key->direction = ev->direction ^ 1;
  } else {
    __builtin_memcpy(key->saddr, ev->saddr, 16);
    __builtin_memcpy(key->daddr, ev->daddr, 16);
    key->sport = ev->sport;
    key->dport = ev->dport;
    key->direction = ev->direction;
  }
  if (p->icmp_echo_id) {
    key->sport = p->icmp_echo_id;
    key->dport = p->icmp_echo_id;
  }
  key->ifindex = ev->ifindex;
  key->proto = ev->l4_proto;
}

// Original or reply direction of a new conntrack entry.
static __always_inline __u8 netflow__reply_of_new(const struct loupe_packet_event* ev,
                                                  const struct netflow__parsed* p) {
  if (ev->l4_proto == IPPROTO_TCP && (ev->tcp_flags & LOUPE_TCP_SYN))
    return (ev->tcp_flags & LOUPE_TCP_ACK) ? LOUPE_REPLY_YES : LOUPE_REPLY_NO;
  if (ev->l4_proto == IPPROTO_ICMP && (ev->icmp_type == 8 || ev->icmp_type == 0))
    return ev->icmp_type == 0 ? LOUPE_REPLY_YES : LOUPE_REPLY_NO;
  if (ev->l4_proto == LOUPE_IPPROTO_ICMPV6 && (ev->icmp_type == 128 || ev->icmp_type == 129))
    return ev->icmp_type == 129 ? LOUPE_REPLY_YES : LOUPE_REPLY_NO;
  struct loupe_ct_key rkey;
  netflow__ct_key(ev, p, &rkey, 1);
  struct loupe_ct_entry* rev = bpf_map_lookup_elem(&flow_ct_map, &rkey);
  if (rev) return rev->is_reply == LOUPE_REPLY_YES ? LOUPE_REPLY_NO : LOUPE_REPLY_YES;
  // A TCP flow first seen mid-stream (agent started later) has no known original direction.
  return ev->l4_proto == IPPROTO_TCP ? LOUPE_REPLY_UNKNOWN : LOUPE_REPLY_NO;
}

// Delivers `ev` (with the DNS payload for DNS packets). Returns 1 when the event reached the ring
// buffer.
static __always_inline int netflow__submit(struct __sk_buff* skb, struct loupe_packet_event* ev,
                                           const struct netflow__parsed* p, __u8 reason) {
  ev->emit_reason = reason;
  if (p->is_dns) {
    struct loupe_dns_packet_event* dev =
        loupe__ringbuf_reserve(&packet_events, &packet_lost_map, sizeof(*dev));
    if (!dev) return 0;
    __u64 plen = 0;
    if (p->payload_off != 0 && p->payload_off < skb->len) plen = skb->len - p->payload_off;
    if (plen > LOUPE_DNS_PAYLOAD_MAX) plen = LOUPE_DNS_PAYLOAD_MAX;
    // Keep the compiler from handing the helper an unclamped copy of the length.
    asm volatile("" : "+r"(plen));
    if (plen > 0 && plen <= LOUPE_DNS_PAYLOAD_MAX &&
        bpf_skb_load_bytes(skb, p->payload_off, dev->payload, plen) < 0)
      plen = 0;
    ev->payload_len = plen;
    __builtin_memcpy(&dev->ev, ev, sizeof(*ev));
    bpf_ringbuf_submit(dev, 0);
    return 1;
  }
  struct loupe_packet_event* out =
      loupe__ringbuf_reserve(&packet_events, &packet_lost_map, sizeof(*out));
  if (!out) return 0;
  __builtin_memcpy(out, ev, sizeof(*ev));
  bpf_ringbuf_submit(out, 0);
  return 1;
}

static __always_inline int netflow__handle(struct __sk_buff* skb, __u8 direction) {
  struct loupe_packet_event ev;
  struct netflow__parsed p;
  __builtin_memset(&ev, 0, sizeof(ev));
  __builtin_memset(&p, 0, sizeof(p));
  ev.ifindex = skb->ifindex;
  ev.len = skb->len;
  ev.direction = direction;
  if (!netflow__parse(skb, &ev, &p)) return TC_ACT_UNSPEC;
  ev.ts_ns = bpf_ktime_get_ns();
  ev.cgroup_id = bpf_skb_cgroup_id(skb);
  ev.icmp_echo_id = p.icmp_echo_id;

  if (aggregation_level == LOUPE_AGG_NONE) {
    ev.packets = 1;
    ev.bytes = ev.len;
    if (ev.l4_proto == IPPROTO_TCP && (ev.tcp_flags & LOUPE_TCP_SYN))
      ev.is_reply = (ev.tcp_flags & LOUPE_TCP_ACK) ? LOUPE_REPLY_YES : LOUPE_REPLY_NO;
    netflow__submit(skb, &ev, &p, LOUPE_EMIT_EVERY);
    return TC_ACT_UNSPEC;
  }

  struct loupe_ct_key key;
  netflow__ct_key(&ev, &p, &key, 0);
  int created = 0;
  struct loupe_ct_entry* entry = bpf_map_lookup_elem(&flow_ct_map, &key);
  if (!entry) {
    struct loupe_ct_entry fresh = {};
    fresh.first_ns = ev.ts_ns;
    fresh.last_seen_ns = ev.ts_ns;
    fresh.last_emit_ns = ev.ts_ns;
    fresh.cgroup_id = ev.cgroup_id;
    fresh.flags_seen = ev.tcp_flags;
    fresh.is_reply = netflow__reply_of_new(&ev, &p);
    fresh.ip_version = ev.ip_version;
    fresh.has_eth = ev.has_eth;
    __builtin_memcpy(fresh.smac, ev.smac, 6);
    __builtin_memcpy(fresh.dmac, ev.dmac, 6);
    // Counters start at 0 and are added to below like for every packet: when two CPUs create the
    // entry at once, only one insert wins and both packets count into the winner.
    created = bpf_map_update_elem(&flow_ct_map, &key, &fresh, BPF_NOEXIST) == 0;
    entry = bpf_map_lookup_elem(&flow_ct_map, &key);
    if (!entry) {
      // Evicted at once (map full of busier flows): report the packet on its own.
      ev.packets = 1;
      ev.bytes = ev.len;
      ev.is_reply = fresh.is_reply;
      netflow__submit(skb, &ev, &p, LOUPE_EMIT_NEW_FLOW);
      return TC_ACT_UNSPEC;
    }
  }

  // Running totals including this packet; user space derives what is new since its last report.
  ev.packets = __sync_fetch_and_add(&entry->packets, 1) + 1;
  ev.bytes = __sync_fetch_and_add(&entry->bytes, ev.len) + ev.len;
  ev.ct_first_ns = entry->first_ns;
  entry->last_seen_ns = ev.ts_ns;
  entry->last_flags = ev.tcp_flags;
  entry->icmp_type = ev.icmp_type;
  entry->icmp_code = ev.icmp_code;
  if (ev.tcp_flags && (entry->flags_all & ev.tcp_flags) != ev.tcp_flags)
    __sync_fetch_and_or(&entry->flags_all, (__u64)ev.tcp_flags);
  ev.is_reply = entry->is_reply;

  __u8 reason = 0xFF;
  if (created) {
    reason = LOUPE_EMIT_NEW_FLOW;
  } else {
    __u8 watched = ev.tcp_flags;
    if (aggregation_level == LOUPE_AGG_HIGH)
      watched &= LOUPE_TCP_SYN | LOUPE_TCP_FIN | LOUPE_TCP_RST;
    if (watched & ~entry->flags_seen)
      reason = LOUPE_EMIT_NEW_FLAGS;
    else if (aggregation_level == LOUPE_AGG_LOW &&
             (ev.tcp_flags & (LOUPE_TCP_SYN | LOUPE_TCP_FIN | LOUPE_TCP_RST)))
      reason = LOUPE_EMIT_CONTROL;
    else if (p.is_dns)
      reason = LOUPE_EMIT_DNS;
    else if (ev.ts_ns - entry->last_emit_ns >= monitor_interval_ns)
      reason = LOUPE_EMIT_INTERVAL;
  }
  if (reason == 0xFF) return TC_ACT_UNSPEC;
  // A lost event loses no counts (the totals go on); only a delivered event marks the flags as
  // reported, so a full ring buffer retries them on the next packet.
  if (netflow__submit(skb, &ev, &p, reason)) {
    entry->last_emit_ns = ev.ts_ns;
    if (reason == LOUPE_EMIT_NEW_FLAGS) entry->flags_seen |= ev.tcp_flags;
  }
  return TC_ACT_UNSPEC;
}

SEC("tc")
int tc__ingress(struct __sk_buff* skb) { return netflow__handle(skb, LOUPE_DIR_INGRESS); }

SEC("tc")
int tc__egress(struct __sk_buff* skb) { return netflow__handle(skb, LOUPE_DIR_EGRESS); }

char LICENSE[] SEC("license") = "GPL";
