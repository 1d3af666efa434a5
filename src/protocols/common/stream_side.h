// Chunk intake of one side of a connection, shared by the parsers: tracks the position the next
// chunk should start at and splits an arriving chunk into what the parser must handle, in order:
// bytes missing before it (a position jump), new bytes (an overlap with bytes already seen is cut
// off), and bytes the syscall moved but the kernel did not copy (original_size > data.size()).
//
// The first chunk a side sees defines where its stream starts. Not thread-safe: one per side.
#pragma once

#include <cstdint>
#include <span>

#include "src/protocols/common/interface.h"

namespace loupe::protocols {

struct ChunkIntake {
  uint64_t gap_before = 0;        // bytes missing between the previous chunk and `data`
  std::span<const uint8_t> data;  // bytes not seen before, to parse
  uint64_t gap_after = 0;         // bytes after `data` that were not copied
};

class StreamSide {
 public:
  // Fills `out` and advances the expected position. Returns false, leaving the position as it
  // was, when the chunk holds nothing new (a duplicate of bytes already seen).
  bool Accept(const StreamChunk& chunk, ChunkIntake* out);

  bool started() const { return started_; }
  // Position of the first byte not yet accounted for (seen or reported as a gap).
  uint64_t expected_position() const { return expected_pos_; }

 private:
  bool started_ = false;
  uint64_t expected_pos_ = 0;
};

}  // namespace loupe::protocols
