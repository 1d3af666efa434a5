// Pure decoders from the C ABI of the BPF programs (bpf/intf/*.h) to Flow records and TcpEvents.
// No kernel access: sensors call them from their reader threads, unit tests and benchmarks call
// them with crafted bytes. Every decoder validates the record size first; a wrong size returns
// false and the caller counts it as malformed.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <unordered_map>

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

// One direction of a flow on one interface: user space's copy of struct loupe_ct_key.
struct ConntrackKey {
  std::array<uint8_t, 16> saddr{};
  std::array<uint8_t, 16> daddr{};
  uint16_t sport = 0;  // ICMP echo: the identifier
  uint16_t dport = 0;
  uint32_t ifindex = 0;
  uint8_t proto = 0;
  uint8_t direction = 0;
  bool operator==(const ConntrackKey&) const = default;
};

struct ConntrackKeyHash {
  size_t operator()(const ConntrackKey& k) const;
};

// The running totals an aggregated packet event carries (struct loupe_packet_event).
struct PacketCounters {
  ConntrackKey key;
  uint64_t first_ns =
      0;                 // incarnation of the entry; 0: not aggregated, the flow's counts are final
  uint64_t packets = 0;  // since the entry was created
  uint64_t bytes = 0;
};

// A decoded packet event: the flow, and for DNS packets the payload bytes (a view into the
// record). For aggregated events flow.packets/bytes hold the entry's running totals until a
// ReportLedger turns them into "since the previous report".
struct DecodedPacket {
  flow::Flow flow;
  bool is_dns = false;
  std::span<const uint8_t> dns_payload;
  PacketCounters counters;
};

// What user space has reported of each conntrack entry: the single place where the kernel's
// ever-increasing totals become per-event deltas, for kernel events and idle flushes alike, so a
// packet is reported exactly once whoever reports it (docs/design/netflow-aggregation.md).
//
// Not thread-safe: the network sensor's reader thread owns it.
class ReportLedger {
 public:
  ReportLedger() { marks_.reserve(1024); }
  // Replaces f->packets/bytes (running totals) with what `counters` adds to the last report of
  // the entry, and records the new report. Totals at or below the last report (an event that
  // was overtaken by a flush) add 0; an event of an older incarnation of the key adds 0 and is
  // counted in stale_events().
  void Account(const PacketCounters& counters, flow::Flow* f);
  // Whether an entry with these totals has packets not yet reported.
  bool HasUnreported(const PacketCounters& counters) const;
  // Sweeps: BeginSweep(), Touch() every entry found in the kernel map, EndSweep() forgets the
  // entries neither touched nor accounted since BeginSweep() (evicted or deleted before it).
  void BeginSweep() { ++epoch_; }
  void Touch(const ConntrackKey& key);
  void EndSweep();

  size_t size() const { return marks_.size(); }
  uint64_t stale_events() const { return stale_events_; }

 private:
  struct Mark {
    uint64_t first_ns = 0;
    uint64_t packets = 0;
    uint64_t bytes = 0;
    uint64_t epoch = 0;
  };
  std::unordered_map<ConntrackKey, Mark, ConntrackKeyHash> marks_;
  uint64_t epoch_ = 0;
  uint64_t stale_events_ = 0;
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

// One piece of a socket data event's call: `bytes` copied from `offset` (from the call's first
// byte), and `span` bytes from `offset` to the next piece or the call's end (span > bytes.size():
// the rest was not copied, a gap).
struct SocketDataPiece {
  uint32_t offset = 0;
  uint32_t span = 0;
  std::span<const uint8_t> bytes;
};

// Most pieces a data event has: the head and LOUPE_SOCK_MAX_SEGMENTS segments.
inline constexpr size_t kMaxSocketDataPieces = 129;

// Splits what follows a loupe_sock_data_event (`payload`: the `copied`-byte head, then `segments`
// segments with their descriptors) of a call that moved `original_size` bytes into pieces, in
// order; returns how many (at least 1, the head), or 0 when the record is malformed: a payload
// size that does not match, more than LOUPE_SOCK_MAX_SEGMENTS segments, or a segment that is
// empty, overlaps the head or the one before, or ends after the call.
size_t SplitSocketData(std::span<const uint8_t> payload, uint32_t copied, uint32_t segments,
                       uint32_t original_size,
                       std::array<SocketDataPiece, kMaxSocketDataPieces>* out);

// CLOCK_REALTIME - CLOCK_MONOTONIC now (bpf_ktime_get_ns() uses CLOCK_MONOTONIC).
int64_t MonotonicToRealtimeOffsetNs();

}  // namespace loupe::sensors
