// SPDX-License-Identifier: GPL-2.0
// Network sensor: TC clsact programs on ingress and egress of host interfaces. They parse the
// Ethernet, IPv4/IPv6 and L4 headers and hand a fixed-size event to user space. They never modify
// or drop a packet (always TC_ACT_UNSPEC).
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpf/intf/netflow.h"
#include "bpf/lib/ringbuf.h"

#define TC_ACT_UNSPEC (-1)
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_HLEN 14

// Packet events for user space; 4 MiB shared by all CPUs (about 50k events).
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

static __always_inline void netflow__l4(struct __sk_buff* skb, __u32 off, __u8 proto,
                                        struct loupe_packet_event* ev) {
  ev->l4_proto = proto;
  if (proto == IPPROTO_TCP) {
    __u8 hdr[14];
    if (bpf_skb_load_bytes(skb, off, hdr, sizeof(hdr)) < 0) return;
    ev->sport = ((__u16)hdr[0] << 8) | hdr[1];
    ev->dport = ((__u16)hdr[2] << 8) | hdr[3];
    ev->tcp_flags = hdr[13];
  } else if (proto == IPPROTO_UDP || proto == IPPROTO_SCTP) {
    __u8 hdr[4];
    if (bpf_skb_load_bytes(skb, off, hdr, sizeof(hdr)) < 0) return;
    ev->sport = ((__u16)hdr[0] << 8) | hdr[1];
    ev->dport = ((__u16)hdr[2] << 8) | hdr[3];
  } else if (proto == IPPROTO_ICMP || proto == 58 /* IPPROTO_ICMPV6 */) {
    __u8 hdr[2];
    if (bpf_skb_load_bytes(skb, off, hdr, sizeof(hdr)) < 0) return;
    ev->icmp_type = hdr[0];
    ev->icmp_code = hdr[1];
  }
}

static __always_inline int netflow__handle(struct __sk_buff* skb, __u8 direction) {
  struct loupe_packet_event* ev =
      loupe__ringbuf_reserve(&packet_events, &packet_lost_map, sizeof(*ev));
  if (!ev) return TC_ACT_UNSPEC;
  __builtin_memset(ev, 0, sizeof(*ev));
  ev->ts_ns = bpf_ktime_get_ns();
  ev->ifindex = skb->ifindex;
  ev->len = skb->len;
  ev->direction = direction;
  ev->eth_proto = bpf_ntohs(skb->protocol);

  // Devices without an Ethernet header (tun, wireguard) start at the network header.
  __u32 ifindex = skb->ifindex;
  __u32 off = bpf_map_lookup_elem(&l3_iface_map, &ifindex) ? 0 : ETH_HLEN;
  if (ev->eth_proto == ETH_P_IP) {
    struct iphdr ip;
    if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)) == 0) {
      ev->ip_version = 4;
      __builtin_memcpy(ev->saddr, &ip.saddr, 4);
      __builtin_memcpy(ev->daddr, &ip.daddr, 4);
      // Only the first fragment carries the L4 header.
      if ((bpf_ntohs(ip.frag_off) & 0x1FFF) == 0)
        netflow__l4(skb, off + ip.ihl * 4, ip.protocol, ev);
    }
  } else if (ev->eth_proto == ETH_P_IPV6) {
    struct ipv6hdr ip6;
    if (bpf_skb_load_bytes(skb, off, &ip6, sizeof(ip6)) == 0) {
      ev->ip_version = 6;
      __builtin_memcpy(ev->saddr, &ip6.saddr, 16);
      __builtin_memcpy(ev->daddr, &ip6.daddr, 16);
      netflow__l4(skb, off + sizeof(ip6), ip6.nexthdr, ev);
    }
  }
  bpf_ringbuf_submit(ev, 0);
  return TC_ACT_UNSPEC;
}

SEC("tc")
int tc__ingress(struct __sk_buff* skb) { return netflow__handle(skb, LOUPE_DIR_INGRESS); }

SEC("tc")
int tc__egress(struct __sk_buff* skb) { return netflow__handle(skb, LOUPE_DIR_EGRESS); }

char LICENSE[] SEC("license") = "GPL";
