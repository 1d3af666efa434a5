// The agent's FlowSink: stores what the sensors decode in the flow buffer, turns DNS packets
// into L7 DNS flows, and counts lost events and TCP lifecycle events. Called concurrently from
// every sensor's reader thread.
#pragma once

#include <array>
#include <atomic>
#include <mutex>
#include <string>

#include "src/flow/flow_buffer.h"
#include "src/ingest/conn_manager.h"
#include "src/metrics/registry.h"
#include "src/protocols/dns/dns_tracker.h"
#include "src/sensors/flow_sink.h"

namespace loupe::agent {

// Also the RequestSink of the application view: each completed request becomes Hubble L7
// flows (request and response) and, with `trace_printer`, a line on standard output.
class FlowPipeline final : public sensors::FlowSink, public ingest::RequestSink {
 public:
  enum class TracePrinter { kDisabled, kText, kJson, kJsonIndent, kCounter };

  FlowPipeline(flow::FlowBuffer& buffer, metrics::Registry& registry,
               TracePrinter printer = TracePrinter::kDisabled);
  ~FlowPipeline() override;

  void OnFlow(flow::Flow&& flow) override;
  void OnLost(const flow::LostEvent& lost) override;
  void OnTcpEvent(const sensors::TcpEvent& event) override;
  void OnDnsPacket(flow::Flow&& flow, std::span<const uint8_t> payload) override;
  void OnRequest(telemetry::Request&& request) override;

  static TracePrinter ParseTracePrinter(const std::string& name);

 private:
  flow::FlowBuffer& buffer_;
  metrics::Family<metrics::Counter>& lost_;
  std::array<metrics::Counter*, 7> tcp_events_{};  // by TcpEvent::Kind, interned once
  metrics::Histogram* connect_duration_;
  metrics::Counter* dns_invalid_;
  TracePrinter printer_;
  std::atomic<uint64_t> printed_requests_{0};
  std::mutex dns_mu_;
  protocols::dns::DnsTracker dns_;  // guarded by dns_mu_
};

}  // namespace loupe::agent
