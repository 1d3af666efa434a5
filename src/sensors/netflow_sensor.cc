#include "src/sensors/netflow_sensor.h"

#include <bpf/bpf.h>
#include <linux/types.h>
// clang-format off: the ABI header needs the __u* types first.
#include "bpf/intf/netflow.h"
// clang-format on
#include "netflow.skel.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/base/logging.h"
#include "src/bpf/ringbuf_reader.h"
#include "src/sensors/interfaces.h"

namespace loupe::sensors {

NetflowSensor::NetflowSensor(NetflowOptions options, metrics::Registry& registry)
    : options_(std::move(options)), registry_(registry) {
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

NetflowSensor::~NetflowSensor() { Stop(); }

absl::Status NetflowSensor::Start() {
  auto opened = bpf::Skeleton<struct netflow>::Open(LOUPE_SKELETON_OPS(netflow));
  if (!opened.ok()) return opened.status();
  skel_ = std::move(opened).value();
  absl::Status status = skel_->Load();
  if (!status.ok()) {
    skel_.reset();
    return status;
  }
  status = AttachAll();
  if (!status.ok()) {
    DetachAll();
    skel_.reset();
    return status;
  }
  const int lost_fd = bpf_map__fd(skel_->get()->maps.packet_lost_map);
  collector_id_ =
      registry_.AddCollector([this, lost_fd](std::vector<metrics::FamilySnapshot>* out) {
        auto lost = bpf::SumPerCpuCounter(lost_fd, 0);
        out->push_back({"loupe_bpf_events_lost_total",
                        "Events BPF programs could not deliver because their ring buffer was full.",
                        metrics::MetricType::kCounter,
                        {{{{"program", name_}}, static_cast<double>(lost.ok() ? *lost : 0)}}});
        std::lock_guard<std::mutex> lock(mu_);
        out->push_back({"loupe_netflow_interfaces",
                        "Interfaces the network sensor's TC programs are attached to.",
                        metrics::MetricType::kGauge,
                        {{{}, static_cast<double>(attachments_.size())}}});
      });
  stop_ = false;
  reader_ = std::thread([this] { ReadLoop(); });
  up_ = true;
  return absl::OkStatus();
}

absl::Status NetflowSensor::AttachAll() {
  const int ingress_fd = bpf_program__fd(skel_->get()->progs.tc__ingress);
  const int egress_fd = bpf_program__fd(skel_->get()->progs.tc__egress);
  const int l3_map_fd = bpf_map__fd(skel_->get()->maps.l3_iface_map);
  std::vector<std::string> failures;
  std::lock_guard<std::mutex> lock(mu_);
  for (const NetInterface& iface : ListInterfaces()) {
    if (!InterfaceSelected(iface.name, options_.include_interfaces, options_.exclude_interfaces)) {
      continue;
    }
    if (!iface.has_ethernet_header()) {
      const __u32 key = static_cast<__u32>(iface.ifindex);
      const __u8 one = 1;
      bpf_map_update_elem(l3_map_fd, &key, &one, BPF_ANY);
    }
    InterfaceAttachment att{iface.ifindex, iface.name};
    auto ingress = bpf::TcAttachment::Attach(iface.ifindex, bpf::TcDirection::kIngress, ingress_fd,
                                             &att.created_qdisc);
    auto egress = bpf::TcAttachment::Attach(iface.ifindex, bpf::TcDirection::kEgress, egress_fd,
                                            &att.created_qdisc);
    if (ingress.ok() && egress.ok()) {
      att.ingress = std::move(ingress).value();
      att.egress = std::move(egress).value();
    } else {
      // Keep whichever direction attached so DetachAll removes it; report the first error.
      const absl::Status err = !ingress.ok() ? ingress.status() : egress.status();
      if (ingress.ok()) att.ingress = std::move(ingress).value();
      if (egress.ok()) att.egress = std::move(egress).value();
      LOG_WARN("network sensor: not observing {}: {}", iface.name, std::string(err.message()));
      failures.push_back(iface.name);
    }
    attachments_.push_back(std::move(att));
  }
  size_t attached = 0;
  for (const auto& att : attachments_) attached += (att.ingress && att.egress) ? 1 : 0;
  if (attached == 0 && !failures.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "network sensor could not attach to any interface (failed: ", absl::StrJoin(failures, ", "),
        "); run `loupe preflight` to check TC support"));
  }
  detail_ =
      failures.empty() ? "" : absl::StrCat("not attached to: ", absl::StrJoin(failures, ", "));
  LOG_INFO("network sensor attached to {} interface(s)", attached);
  return absl::OkStatus();
}

void NetflowSensor::DetachAll() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& att : attachments_) {
    att.ingress.reset();
    att.egress.reset();
    if (att.created_qdisc) bpf::TcAttachment::DestroyQdisc(att.ifindex);
  }
  attachments_.clear();
}

void NetflowSensor::ReadLoop() {
  auto reader = bpf::RingBufReader::Create(bpf_map__fd(skel_->get()->maps.packet_events),
                                           [this](std::span<const uint8_t> data) {
                                             if (data.size() != sizeof(loupe_packet_event)) {
                                               malformed_total_->Inc();
                                               return;
                                             }
                                             events_total_->Inc();
                                           });
  if (!reader.ok()) {
    LOG_ERROR("network sensor: {}", std::string(reader.status().message()));
    up_ = false;
    return;
  }
  while (!stop_.load()) {
    const int n = (*reader)->Poll(100);
    if (n < 0 && n != -EINTR) {
      LOG_EVERY_SECONDS(warn, 10, "network sensor: ring buffer poll failed: {}", n);
    }
  }
  (*reader)->Drain();
}

void NetflowSensor::Stop() {
  stop_ = true;
  if (reader_.joinable()) reader_.join();
  if (collector_id_ != 0) {
    registry_.RemoveCollector(collector_id_);
    collector_id_ = 0;
  }
  DetachAll();
  skel_.reset();
  up_ = false;
}

std::string NetflowSensor::status_detail() const {
  std::lock_guard<std::mutex> lock(mu_);
  return detail_;
}

std::vector<std::string> NetflowSensor::attached_interfaces() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> names;
  for (const auto& att : attachments_) {
    if (att.ingress && att.egress) names.push_back(att.name);
  }
  return names;
}

}  // namespace loupe::sensors
