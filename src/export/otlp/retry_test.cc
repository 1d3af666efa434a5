#include "src/export/otlp/retry.h"

#include <gtest/gtest.h>

#include <vector>

namespace loupe::otlp {
namespace {

using std::chrono::milliseconds;

TEST(RetryTest, BackoffDoublesUpToMaxWithJitter) {
  const RetryPolicy p{milliseconds(100), milliseconds(1000), milliseconds(10000)};
  EXPECT_EQ(BackoffDelay(p, 0, 0.5), milliseconds(100));
  EXPECT_EQ(BackoffDelay(p, 1, 0.5), milliseconds(200));
  EXPECT_EQ(BackoffDelay(p, 3, 0.5), milliseconds(800));
  EXPECT_EQ(BackoffDelay(p, 4, 0.5), milliseconds(1000));
  EXPECT_EQ(BackoffDelay(p, 60, 0.5), milliseconds(1000));
  EXPECT_EQ(BackoffDelay(p, 0, 0.0), milliseconds(50));
  EXPECT_EQ(BackoffDelay(p, 0, 0.99), milliseconds(149));
}

TEST(RetryTest, Classification) {
  using O = SendResult::Outcome;
  EXPECT_EQ(ClassifyHttpStatus(200), O::kOk);
  EXPECT_EQ(ClassifyHttpStatus(204), O::kOk);
  for (long s : {429L, 502L, 503L, 504L}) EXPECT_EQ(ClassifyHttpStatus(s), O::kRetryable) << s;
  for (long s : {400L, 401L, 404L, 413L, 500L, 501L, 0L}) {
    EXPECT_EQ(ClassifyHttpStatus(s), O::kFailed) << s;
  }
  EXPECT_EQ(ClassifyGrpcStatus(0), O::kOk);
  for (int c : {1, 4, 10, 11, 14, 15}) EXPECT_EQ(ClassifyGrpcStatus(c), O::kRetryable) << c;
  for (int c : {2, 3, 5, 7, 8, 9, 12, 13, 16}) EXPECT_EQ(ClassifyGrpcStatus(c), O::kFailed) << c;
}

TEST(RetryTest, RetriesRetryableUntilSuccess) {
  const RetryPolicy p{milliseconds(1), milliseconds(4), milliseconds(10000)};
  std::vector<SendResult::Outcome> script = {
      SendResult::Outcome::kRetryable, SendResult::Outcome::kRetryable, SendResult::Outcome::kOk};
  size_t calls = 0;
  int retries = 0;
  std::vector<milliseconds> sleeps;
  auto r = SendWithRetry(
      p,
      [&] {
        SendResult s;
        s.outcome = script[calls++];
        return s;
      },
      [&](milliseconds d) {
        sleeps.push_back(d);
        return true;
      },
      [&](const SendResult&) { ++retries; });
  EXPECT_EQ(r.outcome, SendResult::Outcome::kOk);
  EXPECT_EQ(calls, 3u);
  EXPECT_EQ(retries, 2);
  ASSERT_EQ(sleeps.size(), 2u);
}

TEST(RetryTest, FinalFailureIsNotRetriedAndAbortStops) {
  const RetryPolicy p{milliseconds(1), milliseconds(4), milliseconds(10000)};
  int calls = 0;
  auto r = SendWithRetry(
      p,
      [&] {
        ++calls;
        SendResult s;
        s.outcome = SendResult::Outcome::kFailed;
        return s;
      },
      [](milliseconds) { return true; }, [](const SendResult&) {});
  EXPECT_EQ(r.outcome, SendResult::Outcome::kFailed);
  EXPECT_EQ(calls, 1);
  calls = 0;
  r = SendWithRetry(
      p,
      [&] {
        ++calls;
        SendResult s;
        s.outcome = SendResult::Outcome::kRetryable;
        return s;
      },
      [](milliseconds) { return false; }, [](const SendResult&) {});
  EXPECT_EQ(r.outcome, SendResult::Outcome::kRetryable);
  EXPECT_EQ(calls, 1);
}

TEST(RetryTest, GivesUpAtTheDeadline) {
  const RetryPolicy p{milliseconds(50), milliseconds(50), milliseconds(10000)};
  int calls = 0;
  auto r = SendWithRetry(
      p,
      [&] {
        ++calls;
        SendResult s;
        s.outcome = SendResult::Outcome::kRetryable;
        return s;
      },
      [](milliseconds) { return true; }, [](const SendResult&) {}, MonotonicMs() + 20);
  EXPECT_EQ(r.outcome, SendResult::Outcome::kRetryable);
  EXPECT_EQ(calls, 1);  // the first delay (>= 25 ms) would pass the deadline
}

}  // namespace
}  // namespace loupe::otlp
