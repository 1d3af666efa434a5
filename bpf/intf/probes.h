/* C ABI shared by bpf/progs/probes.bpf.c and src/bpf/feature_probe.cc (ABI version 1).
 * The feature probes of `loupe preflight`: one tiny program per hook type, each of which counts
 * its invocations so that preflight can tell "attached" from "attached and fired". */
#ifndef LOUPE_BPF_INTF_PROBES_H_
#define LOUPE_BPF_INTF_PROBES_H_

enum loupe_probe_id {
  LOUPE_PROBE_TRACEPOINT = 0,
  LOUPE_PROBE_RAW_TRACEPOINT = 1,
  LOUPE_PROBE_TC = 2,
  LOUPE_PROBE_CGROUP_SKB = 3,
  LOUPE_PROBE_UPROBE = 4,
  LOUPE_PROBE_KPROBE = 5,
  LOUPE_PROBE_FENTRY = 6,
  LOUPE_PROBE_COUNT = 7,
};

#endif /* LOUPE_BPF_INTF_PROBES_H_ */
