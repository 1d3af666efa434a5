// Injectable time source. Components take a Clock& so tests can drive time with FakeClock.
// Thread expectations: RealClock is thread-safe; FakeClock is thread-safe (atomic).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace loupe {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time in nanoseconds since the Unix epoch.
  virtual int64_t NowRealtimeNs() const = 0;
  // Monotonic time in nanoseconds (CLOCK_MONOTONIC; same base as bpf_ktime_get_ns()).
  virtual int64_t NowMonotonicNs() const = 0;
};

class RealClock final : public Clock {
 public:
  int64_t NowRealtimeNs() const override;
  int64_t NowMonotonicNs() const override;
  static RealClock& Get();
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t realtime_ns = 1'700'000'000'000'000'000, int64_t monotonic_ns = 0)
      : realtime_ns_(realtime_ns), monotonic_ns_(monotonic_ns) {}
  int64_t NowRealtimeNs() const override { return realtime_ns_.load(); }
  int64_t NowMonotonicNs() const override { return monotonic_ns_.load(); }
  void Advance(std::chrono::nanoseconds d) {
    realtime_ns_ += d.count();
    monotonic_ns_ += d.count();
  }

 private:
  std::atomic<int64_t> realtime_ns_;
  std::atomic<int64_t> monotonic_ns_;
};

}  // namespace loupe
