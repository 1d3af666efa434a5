// Network sensor: TC programs (tcx links, or clsact filters before Linux 6.6) on ingress and egress
// of the selected host interfaces, following interfaces as they are added and removed (rtnetlink).
// The programs aggregate packets per conntrack entry in the kernel (Cilium's monitorAggregation,
// see docs/design/netflow-aggregation.md); the reader thread decodes their events into L3/L4 flows
// for the FlowSink (DNS packets with their payload through OnDnsPacket).
//
// Threads: Start/Stop on the control thread; one reader thread polls the ring buffer, one link
// thread follows rtnetlink. Both call the sink.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "src/bpf/skeleton.h"
#include "src/bpf/tc_attachment.h"
#include "src/metrics/registry.h"
#include "src/sensors/decode.h"
#include "src/sensors/flow_sink.h"
#include "src/sensors/link_watcher.h"
#include "src/sensors/ring_reader.h"
#include "src/sensors/sensor.h"

struct netflow;

namespace loupe::sensors {

struct NetflowOptions {
  std::vector<std::string> include_interfaces;  // empty: all
  std::vector<std::string> exclude_interfaces;
  // tcx links where the kernel has them (Linux 6.6+; detached by the kernel when the agent dies,
  // however it dies), else clsact filters. Tests force either.
  bpf::TcHook tc_hook = bpf::TcHook::kAuto;
};

// Cilium's bpf.monitorAggregation levels ("maximum" is an alias of high).
enum class AggregationLevel : uint8_t { kNone = 0, kLow = 1, kMedium = 2, kHigh = 3 };

struct AggregationOptions {
  AggregationLevel level = AggregationLevel::kMedium;
  std::chrono::nanoseconds interval = std::chrono::seconds(5);  // bpf.monitorInterval
  // Every `interval` the sensor reports the unreported packets of entries idle for at least
  // `idle_flush` (e.g. the last ACK after FIN), and deletes closed TCP entries idle that long and
  // any entry idle for `conntrack_timeout`. Not used at level none (no conntrack).
  std::chrono::nanoseconds idle_flush = std::chrono::seconds(1);
  std::chrono::nanoseconds conntrack_timeout = std::chrono::seconds(60);
};

// Parses "none", "low", "medium", "high"/"maximum" (case-insensitive); nullopt otherwise.
std::optional<AggregationLevel> ParseAggregationLevel(const std::string& text);

class NetflowSensor final : public Sensor {
 public:
  NetflowSensor(NetflowOptions options, AggregationOptions aggregation, FlowSink& sink,
                metrics::Registry& registry);
  ~NetflowSensor() override;

  const std::string& name() const override { return name_; }
  absl::Status Start() override;
  void Stop() override;
  bool up() const override { return up_.load(); }
  std::string status_detail() const override;

  // Names of the interfaces currently observed.
  std::vector<std::string> attached_interfaces() const;

  // Entries in the kernel's conntrack map (flow_ct_map); 0 when not started. Any thread.
  size_t conntrack_entries() const;

 private:
  struct InterfaceAttachment {
    int ifindex = 0;
    std::string name;
    InterfaceKind kind = InterfaceKind::kNetwork;
    bool created_qdisc = false;
    std::unique_ptr<bpf::TcAttachment> ingress;
    std::unique_ptr<bpf::TcAttachment> egress;
  };

  // Attaches to `link` when selected and not yet attached; detaches when no longer selected.
  // Returns the attach error, if any. Requires mu_.
  absl::Status ReconcileLocked(const LinkInfo& link);
  void ForgetLocked(int ifindex);
  void DetachAll();
  void OnRecord(std::span<const uint8_t> record);
  void LinkLoop();
  // Reports what the kernel counted but no event carried: entries idle for idle_flush (every
  // entry when `final`); deletes closed and timed-out entries unless `final`. Runs on the reader
  // thread: every `interval` from its tick, and from its last tick at Stop (after the programs
  // were detached and the ring buffer drained).
  void Sweep(bool final);

  const std::string name_ = "netflow";
  NetflowOptions options_;
  AggregationOptions aggregation_;
  FlowSink& sink_;
  metrics::Registry& registry_;
  metrics::Counter* events_total_;
  metrics::Counter* malformed_total_;
  int collector_id_ = 0;

  std::unique_ptr<bpf::Skeleton<struct netflow>> skel_;
  std::unique_ptr<LossTracker> losses_;
  std::unique_ptr<LinkWatcher> links_;
  RingReaderThread reader_;
  std::thread link_thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> realtime_offset_ns_{0};
  uint64_t netns_ = 0;

  // Reader thread only.
  ReportLedger ledger_;
  std::chrono::steady_clock::time_point last_sweep_;

  mutable std::mutex mu_;
  std::unordered_map<int, InterfaceAttachment> attachments_;  // by ifindex
  std::unordered_map<int, InterfaceKind> kinds_;              // every link seen, by ifindex
  std::vector<std::string> failures_;
  bool hook_logged_ = false;  // the first attachment logs how programs are attached
  std::string detail_;

  std::atomic<bool> up_{false};
};

}  // namespace loupe::sensors
