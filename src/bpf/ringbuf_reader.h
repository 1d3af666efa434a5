// RAII reader of one or more BPF ring buffers. The callback gets each record's bytes; records are
// delivered in the order the kernel committed them per ring buffer.
// Thread expectations: Poll() is called from one thread at a time (the sensor's reader thread).
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "absl/status/statusor.h"

namespace loupe::bpf {

class RingBufReader {
 public:
  using Callback = std::function<void(std::span<const uint8_t>)>;

  static absl::StatusOr<std::unique_ptr<RingBufReader>> Create(int map_fd, Callback callback);
  ~RingBufReader();
  RingBufReader(const RingBufReader&) = delete;
  RingBufReader& operator=(const RingBufReader&) = delete;

  // Waits up to `timeout_ms` for data and consumes what is available. Returns the number of
  // records consumed, or a negative errno (-EINTR is not an error for callers to report).
  int Poll(int timeout_ms);
  // Consumes whatever is available without waiting.
  int Drain();

 private:
  explicit RingBufReader(Callback callback) : callback_(std::move(callback)) {}
  static int OnRecord(void* ctx, void* data, size_t size);

  Callback callback_;
  ring_buffer* rb_ = nullptr;
};

// Sums slot `key` of a BPF_MAP_TYPE_PERCPU_ARRAY of __u64 over all possible CPUs.
absl::StatusOr<uint64_t> SumPerCpuCounter(int map_fd, uint32_t key);

}  // namespace loupe::bpf
