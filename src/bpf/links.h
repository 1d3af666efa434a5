// Detaching BPF links quickly. Closing a tracepoint attachment waits, inside the kernel, for RCU
// grace periods (~80 ms each on the 2-vCPU VM of docs/performance.md); done one after the other,
// the socket sensor's 17 tracepoints made `loupe agent` take over a second to stop. Concurrent
// detaches wait for the same grace periods.
#pragma once

#include <bpf/libbpf.h>

#include <span>
#include <vector>

namespace loupe::bpf {

// Destroys every link (bpf_link__destroy; null entries are skipped), each on its own thread, and
// returns when all are detached.
void DestroyLinksConcurrently(std::span<struct bpf_link* const> links);

// Takes a skeleton's attached links out of it (its link pointers become null, so destroying the
// skeleton detaches nothing) for DestroyLinksConcurrently. Null-safe.
std::vector<struct bpf_link*> TakeSkeletonLinks(struct bpf_object_skeleton* skeleton);

}  // namespace loupe::bpf
