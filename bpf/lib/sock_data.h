/* Helpers of the socket-data programs (progs/socket_trace.bpf.c and the benchmark's
 * progs/testing/sock_length_capture.bpf.c): a TCP socket's tuple, and the copy of a call's data
 * from an iovec array. Includers provide vmlinux.h, bpf_core_read.h and bpf_endian.h. */
#ifndef LOUPE_BPF_LIB_SOCK_DATA_H_
#define LOUPE_BPF_LIB_SOCK_DATA_H_

#include "bpf/intf/socket_trace.h"

#define LOUPE_AF_INET 2
#define LOUPE_AF_INET6 10

/* Local and remote address and port of `sk` (AF_INET or AF_INET6). */
static __always_inline void loupe__read_tuple(struct sock* sk, struct loupe_sock_tuple* t) {
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  t->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
  t->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
  if (family == LOUPE_AF_INET) {
    t->ip_version = 4;
    __be32 saddr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
    __be32 daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
    __builtin_memcpy(t->local_addr, &saddr, 4);
    __builtin_memcpy(t->remote_addr, &daddr, 4);
  } else {
    t->ip_version = 6;
    BPF_CORE_READ_INTO(&t->local_addr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
    BPF_CORE_READ_INTO(&t->remote_addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
  }
}

/* Copies up to `want` (<= LOUPE_SOCK_MAX_DATA) bytes from the first LOUPE_SOCK_MAX_IOV iovecs into
 * `data` (at least 2 * LOUPE_SOCK_MAX_DATA bytes, so the verifier can bound offset + length);
 * returns how many. */
static __always_inline __u64 loupe__copy_iov(__u8* data, const struct iovec* iov, __u64 iovcnt,
                                             __u64 want) {
  __u64 copied = 0;
  for (int i = 0; i < LOUPE_SOCK_MAX_IOV; i++) {
    if (i >= iovcnt || copied >= want) break;
    struct iovec v = {};
    if (bpf_probe_read_user(&v, sizeof(v), &iov[i]) != 0) break;
    /* 64-bit so the verifier sees the bound checks on the registers used for the copy. */
    __u64 n = want - copied;
    if (v.iov_len < n) n = v.iov_len;
    __u64 off = copied;
    if (off > LOUPE_SOCK_MAX_DATA || n > LOUPE_SOCK_MAX_DATA) break;
    if (n > 0 && bpf_probe_read_user(&data[off], n, v.iov_base) != 0) break;
    copied += n;
  }
  return copied;
}

#endif /* LOUPE_BPF_LIB_SOCK_DATA_H_ */
