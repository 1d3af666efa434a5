#include "src/base/clock.h"

#include "gtest/gtest.h"

namespace loupe {
namespace {

TEST(ClockTest, RealClockIsMonotonicAndPlausible) {
  RealClock& clock = RealClock::Get();
  const int64_t a = clock.NowMonotonicNs();
  const int64_t b = clock.NowMonotonicNs();
  EXPECT_LE(a, b);
  // After 2020-01-01.
  EXPECT_GT(clock.NowRealtimeNs(), int64_t{1'577'836'800} * 1'000'000'000);
}

TEST(ClockTest, FakeClockAdvancesBothClocks) {
  FakeClock clock(1'000, 50);
  clock.Advance(std::chrono::milliseconds(3));
  EXPECT_EQ(clock.NowRealtimeNs(), 1'000 + 3'000'000);
  EXPECT_EQ(clock.NowMonotonicNs(), 50 + 3'000'000);
}

}  // namespace
}  // namespace loupe
