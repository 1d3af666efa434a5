/* C ABI shared by bpf/progs/socket_trace.bpf.c and src/sensors/socket_trace_sensor.cc
 * (ABI version 2). Timestamps are bpf_ktime_get_ns(); addresses in network byte order (IPv4 in the
 * first 4 bytes), ports in host byte order; "local" is the traced process's end of the socket. */
#ifndef LOUPE_BPF_INTF_SOCKET_TRACE_H_
#define LOUPE_BPF_INTF_SOCKET_TRACE_H_

/* Largest data_limit the program accepts (bytes copied per syscall); the per-CPU scratch buffer
 * holds twice this, and per-CPU map values are limited to 32 KiB. */
#define LOUPE_SOCK_MAX_DATA 8192
/* iovecs (readv/writev/sendmsg/recvmsg) copied from per call; bytes in later ones are counted. */
#define LOUPE_SOCK_MAX_IOV 8
/* recvmmsg/sendmmsg messages whose sizes are summed into the position; only the first is copied. */
#define LOUPE_SOCK_MAX_MMSG 8
/* HTTP/2 frames a call's frame walk follows, and segments beyond the head a data event carries.
 * A call whose segments do not fit one event is sent as several consecutive events (each one a
 * part of the call, as if it were a call of its own), at most LOUPE_SOCK_MAX_H2_EVENTS. */
#define LOUPE_SOCK_MAX_H2_FRAMES 4096
#define LOUPE_SOCK_MAX_SEGMENTS 128
#define LOUPE_SOCK_MAX_H2_EVENTS 40
/* iovecs of one call the frame walk follows beyond the head (gRPC C-core sends each frame as
 * several slices of one sendmsg, up to about a thousand at a time): IOV_MAX, the most that
 * readv/writev/sendmsg/recvmsg take. The walk reads them LOUPE_SOCK_MAX_H2_IOV at a time. */
#define LOUPE_SOCK_MAX_H2_CALL_IOV 1024
#define LOUPE_SOCK_MAX_H2_IOV 256
#define LOUPE_PROC_FILENAME_LEN 256
/* pid_bits_map: one bit per tgid up to the kernel's PID_MAX_LIMIT on 64-bit (4194304), in 64-bit
 * words; 512 KiB. */
#define LOUPE_PID_BITS_WORDS (4194304 / 64)

enum loupe_sock_event_kind {
  LOUPE_SOCK_OPEN = 1,
  LOUPE_SOCK_DATA = 2,
  LOUPE_SOCK_CLOSE = 3,
};

enum loupe_proc_event_kind {
  LOUPE_PROC_EXEC = 1,
  LOUPE_PROC_EXIT = 2,
};

/* Same numbering as loupe::sensors::ConnRole / DataDirection. */
enum loupe_sock_role { LOUPE_ROLE_UNKNOWN = 0, LOUPE_ROLE_CLIENT = 1, LOUPE_ROLE_SERVER = 2 };
enum loupe_sock_direction { LOUPE_DIR_EGRESS = 0, LOUPE_DIR_INGRESS = 1 };

struct loupe_sock_tuple {
  __u8 local_addr[16];
  __u8 remote_addr[16];
  __u16 local_port;
  __u16 remote_port;
  __u8 ip_version; /* 4 or 6; 6 may carry an IPv4-mapped address */
  __u8 pad[3];
};

/* Common prefix of every socket event; `kind` tells which struct follows. */
struct loupe_sock_header {
  __u8 kind; /* enum loupe_sock_event_kind */
  __u8 role; /* enum loupe_sock_role */
  __u8 protocol;
  __u8 preexisting;
  __u32 tid;
  __u32 tgid;
  __s32 fd;
  __u64 tsid; /* connection generation: bpf_ktime_get_ns() when the connection was first seen */
  __u64 ts_ns;
};

struct loupe_sock_open_event {
  struct loupe_sock_header hdr;
  struct loupe_sock_tuple tuple;
  char comm[16]; /* the process's command name at accept/connect (it may exit before we read) */
};

/* A piece of a call's data beyond the head: `length` bytes from `offset` (from the call's first
 * byte). */
struct loupe_sock_segment {
  __u32 offset;
  __u32 length;
};

/* Followed by `copied` bytes of data (the head: the call's first bytes), then `extra` bytes:
 * `segments` times a struct loupe_sock_segment and its bytes, in increasing offsets, each after
 * the head and the previous one. The record is sizeof(struct) + copied + extra bytes long.
 * Segments are HTTP/2 frame headers and non-DATA frames that lie beyond the head, so that a
 * parser skips DATA payloads by length and keeps frame sync across a truncated copy. */
struct loupe_sock_data_event {
  struct loupe_sock_header hdr;
  struct loupe_sock_tuple tuple;
  __u64 position;      /* bytes the direction carried before this call */
  __u32 original_size; /* bytes the syscall moved (first message for *mmsg) */
  __u32 copied;        /* head bytes that follow, <= original_size and <= data_limit */
  __u8 direction;      /* enum loupe_sock_direction */
  __u8 segments;       /* <= LOUPE_SOCK_MAX_SEGMENTS */
  __u8 pad[2];
  __u32 extra;   /* bytes after the head: the segments with their descriptors */
  char comm[16]; /* command name of the calling process (it may exit before we read) */
};

struct loupe_sock_close_event {
  struct loupe_sock_header hdr;
  __u64 bytes_sent;
  __u64 bytes_received;
};

struct loupe_proc_event {
  __u64 ts_ns;
  __u32 kind;      /* enum loupe_proc_event_kind */
  __u32 pid;       /* tgid */
  __u32 ppid;      /* tgid of the parent (exec only) */
  __s32 exit_code; /* exit only: task->exit_code (status << 8 | signal) */
  char comm[16];
  char filename[LOUPE_PROC_FILENAME_LEN]; /* exec only: the path passed to execve */
};

#endif /* LOUPE_BPF_INTF_SOCKET_TRACE_H_ */
