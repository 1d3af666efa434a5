#include "src/bpf/ringbuf_reader.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <vector>

#include "absl/strings/str_cat.h"
#include "src/bpf/libbpf_log.h"
#include "src/bpf/load_error.h"

namespace loupe::bpf {

absl::StatusOr<std::unique_ptr<RingBufReader>> RingBufReader::Create(int map_fd,
                                                                     Callback callback) {
  LibbpfLogCapture capture;
  std::unique_ptr<RingBufReader> reader(new RingBufReader(std::move(callback)));
  reader->rb_ = ring_buffer__new(map_fd, &RingBufReader::OnRecord, reader.get(), nullptr);
  if (reader->rb_ == nullptr) {
    return BpfError("creating ring buffer reader", errno, capture.lines());
  }
  return reader;
}

RingBufReader::~RingBufReader() {
  if (rb_ != nullptr) ring_buffer__free(rb_);
}

int RingBufReader::OnRecord(void* ctx, void* data, size_t size) {
  auto* self = static_cast<RingBufReader*>(ctx);
  self->callback_(std::span<const uint8_t>(static_cast<const uint8_t*>(data), size));
  return 0;
}

int RingBufReader::Poll(int timeout_ms) { return ring_buffer__poll(rb_, timeout_ms); }

int RingBufReader::Drain() { return ring_buffer__consume(rb_); }

absl::StatusOr<uint64_t> SumPerCpuCounter(int map_fd, uint32_t key) {
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return absl::InternalError("cannot determine the number of possible CPUs");
  std::vector<uint64_t> values(static_cast<size_t>(ncpus));
  if (bpf_map_lookup_elem(map_fd, &key, values.data()) != 0) {
    return BpfError(absl::StrCat("reading per-CPU counter ", key), errno, {});
  }
  uint64_t sum = 0;
  for (uint64_t v : values) sum += v;
  return sum;
}

}  // namespace loupe::bpf
