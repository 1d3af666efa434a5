// SPDX-License-Identifier: GPL-2.0
// Test-only: a program the verifier must reject (it dereferences a map lookup result without a
// NULL check). Used to check that load errors carry the verifier log and a hint.
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

// One counter; a hash map so the verifier cannot prove the lookup non-NULL. Never loads.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} reject_map SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int tracepoint__reject(void* ctx) {
  __u32 key = 0;
  __u64* value = bpf_map_lookup_elem(&reject_map, &key);
  *value += 1;  // no NULL check: "invalid mem access 'map_value_or_null'"
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
