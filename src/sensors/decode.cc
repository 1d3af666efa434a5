#include "src/sensors/decode.h"

#include <linux/types.h>
#include <time.h>

#include <algorithm>
#include <cstring>

// clang-format off: the ABI headers need the __u* types first.
#include "bpf/intf/drops.h"
#include "bpf/intf/netflow.h"
#include "bpf/intf/tcp_lifecycle.h"
// clang-format on
#include "src/sensors/drop_reasons.h"

namespace loupe::sensors {
namespace {

constexpr uint8_t kIpprotoIcmp = 1;
constexpr uint8_t kIpprotoTcp = 6;
constexpr uint8_t kIpprotoUdp = 17;
constexpr uint8_t kIpprotoIcmpv6 = 58;
constexpr uint8_t kIpprotoSctp = 132;

flow::IpAddress Address(const __u8 (&bytes)[16], uint8_t version) {
  flow::IpAddress addr;
  if (version != 4 && version != 6) return addr;
  addr.version = version;
  std::memcpy(addr.bytes.data(), bytes, version == 4 ? 4 : 16);
  return addr;
}

flow::L4Protocol L4Of(uint8_t proto) {
  switch (proto) {
    case kIpprotoTcp:
      return flow::L4Protocol::kTcp;
    case kIpprotoUdp:
      return flow::L4Protocol::kUdp;
    case kIpprotoIcmp:
      return flow::L4Protocol::kIcmpv4;
    case kIpprotoIcmpv6:
      return flow::L4Protocol::kIcmpv6;
    case kIpprotoSctp:
      return flow::L4Protocol::kSctp;
    default:
      return flow::L4Protocol::kNone;
  }
}

void FillL4(flow::Flow* f, uint8_t proto, uint16_t sport, uint16_t dport, uint8_t tcp_flags,
            uint8_t icmp_type, uint8_t icmp_code) {
  f->l4 = L4Of(proto);
  switch (f->l4) {
    case flow::L4Protocol::kTcp:
      f->tcp_flags = tcp_flags;
      [[fallthrough]];
    case flow::L4Protocol::kUdp:
    case flow::L4Protocol::kSctp:
      f->src_port = sport;
      f->dst_port = dport;
      break;
    case flow::L4Protocol::kIcmpv4:
    case flow::L4Protocol::kIcmpv6:
      f->icmp_type = icmp_type;
      f->icmp_code = icmp_code;
      break;
    case flow::L4Protocol::kNone:
      break;
  }
}

template <typename T>
bool ReadRecord(std::span<const uint8_t> record, T* out) {
  if (record.size() != sizeof(T)) return false;
  std::memcpy(out, record.data(), sizeof(T));
  return true;
}

}  // namespace

uint32_t PacketEventIfindex(std::span<const uint8_t> record) {
  if (record.size() < sizeof(loupe_packet_event)) return 0;
  uint32_t ifindex = 0;
  std::memcpy(&ifindex, record.data() + offsetof(loupe_packet_event, ifindex), sizeof(ifindex));
  return ifindex;
}

bool DecodePacketEvent(std::span<const uint8_t> record, const DecodeContext& ctx,
                       InterfaceKind kind, DecodedPacket* out) {
  loupe_packet_event ev;
  const bool dns = record.size() == sizeof(loupe_dns_packet_event);
  if (!dns && record.size() != sizeof(ev)) return false;
  std::memcpy(&ev, record.data(), sizeof(ev));
  if (ev.ip_version != 4 && ev.ip_version != 6) return false;
  if (ev.direction != LOUPE_DIR_INGRESS && ev.direction != LOUPE_DIR_EGRESS) return false;
  if (dns && ev.payload_len > LOUPE_DNS_PAYLOAD_MAX) return false;

  flow::Flow& f = out->flow;
  f = flow::Flow{};
  f.time_ns = static_cast<int64_t>(ev.ts_ns) + ctx.realtime_offset_ns;
  f.type = flow::FlowType::kL3L4;
  f.verdict = flow::Verdict::kForwarded;
  f.event_type = flow::EventType::kTrace;
  const bool ingress = ev.direction == LOUPE_DIR_INGRESS;
  switch (kind) {
    case InterfaceKind::kNetwork:
      f.observation_point =
          ingress ? flow::ObservationPoint::kFromNetwork : flow::ObservationPoint::kToNetwork;
      f.direction = ingress ? flow::TrafficDirection::kIngress : flow::TrafficDirection::kEgress;
      break;
    case InterfaceKind::kVeth:
      // The host end of a veth: what arrives came from the endpoint (its egress traffic).
      f.observation_point =
          ingress ? flow::ObservationPoint::kFromEndpoint : flow::ObservationPoint::kToEndpoint;
      f.direction = ingress ? flow::TrafficDirection::kEgress : flow::TrafficDirection::kIngress;
      break;
    case InterfaceKind::kLoopback:
      f.observation_point =
          ingress ? flow::ObservationPoint::kToStack : flow::ObservationPoint::kFromStack;
      f.direction = ingress ? flow::TrafficDirection::kIngress : flow::TrafficDirection::kEgress;
      break;
  }
  // Monitor trace sub-type: observation point numbering, where TO_ENDPOINT is 0.
  f.event_subtype = f.observation_point == flow::ObservationPoint::kToEndpoint
                        ? 0
                        : static_cast<uint8_t>(f.observation_point);
  f.is_reply = ev.is_reply == LOUPE_REPLY_YES ? 1 : ev.is_reply == LOUPE_REPLY_NO ? 0 : -1;
  f.has_ethernet = ev.has_eth != 0;
  if (f.has_ethernet) {
    std::memcpy(f.src_mac.data(), ev.smac, 6);
    std::memcpy(f.dst_mac.data(), ev.dmac, 6);
  }
  f.src_ip = Address(ev.saddr, ev.ip_version);
  f.dst_ip = Address(ev.daddr, ev.ip_version);
  FillL4(&f, ev.l4_proto, ev.sport, ev.dport, ev.tcp_flags, ev.icmp_type, ev.icmp_code);
  f.ifindex = ev.ifindex;
  f.packets = ev.packets;
  f.bytes = ev.bytes;
  f.cgroup_id = ev.cgroup_id;
  f.netns = ctx.netns;

  PacketCounters& c = out->counters;
  std::memcpy(c.key.saddr.data(), ev.saddr, 16);
  std::memcpy(c.key.daddr.data(), ev.daddr, 16);
  // As netflow__ct_key: ICMP echo is keyed by its identifier.
  c.key.sport = ev.icmp_echo_id != 0 ? ev.icmp_echo_id : ev.sport;
  c.key.dport = ev.icmp_echo_id != 0 ? ev.icmp_echo_id : ev.dport;
  c.key.ifindex = ev.ifindex;
  c.key.proto = ev.l4_proto;
  c.key.direction = ev.direction;
  c.first_ns = ev.ct_first_ns;
  c.packets = ev.packets;
  c.bytes = ev.bytes;

  out->is_dns = dns;
  out->dns_payload = {};
  if (dns) {
    out->dns_payload = record.subspan(offsetof(loupe_dns_packet_event, payload), ev.payload_len);
  }
  return true;
}

bool DecodeDropEvent(std::span<const uint8_t> record, const DecodeContext& ctx, flow::Flow* out) {
  loupe_drop_event ev;
  if (!ReadRecord(record, &ev)) return false;
  flow::Flow& f = *out;
  f = flow::Flow{};
  f.time_ns = static_cast<int64_t>(ev.ts_ns) + ctx.realtime_offset_ns;
  f.type = flow::FlowType::kL3L4;
  f.verdict = flow::Verdict::kDropped;
  f.event_type = flow::EventType::kDrop;
  f.kernel_reason = static_cast<uint16_t>(ev.reason);
  f.drop_reason = ev.reason < 65536 ? HubbleDropReasonForKernel(f.kernel_reason) : 0;
  f.event_subtype = static_cast<uint8_t>(f.drop_reason);  // Cilium: drop sub-type = reason
  f.direction = ev.direction == LOUPE_DIR_INGRESS ? flow::TrafficDirection::kIngress
                                                  : flow::TrafficDirection::kEgress;
  f.has_ethernet = ev.has_eth != 0;
  if (f.has_ethernet) {
    std::memcpy(f.src_mac.data(), ev.smac, 6);
    std::memcpy(f.dst_mac.data(), ev.dmac, 6);
  }
  f.src_ip = Address(ev.l34.saddr, ev.l34.ip_version);
  f.dst_ip = Address(ev.l34.daddr, ev.l34.ip_version);
  FillL4(&f, ev.l34.l4_proto, ev.l34.sport, ev.l34.dport, ev.l34.tcp_flags, ev.l34.icmp_type,
         ev.l34.icmp_code);
  f.ifindex = ev.ifindex;
  f.packets = 1;
  f.bytes = ev.len;
  f.netns = ev.netns;
  return true;
}

bool DecodeTcpEvent(std::span<const uint8_t> record, const DecodeContext& ctx, TcpEvent* out) {
  loupe_tcp_event ev;
  if (!ReadRecord(record, &ev)) return false;
  if (ev.kind > LOUPE_TCP_CLOSED) return false;
  *out = TcpEvent{};
  out->kind = static_cast<TcpEvent::Kind>(ev.kind);
  out->time_ns = static_cast<int64_t>(ev.ts_ns) + ctx.realtime_offset_ns;
  out->src_ip = Address(ev.saddr, ev.ip_version);
  out->dst_ip = Address(ev.daddr, ev.ip_version);
  out->src_port = ev.sport;
  out->dst_port = ev.dport;
  out->latency_ns = ev.latency_ns;
  out->pid = ev.pid;
  out->netns = ev.netns;
  out->comm.assign(ev.comm, strnlen(ev.comm, sizeof(ev.comm)));
  return true;
}

size_t ConntrackKeyHash::operator()(const ConntrackKey& k) const {
  // Word-wise multiply-xorshift: hashed once per event, so it must cost a few ns, not a byte loop.
  uint64_t words[5];
  std::memcpy(&words[0], k.saddr.data(), 16);
  std::memcpy(&words[2], k.daddr.data(), 16);
  words[4] = static_cast<uint64_t>(k.sport) | static_cast<uint64_t>(k.dport) << 16 |
             static_cast<uint64_t>(k.ifindex) << 32;
  uint64_t h = static_cast<uint64_t>(k.proto) << 8 | k.direction;
  for (uint64_t w : words) {
    h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
    h ^= h >> 29;
  }
  return static_cast<size_t>(h);
}

void ReportLedger::Account(const PacketCounters& counters, flow::Flow* f) {
  if (counters.first_ns == 0) return;  // not aggregated: the event stands for itself
  Mark& mark = marks_[counters.key];
  if (counters.first_ns > mark.first_ns) {
    mark = Mark{counters.first_ns, 0, 0, 0};  // a new incarnation of the key starts from 0
  } else if (counters.first_ns < mark.first_ns) {
    ++stale_events_;
    f->packets = 0;
    f->bytes = 0;
    return;
  }
  mark.epoch = epoch_;
  f->packets = counters.packets > mark.packets ? counters.packets - mark.packets : 0;
  f->bytes = counters.bytes > mark.bytes ? counters.bytes - mark.bytes : 0;
  mark.packets = std::max(mark.packets, counters.packets);
  mark.bytes = std::max(mark.bytes, counters.bytes);
}

bool ReportLedger::HasUnreported(const PacketCounters& counters) const {
  auto it = marks_.find(counters.key);
  if (it == marks_.end() || counters.first_ns > it->second.first_ns) return counters.packets > 0;
  if (counters.first_ns < it->second.first_ns) return false;
  return counters.packets > it->second.packets || counters.bytes > it->second.bytes;
}

void ReportLedger::Touch(const ConntrackKey& key) {
  auto it = marks_.find(key);
  if (it != marks_.end()) it->second.epoch = epoch_;
}

void ReportLedger::EndSweep() {
  std::erase_if(marks_, [this](const auto& kv) { return kv.second.epoch < epoch_; });
}

int64_t MonotonicToRealtimeOffsetNs() {
  // Bracket the realtime read between two monotonic reads and take the midpoint.
  timespec m1{}, r{}, m2{};
  clock_gettime(CLOCK_MONOTONIC, &m1);
  clock_gettime(CLOCK_REALTIME, &r);
  clock_gettime(CLOCK_MONOTONIC, &m2);
  const int64_t mono1 = m1.tv_sec * 1'000'000'000LL + m1.tv_nsec;
  const int64_t mono2 = m2.tv_sec * 1'000'000'000LL + m2.tv_nsec;
  const int64_t real = r.tv_sec * 1'000'000'000LL + r.tv_nsec;
  return real - (mono1 + (mono2 - mono1) / 2);
}

}  // namespace loupe::sensors
