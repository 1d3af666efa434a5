// Logging: spdlog under a small facade so the sink and format are decided in one place.
// Thread-safe. LOG_EVERY_SECONDS rate-limits a log site (for hot paths).
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "spdlog/spdlog.h"

namespace loupe {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// Parses "debug"/"info"/"warn"/"error" (any case; "warning" too). Returns false when unknown.
bool ParseLogLevel(std::string_view text, LogLevel* level);
void SetLogLevel(LogLevel level);

namespace internal {
bool RateLimitAllows(std::atomic<int64_t>* last_ns, int64_t period_ns);
}  // namespace internal

}  // namespace loupe

#define LOG_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define LOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define LOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define LOG_ERROR(...) ::spdlog::error(__VA_ARGS__)

// Logs at most once per `seconds` from this call site.
#define LOG_EVERY_SECONDS(level, seconds, ...)                                             \
  do {                                                                                     \
    static std::atomic<int64_t> loupe_log_last_ns_{INT64_MIN / 2};                         \
    if (::loupe::internal::RateLimitAllows(&loupe_log_last_ns_,                            \
                                           static_cast<int64_t>(seconds) * 1'000'000'000)) \
      ::spdlog::level(__VA_ARGS__);                                                        \
  } while (0)
