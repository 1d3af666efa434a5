/* Reads the L3/L4 headers of a kernel sk_buff (tracepoint programs, where the packet is not the
 * program's context): skb->head + network_header/transport_header via CO-RE and
 * bpf_probe_read_kernel. */
#ifndef LOUPE_BPF_LIB_SKB_HEADERS_H_
#define LOUPE_BPF_LIB_SKB_HEADERS_H_

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpf/intf/l34.h"

#define LOUPE_SKB_HEADER_UNSET 0xFFFF

static __always_inline void loupe__read_l4(const unsigned char* l4, __u8 proto,
                                           struct loupe_l34* out) {
  out->l4_proto = proto;
  if (proto == IPPROTO_TCP) {
    __u8 hdr[14];
    if (bpf_probe_read_kernel(hdr, sizeof(hdr), l4) < 0) return;
    out->sport = ((__u16)hdr[0] << 8) | hdr[1];
    out->dport = ((__u16)hdr[2] << 8) | hdr[3];
    out->tcp_flags = hdr[13];
  } else if (proto == IPPROTO_UDP || proto == IPPROTO_SCTP) {
    __u8 hdr[4];
    if (bpf_probe_read_kernel(hdr, sizeof(hdr), l4) < 0) return;
    out->sport = ((__u16)hdr[0] << 8) | hdr[1];
    out->dport = ((__u16)hdr[2] << 8) | hdr[3];
  } else if (proto == IPPROTO_ICMP || proto == 58 /* IPPROTO_ICMPV6 */) {
    __u8 hdr[2];
    if (bpf_probe_read_kernel(hdr, sizeof(hdr), l4) < 0) return;
    out->icmp_type = hdr[0];
    out->icmp_code = hdr[1];
  }
}

/* Fills `out` from the skb's network header; returns 1 when an IPv4/IPv6 header was read. */
static __always_inline int loupe__read_skb_l34(struct sk_buff* skb, struct loupe_l34* out) {
  unsigned char* head = BPF_CORE_READ(skb, head);
  __u16 nh = BPF_CORE_READ(skb, network_header);
  if (!head || nh == LOUPE_SKB_HEADER_UNSET) return 0;
  __u8 first = 0;
  if (bpf_probe_read_kernel(&first, 1, head + nh) < 0) return 0;
  if ((first >> 4) == 4) {
    struct iphdr ip;
    if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh) < 0) return 0;
    out->ip_version = 4;
    __builtin_memcpy(out->saddr, &ip.saddr, 4);
    __builtin_memcpy(out->daddr, &ip.daddr, 4);
    if ((bpf_ntohs(ip.frag_off) & 0x1FFF) == 0)
      loupe__read_l4(head + nh + ip.ihl * 4, ip.protocol, out);
    return 1;
  }
  if ((first >> 4) == 6) {
    struct ipv6hdr ip6;
    if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh) < 0) return 0;
    out->ip_version = 6;
    __builtin_memcpy(out->saddr, &ip6.saddr, 16);
    __builtin_memcpy(out->daddr, &ip6.daddr, 16);
    __u8 proto = ip6.nexthdr;
    /* Extension headers are not followed: such packets are reported without L4. */
    if (proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP || proto == 58)
      loupe__read_l4(head + nh + sizeof(ip6), proto, out);
    return 1;
  }
  return 0;
}

/* Network namespace inode of a net_device / sock. */
static __always_inline __u64 loupe__dev_netns(struct net_device* dev) {
  if (!dev) return 0;
  return BPF_CORE_READ(dev, nd_net.net, ns.inum);
}

static __always_inline __u64 loupe__sock_netns(struct sock* sk) {
  if (!sk) return 0;
  return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

#endif /* LOUPE_BPF_LIB_SKB_HEADERS_H_ */
