// The Flow record: one observed network event (an aggregated L3/L4 packet event, a drop, a TCP
// lifecycle event or an L7 exchange), in a compact form that the flow buffer stores and filters
// evaluate. Field semantics and enum numbers follow Hubble's flow.proto so that conversion to the
// wire format (src/api) is a field-by-field copy.
//
// A Flow is a value type; L7 details hang off a shared immutable pointer so copies stay cheap.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace loupe::flow {

// flow.Verdict
enum class Verdict : uint8_t {
  kUnknown = 0,
  kForwarded = 1,
  kDropped = 2,
  kError = 3,
  kAudit = 4,
  kRedirected = 5,
  kTraced = 6,
  kTranslated = 7,
};

// flow.FlowType
enum class FlowType : uint8_t { kUnknown = 0, kL3L4 = 1, kL7 = 2, kSock = 3 };

// flow.TrafficDirection
enum class TrafficDirection : uint8_t { kUnknown = 0, kIngress = 1, kEgress = 2 };

// flow.TraceObservationPoint (the subset Loupe's hooks can be: TC on a host interface sees
// packets arriving from the network / leaving to it, or, on a veth, leaving/arriving at an
// endpoint).
enum class ObservationPoint : uint8_t {
  kUnknown = 0,
  kToHost = 2,
  kToStack = 3,
  kFromEndpoint = 5,
  kFromHost = 7,
  kFromStack = 8,
  kFromNetwork = 10,
  kToNetwork = 11,
  kToEndpoint = 101,
};

// Monitor message types (Hubble event_type.type): what produced the flow.
enum class EventType : uint8_t {
  kDrop = 1,
  kTrace = 4,
  kTraceSock = 7,
  kL7 = 129,
};

// flow.L7FlowType
enum class L7Type : uint8_t { kUnknown = 0, kRequest = 1, kResponse = 2, kSample = 3 };

enum class L4Protocol : uint8_t { kNone = 0, kTcp, kUdp, kIcmpv4, kIcmpv6, kSctp };

// TCP flag bits as on the wire (byte 13 of the TCP header).
inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;
inline constexpr uint8_t kTcpUrg = 0x20;
inline constexpr uint8_t kTcpEce = 0x40;
inline constexpr uint8_t kTcpCwr = 0x80;

// An IPv4 or IPv6 address in network byte order; IPv4 uses the first 4 bytes.
struct IpAddress {
  std::array<uint8_t, 16> bytes{};
  uint8_t version = 0;  // 4, 6, or 0 when absent

  bool operator==(const IpAddress&) const = default;
  std::string ToString() const;
  // Writes the textual form into `buf` (no terminator) and returns it; empty when absent. IPv4 is
  // written directly: glibc's inet_ntop formats it through sprintf, a visible per-request cost.
  std::string_view Format(char (&buf)[46]) const;
  static bool Parse(const std::string& text, IpAddress* out);
};

struct DnsInfo {
  std::string query;                // "example.com." (with the trailing dot, as Hubble)
  std::vector<std::string> qtypes;  // "A", "AAAA", ...
  std::vector<std::string> ips;     // answer addresses
  std::vector<std::string> cnames;
  std::vector<std::string> rrtypes;  // types of the answer records
  uint32_t ttl = 0;                  // smallest TTL of the answers
  uint32_t rcode = 0;                // 0 NOERROR, 3 NXDOMAIN, ...
  uint16_t id = 0;
  std::string observation_source;  // Hubble: "proxy"; Loupe: "tc"
};

struct HttpInfo {
  uint32_t code = 0;     // 0 on requests
  std::string method;    // "GET"
  std::string url;       // "http://host/path"
  std::string protocol;  // "HTTP/1.1", "HTTP/2"
  std::vector<std::pair<std::string, std::string>> headers;
};

struct L7Info {
  L7Type type = L7Type::kUnknown;
  uint64_t latency_ns = 0;  // responses: time since the request
  std::unique_ptr<DnsInfo> dns;
  std::unique_ptr<HttpInfo> http;
};

// Who is behind an address, as Hubble's Endpoint plus the service and DNS names of the address.
// Built once per address by the identity caches and shared by every flow that names it.
struct Workload {
  std::string name;
  std::string kind;  // "Deployment", "DaemonSet", ...
};

struct Endpoint {
  uint32_t id = 0;        // endpoint id (Hubble: Cilium endpoint id; Loupe: 0 or a pid)
  uint32_t identity = 0;  // numeric identity, stable for a label set; reserved ids as Cilium
  std::string cluster_name;
  std::string namespace_name;
  std::string pod_name;
  std::vector<std::string> labels;  // "k8s:app=web", "reserved:world", ... sorted
  std::vector<Workload> workloads;
};

struct PeerInfo {
  Endpoint endpoint;
  std::string service_name;  // a Service whose ClusterIP or backends include the address
  std::string service_namespace;
  std::vector<std::string> names;  // DNS names that resolved to the address
};

struct Flow {
  int64_t time_ns = 0;  // wall clock (CLOCK_REALTIME) when the event happened
  uint64_t id = 0;      // unique per agent run; the uuid is derived from it
  FlowType type = FlowType::kL3L4;
  Verdict verdict = Verdict::kForwarded;
  uint32_t drop_reason = 0;    // Hubble DropReason value (0 = DROP_REASON_UNKNOWN)
  uint16_t kernel_reason = 0;  // enum skb_drop_reason value for drops from the kernel
  EventType event_type = EventType::kTrace;
  uint8_t event_subtype = 0;  // trace: observation point numbering; drop: drop_reason
  ObservationPoint observation_point = ObservationPoint::kUnknown;
  TrafficDirection direction = TrafficDirection::kUnknown;
  int8_t is_reply = -1;  // -1 unknown, 0 no, 1 yes

  std::array<uint8_t, 6> src_mac{};
  std::array<uint8_t, 6> dst_mac{};
  bool has_ethernet = false;
  IpAddress src_ip;
  IpAddress dst_ip;
  L4Protocol l4 = L4Protocol::kNone;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint8_t tcp_flags = 0;
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;

  uint32_t ifindex = 0;
  uint64_t packets = 0;  // aggregated packets this event stands for (0 when not aggregated)
  uint64_t bytes = 0;
  uint32_t pid = 0;  // process, when the hook knows it
  uint64_t cgroup_id = 0;
  uint64_t netns = 0;  // network namespace inode, when known

  std::shared_ptr<const L7Info> l7;  // set iff type == kL7
  // Identity of the two addresses; null until the identity caches know them.
  std::shared_ptr<const PeerInfo> src_info;
  std::shared_ptr<const PeerInfo> dst_info;
};

// A LostEvent of the Observer API: events that never became flows.
enum class LostSource : uint8_t {
  kUnknown = 0,
  kPerfEventRingBuffer = 1,  // the BPF ring buffer was full
  kObserverEventsQueue = 2,
  kHubbleRingBuffer = 3,  // a reader fell behind the flow buffer's writer
};

struct LostEvent {
  LostSource source = LostSource::kUnknown;
  uint64_t num_events_lost = 0;
  int32_t cpu = -1;  // -1 when unknown
  int64_t first_ns = 0;
  int64_t last_ns = 0;
};

}  // namespace loupe::flow
