// The agent's FlowSink: stores what the sensors decode in the flow buffer, turns DNS packets
// into L7 DNS flows, and counts lost events and TCP lifecycle events. Called concurrently from
// every sensor's reader thread. Owns one thread of its own, which re-verifies the identity
// cache's processes against /proc every few seconds.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "src/agent/line_printer.h"
#include "src/flow/flow_buffer.h"
#include "src/identity/identity_cache.h"
#include "src/ingest/conn_manager.h"
#include "src/metrics/registry.h"
#include "src/protocols/dns/dns_tracker.h"
#include "src/sensors/flow_sink.h"

namespace loupe::agent {

// The span of the request an L7 flow belongs to (exemplars); hex ids.
struct FlowTrace {
  std::string_view trace_id;
  std::string_view span_id;
};

// What consumes flows and requests besides the flow buffer (metric handlers). Called from the
// sensor threads after identity enrichment; implementations are thread-safe.
class FlowObserver {
 public:
  virtual ~FlowObserver() = default;
  virtual void OnFlow(const flow::Flow& /*flow*/, const FlowTrace* /*trace*/) {}
  // `trace`: the request's sampled span, null when it has none.
  virtual void OnRequest(const telemetry::Request& /*request*/, const FlowTrace* /*trace*/) {}
  // An outgoing TCP connection was established after `seconds`: `tuple` carries the addresses,
  // ports, pid and identities (source = the connecting end).
  virtual void OnTcpConnect(const flow::Flow& /*tuple*/, double /*seconds*/) {}
};

// The DNS messages seen in the last `window_ns` (at most kCapacity of them), keyed by a hash of
// addresses, ports, message id and QR/opcode byte: a packet between two local endpoints crosses
// two observed interfaces and must become one L7 flow. A hash set finds a key in O(1); a ring
// in arrival order expires them. Not thread-safe (the pipeline's DNS lock guards it).
class RecentDnsMessages {
 public:
  static constexpr size_t kCapacity = 1024;
  static constexpr int64_t kDefaultWindowNs = 200'000'000;

  explicit RecentDnsMessages(int64_t window_ns = kDefaultWindowNs) : window_ns_(window_ns) {
    keys_.reserve(kCapacity);  // no rehash on the packet path
  }

  // True when `key` was seen within the window before `time_ns` (a duplicate; not recorded
  // again). Otherwise records it and returns false; when full, the oldest entry makes room. A
  // retransmission (same key) after the window is not a duplicate.
  bool SeenOrAdd(uint64_t key, int64_t time_ns);
  size_t size() const { return size_; }

 private:
  struct Entry {
    uint64_t key = 0;
    int64_t time_ns = 0;
  };
  void PopOldest();

  const int64_t window_ns_;
  std::array<Entry, kCapacity> ring_{};  // arrival order from head_
  size_t head_ = 0;
  size_t size_ = 0;
  absl::flat_hash_set<uint64_t> keys_;  // the keys in ring_
};

// The key RecentDnsMessages de-duplicates by: a hash of both addresses and ports and the DNS
// header's id and QR/opcode byte. Nullopt when the payload is too short to hold them.
std::optional<uint64_t> DnsMessageKey(const flow::Flow& flow, std::span<const uint8_t> payload);

// Also the RequestSink of the application view: each completed request becomes Hubble L7
// flows (request and response) and, with `trace_printer`, a line on standard output.
class FlowPipeline final : public sensors::FlowSink, public ingest::RequestSink {
 public:
  enum class TracePrinter { kDisabled, kText, kJson, kJsonIndent, kCounter };

  // How often cached process identities are re-verified against /proc (IdentityCache::
  // SweepProcesses): exec/exit events from the application view forget processes at once, the
  // sweep is what keeps the cache right without them (and covers lost events).
  static constexpr std::chrono::milliseconds kDefaultProcessSweepInterval{5000};

  // A sweep thread runs every `process_sweep_interval` (zero: none) until destruction.
  FlowPipeline(flow::FlowBuffer& buffer, metrics::Registry& registry,
               identity::IdentityCache& identity, TracePrinter printer = TracePrinter::kDisabled,
               std::chrono::milliseconds process_sweep_interval = kDefaultProcessSweepInterval);

  // Before the sensors start; the observer must outlive the pipeline's use.
  void AddObserver(FlowObserver* observer) { observers_.push_back(observer); }
  // Before the sensors start: gives each request a span (its ids, when sampled, become the
  // request's exemplars). Returns the sampled span's hex ids, or nullopt.
  using SpanHook =
      std::function<std::optional<std::pair<std::string, std::string>>(const telemetry::Request&)>;
  void SetSpanHook(SpanHook hook) { span_hook_ = std::move(hook); }
  ~FlowPipeline() override;

  void OnFlow(flow::Flow&& flow) override;
  void OnLost(const flow::LostEvent& lost) override;
  void OnTcpEvent(const sensors::TcpEvent& event) override;
  void OnDnsPacket(flow::Flow&& flow, std::span<const uint8_t> payload) override;
  void OnRequest(telemetry::Request&& request) override;

  static TracePrinter ParseTracePrinter(const std::string& name);

 private:
  void Publish(flow::Flow&& flow, const FlowTrace* trace = nullptr);
  bool DuplicateDnsMessage(const flow::Flow& flow, std::span<const uint8_t> payload);
  void SweepLoop(std::chrono::milliseconds interval);

  flow::FlowBuffer& buffer_;
  identity::IdentityCache& identity_;
  std::vector<FlowObserver*> observers_;
  SpanHook span_hook_;
  metrics::Family<metrics::Counter>& lost_;
  std::array<metrics::Counter*, 7> tcp_events_{};  // by TcpEvent::Kind, interned once
  metrics::Counter* dns_invalid_;
  TracePrinter printer_;
  std::unique_ptr<LinePrinter> lines_;  // text and JSON printers: their lines, for stdout
  std::atomic<uint64_t> printed_requests_{0};
  std::mutex dns_mu_;
  protocols::dns::DnsTracker dns_;  // guarded by dns_mu_
  RecentDnsMessages recent_dns_;    // guarded by dns_mu_
  std::mutex sweep_mu_;
  std::condition_variable sweep_cv_;
  bool sweep_stopping_ = false;  // guarded by sweep_mu_
  std::thread sweeper_;
};

}  // namespace loupe::agent
