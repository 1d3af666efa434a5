#include "src/flow/agent_events.h"

#include <gtest/gtest.h>

#include <thread>

namespace loupe::flow {
namespace {

AgentEvent Started(int64_t t) {
  AgentEvent e;
  e.type = AgentEventType::kAgentStarted;
  e.time_ns = t;
  e.start_time_ns = t;
  return e;
}

std::vector<int64_t> Times(const std::vector<AgentEventLog::Entry>& entries) {
  std::vector<int64_t> out;
  for (const auto& e : entries) out.push_back(e.event.time_ns);
  return out;
}

TEST(AgentEventLogTest, KeepsTheLatestEventsInOrderWithSequenceNumbers) {
  AgentEventLog log(3);
  EXPECT_EQ(log.next_seq(), 1u);
  EXPECT_EQ(log.oldest_seq(), 1u);
  for (int64_t t = 1; t <= 5; ++t) EXPECT_EQ(log.Append(Started(t)), static_cast<uint64_t>(t));
  EXPECT_EQ(log.size(), 3u);
  EXPECT_EQ(log.oldest_seq(), 3u);
  EXPECT_EQ(log.next_seq(), 6u);
  std::vector<AgentEventLog::Entry> out;
  uint64_t missed = 0;
  // From seq 1: two were dropped, the three held come out in order.
  EXPECT_EQ(log.Read(1, log.next_seq(), 100, &out, &missed), 6u);
  EXPECT_EQ(missed, 2u);
  EXPECT_EQ(Times(out), (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(out.front().seq, 3u);
  // Bounded by `max` and by `to`.
  out.clear();
  EXPECT_EQ(log.Read(3, 6, 2, &out), 5u);
  EXPECT_EQ(Times(out), (std::vector<int64_t>{3, 4}));
  out.clear();
  EXPECT_EQ(log.Read(4, 5, 100, &out), 5u);
  EXPECT_EQ(Times(out), (std::vector<int64_t>{4}));
  // A range entirely dropped.
  out.clear();
  missed = 0;
  EXPECT_EQ(log.Read(1, 2, 100, &out, &missed), 2u);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(missed, 1u);
}

TEST(AgentEventLogTest, FollowersWakeForNewEventsAndAtShutdown) {
  AgentEventLog log;
  const auto soon = [] { return std::chrono::steady_clock::now() + std::chrono::milliseconds(20); };
  EXPECT_FALSE(log.WaitFor(1, soon()));
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    log.Append(Started(7));
  });
  EXPECT_TRUE(log.WaitFor(1, std::chrono::steady_clock::now() + std::chrono::seconds(10)));
  writer.join();
  EXPECT_TRUE(log.WaitFor(1, soon()));  // already there
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    log.Shutdown();
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(log.WaitFor(2, start + std::chrono::seconds(10)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  stopper.join();
}

}  // namespace
}  // namespace loupe::flow
