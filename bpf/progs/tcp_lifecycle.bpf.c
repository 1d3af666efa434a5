// SPDX-License-Identifier: GPL-2.0
// TCP lifecycle sensor: connect latency, failed connects, accepts, closes, retransmits and resets
// from the sock/tcp tracepoints. The process that called connect() is remembered per socket
// (connect_map), because the later transitions run in softirq context.
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "bpf/intf/tcp_lifecycle.h"
#include "bpf/lib/ringbuf.h"
#include "bpf/lib/skb_headers.h"

#define AF_INET 2
#define AF_INET6 10
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7
#define TCP_LISTEN 10

// TCP events for user space; 1 MiB shared by all CPUs (about 14k events).
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1024 * 1024);
} tcp_events SEC(".maps");

// Per-CPU count of TCP events lost because tcp_events was full; 1 slot.
LOUPE_DECLARE_LOST_MAP(tcp_lost_map);

// Tracepoint contexts of the tcp tracepoints, reduced to the socket and skb pointers, whose offsets
// have been stable since Linux 4.15 (the rest of these records changed shape several times).
struct tcp_sk_skb_ctx {
  __u64 common;
  const void* skbaddr;
  const void* skaddr;
};
struct tcp_sk_ctx {
  __u64 common;
  const void* skaddr;
};

struct connect_info {
  __u64 start_ns;  // connect() time; kept after ESTABLISHED for the pid of later events
  __u32 pid;
  __u32 pad;
  char comm[16];  // the process's command: names it once it has exited
};

// Client sockets: struct sock* -> connect_info, from connect() until CLOSE; LRU, 65536 entries.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, __u64);
  __type(value, struct connect_info);
} connect_map SEC(".maps");

static __always_inline struct loupe_tcp_event* tcp__reserve(__u8 kind) {
  struct loupe_tcp_event* ev = loupe__ringbuf_reserve(&tcp_events, &tcp_lost_map, sizeof(*ev));
  if (!ev) return 0;
  __builtin_memset(ev, 0, sizeof(*ev));
  ev->ts_ns = bpf_ktime_get_ns();
  ev->kind = kind;
  return ev;
}

// The process that called connect() on `sk`, when it did.
static __always_inline void tcp__fill_process(struct loupe_tcp_event* ev, __u64 sk) {
  struct connect_info* info = bpf_map_lookup_elem(&connect_map, &sk);
  if (!info) return;
  ev->pid = info->pid;
  __builtin_memcpy(ev->comm, info->comm, sizeof(ev->comm));
}

// Addresses and ports of a full socket (local end = source).
static __always_inline void tcp__fill_from_sock(struct loupe_tcp_event* ev, struct sock* sk) {
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  ev->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
  ev->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
  if (family == AF_INET) {
    ev->ip_version = 4;
    __be32 saddr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
    __be32 daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
    __builtin_memcpy(ev->saddr, &saddr, 4);
    __builtin_memcpy(ev->daddr, &daddr, 4);
  } else if (family == AF_INET6) {
    ev->ip_version = 6;
    BPF_CORE_READ_INTO(&ev->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
    BPF_CORE_READ_INTO(&ev->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
  }
  ev->netns = loupe__sock_netns(sk);
}

SEC("tracepoint/sock/inet_sock_set_state")
int tracepoint__inet_sock_set_state(struct trace_event_raw_inet_sock_set_state* ctx) {
  if (ctx->protocol != IPPROTO_TCP) return 0;
  __u64 sk = (__u64)ctx->skaddr;
  int old_state = ctx->oldstate;
  int new_state = ctx->newstate;
  __u64 now = bpf_ktime_get_ns();

  if (new_state == TCP_SYN_SENT) {
    // connect(): process context.
    struct connect_info info = {.start_ns = now, .pid = bpf_get_current_pid_tgid() >> 32};
    bpf_get_current_comm(info.comm, sizeof(info.comm));
    bpf_map_update_elem(&connect_map, &sk, &info, BPF_ANY);
    return 0;
  }
  __u8 kind;
  if (old_state == TCP_SYN_SENT && new_state == TCP_ESTABLISHED)
    kind = LOUPE_TCP_CONNECTED;
  else if (old_state == TCP_SYN_SENT && new_state == TCP_CLOSE)
    kind = LOUPE_TCP_CONNECT_FAILED;
  else if (old_state == TCP_SYN_RECV && new_state == TCP_ESTABLISHED)
    kind = LOUPE_TCP_ACCEPTED;
  else if (new_state == TCP_CLOSE && old_state != TCP_LISTEN && old_state != TCP_CLOSE &&
           old_state != TCP_SYN_RECV)
    kind = LOUPE_TCP_CLOSED;
  else
    return 0;

  struct loupe_tcp_event* ev = tcp__reserve(kind);
  struct connect_info* info = bpf_map_lookup_elem(&connect_map, &sk);
  if (info) {
    if (ev) {
      ev->pid = info->pid;
      __builtin_memcpy(ev->comm, info->comm, sizeof(ev->comm));
      if (kind == LOUPE_TCP_CONNECTED || kind == LOUPE_TCP_CONNECT_FAILED)
        ev->latency_ns = now - info->start_ns;
    }
    if (new_state == TCP_CLOSE) bpf_map_delete_elem(&connect_map, &sk);
  }
  if (!ev) return 0;
  ev->ts_ns = now;
  ev->sport = ctx->sport;
  ev->dport = ctx->dport;
  // The address arrays sit at CO-RE-relocated offsets, which the verifier does not allow as
  // direct context accesses: copy them with probe reads.
  if (ctx->family == AF_INET) {
    ev->ip_version = 4;
    bpf_probe_read_kernel(ev->saddr, 4, &ctx->saddr);
    bpf_probe_read_kernel(ev->daddr, 4, &ctx->daddr);
  } else {
    ev->ip_version = 6;
    bpf_probe_read_kernel(ev->saddr, 16, &ctx->saddr_v6);
    bpf_probe_read_kernel(ev->daddr, 16, &ctx->daddr_v6);
  }
  ev->netns = loupe__sock_netns((struct sock*)ctx->skaddr);
  bpf_ringbuf_submit(ev, 0);
  return 0;
}

SEC("tracepoint/tcp/tcp_retransmit_skb")
int tracepoint__tcp_retransmit_skb(struct tcp_sk_skb_ctx* ctx) {
  struct sock* sk = (struct sock*)ctx->skaddr;
  if (!sk) return 0;
  struct loupe_tcp_event* ev = tcp__reserve(LOUPE_TCP_RETRANSMIT);
  if (!ev) return 0;
  tcp__fill_from_sock(ev, sk);
  tcp__fill_process(ev, (__u64)sk);
  bpf_ringbuf_submit(ev, 0);
  return 0;
}

SEC("tracepoint/tcp/tcp_receive_reset")
int tracepoint__tcp_receive_reset(struct tcp_sk_ctx* ctx) {
  struct sock* sk = (struct sock*)ctx->skaddr;
  if (!sk) return 0;
  struct loupe_tcp_event* ev = tcp__reserve(LOUPE_TCP_RESET_RECEIVED);
  if (!ev) return 0;
  tcp__fill_from_sock(ev, sk);
  tcp__fill_process(ev, (__u64)sk);
  bpf_ringbuf_submit(ev, 0);
  return 0;
}

SEC("tracepoint/tcp/tcp_send_reset")
int tracepoint__tcp_send_reset(struct tcp_sk_skb_ctx* ctx) {
  struct sock* sk = (struct sock*)ctx->skaddr;
  struct loupe_tcp_event* ev = tcp__reserve(LOUPE_TCP_RESET_SENT);
  if (!ev) return 0;
  if (sk) {
    tcp__fill_from_sock(ev, sk);
    tcp__fill_process(ev, (__u64)sk);
  } else {
    // No socket (e.g. a SYN to a closed port): the reset answers the packet in skbaddr, so its
    // destination is the local end.
    struct sk_buff* skb = (struct sk_buff*)ctx->skbaddr;
    struct loupe_l34 l34 = {};
    if (skb && loupe__read_skb_l34(skb, &l34)) {
      ev->ip_version = l34.ip_version;
      __builtin_memcpy(ev->saddr, l34.daddr, 16);
      __builtin_memcpy(ev->daddr, l34.saddr, 16);
      ev->sport = l34.dport;
      ev->dport = l34.sport;
      ev->netns = loupe__dev_netns(BPF_CORE_READ(skb, dev));
    }
  }
  bpf_ringbuf_submit(ev, 0);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
