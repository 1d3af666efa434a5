/* C ABI shared by bpf/progs/netflow.bpf.c and src/sensors/netflow_*.cc (ABI version 3).
 * Types come from vmlinux.h (BPF side) or <linux/types.h> (user side). */
#ifndef LOUPE_BPF_INTF_NETFLOW_H_
#define LOUPE_BPF_INTF_NETFLOW_H_

#define LOUPE_NETFLOW_ABI_VERSION 3

/* DNS packets carry up to this many bytes of their L4 payload. */
#define LOUPE_DNS_PAYLOAD_MAX 512

enum loupe_direction {
  LOUPE_DIR_INGRESS = 0,
  LOUPE_DIR_EGRESS = 1,
};

/* Cilium's bpf.monitorAggregation levels (see docs/design/netflow-aggregation.md). */
enum loupe_aggregation {
  LOUPE_AGG_NONE = 0,   /* every packet */
  LOUPE_AGG_LOW = 1,    /* medium + every TCP packet with SYN, FIN or RST */
  LOUPE_AGG_MEDIUM = 2, /* new TCP flag bits per direction, new flows, DNS, interval */
  LOUPE_AGG_HIGH = 3,   /* like medium, but TCP only on new SYN/FIN/RST bits */
};

/* Why an event was emitted. */
enum loupe_emit_reason {
  LOUPE_EMIT_EVERY = 0,      /* aggregation none */
  LOUPE_EMIT_NEW_FLOW = 1,   /* first packet of a conntrack entry */
  LOUPE_EMIT_NEW_FLAGS = 2,  /* TCP flag bits not seen before in this direction */
  LOUPE_EMIT_CONTROL = 3,    /* low: TCP SYN/FIN/RST */
  LOUPE_EMIT_DNS = 4,        /* every DNS packet */
  LOUPE_EMIT_INTERVAL = 5,   /* monitor interval elapsed since the last event of the entry */
  LOUPE_EMIT_IDLE_FLUSH = 6, /* synthesised by user space from an idle conntrack entry */
};

enum loupe_reply {
  LOUPE_REPLY_UNKNOWN = 0,
  LOUPE_REPLY_NO = 1,
  LOUPE_REPLY_YES = 2,
};

/* One (aggregated) packet event of the TC programs. Addresses are in network byte order; IPv4
 * addresses occupy the first 4 bytes of the 16-byte fields. Ports are in host byte order.
 * Events of DNS packets are a struct loupe_dns_packet_event instead (same prefix). */
struct loupe_packet_event {
  __u64 ts_ns; /* bpf_ktime_get_ns() of the packet that triggered the event */
  /* ct_first_ns != 0 (aggregation): packets/bytes are the conntrack entry's running totals since
   * it was created, this packet included; user space turns them into "since the previous report"
   * (see docs/design/netflow-aggregation.md). ct_first_ns == 0 (none): this packet alone. */
  __u64 packets;
  __u64 bytes;       /* skb->len sum of those packets */
  __u64 ct_first_ns; /* creation time of the conntrack entry: which incarnation of the key */
  __u64 cgroup_id;   /* bpf_skb_cgroup_id(): cgroup v2 of the owning socket, 0 when none */
  __u32 ifindex;
  __u32 len; /* skb->len of this packet */
  __u8 saddr[16];
  __u8 daddr[16];
  __u8 smac[6];
  __u8 dmac[6];
  __u16 sport;
  __u16 dport;
  __u16 eth_proto;   /* host byte order */
  __u16 payload_len; /* bytes valid in loupe_dns_packet_event.payload */
  __u8 direction;    /* enum loupe_direction */
  __u8 ip_version;   /* 4 or 6 */
  __u8 l4_proto;     /* IPPROTO_*; 0 for non-first fragments */
  __u8 tcp_flags;    /* FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10 URG=0x20 ECE=0x40 CWR=0x80 */
  __u8 icmp_type;
  __u8 icmp_code;
  __u8 is_reply;    /* enum loupe_reply */
  __u8 emit_reason; /* enum loupe_emit_reason */
  __u8 has_eth;     /* smac/dmac valid */
  __u8 pad;
  __u16 icmp_echo_id; /* ICMP(v6) echo identifier: the ports of the conntrack key */
};

struct loupe_dns_packet_event {
  struct loupe_packet_event ev;
  __u8 payload[LOUPE_DNS_PAYLOAD_MAX]; /* UDP payload, or TCP payload (with its length prefix) */
};

/* Conntrack key: one direction of a flow on one interface. ICMP echo uses the identifier as both
 * ports so that request and reply map onto each other's reverse key. */
struct loupe_ct_key {
  __u8 saddr[16];
  __u8 daddr[16];
  __u16 sport;
  __u16 dport;
  __u32 ifindex;
  __u8 proto;
  __u8 direction;
  __u8 pad[2];
};

/* Counters only ever increase (atomic adds in the TC programs); what has been reported is
 * tracked by user space, which is the only one to compute deltas. The other fields let user space
 * build the event of an idle flush without a packet at hand. */
struct loupe_ct_entry {
  __u64 first_ns;     /* creation time: tells incarnations of the same key apart */
  __u64 last_seen_ns; /* last packet */
  __u64 last_emit_ns; /* last event the kernel delivered */
  __u64 packets;      /* since creation */
  __u64 bytes;        /* since creation, skb->len */
  __u64 cgroup_id;    /* of the first packet */
  __u64 flags_all;    /* every TCP flag bit seen in this direction (atomic or; 64-bit for BPF) */
  __u8 flags_seen;    /* TCP flag bits already reported in an event (medium/high) */
  __u8 last_flags;    /* TCP flags of the last packet */
  __u8 is_reply;      /* enum loupe_reply */
  __u8 ip_version;
  __u8 smac[6];
  __u8 dmac[6];
  __u8 has_eth;
  __u8 icmp_type; /* of the last packet */
  __u8 icmp_code;
  __u8 pad[5];
};

#endif /* LOUPE_BPF_INTF_NETFLOW_H_ */
