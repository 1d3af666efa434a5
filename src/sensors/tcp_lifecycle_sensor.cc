#include "src/sensors/tcp_lifecycle_sensor.h"

#include <bpf/bpf.h>
#include <linux/types.h>
// clang-format off: the ABI header needs the __u* types first.
#include "bpf/intf/tcp_lifecycle.h"
// clang-format on
#include "tcp_lifecycle.skel.h"

#include "src/base/logging.h"
#include "src/bpf/ringbuf_reader.h"
#include "src/sensors/decode.h"

namespace loupe::sensors {

TcpLifecycleSensor::TcpLifecycleSensor(FlowSink& sink, metrics::Registry& registry)
    : sink_(sink), registry_(registry) {
  events_total_ = registry_
                      .AddCounter("loupe_bpf_events_total",
                                  "Events received from BPF programs, by program.", {"program"})
                      .WithLabels({name_});
  malformed_total_ =
      registry_
          .AddCounter("loupe_bpf_events_malformed_total",
                      "Events from BPF programs rejected for a wrong size, by program.",
                      {"program"})
          .WithLabels({name_});
}

TcpLifecycleSensor::~TcpLifecycleSensor() { Stop(); }

absl::Status TcpLifecycleSensor::Start() {
  auto opened = bpf::Skeleton<struct tcp_lifecycle>::Open(LOUPE_SKELETON_OPS(tcp_lifecycle));
  if (!opened.ok()) return opened.status();
  skel_ = std::move(opened).value();
  absl::Status status = skel_->Load();
  if (status.ok()) status = skel_->Attach();
  if (!status.ok()) {
    skel_.reset();
    return status;
  }
  realtime_offset_ns_ = MonotonicToRealtimeOffsetNs();
  const int lost_fd = bpf_map__fd(skel_->get()->maps.tcp_lost_map);
  losses_ = std::make_unique<LossTracker>(lost_fd, sink_);
  collector_id_ =
      registry_.AddCollector([this, lost_fd](std::vector<metrics::FamilySnapshot>* out) {
        auto lost = bpf::SumPerCpuCounter(lost_fd, 0);
        out->push_back({"loupe_bpf_events_lost_total",
                        "Events BPF programs could not deliver because their ring buffer was full.",
                        metrics::MetricType::kCounter,
                        {{{{"program", name_}}, static_cast<double>(lost.ok() ? *lost : 0)}}});
      });
  status = reader_.Start(
      name_, bpf_map__fd(skel_->get()->maps.tcp_events),
      [this](std::span<const uint8_t> record) { OnRecord(record); },
      [this] {
        losses_->Poll();
        realtime_offset_ns_ = MonotonicToRealtimeOffsetNs();
      });
  if (!status.ok()) {
    Stop();
    return status;
  }
  up_ = true;
  return absl::OkStatus();
}

void TcpLifecycleSensor::OnRecord(std::span<const uint8_t> record) {
  events_total_->Inc();
  DecodeContext ctx;
  ctx.realtime_offset_ns = realtime_offset_ns_.load(std::memory_order_relaxed);
  TcpEvent event;
  if (!DecodeTcpEvent(record, ctx, &event)) {
    malformed_total_->Inc();
    return;
  }
  sink_.OnTcpEvent(event);
}

void TcpLifecycleSensor::Stop() {
  reader_.Stop();
  if (collector_id_ != 0) {
    registry_.RemoveCollector(collector_id_);
    collector_id_ = 0;
  }
  losses_.reset();
  skel_.reset();
  up_ = false;
}

}  // namespace loupe::sensors
