// SPDX-License-Identifier: GPL-2.0
// Benchmark only (bench/sock_hook_cost.cc), not loaded by the agent: the data half of the socket
// sensor rebuilt on the raw tracepoints sock:sock_send_length / sock:sock_recv_length instead of
// the syscall exit tracepoints, to measure what that redesign would save on the kernel side
// (docs/performance.md). It keeps the work per data call of progs/socket_trace.bpf.c (process
// filter, connection state, tuple, protocol inference, copy of the data, ring buffer output with
// the same wake-up policy and event layout) but:
//   - no syscall tracepoint is attached, so no thread is put on the syscall slow path, and calls
//     on pipes, files and other non-TCP fds run no program at all;
//   - the connection is found by its struct sock (the tracepoint's argument) rather than by an fd
//     walk; the fd and the buffer come from the syscall's saved registers;
//   - connections end at sock:inet_sock_set_state -> TCP_CLOSE; there are no open/close events
//     (what the full redesign would emit there is not measured).
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpf/intf/socket_trace.h"
#include "bpf/lib/protocol_inference.h"
#include "bpf/lib/sock_data.h"

#define AF_INET 2
#define AF_INET6 10
#define MSG_PEEK 2
#define TCP_CLOSE_STATE 7
#define TS_COMPAT 0x0002

#define NR_read 0
#define NR_write 1
#define NR_readv 19
#define NR_writev 20
#define NR_sendfile 40
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47

const volatile __u32 data_limit = 4096;
const volatile __u32 inference_attempts = 4;
const volatile __u32 wakeup_bytes = 1024 * 1024;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 8 * 1024 * 1024);
} socket_events SEC(".maps");

// [0] events lost (ring full), [1] calls with a syscall whose buffer is not known (nothing copied).
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

// One bit per traced tgid, set by the loader through mmap (as pid_bits_map of socket_trace).
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(max_entries, LOUPE_PID_BITS_WORDS);
  __type(key, __u32);
  __type(value, __u64);
} pid_bits_map SEC(".maps");

struct conn_state {
  __u64 tsid;
  char comm[16];
  __u64 bytes[2];
  struct loupe_sock_tuple tuple;
  __u8 protocol;
  __u8 infer_calls;
  __u8 pad[6];
};

// struct sock* -> state; LRU, 65536 entries.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, __u64);
  __type(value, struct conn_state);
} conn_map SEC(".maps");

struct data_scratch {
  struct loupe_sock_data_event ev;
  __u8 data[2 * LOUPE_SOCK_MAX_DATA];
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct data_scratch);
} data_scratch_map SEC(".maps");

static __always_inline void count(__u32 slot) {
  __u64* v = bpf_map_lookup_elem(&counters, &slot);
  if (v) *v += 1;
}

static __always_inline struct conn_state* new_conn(struct sock* sk) {
  if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP) return 0;
  const __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  if (family != AF_INET && family != AF_INET6) return 0;
  struct conn_state fresh = {};
  fresh.tsid = bpf_ktime_get_ns();
  struct task_struct* task = (struct task_struct*)bpf_get_current_task();
  struct task_struct* leader = BPF_CORE_READ(task, group_leader);
  bpf_core_read_str(fresh.comm, sizeof(fresh.comm), &leader->comm);
  loupe__read_tuple(sk, &fresh.tuple);
  const __u64 key = (__u64)sk;
  bpf_map_update_elem(&conn_map, &key, &fresh, BPF_ANY);
  return bpf_map_lookup_elem(&conn_map, &key);
}

static __always_inline int on_data(struct sock* sk, int ret, int flags, __u8 dir) {
  if (ret <= 0 || !sk) return 0;
  if (dir == LOUPE_DIR_INGRESS && (flags & MSG_PEEK)) return 0;
  struct task_struct* task = bpf_get_current_task_btf();
  const __u32 tgid = task->tgid;
  const __u32 word = tgid >> 6;
  const __u64* bits = bpf_map_lookup_elem(&pid_bits_map, &word);
  if (!bits || !((*bits >> (tgid & 63)) & 1)) return 0;
  if (task->thread_info.status & TS_COMPAT) return 0;

  const __u64 key = (__u64)sk;
  struct conn_state* state = bpf_map_lookup_elem(&conn_map, &key);
  if (!state) {
    state = new_conn(sk);
    if (!state) return 0;
  }
  struct pt_regs* regs = (struct pt_regs*)bpf_task_pt_regs(task);
  const long nr = regs->orig_ax;
  __u64 ptr = 0, iovcnt = 0;
  int kind = 0;  // 1 buffer, 2 iovec, 0 nothing to copy
  switch (nr) {
    case NR_read:
    case NR_write:
    case NR_sendto:
    case NR_recvfrom:
      kind = 1;
      ptr = regs->si;
      break;
    case NR_readv:
    case NR_writev:
      kind = 2;
      ptr = regs->si;
      iovcnt = regs->dx;
      break;
    case NR_sendmsg:
    case NR_recvmsg: {
      struct user_msghdr msg = {};
      if (bpf_probe_read_user(&msg, sizeof(msg), (const void*)regs->si) == 0) {
        kind = 2;
        ptr = (__u64)msg.msg_iov;
        iovcnt = msg.msg_iovlen;
      }
      break;
    }
    case NR_sendfile:
      break;
    default:
      count(1);
      break;
  }
  const __u64 position = state->bytes[dir & 1];
  state->bytes[dir & 1] = position + ret;

  __u32 zero = 0;
  struct data_scratch* s = bpf_map_lookup_elem(&data_scratch_map, &zero);
  if (!s) return 0;
  __u64 want = (__u64)ret < data_limit ? (__u64)ret : data_limit;
  if (want > LOUPE_SOCK_MAX_DATA) want = LOUPE_SOCK_MAX_DATA;
  __u64 copied = 0;
  if (kind == 1) {
    if (want > 0 && bpf_probe_read_user(s->data, want, (const void*)ptr) == 0) copied = want;
  } else if (kind == 2) {
    copied = loupe__copy_iov(s->data, (const struct iovec*)ptr, iovcnt, want);
  }
  if (copied > LOUPE_SOCK_MAX_DATA) copied = LOUPE_SOCK_MAX_DATA;

  if (state->protocol == LOUPE_PROTOCOL_UNKNOWN) {
    if (copied == 0 || state->infer_calls >= inference_attempts) return 0;
    state->infer_calls += 1;
    __u8 head[LOUPE_INFER_BYTES] = {};
    __u32 n = copied < LOUPE_INFER_BYTES ? copied : LOUPE_INFER_BYTES;
    if (n > 0 && n <= LOUPE_INFER_BYTES) __builtin_memcpy(head, s->data, LOUPE_INFER_BYTES);
    struct loupe_inference inferred = loupe__infer_protocol(head, n, ret, 0);
    if (inferred.protocol == LOUPE_PROTOCOL_UNKNOWN) return 0;
    state->protocol = inferred.protocol;
  }

  __builtin_memset(&s->ev, 0, sizeof(s->ev));
  s->ev.hdr.kind = LOUPE_SOCK_DATA;
  s->ev.hdr.protocol = state->protocol;
  s->ev.hdr.tid = task->pid;
  s->ev.hdr.tgid = tgid;
  s->ev.hdr.fd = (__s32)regs->di;
  s->ev.hdr.tsid = state->tsid;
  s->ev.hdr.ts_ns = bpf_ktime_get_ns();
  s->ev.tuple = state->tuple;
  __builtin_memcpy(s->ev.comm, state->comm, sizeof(s->ev.comm));
  s->ev.position = position;
  s->ev.original_size = ret;
  s->ev.direction = dir;
  s->ev.copied = copied;
  const __u64 size_out = sizeof(s->ev) + copied;
  const __u64 pending = bpf_ringbuf_query(&socket_events, BPF_RB_AVAIL_DATA) + size_out;
  const __u64 wake = pending >= wakeup_bytes && pending < (__u64)wakeup_bytes + size_out
                         ? BPF_RB_FORCE_WAKEUP
                         : BPF_RB_NO_WAKEUP;
  if (bpf_ringbuf_output(&socket_events, s, size_out, wake) != 0) count(0);
  return 0;
}

SEC("raw_tp/sock_send_length")
int raw_tp__sock_send_length(struct bpf_raw_tracepoint_args* ctx) {
  return on_data((struct sock*)ctx->args[0], (int)ctx->args[1], (int)ctx->args[2],
                 LOUPE_DIR_EGRESS);
}

SEC("raw_tp/sock_recv_length")
int raw_tp__sock_recv_length(struct bpf_raw_tracepoint_args* ctx) {
  return on_data((struct sock*)ctx->args[0], (int)ctx->args[1], (int)ctx->args[2],
                 LOUPE_DIR_INGRESS);
}

SEC("raw_tp/inet_sock_set_state")
int raw_tp__inet_sock_set_state(struct bpf_raw_tracepoint_args* ctx) {
  if ((int)ctx->args[2] != TCP_CLOSE_STATE) return 0;
  const __u64 key = ctx->args[0];
  bpf_map_delete_elem(&conn_map, &key);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
