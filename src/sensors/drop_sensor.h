// Drop sensor: packets the kernel frees with a drop reason (skb:kfree_skb), as DROPPED flows with
// the kernel's reason (Flow::kernel_reason) and the matching Hubble DropReason. Frees that are
// normal consumption on this kernel are filtered in the kernel (docs/design/drop-reasons.md).
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

struct drops;

namespace loupe::sensors {

struct DropSensorOptions {
  // Filter the reasons of NormalConsumptionReasonNames() in the kernel. Off only to study which
  // reasons a kernel produces for normal traffic.
  bool filter_normal_consumption = true;
};

class DropSensor final : public Sensor {
 public:
  DropSensor(FlowSink& sink, metrics::Registry& registry, DropSensorOptions options = {});
  ~DropSensor() override;

  const std::string& name() const override { return name_; }
  absl::Status Start() override;
  void Stop() override;
  bool up() const override { return up_.load(); }
  std::string status_detail() const override { return ""; }

 private:
  void OnRecord(std::span<const uint8_t> record);

  const std::string name_ = "drops";
  FlowSink& sink_;
  metrics::Registry& registry_;
  DropSensorOptions options_;
  metrics::Counter* events_total_;
  metrics::Counter* malformed_total_;
  int collector_id_ = 0;

  std::unique_ptr<bpf::Skeleton<struct drops>> skel_;
  std::unique_ptr<LossTracker> losses_;
  RingReaderThread reader_;
  std::atomic<int64_t> realtime_offset_ns_{0};
  std::atomic<bool> up_{false};
};

}  // namespace loupe::sensors
