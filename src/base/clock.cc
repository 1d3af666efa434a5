#include "src/base/clock.h"

#include <time.h>

namespace loupe {
namespace {

int64_t ReadClock(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

int64_t RealClock::NowRealtimeNs() const { return ReadClock(CLOCK_REALTIME); }
int64_t RealClock::NowMonotonicNs() const { return ReadClock(CLOCK_MONOTONIC); }

RealClock& RealClock::Get() {
  static RealClock clock;
  return clock;
}

}  // namespace loupe
