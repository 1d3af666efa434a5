// Where sensors deliver what they decoded. The agent's implementation stores flows in the flow
// buffer and feeds metrics; tests use a recording sink. Implementations must be thread-safe:
// every sensor calls from its own reader thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "src/flow/flow.h"

namespace loupe::sensors {

// A TCP connection lifecycle event from the sock/tcp tracepoints.
struct TcpEvent {
  enum class Kind : uint8_t {
    kConnected,      // SYN_SENT -> ESTABLISHED; latency_ns = connect latency
    kConnectFailed,  // SYN_SENT -> CLOSE (refused, timed out, reset)
    kAccepted,       // SYN_RECV -> ESTABLISHED (server side)
    kRetransmit,     // tcp:tcp_retransmit_skb
    kResetSent,      // tcp:tcp_send_reset
    kResetReceived,  // tcp:tcp_receive_reset
    kClosed,         // -> CLOSE after ESTABLISHED
  };
  Kind kind = Kind::kConnected;
  int64_t time_ns = 0;     // wall clock
  flow::IpAddress src_ip;  // local address
  flow::IpAddress dst_ip;  // remote address
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint64_t latency_ns = 0;
  uint32_t pid = 0;  // 0 when the hook ran outside process context
  uint64_t netns = 0;
  std::string comm;  // the pid's command at connect(); "" when the pid is unknown
};

class FlowSink {
 public:
  virtual ~FlowSink() = default;
  virtual void OnFlow(flow::Flow&& flow) = 0;
  virtual void OnLost(const flow::LostEvent& lost) = 0;
  virtual void OnTcpEvent(const TcpEvent& event) = 0;
  // A DNS packet (UDP or TCP port 53) seen by the network sensor: its L3/L4 flow and the first
  // bytes of its L4 payload (at most 512; a TCP payload starts with the 2-byte length prefix).
  // Every DNS packet arrives here instead of OnFlow; the default stores only the L3/L4 flow.
  virtual void OnDnsPacket(flow::Flow&& flow, std::span<const uint8_t> payload) {
    (void)payload;
    OnFlow(std::move(flow));
  }
};

// A sink that discards everything (for wiring a sensor before its consumer exists).
class DiscardingFlowSink final : public FlowSink {
 public:
  void OnFlow(flow::Flow&&) override {}
  void OnLost(const flow::LostEvent&) override {}
  void OnTcpEvent(const TcpEvent&) override {}
  void OnDnsPacket(flow::Flow&&, std::span<const uint8_t>) override {}
};

}  // namespace loupe::sensors
