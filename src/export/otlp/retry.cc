#include "src/export/otlp/retry.h"

#include <algorithm>
#include <random>

namespace loupe::otlp {

int64_t MonotonicMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::chrono::milliseconds BackoffDelay(const RetryPolicy& policy, int attempt, double jitter) {
  double base = static_cast<double>(policy.initial.count());
  for (int i = 0; i < attempt && base < static_cast<double>(policy.max.count()); ++i) base *= 2;
  base = std::min(base, static_cast<double>(policy.max.count()));
  jitter = std::clamp(jitter, 0.0, 0.999999);
  return std::chrono::milliseconds(static_cast<int64_t>(base * (0.5 + jitter)));
}

SendResult SendWithRetry(const RetryPolicy& policy, const std::function<SendResult()>& attempt,
                         const std::function<bool(std::chrono::milliseconds)>& sleep,
                         const std::function<void(const SendResult&)>& on_retry,
                         int64_t deadline_ms) {
  thread_local std::minstd_rand jitter_source(std::random_device{}());
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const int64_t started = MonotonicMs();
  int64_t give_up = started + policy.max_elapsed.count();
  if (deadline_ms != 0) give_up = std::min(give_up, deadline_ms);
  for (int n = 0;; ++n) {
    SendResult result = attempt();
    if (result.outcome != SendResult::Outcome::kRetryable) return result;
    auto delay = BackoffDelay(policy, n, uniform(jitter_source));
    delay = std::max(delay, result.retry_after);
    if (MonotonicMs() + delay.count() > give_up) return result;
    on_retry(result);
    if (!sleep(delay)) return result;
  }
}

}  // namespace loupe::otlp
