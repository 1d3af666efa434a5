#include "src/sensors/ring_reader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <memory>

#include "src/base/logging.h"
#include "src/bpf/ringbuf_reader.h"

namespace loupe::sensors {

LossTracker::LossTracker(int lost_map_fd, FlowSink& sink) : fd_(lost_map_fd), sink_(sink) {
  const int ncpus = libbpf_num_possible_cpus();
  last_.assign(ncpus > 0 ? static_cast<size_t>(ncpus) : 0, 0);
}

void LossTracker::Poll() {
  if (last_.empty()) return;
  std::vector<uint64_t> now(last_.size(), 0);
  const uint32_t key = 0;
  if (bpf_map_lookup_elem(fd_, &key, now.data()) != 0) return;
  uint64_t sum = 0;
  for (size_t cpu = 0; cpu < now.size(); ++cpu) {
    sum += now[cpu];
    if (now[cpu] > last_[cpu]) {
      flow::LostEvent lost;
      lost.source = flow::LostSource::kPerfEventRingBuffer;
      lost.num_events_lost = now[cpu] - last_[cpu];
      lost.cpu = static_cast<int32_t>(cpu);
      sink_.OnLost(lost);
    }
  }
  last_ = std::move(now);
  total_ = sum;
}

absl::Status RingReaderThread::Start(const std::string& sensor, int ringbuf_fd, Record on_record,
                                     std::function<void()> tick, int poll_ms, int idle_poll_ms) {
  auto reader = bpf::RingBufReader::Create(ringbuf_fd, std::move(on_record));
  if (!reader.ok()) return reader.status();
  stop_ = false;
  thread_ = std::thread([this, sensor,
                         reader = std::shared_ptr<bpf::RingBufReader>(std::move(reader).value()),
                         tick = std::move(tick), poll_ms, idle_poll_ms] {
    auto last_tick = std::chrono::steady_clock::now();
    int timeout_ms = poll_ms;
    while (!stop_.load()) {
      const int n = reader->Poll(timeout_ms);
      if (n < 0 && n != -EINTR) {
        LOG_EVERY_SECONDS(warn, 10, "{} sensor: ring buffer poll failed: {}", sensor, n);
      }
      // Records submitted without a wake-up are not reported by epoll: consume them here.
      const int drained = reader->Drain();
      if (n > 0 || drained > 0) {
        timeout_ms = poll_ms;
      } else if (idle_poll_ms > poll_ms) {
        timeout_ms = std::min(std::max(timeout_ms, 1) * 2, idle_poll_ms);
      }
      const auto now = std::chrono::steady_clock::now();
      if (now - last_tick >= std::chrono::seconds(1)) {
        last_tick = now;
        tick();
      }
    }
    reader->Drain();
    tick();
  });
  return absl::OkStatus();
}

void RingReaderThread::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace loupe::sensors
