// Pure decoders from the C ABI of the BPF programs (bpf/intf/*.h) to Flow records and TcpEvents.
// No kernel access: sensors call them from their reader threads, unit tests and benchmarks call
// them with crafted bytes. Every decoder validates the record size first; a wrong size returns
// false and the caller counts it as malformed.
#pragma once

#include <cstdint>
#include <span>

#include "src/flow/flow.h"
#include "src/sensors/flow_sink.h"

namespace loupe::sensors {

// What kind of interface a TC program ran on; decides the observation point (see
// docs/design/netflow-aggregation.md).
enum class InterfaceKind : uint8_t {
  kNetwork,   // physical or other host interface: ingress FROM_NETWORK, egress TO_NETWORK
  kVeth,      // host end of a veth: ingress FROM_ENDPOINT (egress traffic of the endpoint),
              //                     egress TO_ENDPOINT (ingress traffic of the endpoint)
  kLoopback,  // lo: ingress TO_STACK, egress FROM_STACK
};

struct DecodeContext {
  int64_t realtime_offset_ns = 0;  // CLOCK_REALTIME - CLOCK_MONOTONIC
  uint64_t netns = 0;              // inode of the namespace the TC interfaces live in
};

// A decoded packet event: the flow, and for DNS packets the payload bytes (a view into the
// record).
struct DecodedPacket {
  flow::Flow flow;
  bool is_dns = false;
  std::span<const uint8_t> dns_payload;
};

// Decodes a loupe_packet_event or loupe_dns_packet_event record.
bool DecodePacketEvent(std::span<const uint8_t> record, const DecodeContext& ctx,
                       InterfaceKind kind, DecodedPacket* out);

// The interface index of a packet event record (so the caller can look up its kind); 0 when the
// record is too short.
uint32_t PacketEventIfindex(std::span<const uint8_t> record);

// Decodes a loupe_drop_event record into a DROPPED flow.
bool DecodeDropEvent(std::span<const uint8_t> record, const DecodeContext& ctx, flow::Flow* out);

// Decodes a loupe_tcp_event record.
bool DecodeTcpEvent(std::span<const uint8_t> record, const DecodeContext& ctx, TcpEvent* out);

// CLOCK_REALTIME - CLOCK_MONOTONIC now (bpf_ktime_get_ns() uses CLOCK_MONOTONIC).
int64_t MonotonicToRealtimeOffsetNs();

}  // namespace loupe::sensors
