// SPDX-License-Identifier: GPL-2.0
// Drop sensor: skb:kfree_skb with the kernel's drop reason. Frees that are normal consumption on
// this kernel (user space marks them in ignored_reason_map, see docs/design/drop-reasons.md) and
// non-IP packets are filtered here; every other free becomes one event with the packet's headers.
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "bpf/intf/drops.h"
#include "bpf/intf/netflow.h"
#include "bpf/lib/ringbuf.h"
#include "bpf/lib/skb_headers.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

// enum skb_drop_reason value of NO_SOCKET on the running kernel (set by user space from BTF):
// echo replies freed with it are normal consumption when ping uses a raw socket.
const volatile __u32 no_socket_reason = 0xFFFFFFFF;

// Drop events for user space; 1 MiB shared by all CPUs (about 11k events).
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1024 * 1024);
} drop_events SEC(".maps");

// Per-CPU count of drop events lost because drop_events was full; 1 slot.
LOUPE_DECLARE_LOST_MAP(drop_lost_map);

// enum skb_drop_reason value -> 1 when that reason is normal consumption, not a drop; set by user
// space from the kernel's BTF names; LOUPE_DROP_REASON_MAP_SIZE slots.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, LOUPE_DROP_REASON_MAP_SIZE);
  __type(key, __u32);
  __type(value, __u8);
} ignored_reason_map SEC(".maps");

SEC("tracepoint/skb/kfree_skb")
int tracepoint__kfree_skb(struct trace_event_raw_kfree_skb* ctx) {
  // Kernels before 5.17 have no reason: every free would look like a drop, so report nothing.
  if (!bpf_core_field_exists(ctx->reason)) return 0;
  __u32 reason = (__u32)ctx->reason;
  __u16 proto = ctx->protocol;
  if (proto != ETH_P_IP && proto != ETH_P_IPV6) return 0;
  if (reason < LOUPE_DROP_REASON_MAP_SIZE) {
    __u8* ignored = bpf_map_lookup_elem(&ignored_reason_map, &reason);
    if (ignored && *ignored) return 0;
  }

  struct sk_buff* skb = (struct sk_buff*)ctx->skbaddr;
  struct loupe_drop_event* ev = loupe__ringbuf_reserve(&drop_events, &drop_lost_map, sizeof(*ev));
  if (!ev) return 0;
  __builtin_memset(ev, 0, sizeof(*ev));
  ev->ts_ns = bpf_ktime_get_ns();
  ev->reason = reason;
  ev->eth_proto = proto;
  ev->len = BPF_CORE_READ(skb, len);
  struct net_device* dev = BPF_CORE_READ(skb, dev);
  if (dev) ev->ifindex = BPF_CORE_READ(dev, ifindex);
  ev->netns = loupe__dev_netns(dev);
  if (!ev->netns) ev->netns = loupe__sock_netns(BPF_CORE_READ(skb, sk));
  // skb_iif is set when the packet was received on an interface; locally generated ones have 0.
  ev->direction = BPF_CORE_READ(skb, skb_iif) ? LOUPE_DIR_INGRESS : LOUPE_DIR_EGRESS;
  if (ev->direction == LOUPE_DIR_INGRESS) {
    unsigned char* head = BPF_CORE_READ(skb, head);
    __u16 mh = BPF_CORE_READ(skb, mac_header);
    __u16 nh = BPF_CORE_READ(skb, network_header);
    // Only a full Ethernet header (14 bytes before the network header) has addresses to report.
    if (head && mh != LOUPE_SKB_HEADER_UNSET && nh != LOUPE_SKB_HEADER_UNSET && nh - mh == 14) {
      __u8 macs[12];
      if (bpf_probe_read_kernel(macs, sizeof(macs), head + mh) == 0) {
        __builtin_memcpy(ev->dmac, macs, 6);
        __builtin_memcpy(ev->smac, macs + 6, 6);
        ev->has_eth = 1;
      }
    }
  }
  loupe__read_skb_l34(skb, &ev->l34);
  // The ICMP layer frees every echo reply it has no ping socket for, also after a raw socket
  // (ping's) got its copy: not a drop.
  if (reason == no_socket_reason && ((ev->l34.l4_proto == IPPROTO_ICMP && ev->l34.icmp_type == 0) ||
                                     (ev->l34.l4_proto == 58 && ev->l34.icmp_type == 129))) {
    bpf_ringbuf_discard(ev, 0);
    return 0;
  }
  bpf_ringbuf_submit(ev, 0);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
