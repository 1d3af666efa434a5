/* C ABI shared by bpf/progs/netflow.bpf.c and src/sensors/netflow_sensor.cc (ABI version 1).
 * Types come from vmlinux.h (BPF side) or <linux/types.h> (user side). */
#ifndef LOUPE_BPF_INTF_NETFLOW_H_
#define LOUPE_BPF_INTF_NETFLOW_H_

#define LOUPE_NETFLOW_ABI_VERSION 1

enum loupe_direction {
  LOUPE_DIR_INGRESS = 0,
  LOUPE_DIR_EGRESS = 1,
};

/* One packet seen by the TC programs. Addresses are in network byte order; IPv4 addresses occupy
 * the first 4 bytes of the 16-byte fields. Ports are in host byte order. */
struct loupe_packet_event {
  __u64 ts_ns; /* bpf_ktime_get_ns() */
  __u32 ifindex;
  __u32 len; /* skb->len */
  __u8 saddr[16];
  __u8 daddr[16];
  __u16 sport;
  __u16 dport;
  __u8 direction;  /* enum loupe_direction */
  __u8 ip_version; /* 4, 6, or 0 for non-IP */
  __u8 l4_proto;   /* IPPROTO_* */
  __u8 tcp_flags;  /* FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10 URG=0x20 ECE=0x40 CWR=0x80 */
  __u8 icmp_type;
  __u8 icmp_code;
  __u16 eth_proto; /* host byte order */
};

#endif /* LOUPE_BPF_INTF_NETFLOW_H_ */
