/* C ABI: the L3/L4 summary of a packet read from a kernel sk_buff (ABI version 1). */
#ifndef LOUPE_BPF_INTF_L34_H_
#define LOUPE_BPF_INTF_L34_H_

/* Addresses in network byte order (IPv4 in the first 4 bytes), ports in host byte order. */
struct loupe_l34 {
  __u8 saddr[16];
  __u8 daddr[16];
  __u16 sport;
  __u16 dport;
  __u8 ip_version; /* 4, 6, or 0 when the network header could not be read */
  __u8 l4_proto;   /* IPPROTO_*; 0 for non-first fragments and unknown IPv6 extension chains */
  __u8 tcp_flags;
  __u8 icmp_type;
  __u8 icmp_code;
  __u8 pad[3];
};

#endif /* LOUPE_BPF_INTF_L34_H_ */
