/* C ABI shared by bpf/progs/tcp_lifecycle.bpf.c and src/sensors/tcp_lifecycle_sensor.cc
 * (ABI version 2). */
#ifndef LOUPE_BPF_INTF_TCP_LIFECYCLE_H_
#define LOUPE_BPF_INTF_TCP_LIFECYCLE_H_

/* Same numbering as loupe::sensors::TcpEvent::Kind. */
enum loupe_tcp_event_kind {
  LOUPE_TCP_CONNECTED = 0,
  LOUPE_TCP_CONNECT_FAILED = 1,
  LOUPE_TCP_ACCEPTED = 2,
  LOUPE_TCP_RETRANSMIT = 3,
  LOUPE_TCP_RESET_SENT = 4,
  LOUPE_TCP_RESET_RECEIVED = 5,
  LOUPE_TCP_CLOSED = 6,
};

/* Addresses in network byte order (IPv4 in the first 4 bytes), ports in host byte order; the
 * source is the local end of the socket. */
struct loupe_tcp_event {
  __u64 ts_ns;      /* bpf_ktime_get_ns() */
  __u64 latency_ns; /* connected/connect failed: time since connect() */
  __u64 netns;      /* network namespace inode of the socket */
  __u32 pid;        /* tgid of the process that called connect(), 0 when unknown */
  __u16 sport;
  __u16 dport;
  __u8 kind; /* enum loupe_tcp_event_kind */
  __u8 ip_version;
  __u8 pad[6];
  __u8 saddr[16];
  __u8 daddr[16];
  char comm[16]; /* command of the process that called connect(), NUL-terminated; "" when unknown */
};

#endif /* LOUPE_BPF_INTF_TCP_LIFECYCLE_H_ */
