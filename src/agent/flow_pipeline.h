// The agent's FlowSink: stores what the sensors decode in the flow buffer, turns DNS packets
// into L7 DNS flows, and counts lost events and TCP lifecycle events. Called concurrently from
// every sensor's reader thread.
#pragma once

#include <array>
#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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

// Also the RequestSink of the application view: each completed request becomes Hubble L7
// flows (request and response) and, with `trace_printer`, a line on standard output.
class FlowPipeline final : public sensors::FlowSink, public ingest::RequestSink {
 public:
  enum class TracePrinter { kDisabled, kText, kJson, kJsonIndent, kCounter };

  FlowPipeline(flow::FlowBuffer& buffer, metrics::Registry& registry,
               identity::IdentityCache& identity, TracePrinter printer = TracePrinter::kDisabled);

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

  flow::FlowBuffer& buffer_;
  identity::IdentityCache& identity_;
  std::vector<FlowObserver*> observers_;
  SpanHook span_hook_;
  metrics::Family<metrics::Counter>& lost_;
  std::array<metrics::Counter*, 7> tcp_events_{};  // by TcpEvent::Kind, interned once
  metrics::Counter* dns_invalid_;
  TracePrinter printer_;
  std::atomic<uint64_t> printed_requests_{0};
  std::mutex dns_mu_;
  protocols::dns::DnsTracker dns_;                       // guarded by dns_mu_
  std::deque<std::pair<uint64_t, int64_t>> recent_dns_;  // (message key, time), by dns_mu_
};

}  // namespace loupe::agent
