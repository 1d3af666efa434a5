/* Ring-buffer helpers shared by all sensors: reserve-or-count-the-loss. */
#ifndef LOUPE_BPF_LIB_RINGBUF_H_
#define LOUPE_BPF_LIB_RINGBUF_H_

#include <bpf/bpf_helpers.h>

/* Declares the per-CPU loss counter of a program: slot 0 counts events dropped because the ring
 * buffer was full. User space sums the CPUs and exports loupe_bpf_events_lost_total{program}. */
#define LOUPE_DECLARE_LOST_MAP(name)         \
  struct {                                   \
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); \
    __uint(max_entries, 1);                  \
    __type(key, __u32);                      \
    __type(value, __u64);                    \
  } name SEC(".maps")

static __always_inline void* loupe__ringbuf_reserve(void* ringbuf, void* lost_map, __u64 size) {
  void* event = bpf_ringbuf_reserve(ringbuf, size, 0);
  if (!event) {
    __u32 zero = 0;
    __u64* lost = bpf_map_lookup_elem(lost_map, &zero);
    if (lost) *lost += 1;
  }
  return event;
}

#endif /* LOUPE_BPF_LIB_RINGBUF_H_ */
