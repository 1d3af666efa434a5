// Building blocks shared by the BPF sensors: a ring-buffer reader thread with a once-a-second
// housekeeping tick, and a tracker that turns growth of a program's per-CPU loss counter into
// LostEvents for the FlowSink.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "src/sensors/flow_sink.h"

namespace loupe::sensors {

// Per-CPU loss counter (LOUPE_DECLARE_LOST_MAP) -> one LostEvent{kPerfEventRingBuffer, delta,
// cpu} per CPU whose counter grew since the previous Poll(). Poll() runs on one thread.
class LossTracker {
 public:
  LossTracker(int lost_map_fd, FlowSink& sink);
  void Poll();
  // Sum over CPUs at the last Poll().
  uint64_t total() const { return total_.load(); }

 private:
  int fd_;
  FlowSink& sink_;
  std::vector<uint64_t> last_;
  std::atomic<uint64_t> total_{0};
};

// Polls one ring buffer on its own thread until Stop(); calls `tick` about once a second (and once
// more after the last poll), on the same thread as `on_record`.
class RingReaderThread {
 public:
  using Record = std::function<void(std::span<const uint8_t>)>;
  ~RingReaderThread() { Stop(); }
  // Creates the reader (errors are returned here, not on the thread) and starts the thread.
  // `poll_ms`: how long a poll waits for a wake-up; afterwards whatever is in the ring is
  // consumed anyway, so producers that submit with BPF_RB_NO_WAKEUP are read within poll_ms.
  // `idle_poll_ms` (> poll_ms): polls that found nothing double the wait up to this, and the
  // first record found brings it back to poll_ms; an idle reader then wakes 1000/idle_poll_ms
  // times a second instead of 1000/poll_ms, and a record submitted without a wake-up after a
  // pause waits at most idle_poll_ms. 0: always poll_ms.
  [[nodiscard]] absl::Status Start(const std::string& sensor, int ringbuf_fd, Record on_record,
                                   std::function<void()> tick, int poll_ms = 100,
                                   int idle_poll_ms = 0);
  void Stop();

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace loupe::sensors
