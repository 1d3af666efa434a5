#include "src/flow/flow_buffer.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace loupe::flow {
namespace {

Flow MakeFlow(uint16_t port) {
  Flow f;
  f.src_port = port;
  return f;
}

Flow FlowBetween(const std::string& src_cluster, const std::string& src_ns,
                 const std::string& dst_ns, int64_t time_ns) {
  Flow f;
  f.time_ns = time_ns;
  if (!src_ns.empty() || !src_cluster.empty()) {
    auto info = std::make_shared<PeerInfo>();
    info->endpoint.cluster_name = src_cluster;
    info->endpoint.namespace_name = src_ns;
    f.src_info = std::move(info);
  }
  if (!dst_ns.empty()) {
    auto info = std::make_shared<PeerInfo>();
    info->endpoint.namespace_name = dst_ns;
    f.dst_info = std::move(info);
  }
  return f;
}

std::vector<std::string> Names(const std::vector<FlowBuffer::SeenNamespace>& seen) {
  std::vector<std::string> out;
  for (const auto& s : seen) {
    out.push_back(s.cluster + "/" + s.name + "@" + std::to_string(s.last_flow_ns));
  }
  return out;
}

TEST(FlowBufferTest, NamespacesOfBothEndsWithTheirLatestFlow) {
  FlowBuffer buffer(7);
  buffer.Append(FlowBetween("", "shop", "kube-system", 100));
  buffer.Append(FlowBetween("east", "shop", "", 120));  // same name, another cluster
  buffer.Append(FlowBetween("", "", "shop", 300));      // only the destination is known
  buffer.Append(FlowBetween("", "", "", 400));          // no identity: nothing
  buffer.Append(FlowBetween("", "default", "", 250));
  buffer.Append(FlowBetween("", "shop", "", 200));  // older than the latest: kept at 300
  // Sorted by cluster, then namespace (Hubble's GetNamespaces order).
  EXPECT_EQ(
      Names(buffer.Namespaces(0)),
      (std::vector<std::string>{"/default@250", "/kube-system@100", "/shop@300", "east/shop@120"}));
  // The flow buffer's ring does not bound them: the namespaces outlive the flows.
  for (int i = 0; i < 20; ++i) buffer.Append(FlowBetween("", "", "", 500));
  EXPECT_EQ(buffer.Namespaces(0).size(), 4u);
}

TEST(FlowBufferTest, NamespacesOlderThanTheHorizonAreForgotten) {
  FlowBuffer buffer(7);
  buffer.Append(FlowBetween("", "old", "new", 100));
  buffer.Append(FlowBetween("", "", "new", 200));
  EXPECT_EQ(Names(buffer.Namespaces(150)), (std::vector<std::string>{"/new@200"}));
  // Forgotten, not only hidden: a later horizon before its time does not bring it back.
  EXPECT_EQ(Names(buffer.Namespaces(0)), (std::vector<std::string>{"/new@200"}));
  buffer.Append(FlowBetween("", "old", "", 300));  // seen again
  EXPECT_EQ(Names(buffer.Namespaces(0)), (std::vector<std::string>{"/new@200", "/old@300"}));
}

TEST(FlowBufferTest, NamespacesAreBounded) {
  FlowBuffer buffer(7);
  for (size_t i = 0; i < FlowBuffer::kMaxNamespaces + 10; ++i) {
    buffer.Append(FlowBetween("", "ns-" + std::to_string(i), "", 100));
  }
  EXPECT_EQ(buffer.Namespaces(0).size(), FlowBuffer::kMaxNamespaces);
  // Expired ones make room again.
  EXPECT_TRUE(buffer.Namespaces(200).empty());
  buffer.Append(FlowBetween("", "late", "", 300));
  EXPECT_EQ(Names(buffer.Namespaces(0)), (std::vector<std::string>{"/late@300"}));
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
