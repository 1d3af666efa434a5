#include "src/protocols/common/stream_side.h"

#include <algorithm>

namespace loupe::protocols {

bool StreamSide::Accept(const StreamChunk& chunk, ChunkIntake* out) {
  std::span<const uint8_t> data = chunk.data;
  uint64_t pos = chunk.position;
  uint64_t total = std::max<uint64_t>(chunk.original_size, data.size());
  if (!started_) {
    started_ = true;
    expected_pos_ = pos;
  }
  out->gap_before = 0;
  if (pos < expected_pos_) {
    // Overlap with bytes already seen (a retransmitted or duplicated event): skip them. The bytes
    // after an overlap do not start at a syscall boundary.
    const uint64_t dup = expected_pos_ - pos;
    if (dup >= total) return false;
    data = dup >= data.size() ? std::span<const uint8_t>() : data.subspan(dup);
    total -= dup;
    pos = expected_pos_;
  } else if (pos > expected_pos_) {
    out->gap_before = pos - expected_pos_;
  }
  expected_pos_ = pos + total;
  out->data = data;
  out->gap_after = total - data.size();
  return true;
}

}  // namespace loupe::protocols
