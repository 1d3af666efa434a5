#include "src/agent/flow_pipeline.h"

namespace loupe::agent {
namespace {

const char* LostSourceLabel(flow::LostSource source) {
  switch (source) {
    case flow::LostSource::kPerfEventRingBuffer:
      return "perf_event_ring_buffer";
    case flow::LostSource::kObserverEventsQueue:
      return "observer_events_queue";
    case flow::LostSource::kHubbleRingBuffer:
      return "hubble_ring_buffer";
    case flow::LostSource::kUnknown:
      break;
  }
  return "unknown";
}

const char* TcpEventLabel(sensors::TcpEvent::Kind kind) {
  using Kind = sensors::TcpEvent::Kind;
  switch (kind) {
    case Kind::kConnected:
      return "connected";
    case Kind::kConnectFailed:
      return "connect_failed";
    case Kind::kAccepted:
      return "accepted";
    case Kind::kRetransmit:
      return "retransmit";
    case Kind::kResetSent:
      return "reset_sent";
    case Kind::kResetReceived:
      return "reset_received";
    case Kind::kClosed:
      return "closed";
  }
  return "unknown";
}

}  // namespace

FlowPipeline::FlowPipeline(flow::FlowBuffer& buffer, metrics::Registry& registry)
    : buffer_(buffer),
      lost_(registry.AddCounter("hubble_lost_events_total",
                                "Events lost before they became flows, by where they were lost.",
                                {"source"})),
      tcp_events_(registry.AddCounter(
          "loupe_tcp_events_total",
          "TCP lifecycle events seen by the sock/tcp tracepoints, by event.", {"event"})),
      dns_invalid_(registry
                       .AddCounter("loupe_parse_errors_total",
                                   "Payloads a protocol parser rejected, by protocol.",
                                   {"protocol"})
                       .WithLabels({"dns"})) {}

void FlowPipeline::OnFlow(flow::Flow&& flow) { buffer_.Append(std::move(flow)); }

void FlowPipeline::OnLost(const flow::LostEvent& lost) {
  lost_.WithLabels({LostSourceLabel(lost.source)})->Inc(lost.num_events_lost);
  buffer_.AppendLost(lost);
}

void FlowPipeline::OnTcpEvent(const sensors::TcpEvent& event) {
  tcp_events_.WithLabels({TcpEventLabel(event.kind)})->Inc();
}

void FlowPipeline::OnDnsPacket(flow::Flow&& flow, std::span<const uint8_t> payload) {
  flow::Flow l7;
  protocols::ParseState state;
  {
    std::lock_guard<std::mutex> lock(dns_mu_);
    state = dns_.Process(flow, payload, &l7);
  }
  buffer_.Append(std::move(flow));
  if (state == protocols::ParseState::kSuccess) {
    buffer_.Append(std::move(l7));
  } else if (state == protocols::ParseState::kInvalid) {
    dns_invalid_->Inc();
  }
}

}  // namespace loupe::agent
