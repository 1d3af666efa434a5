#include "src/sensors/drop_sensor.h"

#include <bpf/bpf.h>
#include <linux/types.h>
// clang-format off: the ABI header needs the __u* types first.
#include "bpf/intf/drops.h"
// clang-format on
#include "drops.skel.h"

#include "src/base/logging.h"
#include "src/bpf/ringbuf_reader.h"
#include "src/sensors/decode.h"
#include "src/sensors/drop_reasons.h"

namespace loupe::sensors {

DropSensor::DropSensor(FlowSink& sink, metrics::Registry& registry, DropSensorOptions options)
    : sink_(sink), registry_(registry), options_(options) {
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

DropSensor::~DropSensor() { Stop(); }

absl::Status DropSensor::Start() {
  auto opened = bpf::Skeleton<struct drops>::Open(LOUPE_SKELETON_OPS(drops));
  if (!opened.ok()) return opened.status();
  skel_ = std::move(opened).value();
  if (options_.filter_normal_consumption) {
    const int no_socket = KernelDropReasonValue("NO_SOCKET");
    if (no_socket >= 0) skel_->get()->rodata->no_socket_reason = static_cast<__u32>(no_socket);
  }
  absl::Status status = skel_->Load();
  if (status.ok() && options_.filter_normal_consumption) {
    const int fd = bpf_map__fd(skel_->get()->maps.ignored_reason_map);
    for (const std::string& name : NormalConsumptionReasonNames()) {
      const int value = KernelDropReasonValue(name);
      if (value < 0 || value >= LOUPE_DROP_REASON_MAP_SIZE) continue;
      const __u32 key = static_cast<__u32>(value);
      const __u8 one = 1;
      bpf_map_update_elem(fd, &key, &one, BPF_ANY);
    }
  }
  if (status.ok()) status = skel_->Attach();
  if (!status.ok()) {
    skel_.reset();
    return status;
  }
  realtime_offset_ns_ = MonotonicToRealtimeOffsetNs();
  const int lost_fd = bpf_map__fd(skel_->get()->maps.drop_lost_map);
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
      name_, bpf_map__fd(skel_->get()->maps.drop_events),
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

void DropSensor::OnRecord(std::span<const uint8_t> record) {
  events_total_->Inc();
  DecodeContext ctx;
  ctx.realtime_offset_ns = realtime_offset_ns_.load(std::memory_order_relaxed);
  flow::Flow f;
  if (!DecodeDropEvent(record, ctx, &f)) {
    malformed_total_->Inc();
    return;
  }
  sink_.OnFlow(std::move(f));
}

void DropSensor::Stop() {
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
