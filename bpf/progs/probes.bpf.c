// SPDX-License-Identifier: GPL-2.0
// Feature probes for `loupe preflight`: each program only counts that it ran. Preflight loads one
// program at a time (autoload off for the rest) so a hook the kernel refuses cannot hide another.
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/intf/probes.h"

// Invocation count per probe id; bounded by LOUPE_PROBE_COUNT. Lives in .bss.
__u64 probe_hits[LOUPE_PROBE_COUNT];

// Restricts counting to the preflight process so unrelated activity does not count as "fired".
const volatile __u32 target_tgid = 0;

static __always_inline int probe__from_target(void) {
  return target_tgid == 0 || (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

static __always_inline void probe__hit(__u32 id) {
  if (id < LOUPE_PROBE_COUNT) __sync_fetch_and_add(&probe_hits[id], 1);
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int tracepoint__probe(void* ctx) {
  if (probe__from_target()) probe__hit(LOUPE_PROBE_TRACEPOINT);
  return 0;
}

SEC("raw_tracepoint/sys_enter")
int raw_tracepoint__probe(struct bpf_raw_tracepoint_args* ctx) {
  if (probe__from_target()) probe__hit(LOUPE_PROBE_RAW_TRACEPOINT);
  return 0;
}

SEC("tc")
int tc__probe(struct __sk_buff* skb) {
  probe__hit(LOUPE_PROBE_TC);
  return -1;  // TC_ACT_UNSPEC: let the packet continue untouched.
}

SEC("cgroup_skb/egress")
int cgroup_skb__probe(struct __sk_buff* skb) {
  probe__hit(LOUPE_PROBE_CGROUP_SKB);
  return 1;  // allow
}

SEC("uprobe")
int uprobe__probe(struct pt_regs* ctx) {
  if (probe__from_target()) probe__hit(LOUPE_PROBE_UPROBE);
  return 0;
}

SEC("kprobe")
int kprobe__probe(struct pt_regs* ctx) {
  if (probe__from_target()) probe__hit(LOUPE_PROBE_KPROBE);
  return 0;
}

SEC("fentry/vfs_read")
int BPF_PROG(fentry__probe) {
  if (probe__from_target()) probe__hit(LOUPE_PROBE_FENTRY);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
