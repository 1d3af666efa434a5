#include "src/protocols/common/stream_side.h"

#include <gtest/gtest.h>

#include <string>

namespace loupe::protocols {
namespace {

const std::string kBytes = "0123456789abcdef";

StreamChunk Chunk(uint64_t position, size_t offset, size_t copied, uint32_t original) {
  StreamChunk c;
  c.position = position;
  c.data = {reinterpret_cast<const uint8_t*>(kBytes.data()) + offset, copied};
  c.original_size = original;
  return c;
}

std::string Text(std::span<const uint8_t> data) {
  return {reinterpret_cast<const char*>(data.data()), data.size()};
}

TEST(StreamSideTest, FirstChunkDefinesTheStartAndContiguousChunksHaveNoGaps) {
  StreamSide side;
  EXPECT_FALSE(side.started());
  ChunkIntake in;
  ASSERT_TRUE(side.Accept(Chunk(1000, 0, 4, 4), &in));
  EXPECT_TRUE(side.started());
  EXPECT_EQ(in.gap_before, 0u);
  EXPECT_EQ(Text(in.data), "0123");
  EXPECT_EQ(in.gap_after, 0u);
  EXPECT_EQ(side.expected_position(), 1004u);
  ASSERT_TRUE(side.Accept(Chunk(1004, 4, 4, 4), &in));
  EXPECT_EQ(in.gap_before, 0u);
  EXPECT_EQ(Text(in.data), "4567");
  EXPECT_EQ(side.expected_position(), 1008u);
}

TEST(StreamSideTest, PositionJumpIsAGapBefore) {
  StreamSide side;
  ChunkIntake in;
  ASSERT_TRUE(side.Accept(Chunk(0, 0, 4, 4), &in));
  ASSERT_TRUE(side.Accept(Chunk(10, 4, 2, 2), &in));
  EXPECT_EQ(in.gap_before, 6u);
  EXPECT_EQ(Text(in.data), "45");
  EXPECT_EQ(in.gap_after, 0u);
  EXPECT_EQ(side.expected_position(), 12u);
}

TEST(StreamSideTest, TruncatedCopyIsAGapAfter) {
  StreamSide side;
  ChunkIntake in;
  // The syscall moved 100 bytes, the kernel copied 8.
  ASSERT_TRUE(side.Accept(Chunk(0, 0, 8, 100), &in));
  EXPECT_EQ(Text(in.data), "01234567");
  EXPECT_EQ(in.gap_after, 92u);
  EXPECT_EQ(side.expected_position(), 100u);
  // original_size smaller than the copy (never sent by the kernel) counts the copy.
  ASSERT_TRUE(side.Accept(Chunk(100, 0, 4, 0), &in));
  EXPECT_EQ(in.gap_after, 0u);
  EXPECT_EQ(side.expected_position(), 104u);
}

TEST(StreamSideTest, OverlapIsCutAndDuplicatesAreRejected) {
  StreamSide side;
  ChunkIntake in;
  ASSERT_TRUE(side.Accept(Chunk(0, 0, 8, 8), &in));
  // Bytes 4..11: 4..7 were seen.
  ASSERT_TRUE(side.Accept(Chunk(4, 4, 8, 8), &in));
  EXPECT_EQ(in.gap_before, 0u);
  EXPECT_EQ(Text(in.data), "89ab");
  EXPECT_EQ(side.expected_position(), 12u);
  // Entirely seen: nothing new, position unchanged.
  EXPECT_FALSE(side.Accept(Chunk(2, 2, 10, 10), &in));
  EXPECT_EQ(side.expected_position(), 12u);
  // Overlap reaching past the copied bytes into the uncopied rest: no data, the rest is a gap.
  ASSERT_TRUE(side.Accept(Chunk(8, 8, 2, 10), &in));
  EXPECT_TRUE(in.data.empty());
  EXPECT_EQ(in.gap_before, 0u);
  EXPECT_EQ(in.gap_after, 6u);
  EXPECT_EQ(side.expected_position(), 18u);
}

}  // namespace
}  // namespace loupe::protocols
