#include "src/base/logging.h"

#include <time.h>

#include <string>

#include "src/base/strings.h"

namespace loupe {

bool ParseLogLevel(std::string_view text, LogLevel* level) {
  const std::string lower = AsciiLower(text);
  if (lower == "debug") {
    *level = LogLevel::kDebug;
  } else if (lower == "info") {
    *level = LogLevel::kInfo;
  } else if (lower == "warn" || lower == "warning") {
    *level = LogLevel::kWarn;
  } else if (lower == "error") {
    *level = LogLevel::kError;
  } else {
    return false;
  }
  return true;
}

void SetLogLevel(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      spdlog::set_level(spdlog::level::debug);
      break;
    case LogLevel::kInfo:
      spdlog::set_level(spdlog::level::info);
      break;
    case LogLevel::kWarn:
      spdlog::set_level(spdlog::level::warn);
      break;
    case LogLevel::kError:
      spdlog::set_level(spdlog::level::err);
      break;
  }
}

namespace internal {

bool RateLimitAllows(std::atomic<int64_t>* last_ns, int64_t period_ns) {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  const int64_t now = static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  int64_t last = last_ns->load(std::memory_order_relaxed);
  if (now - last < period_ns) return false;
  return last_ns->compare_exchange_strong(last, now, std::memory_order_relaxed);
}

}  // namespace internal
}  // namespace loupe
