// Exponential backoff with jitter for retryable export failures, and the retry loop both
// exporters share.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "src/export/otlp/transport.h"

namespace loupe::otlp {

struct RetryPolicy {
  std::chrono::milliseconds initial{5'000};
  std::chrono::milliseconds max{30'000};
  std::chrono::milliseconds max_elapsed{300'000};  // give up once this much time has passed
};

// Delay before retry number `attempt` (0-based): min(initial * 2^attempt, max), scaled by a
// factor in [0.5, 1.5) chosen by `jitter` in [0, 1) (the collector's randomization 0.5).
std::chrono::milliseconds BackoffDelay(const RetryPolicy& policy, int attempt, double jitter);

// Calls `attempt` until it succeeds, fails for good, or retrying would pass max_elapsed (or
// `deadline_ms`, a monotonic deadline in ms, when not 0). Between attempts calls
// `sleep(delay)`, which returns false to abort (shutdown). A server's Retry-After is honoured
// when longer than the backoff. `on_retry` runs once per retried attempt.
SendResult SendWithRetry(const RetryPolicy& policy, const std::function<SendResult()>& attempt,
                         const std::function<bool(std::chrono::milliseconds)>& sleep,
                         const std::function<void(const SendResult&)>& on_retry,
                         int64_t deadline_ms = 0);

int64_t MonotonicMs();

}  // namespace loupe::otlp
