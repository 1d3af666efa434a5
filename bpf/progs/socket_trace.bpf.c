// SPDX-License-Identifier: GPL-2.0
// Socket data sensor: exit tracepoints of accept/connect and of the data syscalls on TCP sockets
// (AF_INET/AF_INET6, SOCK_STREAM), keyed by (tgid, fd). No entry programs: the call's arguments
// are read from the task's saved registers at the exit; the fd is resolved to its struct sock
// through the task's fd table, per-connection byte positions are kept, the protocol is inferred
// from the first bytes and a prefix of each call's data is copied for connections of known
// protocols. close() is traced at its entry. Also reports exec and exit of processes so
// discovery can follow them.
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpf/intf/socket_trace.h"
#include "bpf/lib/protocol_inference.h"
#include "bpf/lib/ringbuf.h"
#include "bpf/lib/sock_data.h"

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

// Sock hook: since when each traced process has been traced (bpf_ktime_get_ns() clock), written by
// user space before it sets the process's bit and removed after it clears it. A socket the process
// uses that was established after that saw all its calls traced: it is new, whatever its first
// traced call finds already read (another thread's read can move copied_seq before that read's own
// tracepoint fires). Not used with trace_all_pids, where traced_since_floor_ns alone counts.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 32768);
  __type(key, __u32);
  __type(value, __u64);
} pid_since_map SEC(".maps");

// When the data hooks were attached (written by user space then; until then nothing counts as
// traced since, and only the copied_seq check applies).
volatile __u64 traced_since_floor_ns = ~0ULL;

// Which processes are traced, one bit per tgid, shared with user space through mmap (user space
// sets and clears bits with atomic operations): with trace_all_pids a set bit is a process never
// traced (the agent), otherwise a traced one (selected by discovery and not excluded). Every
// syscall exit of every process checks it: an array lookup is inlined by the verifier, where the
// hash maps it replaces cost two helper calls (~90 ns per call, measured).
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(max_entries, LOUPE_PID_BITS_WORDS);
  __type(key, __u32);
  __type(value, __u64);
} pid_bits_map SEC(".maps");

enum args_kind {
  ARGS_BUF = 1,       // one buffer: read, write, recvfrom, sendto
  ARGS_IOV = 2,       // iovec array: readv, writev, recvmsg, sendmsg
  ARGS_MMSG = 3,      // mmsghdr array: recvmmsg, sendmmsg (iovec of the first message)
  ARGS_SENDFILE = 4,  // sendfile: bytes counted, nothing copied
};

// A data call's arguments, read from the task's saved registers at the syscall's exit.
struct syscall_args {
  __u64 ptr;     // buffer or iovec array
  __u64 iovcnt;  // iovec count (ARGS_IOV, ARGS_MMSG)
  __u64 mmsg;    // mmsghdr array (ARGS_MMSG)
  __s32 fd;
  __u8 kind;       // enum args_kind
  __u8 direction;  // enum loupe_sock_direction
  __u8 pad[2];
};

struct conn_state {
  __u64 tsid;
  __u64 sk;        // struct sock* (the sock hook's key)
  __u64 file;      // struct file* of the fd: a data call on the same file skips the socket checks
  char comm[16];   // the process's command name when the connection was first seen
  __u64 bytes[2];  // by enum loupe_sock_direction: sent, received
  struct loupe_sock_tuple tuple;
  __u8 role;
  __u8 protocol;
  __u8 preexisting;
  __u8 infer_calls;  // data calls inspected without a protocol match
  // The file's inode number (sockets get a new one each): with `file`, tells the connection's file
  // from a later one allocated at the same address after a close we missed.
  __u32 ino;
  __u32 tgid;  // the process and fd that made the first call seen: the connection's identity in
  __s32 fd;    // every event (the sock hook keys connections by socket, not by (tgid, fd))
  // HTTP/2 frame walk, by direction (see trace__h2_segments): the stream position (mod 2^32) of
  // the next frame header, and enum h2_walk.
  __u32 h2_next[2];
  __u8 h2_walk[2];
  // A frame header cut after 1-3 bytes at the end of a call: those bytes (h2_next is then the
  // next call's first byte, where the header goes on).
  __u8 h2_part_len[2];
  // The frame that goes on past the direction's last call (up to h2_next) is copied whole (it is
  // not DATA): the next call's bytes of it beyond the head are appended too.
  __u8 h2_whole[2];
  __u8 pad[2];
  __u32 h2_part[2];  // big-endian: the first byte in the top 8 bits
};

enum h2_walk {
  H2_WALK_UNSTARTED = 0,
  H2_WALK_ON = 1,   // h2_next is where the next frame header starts
  H2_WALK_OFF = 2,  // lost (a call it could not follow): copies are heads only, as for HTTP/1
};

// TCP connections of traced processes, from accept/connect (or the first data call) to close;
// LRU, 65536 entries. Keyed by (tgid << 32 | fd) with the syscall hook, by the struct sock's
// address with the sock hook (the two never run together).
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, __u64);
  __type(value, struct conn_state);
} conn_map SEC(".maps");

// A TCP socket established since the sensor started (sk_role_map's value).
struct sk_role {
  __u64 established_ns;  // bpf_ktime_get_ns() at ESTABLISHED (valid with has_seq)
  // The socket's copied_seq when it became ESTABLISHED: the receive sequence nothing had been read
  // from yet (valid with has_seq). copied_seq only moves when the application reads, in its own
  // context, so the bytes read since are copied_seq - this, whatever arrives meanwhile.
  __u32 copied_seq0;
  __u8 role;  // enum loupe_sock_role
  __u8 has_seq;
  __u8 pad[2];
};

// Sock hook: TCP sockets established since the sensor started, by struct sock address -> their
// role and first receive sequence, from sock:inet_sock_set_state (SYN_SENT: connect, SYN_RECV: a
// listener's child, ESTABLISHED: the sequence); removed when the socket is destroyed
// (tcp:tcp_destroy_sock, which every TCP socket passes before it is freed, so a later socket at
// the same address never inherits an entry). Entries are made for every process's connections
// (the server side's transition runs in softirq context, where the owner is not known); LRU, 65536
// entries.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, __u64);
  __type(value, struct sk_role);
} sk_role_map SEC(".maps");

// State of the HTTP/2 frame walk over one call (trace__h2_walk): offsets in the call, positions in
// data_scratch.data.
struct h2_walk_state {
  __u64 off;     // the next frame header
  __u64 size;    // the call's bytes
  __u64 copied;  // the head's bytes
  // The call's buffers (none: only the head can be read): its one buffer, or a window of its
  // iovecs, `niov` of them (at most LOUPE_SOCK_MAX_H2_IOV) from the call's iovec `win` on, which
  // starts at call offset `win_start`. The call has `iov_count` iovecs (at most
  // LOUPE_SOCK_MAX_H2_CALL_IOV) at user address `iov_ptr`; the window moves on when the cursor
  // runs off its end (trace__h2_copy_part), so a call of up to LOUPE_SOCK_MAX_H2_IOV iovecs has
  // its array read once. The cursor: window iovec `cur` starts at call offset `cur_start` (reads
  // go forward, so each lookup starts there).
  __u64 niov;
  __u64 cur;
  __u64 cur_start;
  __u64 win;
  __u64 win_start;
  __u64 iov_count;
  __u64 iov_ptr;
  struct iovec iov[LOUPE_SOCK_MAX_H2_IOV];
  __u64 w;          // where the next descriptor or byte goes
  __u64 desc;       // the open segment's descriptor
  __u64 seg_start;  // the open segment (seg_end 0: none open)
  __u64 seg_end;
  __u64 segments;
  __u64 full;  // no room for more segments: frames are walked, not copied
  // The event being built covers the call's bytes from `base` on; its data holds `head` bytes of
  // the call's head (the copy; 0 in a continuation event) before the segments. With `can_flush`
  // a full event is sent and a continuation event goes on (trace__h2_flush), `flushes` times at
  // most LOUPE_SOCK_MAX_H2_EVENTS - 1 per call.
  __u64 base;
  __u64 head;
  __u64 can_flush;
  __u64 flushes;
  __u64 tail_whole;  // the last frame walked is copied whole (not DATA)
  __u64 carry_len;   // bytes of the next frame header in earlier calls (0-3)
  __u64 carry;       // those bytes, big-endian in the top bytes of 32 bits
};

struct data_scratch {
  struct loupe_sock_data_event ev;
  // Twice the largest copy so the verifier can bound offset + length of the iovec copies.
  __u8 data[2 * LOUPE_SOCK_MAX_DATA];
  struct h2_walk_state h2;  // not sent
};

// Per-CPU buffer a data event is assembled in before bpf_ringbuf_output; 1 slot.
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct data_scratch);
} data_scratch_map SEC(".maps");

static __always_inline int trace__pid_wanted(__u32 tgid) {
  const __u32 word = tgid >> 6;
  const __u64* bits = bpf_map_lookup_elem(&pid_bits_map, &word);
  const int set = bits && ((*bits >> (tgid & 63)) & 1);
  return trace_all_pids ? !set : set;
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

// The inode number of `file` (0 without one).
static __always_inline __u32 trace__file_ino(struct file* file) {
  if (!file) return 0;
  return (__u32)BPF_CORE_READ(file, f_inode, i_ino);
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
// ring); otherwise the reader polls every 5 ms (backing off to 50 ms while the ring stays empty),
// so batching costs at most that in latency and saves a context switch per event (one wake-up per
// request halved nginx's throughput). Only the record that crosses the mark wakes: a forced wake-up
// is a self-IPI, which costs microseconds in a VM, and forcing one on every record while the reader
// catches up cost nginx a tenth of its throughput.
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
// With `exclusive`, a state another CPU created meanwhile (two threads' first calls on a socket at
// once) is kept and *created = 0; otherwise the new state replaces any old one. `created` may be
// null.
static __always_inline struct conn_state* trace__new_conn(__u64 key, struct sock* sk,
                                                          struct file* file, __u8 role,
                                                          __u8 preexisting, __u64 id, __s32 fd,
                                                          int exclusive, int* created) {
  struct conn_state fresh = {};
  fresh.tsid = bpf_ktime_get_ns();
  fresh.tgid = id >> 32;
  fresh.fd = fd;
  fresh.sk = (__u64)sk;
  fresh.file = (__u64)file;
  fresh.ino = trace__file_ino(file);
  trace__process_comm(fresh.comm);
  loupe__read_tuple(sk, &fresh.tuple);
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
  const long err = bpf_map_update_elem(&conn_map, &key, &fresh, exclusive ? BPF_NOEXIST : BPF_ANY);
  if (created) *created = err == 0;
  return bpf_map_lookup_elem(&conn_map, &key);
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

// HTTP/2 beyond the head. A call larger than the copy (a gRPC message over 4 KiB, a read of many
// frames) would leave a parser a gap past the DATA payload it can skip by length, and lose frame
// sync and HPACK state there (the trailers with grpc-status usually follow the message in the same
// call). So the program follows the frame headers of each HTTP/2 direction from its first byte
// (after the client preface) and appends, as segments after the head, every frame header and every
// non-DATA frame the head does not hold; DATA payloads stay out. The walk reads the call's buffers
// again (its one buffer, or its iovecs, up to LOUPE_SOCK_MAX_H2_CALL_IOV), and stops following a
// direction (its copies become heads only, the parser resyncing after a gap as for HTTP/1) after
// a call it cannot follow: *mmsg calls of several messages, frames beyond the first
// LOUPE_SOCK_MAX_H2_CALL_IOV iovecs, more than LOUPE_SOCK_MAX_H2_FRAMES frames in one call, or a
// connection joined mid-way.
enum h2_step {
  H2_STEP_NEXT = 0,
  H2_STEP_DONE = 1,
  H2_STEP_LOST = 2,
  H2_STEP_PARTIAL = 3,  // the call ends inside the first 4 bytes of a frame header: carried
};

// Copies bytes [from, from + len) of the call, from its buffers in the scratch buffer's h2 state,
// to data[dst] (dst + len <= 2 * LOUPE_SOCK_MAX_DATA); 0 on success. A global function: the
// verifier checks its loop once.
__noinline int trace__h2_copy_part(__u64 dst, __u64 from, __u64 len);

// Reads the call's iovecs from its iovec `first` on (at most LOUPE_SOCK_MAX_H2_IOV) into the
// window, whose first iovec starts at call offset `start`, and puts the cursor there; 0, or -1
// (an empty window) when there are none or they cannot be read.
static __always_inline int trace__h2_load_window(struct h2_walk_state* h2, __u64 first,
                                                 __u64 start) {
  h2->niov = 0;
  if (first >= h2->iov_count) return -1;
  __u64 n = h2->iov_count - first;
  if (n > LOUPE_SOCK_MAX_H2_IOV) n = LOUPE_SOCK_MAX_H2_IOV;
  barrier_var(n);
  if (n == 0 || n > LOUPE_SOCK_MAX_H2_IOV ||
      bpf_probe_read_user(h2->iov, n * sizeof(struct iovec),
                          (const struct iovec*)h2->iov_ptr + first) != 0)
    return -1;
  h2->niov = n;
  h2->win = first;
  h2->win_start = h2->cur_start = start;
  h2->cur = 0;
  return 0;
}

__noinline int trace__h2_copy(__u64 dst, __u64 from, __u64 len) {
  __u32 zero = 0;
  struct data_scratch* s = bpf_map_lookup_elem(&data_scratch_map, &zero);
  if (!s) return -1;
  if (from < s->h2.cur_start) {
    // Reads go back, nearly always to the iovec before the cursor's (a frame's bytes after its
    // header was read), which the window holds (a window after the first starts at the last
    // iovec of the one before). A read further back (a header cut in three) searches again from
    // the window's first iovec, or from the call's when it lies before the window.
    __u64 c = s->h2.cur;
    barrier_var(c);
    if (c > 0 && c <= LOUPE_SOCK_MAX_H2_IOV && from + s->h2.iov[c - 1].iov_len >= s->h2.cur_start) {
      s->h2.cur = c - 1;
      s->h2.cur_start -= s->h2.iov[c - 1].iov_len;
    } else if (from >= s->h2.win_start) {
      s->h2.cur = 0;
      s->h2.cur_start = s->h2.win_start;
    } else if (trace__h2_load_window(&s->h2, 0, 0) != 0) {
      return -1;
    }
  }
  // Each step copies the rest, or moves the cursor on to the call's next iovec (reading the next
  // window when it runs off one) after copying or skipping what lies in its iovec. A call has at
  // most LOUPE_SOCK_MAX_H2_CALL_IOV iovecs, so that many steps reach any byte of it; a DATA
  // payload in many slices (skipped on the way to the next frame header) takes one per slice.
  for (int k = 0; k < LOUPE_SOCK_MAX_H2_CALL_IOV && len > 0; k++) {
    const int n = trace__h2_copy_part(dst, from, len);
    if (n < 0 || n > len) return -1;
    dst += n;
    from += n;
    len -= n;
  }
  return len == 0 ? 0 : -1;
}

// One step of trace__h2_copy: copies what lies in the cursor's iovec (or moves the cursor on to
// the next one); returns the bytes copied (0: none in this iovec), -1 when out of buffers.
__noinline int trace__h2_copy_part(__u64 dst, __u64 from, __u64 len) {
  __u32 zero = 0;
  struct data_scratch* s = bpf_map_lookup_elem(&data_scratch_map, &zero);
  if (!s) return -1;
  struct h2_walk_state* h2 = &s->h2;
  if (h2->cur >= h2->niov) {
    // The cursor ran off the window: the next one, if the call has more iovecs, from the
    // window's last iovec on (the one a read may go back to), with the cursor on the iovec after.
    __u64 last = h2->niov - 1;
    barrier_var(last);
    if (h2->cur != h2->niov || last >= LOUPE_SOCK_MAX_H2_IOV || h2->win + h2->niov >= h2->iov_count)
      return -1;
    const __u64 at = h2->cur_start;
    if (trace__h2_load_window(h2, h2->win + last, at - h2->iov[last].iov_len) != 0) return -1;
    h2->cur = 1;
    h2->cur_start = at;
  }
  __u64 idx = h2->cur;
  barrier_var(idx);
  if (idx >= h2->niov || idx >= LOUPE_SOCK_MAX_H2_IOV) return -1;
  const __u64 start = h2->cur_start, ilen = h2->iov[idx].iov_len;
  if (from >= start + ilen) {
    h2->cur = idx + 1;
    h2->cur_start = start + ilen;
    return 0;
  }
  if (from < start) return -1;
  __u64 n = start + ilen - from;
  if (n > len) n = len;
  __u64 at = dst;
  // Keeps the checks below on the registers the helper gets.
  barrier_var(n);
  barrier_var(at);
  // H2_HEADER_SLOT + 8 at most for a frame header read across iovecs.
  if (n == 0 || n > LOUPE_SOCK_MAX_DATA || at > LOUPE_SOCK_MAX_DATA + 8) return -1;
  const __u8* src = (const __u8*)h2->iov[idx].iov_base + (from - start);
  if (bpf_probe_read_user(&s->data[at], n, src) != 0) return -1;
  if (from + n == start + ilen) {
    h2->cur = idx + 1;
    h2->cur_start = start + ilen;
  }
  return (int)n;
}

// Parts (events) a frame beyond the head may be copied in: frames of up to about 32 KiB whole.
#define LOUPE_SOCK_H2_APPEND_PARTS 4

// Where a frame header read from beyond the head goes: after the largest event's data.
#define H2_HEADER_SLOT LOUPE_SOCK_MAX_DATA

__noinline int trace__h2_flush(__u64 at);

// Appends call bytes [from, want_end) beyond the head to the open segment or a new one (or
// nothing once the event is full); 0, or -1 when they cannot be read. With `from_slot`, a whole
// 9-byte frame header at `from` is already at H2_HEADER_SLOT and is taken from there rather than
// read again.
static __always_inline int trace__h2_append(struct data_scratch* s, struct h2_walk_state* h2,
                                            __u64 from, __u64 want_end, int from_slot) {
  // A frame larger than an event's room (a header block of over 8 KiB) goes on in continuation
  // events, one part each, up to LOUPE_SOCK_H2_APPEND_PARTS parts.
  for (int part = 0; part < LOUPE_SOCK_H2_APPEND_PARTS; part++) {
    if (want_end <= from || h2->full) return 0;
    if (h2->can_flush && h2->w > 0) {
      // An event without room for these bytes (another segment, or more bytes than it has left)
      // is sent as the call's bytes up to `from`; a continuation event takes the rest. Should
      // that fail, the bytes are cut below as before.
      const __u64 opens = from != h2->seg_end;
      const __u64 need = (opens ? sizeof(struct loupe_sock_segment) : 0) + (want_end - from);
      if ((opens && h2->segments >= LOUPE_SOCK_MAX_SEGMENTS) || h2->w + need > LOUPE_SOCK_MAX_DATA)
        trace__h2_flush(from);
    }
    if (from != h2->seg_end) {
      // A new segment: its descriptor first.
      __u64 d = h2->w;
      barrier_var(d);
      if (h2->segments >= LOUPE_SOCK_MAX_SEGMENTS ||
          d >= LOUPE_SOCK_MAX_DATA - sizeof(struct loupe_sock_segment)) {
        h2->full = 1;
        return 0;
      }
      struct loupe_sock_segment seg = {.offset = (__u32)(from - h2->base), .length = 0};
      __builtin_memcpy(&s->data[d], &seg, sizeof(seg));
      h2->desc = d;
      h2->w = d + sizeof(seg);
      h2->seg_start = from;
      h2->seg_end = from;
      h2->segments += 1;
    }
    __u64 n = want_end - from;
    __u64 at = h2->w;
    int cut = 0;
    if (at < LOUPE_SOCK_MAX_DATA && n > LOUPE_SOCK_MAX_DATA - at) {
      n = LOUPE_SOCK_MAX_DATA - at;
      cut = 1;
    }
    // Keeps the checks below on the registers the helper gets.
    barrier_var(n);
    barrier_var(at);
    if (n == 0 || n > LOUPE_SOCK_MAX_DATA || at >= LOUPE_SOCK_MAX_DATA) return -1;
    if (from_slot && n == 9)
      __builtin_memcpy(&s->data[at], &s->data[H2_HEADER_SLOT], 9);
    else if (trace__h2_copy(at, from, n) != 0)
      return -1;
    h2->w = at + n;
    h2->seg_end = from + n;
    __u64 d = h2->desc;
    barrier_var(d);
    if (d > LOUPE_SOCK_MAX_DATA - sizeof(struct loupe_sock_segment)) return -1;
    const __u32 seg_length = (__u32)(h2->seg_end - h2->seg_start);
    __builtin_memcpy(&s->data[d + 4], &seg_length, sizeof(seg_length));
    if (!cut) return 0;
    // The rest goes on in a continuation event; without one, the event is full.
    if (!h2->can_flush || trace__h2_flush(from + n) != 0) {
      h2->full = 1;
      return 0;
    }
    from += n;
    from_slot = 0;
  }
  // The frame's bytes beyond its last part are not copied: a gap before the next segment.
  return 0;
}

// Sends the event being built as the call's bytes [base, at): its head, if it has one, and its
// segments, which all end by `at`; then makes the scratch buffer a continuation event for the
// bytes from `at` on, with no head and no segments yet. User space takes each event as a call of
// its own. 0, or -1 when it cannot (nothing is sent then).
__noinline int trace__h2_flush(__u64 at) {
  __u32 zero = 0;
  struct data_scratch* s = bpf_map_lookup_elem(&data_scratch_map, &zero);
  if (!s) return -1;
  struct h2_walk_state* h2 = &s->h2;
  const __u64 base = h2->base, size = h2->size;
  if (at <= base || at >= size || h2->flushes + 1 >= LOUPE_SOCK_MAX_H2_EVENTS) return -1;
  __u64 w = h2->w;
  barrier_var(w);
  if (w < h2->head || w > LOUPE_SOCK_MAX_DATA) return -1;
  s->ev.segments = (__u8)h2->segments;
  s->ev.extra = (__u32)(w - h2->head);
  s->ev.original_size = (__u32)(at - base);
  const __u64 size_out = sizeof(s->ev) + w;
  const __u64 flags = trace__wakeup_flags(
      bpf_ringbuf_query(&socket_events, BPF_RB_AVAIL_DATA) + size_out, size_out);
  if (bpf_ringbuf_output(&socket_events, s, size_out, flags) != 0) {
    __u64* lost = bpf_map_lookup_elem(&socket_lost_map, &zero);
    if (lost) *lost += 1;
  }
  s->ev.position += at - base;
  s->ev.original_size = (__u32)(size - at);
  s->ev.copied = 0;
  s->ev.segments = 0;
  s->ev.extra = 0;
  h2->base = at;
  h2->head = 0;
  h2->w = 0;
  h2->segments = 0;
  h2->seg_start = h2->seg_end = 0;
  h2->flushes += 1;
  return 0;
}

// A mask of the top `n` (0-4) bytes of a 32-bit word.
static __always_inline __u32 trace__top_bytes(__u64 n) {
  return n == 0 ? 0 : n == 1 ? 0xff000000u : n == 2 ? 0xffff0000u : n == 3 ? 0xffffff00u : ~0u;
}

// One frame of the walk in the per-CPU scratch buffer's h2 state: reads its header at h2.off (its
// first h2.carry_len bytes carried from earlier calls) and appends what lies beyond the head (the
// header, and the payload unless DATA). A call that ends within a header's first 4 bytes carries
// them (H2_STEP_PARTIAL). A global function, so that the verifier checks it once rather than once
// per iteration and path of the caller's loop.
__noinline int trace__h2_frame(void) {
  __u32 zero = 0;
  struct data_scratch* s = bpf_map_lookup_elem(&data_scratch_map, &zero);
  if (!s) return H2_STEP_LOST;
  struct h2_walk_state* h2 = &s->h2;
  const __u64 off = h2->off, size = h2->size, copied = h2->copied, back = h2->carry_len;
  if (back > 3) return H2_STEP_LOST;
  if (off >= size) return back ? H2_STEP_LOST : H2_STEP_DONE;
  // The header's bytes in this call, from `off`.
  const __u64 avail = size - off < 4 - back ? size - off : 4 - back;
  __u8 t[4] = {};
  // A header wholly beyond the head is read whole (9 bytes), once: a DATA frame's goes to the
  // event from there.
  const int whole = back == 0 && off >= copied && size - off >= 9;
  if (whole) {
    if (trace__h2_copy(H2_HEADER_SLOT, off, 9) != 0) return H2_STEP_LOST;
    __builtin_memcpy(t, &s->data[H2_HEADER_SLOT], 4);
  } else if (off + avail <= copied) {
    __u64 o = off;
    barrier_var(o);
    if (o > LOUPE_SOCK_MAX_DATA) return H2_STEP_LOST;
    __builtin_memcpy(t, &s->data[o], 4);
  } else if (trace__h2_copy(H2_HEADER_SLOT, off, avail) != 0) {
    return H2_STEP_LOST;
  } else {
    __builtin_memcpy(t, &s->data[H2_HEADER_SLOT], 4);
  }
  // The header's first 4 bytes as a big-endian word: the carried ones, then this call's.
  const __u32 here = ((__u32)t[0] << 24) | ((__u32)t[1] << 16) | ((__u32)t[2] << 8) | t[3];
  const __u32 word =
      back == 0 ? here : ((__u32)h2->carry & trace__top_bytes(back)) | (here >> (8 * back));
  if (back + avail < 4) {
    // Fewer than 4 header bytes so far: carried to the next call; the ones beyond the head go
    // to user space as usual.
    h2->carry = word & trace__top_bytes(back + avail);
    h2->carry_len = back + avail;
    if (trace__h2_append(s, h2, off > copied ? off : copied, size, 0) != 0) return H2_STEP_LOST;
    return H2_STEP_PARTIAL;
  }
  h2->carry_len = 0;
  h2->tail_whole = (word & 0xff) != 0;
  const __u64 header_end = off + 9 - back;  // back > 0 only for the call's first frame (off 0)
  const __u64 frame_end = header_end + (word >> 8);
  h2->off = frame_end;
  // DATA (type 0): only its header; any other frame whole.
  __u64 want_end = (word & 0xff) == 0 ? header_end : frame_end;
  if (want_end > size) want_end = size;
  if (trace__h2_append(s, h2, off > copied ? off : copied, want_end,
                       whole && want_end == header_end) != 0)
    return H2_STEP_LOST;
  return H2_STEP_NEXT;
}

static __always_inline __u32 trace__h2_advance(struct data_scratch* s, struct conn_state* state,
                                               const struct syscall_args* args, __u64 position,
                                               __u32 size, __u64 total, __u32 copied,
                                               __u64 can_flush);

// The call's buffers into the walk state, for reads beyond the head: its one buffer, or its
// iovecs (up to LOUPE_SOCK_MAX_H2_CALL_IOV) with the first window of them read (none when they
// cannot be read, or for another `kind`).
static __always_inline void trace__load_buffers(struct h2_walk_state* h2, __u64 kind, __u64 ptr,
                                                __u64 iovcnt, __u64 size) {
  h2->niov = h2->cur = h2->cur_start = h2->win = h2->win_start = h2->iov_count = 0;
  if (kind == ARGS_BUF) {
    h2->iov[0].iov_base = (void*)ptr;
    h2->iov[0].iov_len = size;
    h2->niov = h2->iov_count = 1;
  } else if (kind == ARGS_IOV) {
    h2->iov_ptr = ptr;
    h2->iov_count = iovcnt < LOUPE_SOCK_MAX_H2_CALL_IOV ? iovcnt : LOUPE_SOCK_MAX_H2_CALL_IOV;
    trace__h2_load_window(h2, 0, 0);
  }
}

// An HTTP/1 call larger than the copy: its last LOUPE_SOCK_H1_TAIL bytes as one segment, so that
// user space sees where a chunked body ends (its last chunk, "0" CRLF CRLF) when the call that
// carries it is larger than the copy. Returns the bytes appended after the head (0: none). A
// global function: verified once, and the main program does not grow by the append.
#define LOUPE_SOCK_H1_TAIL 16
__noinline int trace__h1_tail(__u64 kind, __u64 ptr, __u64 iovcnt, __u64 size, __u64 copied) {
  __u32 zero = 0;
  struct data_scratch* s = bpf_map_lookup_elem(&data_scratch_map, &zero);
  if (!s || copied == 0 || copied >= size || copied > LOUPE_SOCK_MAX_DATA) return 0;
  struct h2_walk_state* h2 = &s->h2;
  trace__load_buffers(h2, kind, ptr, iovcnt, size);
  if (h2->niov == 0) return 0;
  h2->w = h2->head = copied;
  h2->desc = h2->seg_start = h2->seg_end = h2->segments = h2->full = 0;
  h2->base = h2->can_flush = h2->flushes = 0;
  const __u64 n = size - copied < LOUPE_SOCK_H1_TAIL ? size - copied : LOUPE_SOCK_H1_TAIL;
  if (trace__h2_append(s, h2, size - n, size, 0) != 0 || h2->segments != 1 ||
      h2->w != copied + sizeof(struct loupe_sock_segment) + n)
    return 0;
  s->ev.segments = 1;
  return (int)(sizeof(struct loupe_sock_segment) + n);
}

// The walk for one call on `state`: returns the bytes appended after the head; sets ev.segments.
// An HTTP/1 call larger than the copy gets its tail appended instead (trace__h1_tail).
static __always_inline __u32 trace__h2_segments(struct data_scratch* s, struct conn_state* state,
                                                const struct syscall_args* args, __u64 position,
                                                __u32 size, __u64 total, __u32 copied) {
  const __u8 dir = args->direction & 1;
  if (state->protocol == LOUPE_PROTOCOL_HTTP1) {
    if (copied >= size || total != size) return 0;
    const int tail = trace__h1_tail(args->kind, args->ptr, args->iovcnt, size, copied);
    return tail > 0 ? (__u32)tail : 0;
  }
  if (state->protocol != LOUPE_PROTOCOL_HTTP2 || state->h2_walk[dir] == H2_WALK_OFF) return 0;
  if (state->h2_walk[dir] == H2_WALK_UNSTARTED) {
    if (position != 0 || state->preexisting) {
      state->h2_walk[dir] = H2_WALK_OFF;
      return 0;
    }
    // The client preface (24 bytes) precedes the client's first frame.
    const int preface = copied >= 4 && s->data[0] == 'P' && s->data[1] == 'R' &&
                        s->data[2] == 'I' && s->data[3] == ' ';
    state->h2_next[dir] = preface ? 24 : 0;
    state->h2_walk[dir] = H2_WALK_ON;
  }
  return trace__h2_advance(s, state, args, position, size, total, copied, 1);
}

// Calls on a direction before the connection's protocol is known, such as the server's SETTINGS
// written before it reads the client's preface: the walk starts when the direction's first call
// begins with a plausible HTTP/2 frame (its first `n` bytes are in `head`), so that it is in step
// when the protocol is found.
static __always_inline void trace__h2_follow_unknown(struct conn_state* state,
                                                     const struct syscall_args* args,
                                                     __u64 position, __u32 size, __u64 total,
                                                     const __u8* head, __u32 n) {
  const __u8 dir = args->direction & 1;
  if (state->h2_walk[dir] == H2_WALK_UNSTARTED) {
    if (position != 0 || state->preexisting || !loupe__is_http2_frame(head, n, size)) {
      state->h2_walk[dir] = H2_WALK_OFF;
      return;
    }
    state->h2_next[dir] = 0;
    state->h2_walk[dir] = H2_WALK_ON;
  }
  if (state->h2_walk[dir] != H2_WALK_ON) return;
  __u32 zero = 0;
  struct data_scratch* s = bpf_map_lookup_elem(&data_scratch_map, &zero);
  if (s) trace__h2_advance(s, state, args, position, size, total, 0, 0);  // not sent
}

// The walk over one call whose first `copied` bytes are in the scratch buffer, on a direction
// being followed: appends the segments, moves h2_next on or turns the walk off.
static __always_inline __u32 trace__h2_advance(struct data_scratch* s, struct conn_state* state,
                                               const struct syscall_args* args, __u64 position,
                                               __u32 size, __u64 total, __u32 copied,
                                               __u64 can_flush) {
  const __u8 dir = args->direction & 1;
  const __u32 off = state->h2_next[dir] - (__u32)position;
  const __u8 part = state->h2_part_len[dir];
  if ((part && off != 0) || part > 3) {
    // The call after a cut frame header does not go on from it.
    state->h2_walk[dir] = H2_WALK_OFF;
    return 0;
  }
  if (off >= size || total != size) {
    // The position went back, or several messages (*mmsg).
    if (off > 0x80000000u || total != size) {
      state->h2_walk[dir] = H2_WALK_OFF;
      return 0;
    }
    // The next frame starts after this call: the call is inside one frame's payload, which has
    // bytes to append beyond the head only when it is copied whole (not DATA).
    if (!state->h2_whole[dir] || copied >= size) return 0;
  }
  struct h2_walk_state* h2 = &s->h2;
  // The call's buffers, for the bytes beyond the head (none when the head holds the call).
  trace__load_buffers(h2, copied < size ? args->kind : 0, args->ptr, args->iovcnt, size);
  h2->off = off;
  h2->size = size;
  h2->copied = copied;
  h2->w = h2->head = copied;
  h2->desc = h2->seg_start = h2->seg_end = h2->segments = h2->full = 0;
  h2->base = h2->flushes = 0;
  h2->can_flush = can_flush;
  h2->carry_len = part;
  h2->carry = state->h2_part[dir];
  h2->tail_whole = state->h2_whole[dir];
  // The rest of a frame copied whole that began in an earlier call (a header block larger than
  // the copy, which Go's server reads in calls of its own), up to the next frame or the call's end.
  const __u64 rest_end = off < size ? off : size;
  if (h2->tail_whole && copied < rest_end && trace__h2_append(s, h2, copied, rest_end, 0) != 0) {
    state->h2_walk[dir] = H2_WALK_OFF;
    return 0;
  }
  int step = H2_STEP_NEXT;
  for (int i = 0; i < LOUPE_SOCK_MAX_H2_FRAMES && step == H2_STEP_NEXT; i++)
    step = trace__h2_frame();
  if (step == H2_STEP_NEXT) step = trace__h2_frame();  // DONE unless more frames than walked
  if ((step != H2_STEP_DONE && step != H2_STEP_PARTIAL) || h2->w < h2->head ||
      h2->w > LOUPE_SOCK_MAX_DATA) {
    state->h2_walk[dir] = H2_WALK_OFF;
    return 0;
  }
  if (step == H2_STEP_PARTIAL) {
    // The header goes on at the next call's first byte.
    state->h2_part_len[dir] = (__u8)h2->carry_len;
    state->h2_part[dir] = (__u32)h2->carry;
    state->h2_next[dir] = (__u32)position + size;
    state->h2_whole[dir] = 0;
  } else {
    state->h2_part_len[dir] = 0;
    state->h2_next[dir] = (__u32)position + (__u32)h2->off;
    state->h2_whole[dir] = h2->off > size && h2->tail_whole;
  }
  s->ev.segments = (__u8)h2->segments;
  return (__u32)(h2->w - h2->head);
}

static __always_inline void trace__emit_data(struct conn_state* state,
                                             const struct syscall_args* args, __u64 id,
                                             __u64 position, __u32 size, __u64 total) {
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
    copied = loupe__copy_iov(s->data, (const struct iovec*)args->ptr, args->iovcnt, want);
  }
  if (copied > LOUPE_SOCK_MAX_DATA) copied = LOUPE_SOCK_MAX_DATA;
  s->ev.copied = copied;
  __u64 extra = trace__h2_segments(s, state, args, position, size, total, copied);
  // The walk may have sent the call's first part (trace__h2_flush): this is then the rest, its
  // position and size moved on and no head.
  copied = s->ev.copied;
  barrier_var(copied);
  if (copied > LOUPE_SOCK_MAX_DATA) return;
  __u64 size_out = sizeof(s->ev) + copied + extra;
  barrier_var(size_out);  // the helper's size register must be bounded
  if (size_out > sizeof(s->ev) + LOUPE_SOCK_MAX_DATA) {
    extra = 0;
    s->ev.segments = 0;
    size_out = sizeof(s->ev) + copied;
  }
  s->ev.extra = (__u32)extra;
  const __u64 flags = trace__wakeup_flags(
      bpf_ringbuf_query(&socket_events, BPF_RB_AVAIL_DATA) + size_out, size_out);
  if (bpf_ringbuf_output(&socket_events, s, size_out, flags) != 0) {
    __u64* lost = bpf_map_lookup_elem(&socket_lost_map, &zero);
    if (lost) *lost += 1;
  }
}

// A data syscall returned: `size` bytes to report (the first message for *mmsg), `total` bytes
// the call moved in all.
static __always_inline int trace__data(struct conn_state* state, const struct syscall_args* args,
                                       __u64 id, __u32 size, __u64 total) {
  const __u8 dir = args->direction & 1;
  const __u64 position = state->bytes[dir];
  state->bytes[dir] = position + total;

  if (state->protocol == LOUPE_PROTOCOL_UNKNOWN) {
    if (args->kind == ARGS_SENDFILE || state->infer_calls >= inference_attempts) return 0;
    state->infer_calls += 1;
    __u8 head[LOUPE_INFER_BYTES] = {};
    const __u32 n = trace__read_head(head, args, size);
    struct loupe_inference inferred = loupe__infer_protocol(head, n, size, state->preexisting);
    if (inferred.protocol == LOUPE_PROTOCOL_UNKNOWN) {
      trace__h2_follow_unknown(state, args, position, size, total, head, n);
      return 0;
    }
    state->protocol = inferred.protocol;
    if (state->preexisting && inferred.message_type != LOUPE_MSG_UNKNOWN) {
      // Whoever sends the request is the client.
      const int sends_request =
          (inferred.message_type == LOUPE_MSG_REQUEST) == (args->direction == LOUPE_DIR_EGRESS);
      state->role = sends_request ? LOUPE_ROLE_CLIENT : LOUPE_ROLE_SERVER;
    }
  }
  trace__emit_data(state, args, id, position, size, total);
  return 0;
}

// x86_64 syscall numbers (the architecture the programs are built for). 32-bit (ia32) syscalls,
// also those a 64-bit process makes with `int $0x80`, have other numbers: the syscall tracepoints
// do not report them, and the thread's TS_COMPAT status is checked as well.
#if !defined(__TARGET_ARCH_x86)
#error "socket_trace: syscall numbers are defined for x86_64 only"
#endif
#define NR_read 0
#define NR_write 1
#define NR_readv 19
#define NR_writev 20
#define NR_sendfile 40
#define NR_connect 42
#define NR_accept 43
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47
#define NR_accept4 288
#define NR_recvmmsg 299
#define NR_sendmmsg 307
#define TS_COMPAT 0x0002

// A data call on (tgid, fd) = `key` found `sk` (0: not a TCP socket) under `file`, where the
// connection map has `state` (null: nothing) for another file (address or inode number). Returns
// the connection to report on, or null:
// - no TCP socket: the fd was replaced by something else without a close() we saw; a known
//   connection ends there;
// - a TCP socket: a socket has one struct file (and inode) for its life, so another file means
//   another socket, even when the struct sock and the struct file are at the old addresses (the
//   old ones were freed after a close we missed, such as close_range() or dup2() onto the fd, and
//   their memory went to the new socket; the inode number tells them apart); or a connection that
//   began before the sensor or before the process was traced. The old one ends and a preexisting
//   one starts.
// With no state yet, two threads' first calls on the fd can both get here: the state is created
// only if none exists, so the second program uses the first one's instead of replacing it (the
// first call's data would have gone to a connection that never ends).
// Only the syscall hook calls this: the sock hook keys connections by socket and ends them when the
// socket is destroyed.
static __always_inline struct conn_state* trace__rebind(struct conn_state* state, __u64 key,
                                                        struct sock* sk, struct file* file,
                                                        __u64 id, __s32 fd) {
  if (state) trace__emit_close(state, id, fd);
  if (!sk) {
    if (state) bpf_map_delete_elem(&conn_map, &key);
    return 0;
  }
  struct conn_state* now =
      trace__new_conn(key, sk, file, LOUPE_ROLE_UNKNOWN, 1, id, fd, /*exclusive=*/!state, 0);
  if (now && (now->file != (__u64)file || now->ino != trace__file_ino(file))) return 0;
  return now;
}

// A data call returned `ret` > 0 on `fd`: resolves the fd to a TCP socket (skipping the socket
// checks when the fd still holds the known connection's file) and reports the data. Files, pipes
// and other sockets cost the fd walk and nothing more.
static __noinline int trace__data_call(const struct syscall_args* args, __u64 id, long ret) {
  const __s32 fd = args->fd;
  struct file* file = trace__file_of_fd(fd);
  if (!file) return 0;
  const __u64 key = trace__conn_key(id >> 32, fd);
  struct conn_state* state = bpf_map_lookup_elem(&conn_map, &key);
  if (!state || state->file != (__u64)file || state->ino != trace__file_ino(file)) {
    state = trace__rebind(state, key, trace__tcp_sock_of_file(file), file, id, fd);
    if (!state) return 0;
  }
  if (args->kind != ARGS_MMSG) return trace__data(state, args, id, (__u32)ret, (__u64)ret);
  // ret messages moved: report the first, count them all (up to LOUPE_SOCK_MAX_MMSG).
  const struct mmsghdr* msgs = (const struct mmsghdr*)args->mmsg;
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
  return trace__data(state, args, id, first, total);
}

// sendmsg/recvmsg (fd, msg, flags) and sendmmsg/recvmmsg (fd, msgvec, vlen, flags): the iovec of
// the (first) message.
static __always_inline int trace__msg_call(struct syscall_args* args, __u64 id, long ret,
                                           __u64 msg_ptr) {
  struct user_msghdr msg = {};
  if (bpf_probe_read_user(&msg, sizeof(msg), (const void*)msg_ptr) != 0) return 0;
  args->ptr = (__u64)msg.msg_iov;
  args->iovcnt = msg.msg_iovlen;
  args->mmsg = args->kind == ARGS_MMSG ? msg_ptr : 0;
  return trace__data_call(args, id, ret);
}

// accept/accept4 returned the new connection's fd; connect succeeded (or is in progress) on fd.
static __noinline int trace__conn_call(__u64 id, __s32 fd, __u8 role) {
  struct file* file = trace__file_of_fd(fd);
  struct sock* sk = trace__tcp_sock_of_file(file);
  if (!sk) return 0;
  const __u64 key = trace__conn_key(id >> 32, fd);
  struct conn_state* state = trace__new_conn(key, sk, file, role, 0, id, fd, 0, 0);
  if (state) trace__emit_open(state, id, fd);
  return 0;
}

// The current task when its process is traced and the call is a 64-bit one, with `*id` = tgid << 32
// | pid; else null. pid and tgid come through the task's BTF pointer (plain loads, no helper call)
// and the process filter runs first, so untraced processes pay for nothing else.
static __always_inline struct task_struct* trace__traced_task(__u64* id) {
  struct task_struct* task = bpf_get_current_task_btf();
  const __u32 tgid = task->tgid;
  if (!trace__pid_wanted(tgid)) return 0;
  if (task->thread_info.status & TS_COMPAT) return 0;
  *id = ((__u64)tgid << 32) | (__u32)task->pid;
  return task;
}

// A syscall `nr` returned `ret`: the call's arguments are still in the task's saved registers
// (di, si, dx, r10 = arguments 1-4), so the data calls need no entry program and no per-thread
// stash, and calls that moved nothing (EAGAIN, errors) cost the result check.
static __always_inline int trace__sys_exit(const long nr, const long ret) {
  switch (nr) {
    case NR_read:
    case NR_write:
    case NR_readv:
    case NR_writev:
    case NR_sendfile:
    case NR_sendto:
    case NR_recvfrom:
    case NR_sendmsg:
    case NR_recvmsg:
    case NR_sendmmsg:
    case NR_recvmmsg:
      if (ret <= 0) return 0;
      break;
    case NR_accept:
    case NR_accept4:
      if (ret < 0) return 0;
      break;
    case NR_connect:
      // Non-blocking connects return -EINPROGRESS with the local port already bound.
      if (ret != 0 && ret != -EINPROGRESS) return 0;
      break;
    default:
      return 0;
  }
  __u64 id = 0;
  struct task_struct* task = trace__traced_task(&id);
  if (!task) return 0;
  // The call's arguments in the task's saved registers.
  struct pt_regs* regs = (struct pt_regs*)bpf_task_pt_regs(task);
  const __s32 fd = (__s32)regs->di;
  struct syscall_args args = {};
  args.fd = fd;
  args.ptr = regs->si;
  switch (nr) {
    case NR_read:
      args.kind = ARGS_BUF;
      args.direction = LOUPE_DIR_INGRESS;
      return trace__data_call(&args, id, ret);
    case NR_write:
    case NR_sendto:
      args.kind = ARGS_BUF;
      args.direction = LOUPE_DIR_EGRESS;
      return trace__data_call(&args, id, ret);
    case NR_recvfrom:
      if (regs->r10 & MSG_PEEK) return 0;  // peeked bytes are read again later
      args.kind = ARGS_BUF;
      args.direction = LOUPE_DIR_INGRESS;
      return trace__data_call(&args, id, ret);
    case NR_readv:
    case NR_writev:
      args.kind = ARGS_IOV;
      args.direction = nr == NR_readv ? LOUPE_DIR_INGRESS : LOUPE_DIR_EGRESS;
      args.iovcnt = regs->dx;
      return trace__data_call(&args, id, ret);
    case NR_sendfile:
      // sendfile(out_fd, in_fd, offset, count): the bytes count in the position, nothing is copied.
      args.kind = ARGS_SENDFILE;
      args.direction = LOUPE_DIR_EGRESS;
      args.ptr = 0;
      return trace__data_call(&args, id, ret);
    case NR_recvmsg:
    case NR_sendmsg:
      if (nr == NR_recvmsg && (regs->dx & MSG_PEEK)) return 0;
      args.kind = ARGS_IOV;
      args.direction = nr == NR_recvmsg ? LOUPE_DIR_INGRESS : LOUPE_DIR_EGRESS;
      return trace__msg_call(&args, id, ret, regs->si);
    case NR_recvmmsg:
    case NR_sendmmsg:
      if (nr == NR_recvmmsg && (regs->r10 & MSG_PEEK)) return 0;
      args.kind = ARGS_MMSG;
      args.direction = nr == NR_recvmmsg ? LOUPE_DIR_INGRESS : LOUPE_DIR_EGRESS;
      return trace__msg_call(&args, id, ret, regs->si);
    case NR_accept:
    case NR_accept4:
      return trace__conn_call(id, (__s32)ret, LOUPE_ROLE_SERVER);
    case NR_connect:
      return trace__conn_call(id, fd, LOUPE_ROLE_CLIENT);
  }
  return 0;
}

// A TCP socket (AF_INET/AF_INET6, SOCK_STREAM, IPPROTO_TCP) from its struct sock.
static __always_inline int trace__is_tcp_sk(struct sock* sk) {
  const __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  if (family != AF_INET && family != AF_INET6) return 0;
  return BPF_CORE_READ(sk, sk_type) == SOCK_STREAM && BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP;
}

// Whether the application had read nothing from `sk` before the call that just read `this_call`
// bytes (0 for a send). The tracepoints fire after the copy, so copied_seq already includes the
// call. copied_seq moves only when the application reads (under the socket lock, in its context),
// so this holds while data keeps arriving: an earlier version computed bytes_received - (rcv_nxt -
// copied_seq), whose two counters a receive on the other CPU can advance between the two loads,
// and grpc-go's server, which writes its SETTINGS while the client's preface arrives, was once
// taken for a connection that began before the sensor (all its calls unreported). Without the
// sequence (the ESTABLISHED transition was not seen: a fast-open socket read before it, or one
// established as the sensor started) that older reckoning is the fallback.
static __always_inline int trace__nothing_read_before(struct sock* sk, const struct sk_role* known,
                                                      __u64 this_call) {
  struct tcp_sock* tp = (struct tcp_sock*)sk;
  const __u32 copied = BPF_CORE_READ(tp, copied_seq);
  if (known->has_seq) return (__u32)(copied - known->copied_seq0) == (__u32)this_call;
  const __u64 received = BPF_CORE_READ(tp, bytes_received);
  const __u32 unread = BPF_CORE_READ(tp, rcv_nxt) - copied;
  return received - unread == this_call;
}

// Since when process `tgid` has been traced (~0: not known).
static __always_inline __u64 trace__traced_since(__u32 tgid) {
  const __u64 floor = traced_since_floor_ns;
  if (trace_all_pids) return floor;
  const __u64* since = bpf_map_lookup_elem(&pid_since_map, &tgid);
  if (!since) return ~0ULL;
  return *since > floor ? *since : floor;
}

// Sock hook: the first data call seen on a TCP socket. The connection is new (an open event, its
// role from sk_role_map) when it was established after the sensor started and either after the
// process was traced (every call on it was seen) or the application had read nothing from it
// before this call; otherwise it is preexisting: it began before the sensor, or before the process
// was traced and was used meanwhile (a client's requests are answered, so a client that sent
// earlier requests has read something too). Two threads' first calls at once create one state:
// the other's open event is not repeated.
static __always_inline struct conn_state* trace__new_sock_conn(struct sock* sk, __u64 id, __s32 fd,
                                                               __u64 ingress_bytes) {
  const __u64 key = (__u64)sk;
  const struct sk_role* known = bpf_map_lookup_elem(&sk_role_map, &key);
  const __u8 role = known ? known->role : LOUPE_ROLE_UNKNOWN;
  __u8 fresh = 0;
  if (known) {
    fresh = (known->has_seq && known->established_ns > trace__traced_since(id >> 32)) ||
            trace__nothing_read_before(sk, known, ingress_bytes);
  }
  int created = 0;
  struct conn_state* state = trace__new_conn(key, sk, 0, role, !fresh, id, fd, 1, &created);
  if (state && fresh && created) trace__emit_open(state, id, fd);
  return state;
}

// sock:sock_send_length / sock:sock_recv_length (kernel >= 6.3): a socket moved `ret` bytes, in
// the context of the calling task, after the data was copied. The connection is the tracepoint's
// `sk` (conn_map is keyed by it); the fd and the buffer come from the syscall's saved registers.
// With this hook no syscall tracepoint is attached at all (an attached one sends every thread of
// the host through the syscall slow path): roles and connection ends come from
// sock:inet_sock_set_state (raw_tp__inet_sock_set_state), and calls on pipes and files run no
// program. The *mmsg calls fire once per message while the registers point at the whole array: a
// call with one message is copied, with more their bytes are counted in the positions and not
// copied (the parser resyncs after the gap), as are calls the registers do not describe (io_uring).
static __always_inline int trace__sock_data(struct sock* sk, long ret, int flags, __u8 direction) {
  if (ret <= 0 || !sk) return 0;
  if (direction == LOUPE_DIR_INGRESS && (flags & MSG_PEEK)) return 0;
  __u64 id = 0;
  struct task_struct* task = trace__traced_task(&id);
  if (!task) return 0;
  struct pt_regs* regs = (struct pt_regs*)bpf_task_pt_regs(task);
  struct syscall_args args = {};
  args.fd = (__s32)regs->di;
  args.direction = direction;
  args.kind = ARGS_SENDFILE;  // counted, not copied, unless the call's buffers are known below
  int fd_known = 1;
  switch (regs->orig_ax) {
    case NR_read:
    case NR_recvfrom:
    case NR_write:
    case NR_sendto:
      args.kind = ARGS_BUF;
      args.ptr = regs->si;
      break;
    case NR_readv:
    case NR_writev:
      args.kind = ARGS_IOV;
      args.ptr = regs->si;
      args.iovcnt = regs->dx;
      break;
    case NR_sendmmsg:
    case NR_recvmmsg:
      if (regs->dx != 1) break;  // several messages: counted
      // One message: unambiguous, and an mmsghdr starts with its msghdr.
      __attribute__((fallthrough));
    case NR_recvmsg:
    case NR_sendmsg: {
      struct user_msghdr msg = {};
      if (bpf_probe_read_user(&msg, sizeof(msg), (const void*)regs->si) != 0) return 0;
      args.kind = ARGS_IOV;
      args.ptr = (__u64)msg.msg_iov;
      args.iovcnt = msg.msg_iovlen;
      break;
    }
    case NR_sendfile:
      break;
    default:
      fd_known = 0;  // io_uring and the like: the registers do not describe the call
      break;
  }
  const __u64 key = (__u64)sk;
  struct conn_state* state = bpf_map_lookup_elem(&conn_map, &key);
  if (!state) {
    if (!fd_known || !trace__is_tcp_sk(sk)) return 0;
    state = trace__new_sock_conn(sk, id, args.fd, direction == LOUPE_DIR_INGRESS ? ret : 0);
    if (!state) return 0;
  }
  // Events name the connection by the process and fd it was first seen with.
  id = ((__u64)state->tgid << 32) | (__u32)id;
  args.fd = state->fd;
  return trace__data(state, &args, id, (__u32)ret, (__u64)ret);
}

SEC("raw_tp/sock_send_length")
int raw_tp__sock_send_length(struct bpf_raw_tracepoint_args* ctx) {
  return trace__sock_data((struct sock*)ctx->args[0], (int)ctx->args[1], (int)ctx->args[2],
                          LOUPE_DIR_EGRESS);
}

SEC("raw_tp/sock_recv_length")
int raw_tp__sock_recv_length(struct bpf_raw_tracepoint_args* ctx) {
  return trace__sock_data((struct sock*)ctx->args[0], (int)ctx->args[1], (int)ctx->args[2],
                          LOUPE_DIR_INGRESS);
}

// Sock hook: a connection of conn_map (keyed by socket) ends.
static __always_inline void trace__end_sock_conn(__u64 key) {
  struct conn_state* state = bpf_map_lookup_elem(&conn_map, &key);
  if (!state) return;
  const __u64 id = ((__u64)state->tgid << 32) | state->tgid;
  trace__emit_close(state, id, state->fd);
  bpf_map_delete_elem(&conn_map, &key);
}

// Sock hook, sock:inet_sock_set_state (every TCP socket of the host; the caller may be softirq):
// SYN_SENT (connect) and SYN_RECV (a listener's child) record the socket's role, and so that it
// was established while the sensor ran; ESTABLISHED from either records the role again (in case
// one was missed) with the receive sequence nothing has been read from yet (copied_seq). A
// connection state still held under the socket's address at SYN_SENT/SYN_RECV belongs to an earlier
// connection (a socket reconnected after connect(AF_UNSPEC)): it ends there.
SEC("raw_tp/inet_sock_set_state")
int raw_tp__inet_sock_set_state(struct bpf_raw_tracepoint_args* ctx) {
  struct sock* sk = (struct sock*)ctx->args[0];
  const int oldstate = (int)ctx->args[1];
  const int newstate = (int)ctx->args[2];
  __u64 key = (__u64)sk;
  __u8 role = LOUPE_ROLE_UNKNOWN;
  switch (newstate) {
    case TCP_SYN_SENT:
      role = LOUPE_ROLE_CLIENT;
      break;
    case TCP_SYN_RECV:
      role = LOUPE_ROLE_SERVER;
      break;
    case TCP_ESTABLISHED:
      if (oldstate == TCP_SYN_SENT)
        role = LOUPE_ROLE_CLIENT;
      else if (oldstate == TCP_SYN_RECV)
        role = LOUPE_ROLE_SERVER;
      else
        return 0;
      break;
    default:
      return 0;
  }
  if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP) return 0;
  if (newstate != TCP_ESTABLISHED) trace__end_sock_conn(key);
  struct sk_role value = {};
  value.role = role;
  if (newstate == TCP_ESTABLISHED) {
    // Both ways in, copied_seq is set before the state changes (the client's in
    // tcp_rcv_synsent_state_process, the child's in tcp_create_openreq_child) and data is queued
    // only after; at SYN_RECV the child is still a copy of its listener.
    value.copied_seq0 = BPF_CORE_READ((struct tcp_sock*)sk, copied_seq);
    value.established_ns = bpf_ktime_get_ns();
    value.has_seq = 1;
  }
  bpf_map_update_elem(&sk_role_map, &key, &value, BPF_ANY);
  return 0;
}

// Sock hook, tcp:tcp_destroy_sock: the socket is gone, which ends its connection. That is when the
// application has closed it (close(), the release of its last reference by dup2 or exit) and TCP
// is done with it: for an orphaned socket the move to TCP_CLOSE one round trip after close() (the
// peer's ACK of our FIN), for a socket already in TCP_CLOSE (reset by the peer) the close() itself.
// The state changes before it are not the end: after shutdown(SHUT_WR) (FIN_WAIT1) and after a
// reset (CLOSE) the application still reads what it had received (nginx's lingering close,
// HTTP/1.0-style clients, a server that resets after its answer).
SEC("raw_tp/tcp_destroy_sock")
int raw_tp__tcp_destroy_sock(struct bpf_raw_tracepoint_args* ctx) {
  __u64 key = ctx->args[0];
  trace__end_sock_conn(key);
  bpf_map_delete_elem(&sk_role_map, &key);
  return 0;
}

// One program for the exit tracepoints of all the syscalls above (the syscall exit records share
// one layout): loaded and verified once, attached by the skeleton to sys_exit_read and by the
// sensor to the others (SocketTraceSensor, kExitTracepoints). Other syscalls run no program.
SEC("tracepoint/syscalls/sys_exit_read")
int tracepoint__sys_exit_socket_call(struct trace_event_raw_sys_exit* ctx) {
  // __syscall_nr is a 32-bit field (the padding after it is not zeroed).
  return trace__sys_exit((__s32)ctx->id, ctx->ret);
}

// Syscall hook: close() releases the fd even when it fails, so the connection ends at the entry.
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
  // A later process reusing the pid is not traced until discovery selects it (with
  // trace_all_pids the bits are exclusions, which user space keeps).
  if (!trace_all_pids) {
    const __u32 word = tgid >> 6;
    __u64* bits = bpf_map_lookup_elem(&pid_bits_map, &word);
    if (bits) __sync_fetch_and_and(bits, ~(1ULL << (tgid & 63)));
  }
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
