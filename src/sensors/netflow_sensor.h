// Network sensor: TC clsact programs on ingress and egress of the selected host interfaces,
// delivering one event per packet through the `packet_events` ring buffer.
//
// Threads: Start/Stop on the control thread; one reader thread polls the ring buffer.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "src/bpf/skeleton.h"
#include "src/bpf/tc_attachment.h"
#include "src/metrics/registry.h"
#include "src/sensors/sensor.h"

struct netflow;

namespace loupe::sensors {

struct NetflowOptions {
  std::vector<std::string> include_interfaces;  // empty: all
  std::vector<std::string> exclude_interfaces;
};

class NetflowSensor final : public Sensor {
 public:
  NetflowSensor(NetflowOptions options, metrics::Registry& registry);
  ~NetflowSensor() override;

  const std::string& name() const override { return name_; }
  absl::Status Start() override;
  void Stop() override;
  bool up() const override { return up_.load(); }
  std::string status_detail() const override;

  // Names of the interfaces currently observed.
  std::vector<std::string> attached_interfaces() const;

 private:
  struct InterfaceAttachment {
    int ifindex = 0;
    std::string name;
    bool created_qdisc = false;
    std::unique_ptr<bpf::TcAttachment> ingress;
    std::unique_ptr<bpf::TcAttachment> egress;
  };

  absl::Status AttachAll();
  void DetachAll();
  void ReadLoop();

  const std::string name_ = "netflow";
  NetflowOptions options_;
  metrics::Registry& registry_;
  metrics::Counter* events_total_;
  metrics::Counter* malformed_total_;
  int collector_id_ = 0;

  std::unique_ptr<bpf::Skeleton<struct netflow>> skel_;
  mutable std::mutex mu_;
  std::vector<InterfaceAttachment> attachments_;
  std::string detail_;

  std::atomic<bool> up_{false};
  std::atomic<bool> stop_{false};
  std::thread reader_;
};

}  // namespace loupe::sensors
