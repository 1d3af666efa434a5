// Feature probes behind `loupe preflight`: for each BPF hook type Loupe uses, really load and
// attach one tiny program of the `probes` skeleton, trigger it where practical and report whether
// it is available, whether it fired, and the errno of the step that failed.
//
// Each probe loads exactly one program (autoload is switched off for the others), so a hook the
// kernel refuses cannot hide another. Everything a probe creates (links, qdiscs, the temporary
// network namespace and cgroup, child processes) is removed before it returns, also on failure.
// Probes never abort: without privileges every step simply fails with its errno.
//
// Thread expectations: call from one thread at a time. The TC probe runs on a short-lived helper
// thread of its own (it needs a private network namespace); the cgroup probe forks a child.
#pragma once

#include <sys/resource.h>

#include <optional>
#include <string>
#include <vector>

namespace loupe::bpf {

enum class Hook {
  kRingBuffer,
  kTracepoint,
  kRawTracepoint,
  kTc,
  kCgroupSkb,
  kUprobe,
  kKprobe,
  kFentry,
};

// Every hook, in the order preflight reports them.
const std::vector<Hook>& AllHooks();

// Stable name used in preflight output: "ringbuf", "tracepoint", "raw_tracepoint", "tc",
// "cgroup_skb", "uprobe", "kprobe", "fentry".
const char* HookName(Hook hook);

struct HookProbeResult {
  Hook hook = Hook::kRingBuffer;
  // Loaded (or created) and attached.
  bool available = false;
  // Whether the probe triggered the hook and saw its program run; nullopt when the hook was not
  // triggered (ring buffer, or a probe that failed before it could trigger).
  std::optional<bool> fired;
  // Positive errno of the step that failed; 0 when available.
  int err = 0;
  // The failing step and its errno, e.g. "loading the program: EPERM (Operation not permitted)".
  std::string error;
  // The libbpf/verifier hint for `err` (see HintForError); empty when available.
  std::string hint;
  // What was attached where, e.g. "syscalls/sys_enter_getppid".
  std::string detail;
};

// Probes one hook. Never crashes; see the file comment for cleanup guarantees.
HookProbeResult ProbeHook(Hook hook);

// Whether the running kernel's release (uname) is at least major.minor; false when it cannot
// tell. For features that cannot be probed without loading the programs that need them (e.g. hash
// maps that allocate on update in tracing programs, Linux 6.1).
bool KernelAtLeast(int major, int minor);

// Where cgroup v2 is mounted, read from a mounts table (/proc/self/mounts format).
struct CgroupMounts {
  // Mount point of the cgroup2 file system; empty when cgroup v2 is not mounted.
  std::string cgroup2_path;
  // Whether cgroup v1 hierarchies are mounted too (hybrid layout, e.g. cgroup2 at
  // /sys/fs/cgroup/unified next to v1 controllers).
  bool has_cgroup1 = false;
};
CgroupMounts ParseCgroupMounts(const std::string& mounts_table);
// Reads /proc/self/mounts; an unreadable table yields an empty result.
CgroupMounts ReadCgroupMounts();

// Prefix of the temporary cgroup the cgroup skb probe creates under the cgroup2 mount; it is
// followed by the pid. Exposed so tests can check that none is left behind.
inline constexpr char kProbeCgroupPrefix[] = "loupe-preflight-";

// Whether RLIMIT_MEMLOCK limits BPF memory on this kernel. Found out by forking a child that sets
// RLIMIT_MEMLOCK to 0 and creates a small map: when that works, the kernel charges BPF memory to
// the memory cgroup (Linux 5.11+) and the limit does not matter.
enum class MemlockAccounting {
  kMemcg,         // the limit does not apply
  kRlimit,        // the limit applies to BPF maps and programs
  kUndetermined,  // this process cannot create maps at all (see `err`)
};
struct MemlockProbeResult {
  MemlockAccounting accounting = MemlockAccounting::kUndetermined;
  int err = 0;  // errno of the failing map creation, when undetermined or limited
};
MemlockProbeResult ProbeMemlockAccounting();

// The function the uprobe probe attaches to. extern "C" and never inlined so that it has a plain
// symbol in the binary (which is linked with -rdynamic).
extern "C" int loupe_preflight_uprobe_target(int value);

}  // namespace loupe::bpf
