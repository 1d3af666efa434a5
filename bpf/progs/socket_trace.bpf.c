// SPDX-License-Identifier: GPL-2.0
// Socket data sensor: syscall tracepoints on accept/connect/close and the data syscalls of TCP
// sockets (AF_INET/AF_INET6, SOCK_STREAM), keyed by (tgid, fd). Entry tracepoints stash the
// arguments per thread; exit tracepoints resolve the fd to its struct sock through the task's fd
// table, keep per-connection byte positions, infer the protocol from the first bytes and copy a
// prefix of each call's data for connections of known protocols. Also reports exec and exit of
// processes so discovery can follow them.
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpf/intf/socket_trace.h"
#include "bpf/lib/protocol_inference.h"
#include "bpf/lib/ringbuf.h"

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define MSG_PEEK 2
#define EINPROGRESS 115

// Bytes copied per call (<= LOUPE_SOCK_MAX_DATA), set by user space before load.
const volatile __u32 data_limit = 4096;
// Trace every process except the excluded ones (tests, standalone without discovery).
const volatile __u8 trace_all_pids = 0;
// Data calls of a connection inspected for a protocol before the connection is left to counters.
const volatile __u32 inference_attempts = 4;
// Ports at or above this are ephemeral (role guess for connections opened before the sensor).
const volatile __u32 ephemeral_port_min = 32768;

// Socket open/data/close events; 8 MiB by default (user space may resize before load).
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 8 * 1024 * 1024);
} socket_events SEC(".maps");

// Per-CPU count of socket events lost because socket_events was full; 1 slot.
LOUPE_DECLARE_LOST_MAP(socket_lost_map);

// Process exec/exit events for discovery; 256 KiB (about 900 events).
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 256 * 1024);
} process_events SEC(".maps");

// Per-CPU count of process events lost because process_events was full; 1 slot.
LOUPE_DECLARE_LOST_MAP(process_lost_map);

// Processes (tgid -> 1) whose sockets are traced, maintained by discovery; 16384 entries.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32);
  __type(value, __u8);
} traced_pids_map SEC(".maps");

// Processes (tgid -> 1) never traced, whatever the other settings (the agent); 256 entries.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 256);
  __type(key, __u32);
  __type(value, __u8);
} excluded_pids_map SEC(".maps");

enum args_kind {
  ARGS_BUF = 1,       // one buffer: read, write, recvfrom, sendto
  ARGS_IOV = 2,       // iovec array: readv, writev, recvmsg, sendmsg
  ARGS_MMSG = 3,      // mmsghdr array: recvmmsg, sendmmsg (iovec of the first message)
  ARGS_SENDFILE = 4,  // sendfile: bytes counted, nothing copied
  ARGS_CONNECT = 5,
};

struct syscall_args {
  __u64 ptr;     // buffer or iovec array
  __u64 iovcnt;  // iovec count (ARGS_IOV, ARGS_MMSG)
  __u64 mmsg;    // mmsghdr array (ARGS_MMSG)
  __u64 sk;      // data calls: the TCP struct sock* the fd referred to at entry
  __s64 nr;      // syscall number, to pair the exit with its own entry
  __s32 fd;
  __u8 kind;       // enum args_kind; 0 = nothing stashed (the exit consumed it)
  __u8 direction;  // enum loupe_sock_direction
  __u8 pad[2];
};

// Arguments of the thread's in-flight traced syscall, from entry to exit: task-local storage, so
// entry and exit cost a pointer lookup instead of a hash update and delete, and a thread that
// exits inside a syscall leaves nothing behind.
struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct syscall_args);
} active_args_map SEC(".maps");

struct conn_state {
  __u64 tsid;
  __u64 sk;        // struct sock*: detects fd reuse we did not see (dup2, missed close)
  __u64 file;      // struct file* of the fd: a data call on the same file skips the socket checks
  char comm[16];   // the process's command name when the connection was first seen
  __u64 bytes[2];  // by enum loupe_sock_direction: sent, received
  struct loupe_sock_tuple tuple;
  __u8 role;
  __u8 protocol;
  __u8 preexisting;
  __u8 infer_calls;  // data calls inspected without a protocol match
  __u8 pad[4];
};

// TCP connections of traced processes: (tgid << 32 | fd) -> conn_state, from accept/connect (or
// the first data call) to close; LRU, 65536 entries.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, __u64);
  __type(value, struct conn_state);
} conn_map SEC(".maps");

struct data_scratch {
  struct loupe_sock_data_event ev;
  // Twice the largest copy so the verifier can bound offset + length of the iovec copies.
  __u8 data[2 * LOUPE_SOCK_MAX_DATA];
};

// Per-CPU buffer a data event is assembled in before bpf_ringbuf_output; 1 slot.
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct data_scratch);
} data_scratch_map SEC(".maps");

static __always_inline int trace__pid_wanted(__u32 tgid) {
  if (bpf_map_lookup_elem(&excluded_pids_map, &tgid)) return 0;
  if (trace_all_pids) return 1;
  return bpf_map_lookup_elem(&traced_pids_map, &tgid) != 0;
}

static __always_inline __u64 trace__conn_key(__u32 tgid, __s32 fd) {
  return ((__u64)tgid << 32) | (__u32)fd;
}

// fd of the current task -> its struct file, or 0: task -> files -> fdtable -> file. The chain is
// read through BTF pointers (plain loads) rather than bpf_probe_read_kernel calls: this runs at the
// entry of every read and write of a traced process.
static __always_inline struct file* trace__file_of_fd(__s32 fd) {
  if (fd < 0) return 0;
  struct task_struct* task = bpf_get_current_task_btf();
  struct files_struct* files = task->files;
  if (!files) return 0;
  struct fdtable* fdt = files->fdt;
  if (!fdt) return 0;
  if ((unsigned int)fd >= fdt->max_fds) return 0;
  struct file** fds = fdt->fd;
  struct file* file = 0;
  if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) != 0) return 0;
  return file;
}

// A file -> its struct sock when it is a TCP socket (AF_INET/AF_INET6, SOCK_STREAM), else 0.
static __always_inline struct sock* trace__tcp_sock_of_file(struct file* file) {
  if (!file) return 0;
  umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
  if ((mode & S_IFMT) != S_IFSOCK) return 0;
  struct socket* sock = BPF_CORE_READ(file, private_data);
  if (!sock || BPF_CORE_READ(sock, type) != SOCK_STREAM) return 0;
  struct sock* sk = BPF_CORE_READ(sock, sk);
  if (!sk) return 0;
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  if (family != AF_INET && family != AF_INET6) return 0;
  if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP) return 0;
  return sk;
}

static __always_inline void trace__read_tuple(struct sock* sk, struct loupe_sock_tuple* t) {
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  t->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
  t->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
  if (family == AF_INET) {
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

static __always_inline void trace__fill_header(struct loupe_sock_header* hdr, __u8 kind,
                                               const struct conn_state* state, __u64 id, __s32 fd) {
  hdr->kind = kind;
  hdr->role = state->role;
  hdr->protocol = state->protocol;
  hdr->preexisting = state->preexisting;
  hdr->tid = (__u32)id;
  hdr->tgid = id >> 32;
  hdr->fd = fd;
  hdr->tsid = state->tsid;
  hdr->ts_ns = bpf_ktime_get_ns();
}

// Wakes the reader when the pending data crosses this many bytes (user space sets an eighth of the
// ring); otherwise the reader polls every few milliseconds, so batching costs at most that in
// latency and saves a context switch per event (one wake-up per request halved nginx's
// throughput). Only the record that crosses the mark wakes: a forced wake-up is a self-IPI, which
// costs microseconds in a VM, and forcing one on every record while the reader catches up cost
// nginx a tenth of its throughput.
const volatile __u32 wakeup_bytes = 1024 * 1024;

// The process's name (its main thread's comm), not the calling thread's: Java's worker threads are
// called "HTTP-Dispatcher" and the like.
static __always_inline void trace__process_comm(char* dst) {
  struct task_struct* task = (struct task_struct*)bpf_get_current_task();
  struct task_struct* leader = BPF_CORE_READ(task, group_leader);
  if (bpf_core_read_str(dst, 16, &leader->comm) < 0) bpf_get_current_comm(dst, 16);
}

// Submit flags for a record of `size` bytes; `pending` = data in the ring including the record.
static __always_inline __u64 trace__wakeup_flags(__u64 pending, __u64 size) {
  return pending >= wakeup_bytes && pending < (__u64)wakeup_bytes + size ? BPF_RB_FORCE_WAKEUP
                                                                         : BPF_RB_NO_WAKEUP;
}

// Flags for a reserved record (the ring's pending data already counts it).
static __always_inline __u64 trace__reserved_wakeup_flags(__u64 size) {
  return trace__wakeup_flags(bpf_ringbuf_query(&socket_events, BPF_RB_AVAIL_DATA), size);
}

static __always_inline void trace__emit_open(const struct conn_state* state, __u64 id, __s32 fd) {
  struct loupe_sock_open_event* ev =
      loupe__ringbuf_reserve(&socket_events, &socket_lost_map, sizeof(*ev));
  if (!ev) return;
  __builtin_memset(ev, 0, sizeof(*ev));
  trace__fill_header(&ev->hdr, LOUPE_SOCK_OPEN, state, id, fd);
  ev->tuple = state->tuple;
  __builtin_memcpy(ev->comm, state->comm, sizeof(ev->comm));
  bpf_ringbuf_submit(ev, trace__reserved_wakeup_flags(sizeof(*ev)));
}

static __always_inline void trace__emit_close(const struct conn_state* state, __u64 id, __s32 fd) {
  struct loupe_sock_close_event* ev =
      loupe__ringbuf_reserve(&socket_events, &socket_lost_map, sizeof(*ev));
  if (!ev) return;
  __builtin_memset(ev, 0, sizeof(*ev));
  trace__fill_header(&ev->hdr, LOUPE_SOCK_CLOSE, state, id, fd);
  ev->bytes_sent = state->bytes[LOUPE_DIR_EGRESS];
  ev->bytes_received = state->bytes[LOUPE_DIR_INGRESS];
  bpf_ringbuf_submit(ev, trace__reserved_wakeup_flags(sizeof(*ev)));
}

// A connection seen at accept/connect (role known) or at its first data call (preexisting: it
// began before the sensor, or before the process was traced).
static __always_inline struct conn_state* trace__new_conn(__u64 key, struct sock* sk,
                                                          struct file* file, __u8 role,
                                                          __u8 preexisting) {
  struct conn_state fresh = {};
  fresh.tsid = bpf_ktime_get_ns();
  fresh.sk = (__u64)sk;
  fresh.file = (__u64)file;
  trace__process_comm(fresh.comm);
  trace__read_tuple(sk, &fresh.tuple);
  fresh.preexisting = preexisting;
  fresh.role = role;
  if (role == LOUPE_ROLE_UNKNOWN) {
    // Listening ports are usually below the ephemeral range, client ports inside it.
    const __u16 local = fresh.tuple.local_port, remote = fresh.tuple.remote_port;
    if (local < ephemeral_port_min && remote >= ephemeral_port_min)
      fresh.role = LOUPE_ROLE_SERVER;
    else if (local >= ephemeral_port_min && remote < ephemeral_port_min)
      fresh.role = LOUPE_ROLE_CLIENT;
  }
  bpf_map_update_elem(&conn_map, &key, &fresh, BPF_ANY);
  return bpf_map_lookup_elem(&conn_map, &key);
}

// Copies up to `want` (<= LOUPE_SOCK_MAX_DATA) bytes from the first LOUPE_SOCK_MAX_IOV iovecs.
static __always_inline __u64 trace__copy_iov(__u8* data, const struct iovec* iov, __u64 iovcnt,
                                             __u64 want) {
  __u64 copied = 0;
  for (int i = 0; i < LOUPE_SOCK_MAX_IOV; i++) {
    if (i >= iovcnt || copied >= want) break;
    struct iovec v = {};
    if (bpf_probe_read_user(&v, sizeof(v), &iov[i]) != 0) break;
    // 64-bit so the verifier sees the bound checks on the registers used for the copy.
    __u64 n = want - copied;
    if (v.iov_len < n) n = v.iov_len;
    __u64 off = copied;
    if (off > LOUPE_SOCK_MAX_DATA || n > LOUPE_SOCK_MAX_DATA) break;
    if (n > 0 && bpf_probe_read_user(&data[off], n, v.iov_base) != 0) break;
    copied += n;
  }
  return copied;
}

// The first bytes of the call (first iovec only) for protocol inference; returns how many.
static __always_inline __u32 trace__read_head(__u8* head, const struct syscall_args* args,
                                              __u32 size) {
  const void* src = (const void*)args->ptr;
  __u64 n = size;
  if (args->kind != ARGS_BUF) {
    if (args->iovcnt == 0) return 0;
    struct iovec v = {};
    if (bpf_probe_read_user(&v, sizeof(v), (const void*)args->ptr) != 0) return 0;
    src = v.iov_base;
    if (v.iov_len < n) n = v.iov_len;
  }
  if (n > LOUPE_INFER_BYTES) n = LOUPE_INFER_BYTES;
  if (n == 0 || bpf_probe_read_user(head, n, src) != 0) return 0;
  return n;
}

static __always_inline void trace__emit_data(const struct conn_state* state,
                                             const struct syscall_args* args, __u64 id,
                                             __u64 position, __u32 size) {
  __u32 zero = 0;
  struct data_scratch* s = bpf_map_lookup_elem(&data_scratch_map, &zero);
  if (!s) return;
  __builtin_memset(&s->ev, 0, sizeof(s->ev));
  trace__fill_header(&s->ev.hdr, LOUPE_SOCK_DATA, state, id, args->fd);
  s->ev.tuple = state->tuple;
  __builtin_memcpy(s->ev.comm, state->comm, sizeof(s->ev.comm));
  s->ev.position = position;
  s->ev.original_size = size;
  s->ev.direction = args->direction;

  __u64 want = size < data_limit ? size : data_limit;
  if (want > LOUPE_SOCK_MAX_DATA) want = LOUPE_SOCK_MAX_DATA;
  __u64 copied = 0;
  if (args->kind == ARGS_BUF) {
    if (want > 0 && bpf_probe_read_user(s->data, want, (const void*)args->ptr) == 0) copied = want;
  } else if (args->kind == ARGS_IOV || args->kind == ARGS_MMSG) {
    copied = trace__copy_iov(s->data, (const struct iovec*)args->ptr, args->iovcnt, want);
  }
  if (copied > LOUPE_SOCK_MAX_DATA) copied = LOUPE_SOCK_MAX_DATA;
  s->ev.copied = copied;
  const __u64 size_out = sizeof(s->ev) + copied;
  const __u64 flags = trace__wakeup_flags(
      bpf_ringbuf_query(&socket_events, BPF_RB_AVAIL_DATA) + size_out, size_out);
  if (bpf_ringbuf_output(&socket_events, s, size_out, flags) != 0) {
    __u64* lost = bpf_map_lookup_elem(&socket_lost_map, &zero);
    if (lost) *lost += 1;
  }
}

// A data syscall returned: `size` bytes to report (the first message for *mmsg), `total` bytes
// the call moved in all.
static __noinline int trace__data(const struct syscall_args* args, __u64 id, __u32 size,
                                  __u64 total) {
  const __u32 tgid = id >> 32;
  const __u64 key = trace__conn_key(tgid, args->fd);
  struct sock* sk = (struct sock*)args->sk;
  struct conn_state* state = bpf_map_lookup_elem(&conn_map, &key);
  if (!state || state->sk != (__u64)sk) {
    if (state) trace__emit_close(state, id, args->fd);
    state = trace__new_conn(key, sk, trace__file_of_fd(args->fd), LOUPE_ROLE_UNKNOWN, 1);
    if (!state) return 0;
  }
  const __u8 dir = args->direction & 1;
  const __u64 position = state->bytes[dir];
  state->bytes[dir] = position + total;

  if (state->protocol == LOUPE_PROTOCOL_UNKNOWN) {
    if (args->kind == ARGS_SENDFILE || state->infer_calls >= inference_attempts) return 0;
    state->infer_calls += 1;
    __u8 head[LOUPE_INFER_BYTES] = {};
    const __u32 n = trace__read_head(head, args, size);
    struct loupe_inference inferred = loupe__infer_protocol(head, n, size, state->preexisting);
    if (inferred.protocol == LOUPE_PROTOCOL_UNKNOWN) return 0;
    state->protocol = inferred.protocol;
    if (state->preexisting && inferred.message_type != LOUPE_MSG_UNKNOWN) {
      // Whoever sends the request is the client.
      const int sends_request =
          (inferred.message_type == LOUPE_MSG_REQUEST) == (args->direction == LOUPE_DIR_EGRESS);
      state->role = sends_request ? LOUPE_ROLE_CLIENT : LOUPE_ROLE_SERVER;
    }
  }
  trace__emit_data(state, args, id, position, size);
  return 0;
}

static __always_inline void trace__store_args(struct trace_event_raw_sys_enter* ctx, __u8 kind,
                                              __u8 direction, __u64 ptr, __u64 iovcnt, __u64 mmsg,
                                              __u64 sk) {
  struct syscall_args* args = bpf_task_storage_get(&active_args_map, bpf_get_current_task_btf(), 0,
                                                   BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (!args) return;
  args->ptr = ptr;
  args->iovcnt = iovcnt;
  args->mmsg = mmsg;
  args->sk = sk;
  args->nr = (__s32)ctx->id;
  args->fd = (__s32)ctx->args[0];
  args->kind = kind;
  args->direction = direction;
}

// accept/connect: the fd is resolved at the exit.
static __always_inline void trace__stash(struct trace_event_raw_sys_enter* ctx, __u8 kind,
                                         __u8 direction, __u64 ptr, __u64 iovcnt, __u64 mmsg) {
  if (!trace__pid_wanted(bpf_get_current_pid_tgid() >> 32)) return;
  trace__store_args(ctx, kind, direction, ptr, iovcnt, mmsg, 0);
}

// Data calls: stashed only when the fd is a TCP socket, so calls on files, pipes and other sockets
// cost the entry check and nothing at the exit. A known connection whose fd still holds the same
// file skips the socket checks.
static __always_inline void trace__stash_data(struct trace_event_raw_sys_enter* ctx, __u8 kind,
                                              __u8 direction, __u64 ptr, __u64 iovcnt, __u64 mmsg) {
  const __u64 id = bpf_get_current_pid_tgid();
  if (!trace__pid_wanted(id >> 32)) return;
  const __s32 fd = (__s32)ctx->args[0];
  struct file* file = trace__file_of_fd(fd);
  if (!file) return;
  const __u64 key = trace__conn_key(id >> 32, fd);
  struct conn_state* state = bpf_map_lookup_elem(&conn_map, &key);
  struct sock* sk = 0;
  if (state && state->file == (__u64)file) {
    sk = (struct sock*)state->sk;
  } else {
    sk = trace__tcp_sock_of_file(file);
    if (!sk) {
      if (state) {
        // The fd was replaced by something that is not a TCP socket without a close() we saw.
        trace__emit_close(state, id, fd);
        bpf_map_delete_elem(&conn_map, &key);
      }
      return;
    }
  }
  trace__store_args(ctx, kind, direction, ptr, iovcnt, mmsg, (__u64)sk);
}

// Takes the stashed arguments of this thread's syscall `nr`; 0 when there are none.
static __always_inline int trace__take(struct trace_event_raw_sys_exit* ctx,
                                       struct syscall_args* out) {
  struct syscall_args* args =
      bpf_task_storage_get(&active_args_map, bpf_get_current_task_btf(), 0, 0);
  if (!args || args->kind == 0) return 0;
  *out = *args;
  args->kind = 0;
  return out->nr == (__s32)ctx->id;
}

static __always_inline int trace__data_exit(struct trace_event_raw_sys_exit* ctx) {
  struct syscall_args args;
  if (!trace__take(ctx, &args)) return 0;
  const long ret = ctx->ret;
  if (ret <= 0) return 0;
  const __u64 id = bpf_get_current_pid_tgid();
  if (args.kind != ARGS_MMSG) return trace__data(&args, id, (__u32)ret, (__u64)ret);
  // ret messages moved: report the first, count them all (up to LOUPE_SOCK_MAX_MMSG).
  const struct mmsghdr* msgs = (const struct mmsghdr*)args.mmsg;
  __u32 first = 0;
  __u64 total = 0;
  for (int i = 0; i < LOUPE_SOCK_MAX_MMSG; i++) {
    if (i >= ret) break;
    __u32 len = 0;
    if (bpf_probe_read_user(&len, sizeof(len), &msgs[i].msg_len) != 0) break;
    if (i == 0) first = len;
    total += len;
  }
  if (total == 0) return 0;
  return trace__data(&args, id, first, total);
}

// Plain buffers: (fd, buf, count[, flags]).
static __always_inline int trace__enter_buf(struct trace_event_raw_sys_enter* ctx, __u8 dir,
                                            int has_flags) {
  if (has_flags && (ctx->args[3] & MSG_PEEK)) return 0;  // peeked bytes are read again later
  trace__stash_data(ctx, ARGS_BUF, dir, ctx->args[1], 0, 0);
  return 0;
}

// struct msghdr: (fd, msg, flags).
static __always_inline int trace__enter_msg(struct trace_event_raw_sys_enter* ctx, __u8 dir) {
  if (ctx->args[2] & MSG_PEEK) return 0;
  if (!trace__pid_wanted(bpf_get_current_pid_tgid() >> 32)) return 0;
  struct user_msghdr msg = {};
  if (bpf_probe_read_user(&msg, sizeof(msg), (const void*)ctx->args[1]) != 0) return 0;
  trace__stash_data(ctx, ARGS_IOV, dir, (__u64)msg.msg_iov, msg.msg_iovlen, 0);
  return 0;
}

// struct mmsghdr array: (fd, msgvec, vlen, flags).
static __always_inline int trace__enter_mmsg(struct trace_event_raw_sys_enter* ctx, __u8 dir) {
  if (ctx->args[3] & MSG_PEEK) return 0;
  if (!trace__pid_wanted(bpf_get_current_pid_tgid() >> 32)) return 0;
  struct user_msghdr msg = {};
  if (bpf_probe_read_user(&msg, sizeof(msg), (const void*)ctx->args[1]) != 0) return 0;
  trace__stash_data(ctx, ARGS_MMSG, dir, (__u64)msg.msg_iov, msg.msg_iovlen, ctx->args[1]);
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int tracepoint__sys_enter_read(struct trace_event_raw_sys_enter* ctx) {
  return trace__enter_buf(ctx, LOUPE_DIR_INGRESS, 0);
}
SEC("tracepoint/syscalls/sys_exit_read")
int tracepoint__sys_exit_read(struct trace_event_raw_sys_exit* ctx) {
  return trace__data_exit(ctx);
}

SEC("tracepoint/syscalls/sys_enter_write")
int tracepoint__sys_enter_write(struct trace_event_raw_sys_enter* ctx) {
  return trace__enter_buf(ctx, LOUPE_DIR_EGRESS, 0);
}
SEC("tracepoint/syscalls/sys_exit_write")
int tracepoint__sys_exit_write(struct trace_event_raw_sys_exit* ctx) {
  return trace__data_exit(ctx);
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int tracepoint__sys_enter_recvfrom(struct trace_event_raw_sys_enter* ctx) {
  return trace__enter_buf(ctx, LOUPE_DIR_INGRESS, 1);
}
SEC("tracepoint/syscalls/sys_exit_recvfrom")
int tracepoint__sys_exit_recvfrom(struct trace_event_raw_sys_exit* ctx) {
  return trace__data_exit(ctx);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int tracepoint__sys_enter_sendto(struct trace_event_raw_sys_enter* ctx) {
  return trace__enter_buf(ctx, LOUPE_DIR_EGRESS, 0);
}
SEC("tracepoint/syscalls/sys_exit_sendto")
int tracepoint__sys_exit_sendto(struct trace_event_raw_sys_exit* ctx) {
  return trace__data_exit(ctx);
}

SEC("tracepoint/syscalls/sys_enter_readv")
int tracepoint__sys_enter_readv(struct trace_event_raw_sys_enter* ctx) {
  trace__stash_data(ctx, ARGS_IOV, LOUPE_DIR_INGRESS, ctx->args[1], ctx->args[2], 0);
  return 0;
}
SEC("tracepoint/syscalls/sys_exit_readv")
int tracepoint__sys_exit_readv(struct trace_event_raw_sys_exit* ctx) {
  return trace__data_exit(ctx);
}

SEC("tracepoint/syscalls/sys_enter_writev")
int tracepoint__sys_enter_writev(struct trace_event_raw_sys_enter* ctx) {
  trace__stash_data(ctx, ARGS_IOV, LOUPE_DIR_EGRESS, ctx->args[1], ctx->args[2], 0);
  return 0;
}
SEC("tracepoint/syscalls/sys_exit_writev")
int tracepoint__sys_exit_writev(struct trace_event_raw_sys_exit* ctx) {
  return trace__data_exit(ctx);
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int tracepoint__sys_enter_recvmsg(struct trace_event_raw_sys_enter* ctx) {
  return trace__enter_msg(ctx, LOUPE_DIR_INGRESS);
}
SEC("tracepoint/syscalls/sys_exit_recvmsg")
int tracepoint__sys_exit_recvmsg(struct trace_event_raw_sys_exit* ctx) {
  return trace__data_exit(ctx);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int tracepoint__sys_enter_sendmsg(struct trace_event_raw_sys_enter* ctx) {
  return trace__enter_msg(ctx, LOUPE_DIR_EGRESS);
}
SEC("tracepoint/syscalls/sys_exit_sendmsg")
int tracepoint__sys_exit_sendmsg(struct trace_event_raw_sys_exit* ctx) {
  return trace__data_exit(ctx);
}

SEC("tracepoint/syscalls/sys_enter_recvmmsg")
int tracepoint__sys_enter_recvmmsg(struct trace_event_raw_sys_enter* ctx) {
  return trace__enter_mmsg(ctx, LOUPE_DIR_INGRESS);
}
SEC("tracepoint/syscalls/sys_exit_recvmmsg")
int tracepoint__sys_exit_recvmmsg(struct trace_event_raw_sys_exit* ctx) {
  return trace__data_exit(ctx);
}

SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int tracepoint__sys_enter_sendmmsg(struct trace_event_raw_sys_enter* ctx) {
  return trace__enter_mmsg(ctx, LOUPE_DIR_EGRESS);
}
SEC("tracepoint/syscalls/sys_exit_sendmmsg")
int tracepoint__sys_exit_sendmmsg(struct trace_event_raw_sys_exit* ctx) {
  return trace__data_exit(ctx);
}

// sendfile(out_fd, in_fd, offset, count): the bytes count in the position, nothing is copied.
SEC("tracepoint/syscalls/sys_enter_sendfile64")
int tracepoint__sys_enter_sendfile64(struct trace_event_raw_sys_enter* ctx) {
  trace__stash_data(ctx, ARGS_SENDFILE, LOUPE_DIR_EGRESS, 0, 0, 0);
  return 0;
}
SEC("tracepoint/syscalls/sys_exit_sendfile64")
int tracepoint__sys_exit_sendfile64(struct trace_event_raw_sys_exit* ctx) {
  return trace__data_exit(ctx);
}

static __always_inline int trace__accept_exit(struct trace_event_raw_sys_exit* ctx) {
  const long fd = ctx->ret;
  if (fd < 0) return 0;
  const __u64 id = bpf_get_current_pid_tgid();
  if (!trace__pid_wanted(id >> 32)) return 0;
  struct file* file = trace__file_of_fd((__s32)fd);
  struct sock* sk = trace__tcp_sock_of_file(file);
  if (!sk) return 0;
  const __u64 key = trace__conn_key(id >> 32, (__s32)fd);
  struct conn_state* state = trace__new_conn(key, sk, file, LOUPE_ROLE_SERVER, 0);
  if (state) trace__emit_open(state, id, (__s32)fd);
  return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int tracepoint__sys_exit_accept(struct trace_event_raw_sys_exit* ctx) {
  return trace__accept_exit(ctx);
}
SEC("tracepoint/syscalls/sys_exit_accept4")
int tracepoint__sys_exit_accept4(struct trace_event_raw_sys_exit* ctx) {
  return trace__accept_exit(ctx);
}

SEC("tracepoint/syscalls/sys_enter_connect")
int tracepoint__sys_enter_connect(struct trace_event_raw_sys_enter* ctx) {
  trace__stash(ctx, ARGS_CONNECT, LOUPE_DIR_EGRESS, 0, 0, 0);
  return 0;
}
SEC("tracepoint/syscalls/sys_exit_connect")
int tracepoint__sys_exit_connect(struct trace_event_raw_sys_exit* ctx) {
  struct syscall_args args;
  if (!trace__take(ctx, &args)) return 0;
  // Non-blocking connects return -EINPROGRESS with the local port already bound.
  if (ctx->ret != 0 && ctx->ret != -EINPROGRESS) return 0;
  struct file* file = trace__file_of_fd(args.fd);
  struct sock* sk = trace__tcp_sock_of_file(file);
  if (!sk) return 0;
  const __u64 id = bpf_get_current_pid_tgid();
  const __u64 key = trace__conn_key(id >> 32, args.fd);
  struct conn_state* state = trace__new_conn(key, sk, file, LOUPE_ROLE_CLIENT, 0);
  if (state) trace__emit_open(state, id, args.fd);
  return 0;
}

// close() releases the fd even when it fails, so the connection ends at the entry.
SEC("tracepoint/syscalls/sys_enter_close")
int tracepoint__sys_enter_close(struct trace_event_raw_sys_enter* ctx) {
  const __u64 id = bpf_get_current_pid_tgid();
  const __s32 fd = (__s32)ctx->args[0];
  const __u64 key = trace__conn_key(id >> 32, fd);
  struct conn_state* state = bpf_map_lookup_elem(&conn_map, &key);
  if (!state) return 0;
  trace__emit_close(state, id, fd);
  bpf_map_delete_elem(&conn_map, &key);
  return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int tracepoint__sched_process_exec(struct trace_event_raw_sched_process_exec* ctx) {
  struct loupe_proc_event* ev =
      loupe__ringbuf_reserve(&process_events, &process_lost_map, sizeof(*ev));
  if (!ev) return 0;
  __builtin_memset(ev, 0, sizeof(*ev));
  struct task_struct* task = (struct task_struct*)bpf_get_current_task();
  ev->ts_ns = bpf_ktime_get_ns();
  ev->kind = LOUPE_PROC_EXEC;
  ev->pid = bpf_get_current_pid_tgid() >> 32;
  ev->ppid = BPF_CORE_READ(task, real_parent, tgid);
  trace__process_comm(ev->comm);
  const unsigned int offset = ctx->__data_loc_filename & 0xFFFF;
  bpf_probe_read_kernel_str(ev->filename, sizeof(ev->filename), (const void*)ctx + offset);
  bpf_ringbuf_submit(ev, 0);
  return 0;
}

// Runs for every exiting thread; reports the process when its last thread exits.
SEC("tracepoint/sched/sched_process_exit")
int tracepoint__sched_process_exit(void* ctx) {
  struct task_struct* task = (struct task_struct*)bpf_get_current_task();
  if (BPF_CORE_READ(task, signal, live.counter) != 0) return 0;
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  // A later process reusing the pid is not traced until discovery selects it.
  bpf_map_delete_elem(&traced_pids_map, &tgid);
  struct loupe_proc_event* ev =
      loupe__ringbuf_reserve(&process_events, &process_lost_map, sizeof(*ev));
  if (!ev) return 0;
  __builtin_memset(ev, 0, sizeof(*ev));
  ev->ts_ns = bpf_ktime_get_ns();
  ev->kind = LOUPE_PROC_EXIT;
  ev->pid = tgid;
  ev->exit_code = BPF_CORE_READ(task, exit_code);
  trace__process_comm(ev->comm);
  bpf_ringbuf_submit(ev, 0);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
