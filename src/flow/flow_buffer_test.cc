#include "src/flow/flow_buffer.h"

#include <thread>

#include "gtest/gtest.h"

namespace loupe::flow {
namespace {

Flow MakeFlow(uint16_t port) {
  Flow f;
  f.src_port = port;
  return f;
}

TEST(FlowBufferTest, CapacityRoundsToHubbleSizes) {
  EXPECT_EQ(FlowBuffer(65535).capacity(), 65535u);
  EXPECT_EQ(FlowBuffer(4000).capacity(), 4095u);
  EXPECT_EQ(FlowBuffer(1).capacity(), 1u);
}

TEST(FlowBufferTest, AssignsIdsAndReadsInOrder) {
  FlowBuffer buffer(7);
  EXPECT_EQ(buffer.size(), 0u);
  for (uint16_t p = 1; p <= 5; ++p) EXPECT_EQ(buffer.Append(MakeFlow(p)), p);
  std::vector<FlowBuffer::Entry> out;
  uint64_t missed = 0;
  EXPECT_EQ(buffer.Read(1, buffer.next_seq(), 100, &out, &missed), 6u);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(missed, 0u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(out[i].seq, i + 1);
    ASSERT_TRUE(out[i].flow.has_value());
    EXPECT_EQ(out[i].flow->id, i + 1);
    EXPECT_EQ(out[i].flow->src_port, i + 1);
  }
  EXPECT_EQ(buffer.size(), 5u);
  EXPECT_EQ(buffer.seen_flows(), 5u);
}

TEST(FlowBufferTest, OverwritesOldestAndReportsWhatAReaderMissed) {
  FlowBuffer buffer(7);
  for (uint16_t p = 1; p <= 20; ++p) buffer.Append(MakeFlow(p));
  EXPECT_EQ(buffer.size(), 7u);
  EXPECT_EQ(buffer.oldest_seq(), 14u);
  std::vector<FlowBuffer::Entry> out;
  uint64_t missed = 0;
  buffer.Read(3, buffer.next_seq(), 100, &out, &missed);
  EXPECT_EQ(missed, 11u);  // seqs 3..13 were overwritten
  ASSERT_EQ(out.size(), 7u);
  EXPECT_EQ(out.front().flow->src_port, 14);
  EXPECT_EQ(out.back().flow->src_port, 20);
  EXPECT_EQ(buffer.seen_flows(), 20u);
}

TEST(FlowBufferTest, LostEventsAreInterleavedInSequenceOrder) {
  FlowBuffer buffer(15);
  buffer.Append(MakeFlow(1));
  buffer.AppendLost({LostSource::kPerfEventRingBuffer, 42, 1, 0, 0});
  buffer.Append(MakeFlow(2));
  std::vector<FlowBuffer::Entry> out;
  buffer.Read(1, buffer.next_seq(), 100, &out, nullptr);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].flow.has_value());
  ASSERT_TRUE(out[1].lost.has_value());
  EXPECT_EQ(out[1].lost->num_events_lost, 42u);
  EXPECT_EQ(out[1].lost->cpu, 1);
  EXPECT_EQ(out[2].flow->src_port, 2);
  EXPECT_EQ(buffer.seen_flows(), 2u);
}

TEST(FlowBufferTest, ReadRespectsMaxAndUpperBound) {
  FlowBuffer buffer(15);
  for (uint16_t p = 1; p <= 10; ++p) buffer.Append(MakeFlow(p));
  std::vector<FlowBuffer::Entry> out;
  EXPECT_EQ(buffer.Read(2, 8, 3, &out, nullptr), 5u);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].seq, 2u);
  out.clear();
  EXPECT_EQ(buffer.Read(5, 100, 100, &out, nullptr), 11u);
  EXPECT_EQ(out.size(), 6u);
}

TEST(FlowBufferTest, WaitForWakesOnAppendAndOnShutdown) {
  FlowBuffer buffer(15);
  const auto soon = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
  EXPECT_FALSE(buffer.WaitFor(1, soon));  // nothing yet: times out
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    buffer.Append(MakeFlow(1));
  });
  EXPECT_TRUE(buffer.WaitFor(1, std::chrono::steady_clock::now() + std::chrono::seconds(5)));
  writer.join();
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    buffer.Shutdown();
  });
  EXPECT_FALSE(buffer.WaitFor(2, std::chrono::steady_clock::now() + std::chrono::seconds(5)));
  stopper.join();
}

// Append notifies only while a reader waits: every wake-up must still come from the append, not
// from the deadline, also when the append races with the reader starting to wait.
TEST(FlowBufferTest, EveryWaitingReaderIsWokenByTheAppend) {
  FlowBuffer buffer(1023);
  for (uint64_t seq = 1; seq <= 300; ++seq) {
    std::thread writer([&] {
      if (seq % 3 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
      buffer.Append(MakeFlow(static_cast<uint16_t>(seq)));
    });
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(buffer.WaitFor(seq, start + std::chrono::seconds(10)));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2)) << seq;
    writer.join();
  }
}

}  // namespace
}  // namespace loupe::flow
