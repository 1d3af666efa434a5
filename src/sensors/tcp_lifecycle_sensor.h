// TCP lifecycle sensor: connects (with their latency), failed connects, accepts, closes,
// retransmits and resets from the sock/tcp tracepoints, delivered as TcpEvents. The pid is the
// process that called connect() (0 for accepted sockets and sockets opened before Start).
// Sees every network namespace.
//
// Threads: Start/Stop on the control thread; one reader thread calls the sink.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "src/bpf/skeleton.h"
#include "src/metrics/registry.h"
#include "src/sensors/flow_sink.h"
#include "src/sensors/ring_reader.h"
#include "src/sensors/sensor.h"

struct tcp_lifecycle;

namespace loupe::sensors {

class TcpLifecycleSensor final : public Sensor {
 public:
  TcpLifecycleSensor(FlowSink& sink, metrics::Registry& registry);
  ~TcpLifecycleSensor() override;

  const std::string& name() const override { return name_; }
  absl::Status Start() override;
  void Stop() override;
  bool up() const override { return up_.load(); }
  std::string status_detail() const override { return ""; }

 private:
  void OnRecord(std::span<const uint8_t> record);

  const std::string name_ = "tcp_lifecycle";
  FlowSink& sink_;
  metrics::Registry& registry_;
  metrics::Counter* events_total_;
  metrics::Counter* malformed_total_;
  int collector_id_ = 0;

  std::unique_ptr<bpf::Skeleton<struct tcp_lifecycle>> skel_;
  std::unique_ptr<LossTracker> losses_;
  RingReaderThread reader_;
  std::atomic<int64_t> realtime_offset_ns_{0};
  std::atomic<bool> up_{false};
};

}  // namespace loupe::sensors
