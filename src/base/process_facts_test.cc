#include "src/base/process_facts.h"

#include <chrono>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace loupe {
namespace {

using std::chrono::seconds;
using Time = ProcessFacts<std::string>::Clock::time_point;

TEST(ProcessFactsTest, KeptWhileTracedAndForTheLingerAfter) {
  ProcessFacts<std::string> facts(seconds(30), 100);
  facts.Put(1, "one");
  facts.Put(2, "two");
  EXPECT_EQ(facts.Find(1), "one");
  EXPECT_EQ(facts.Find(3), std::nullopt);
  const Time t0{seconds(1000)};
  const std::vector<uint32_t> both = {1, 2};
  const std::vector<uint32_t> only_two = {2};
  facts.Retain(both, t0 + seconds(100));
  EXPECT_EQ(facts.size(), 2u);
  facts.Retain(only_two, t0);  // 1 exited: lingers from t0
  facts.Retain(only_two, t0 + seconds(30));
  EXPECT_EQ(facts.Find(1), "one");
  facts.Retain(only_two, t0 + seconds(31));
  EXPECT_EQ(facts.Find(1), std::nullopt);
  EXPECT_EQ(facts.Find(2), "two");  // traced all along
  EXPECT_EQ(facts.size(), 1u);
}

TEST(ProcessFactsTest, PutReplacesAnEarlierProcessOfThePid) {
  ProcessFacts<std::string> facts(seconds(30), 100);
  const Time t0{seconds(1000)};
  const std::vector<uint32_t> none;
  const std::vector<uint32_t> seven = {7};
  facts.Put(7, "old");
  facts.Retain(none, t0);  // the old process exited
  facts.Put(7, "new");     // and the pid was reused by a traced process
  facts.Retain(seven, t0 + seconds(40));
  facts.Retain(seven, t0 + seconds(80));
  EXPECT_EQ(facts.Find(7), "new");
  // Back in the live set after lingering: the linger starts over at the next exit.
  facts.Retain(none, t0 + seconds(100));
  facts.Retain(seven, t0 + seconds(110));
  facts.Retain(none, t0 + seconds(135));
  facts.Retain(none, t0 + seconds(160));
  EXPECT_EQ(facts.Find(7), "new");
  // An exec: the image's facts go at once; others stay.
  facts.Put(8, "other");
  facts.Erase(7);
  EXPECT_EQ(facts.Find(7), std::nullopt);
  EXPECT_EQ(facts.Find(8), "other");
  EXPECT_EQ(facts.size(), 1u);
}

// Without a live set (every process traced, no discovery), exits are reported one by one: the
// facts linger from the exit and are dropped by a later Gone() once the linger has passed.
TEST(ProcessFactsTest, GoneStartsTheLingerWithoutALiveSet) {
  ProcessFacts<std::string> facts(seconds(30), 100);
  const Time t0{seconds(1000)};
  facts.Put(1, "one");
  facts.Put(2, "two");
  facts.Put(3, "three");
  facts.Gone(1, t0);
  facts.Gone(9, t0);                // never put: nothing to do
  facts.Gone(1, t0 + seconds(20));  // a second report does not restart the linger
  facts.Gone(2, t0 + seconds(25));
  EXPECT_EQ(facts.Find(1), "one");  // still lingering: its last requests are named
  EXPECT_EQ(facts.size(), 3u);
  facts.Gone(9, t0 + seconds(31));  // any exit prunes what lingered long enough
  EXPECT_EQ(facts.Find(1), std::nullopt);
  EXPECT_EQ(facts.Find(2), "two");
  EXPECT_EQ(facts.Find(3), "three");  // running: kept however long
  facts.Gone(9, t0 + seconds(56));
  EXPECT_EQ(facts.Find(2), std::nullopt);
  EXPECT_EQ(facts.Find(3), "three");
  EXPECT_EQ(facts.size(), 1u);
}

TEST(ProcessFactsTest, BoundedDroppingExitedProcessesFirst) {
  ProcessFacts<std::string> facts(seconds(30), 3);
  facts.Put(1, "a");
  facts.Put(2, "b");
  facts.Put(3, "c");
  const std::vector<uint32_t> live = {1, 3};
  facts.Retain(live, Time{seconds(5)});
  facts.Put(4, "d");  // full: 2 (exited) makes room
  EXPECT_EQ(facts.Find(2), std::nullopt);
  EXPECT_EQ(facts.Find(1), "a");
  EXPECT_EQ(facts.Find(4), "d");
  facts.Put(1, "a2");  // replacing does not need room
  EXPECT_EQ(facts.size(), 3u);
  facts.Put(5, "e");  // full of traced processes: all dropped (a pid storm)
  EXPECT_EQ(facts.size(), 1u);
  EXPECT_EQ(facts.Find(5), "e");
}

}  // namespace
}  // namespace loupe
