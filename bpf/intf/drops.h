/* C ABI shared by bpf/progs/drops.bpf.c and src/sensors/drop_sensor.cc (ABI version 1). */
#ifndef LOUPE_BPF_INTF_DROPS_H_
#define LOUPE_BPF_INTF_DROPS_H_

#include "bpf/intf/l34.h"

/* Reasons below this value can be marked "normal consumption" in ignored_reason_map. */
#define LOUPE_DROP_REASON_MAP_SIZE 1024

/* One packet freed by the kernel with a drop reason (skb:kfree_skb). */
struct loupe_drop_event {
  __u64 ts_ns;     /* bpf_ktime_get_ns() */
  __u64 netns;     /* inode of the network namespace of skb->dev (or the socket), 0 when unknown */
  __u32 reason;    /* enum skb_drop_reason of the running kernel */
  __u32 ifindex;   /* skb->dev, 0 when none */
  __u32 len;       /* skb->len */
  __u16 eth_proto; /* host byte order */
  __u8 direction;  /* enum loupe_direction: ingress when received on an interface (skb_iif) */
  __u8 has_eth;    /* smac/dmac valid */
  __u8 smac[6];
  __u8 dmac[6];
  struct loupe_l34 l34;
};

#endif /* LOUPE_BPF_INTF_DROPS_H_ */
