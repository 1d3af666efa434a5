#include "src/api/convert.h"

#include <net/if.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace loupe::api {
namespace {

std::string MacString(const std::array<uint8_t, 6>& mac) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                mac[4], mac[5]);
  return buf;
}

std::string Join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

// Go's %q for the strings that occur here (addresses, names): quotes and escapes \ and ".
std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

void SetTimestamp(int64_t ns, google::protobuf::Timestamp* ts) {
  int64_t seconds = ns / 1'000'000'000;
  int64_t nanos = ns % 1'000'000'000;
  if (nanos < 0) {
    nanos += 1'000'000'000;
    --seconds;
  }
  ts->set_seconds(seconds);
  ts->set_nanos(static_cast<int32_t>(nanos));
}

std::string DnsSummary(const flow::L7Info& l7, const flow::DnsInfo& dns) {
  const std::string qtypes = Join(dns.qtypes, ",");
  if (l7.type == flow::L7Type::kRequest) return "DNS Query " + dns.query + " " + qtypes;
  if (l7.type != flow::L7Type::kResponse) return "";
  std::string answer;
  if (dns.rcode != 0) {
    answer = "RCode: " + DnsRcodeString(dns.rcode);
  } else {
    std::vector<std::string> parts;
    if (!dns.ips.empty()) parts.push_back(Quote(Join(dns.ips, ",")));
    if (!dns.cnames.empty()) parts.push_back("CNAMEs: " + Quote(Join(dns.cnames, ",")));
    answer = Join(parts, " ");
  }
  const char* source = dns.observation_source == "proxy" ? "Proxy" : "Query";
  return "DNS Answer " + answer + " TTL: " + std::to_string(dns.ttl) + " (" + source + " " +
         dns.query + " " + qtypes + ")";
}

std::string HttpSummary(const flow::L7Info& l7, const flow::HttpInfo& http) {
  const std::string request = http.method + " " + http.url;
  if (l7.type == flow::L7Type::kRequest) return http.protocol + " " + request;
  if (l7.type != flow::L7Type::kResponse) return "";
  return http.protocol + " " + std::to_string(http.code) + " " +
         std::to_string(l7.latency_ns / 1'000'000) + "ms (" + request + ")";
}

struct IcmpInfo {
  const char* type;
  std::vector<std::pair<uint8_t, const char*>> codes;  // empty: the type has no codes
};

// gopacket's names, which Cilium's Summary shows.
const std::unordered_map<uint8_t, IcmpInfo>& Icmpv4Names() {
  static const auto* names = new std::unordered_map<uint8_t, IcmpInfo>{
      {0, {"EchoReply", {}}},
      {3,
       {"DestinationUnreachable",
        {{0, "Net"},
         {1, "Host"},
         {2, "Protocol"},
         {3, "Port"},
         {4, "FragmentationNeeded"},
         {5, "SourceRoutingFailed"},
         {6, "NetUnknown"},
         {7, "HostUnknown"},
         {8, "SourceIsolated"},
         {9, "NetAdminProhibited"},
         {10, "HostAdminProhibited"},
         {11, "NetTOS"},
         {12, "HostTOS"},
         {13, "CommAdminProhibited"},
         {14, "HostPrecedence"},
         {15, "PrecedenceCutoff"}}}},
      {4, {"SourceQuench", {}}},
      {5, {"Redirect", {{0, "Net"}, {1, "Host"}, {2, "TOS+Net"}, {3, "TOS+Host"}}}},
      {8, {"EchoRequest", {}}},
      {9, {"RouterAdvertisement", {}}},
      {10, {"RouterSolicitation", {}}},
      {11, {"TimeExceeded", {{0, "TTLExceeded"}, {1, "FragmentReassemblyTimeExceeded"}}}},
      {12,
       {"ParameterProblem",
        {{0, "PointerIndicatesError"}, {1, "MissingOption"}, {2, "BadLength"}}}},
      {13, {"TimestampRequest", {}}},
      {14, {"TimestampReply", {}}},
      {15, {"InfoRequest", {}}},
      {16, {"InfoReply", {}}},
      {17, {"AddressMaskRequest", {}}},
      {18, {"AddressMaskReply", {}}},
  };
  return *names;
}

const std::unordered_map<uint8_t, IcmpInfo>& Icmpv6Names() {
  static const auto* names = new std::unordered_map<uint8_t, IcmpInfo>{
      {1,
       {"DestinationUnreachable",
        {{0, "NoRouteToDst"},
         {1, "AdminProhibited"},
         {2, "BeyondScopeOfSrc"},
         {3, "AddressUnreachable"},
         {4, "PortUnreachable"},
         {5, "SrcAddressFailedPolicy"},
         {6, "RejectRouteToDst"}}}},
      {2, {"PacketTooBig", {}}},
      {3, {"TimeExceeded", {{0, "HopLimitExceeded"}, {1, "FragmentReassemblyTimeExceeded"}}}},
      {4,
       {"ParameterProblem",
        {{0, "ErroneousHeaderField"},
         {1, "UnrecognizedNextHeader"},
         {2, "UnrecognizedIPv6Option"}}}},
      {128, {"EchoRequest", {}}},
      {129, {"EchoReply", {}}},
      {133, {"RouterSolicitation", {}}},
      {134, {"RouterAdvertisement", {}}},
      {135, {"NeighborSolicitation", {}}},
      {136, {"NeighborAdvertisement", {}}},
      {137, {"Redirect", {}}},
  };
  return *names;
}

flowpb::Verdict VerdictToProto(flow::Verdict v) { return static_cast<flowpb::Verdict>(v); }

bool ValidDropReason(uint32_t reason) {
  return flowpb::DropReason_IsValid(static_cast<int>(reason));
}

}  // namespace

std::string InterfaceName(uint32_t ifindex) {
  // Interfaces come and go (veths); names are cached briefly so a burst of flows costs one lookup.
  struct Cached {
    std::string name;
    std::chrono::steady_clock::time_point at;
  };
  static std::mutex mu;
  static auto* cache = new std::unordered_map<uint32_t, Cached>();
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu);
  auto it = cache->find(ifindex);
  if (it != cache->end() && now - it->second.at < std::chrono::seconds(5)) return it->second.name;
  char buf[IF_NAMESIZE] = {};
  std::string name = if_indextoname(ifindex, buf) != nullptr ? buf : "";
  if (cache->size() > 4096) cache->clear();
  (*cache)[ifindex] = Cached{name, now};
  return name;
}

std::string TcpFlagsString(uint8_t flags) {
  // Cilium's order, not the bit order.
  static constexpr std::pair<uint8_t, const char*> kOrder[] = {
      {flow::kTcpSyn, "SYN"}, {flow::kTcpAck, "ACK"}, {flow::kTcpRst, "RST"},
      {flow::kTcpFin, "FIN"}, {flow::kTcpPsh, "PSH"}, {flow::kTcpUrg, "URG"},
      {flow::kTcpEce, "ECE"}, {flow::kTcpCwr, "CWR"},
  };
  std::string out;
  for (const auto& [bit, name] : kOrder) {
    if ((flags & bit) == 0) continue;
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

std::string IcmpTypeCodeString(bool v6, uint8_t type, uint8_t code) {
  const auto& names = v6 ? Icmpv6Names() : Icmpv4Names();
  auto it = names.find(type);
  if (it == names.end()) return std::to_string(type) + "(" + std::to_string(code) + ")";
  const IcmpInfo& info = it->second;
  if (info.codes.empty()) {
    if (code == 0) return info.type;
    return std::string(info.type) + "(Code: " + std::to_string(code) + ")";
  }
  for (const auto& [value, name] : info.codes) {
    if (value == code) return std::string(info.type) + "(" + name + ")";
  }
  return std::string(info.type) + "(Code: " + std::to_string(code) + ")";
}

std::string DnsRcodeString(uint32_t rcode) {
  switch (rcode) {
    case 0:
      return "No Error";
    case 1:
      return "Format Error";
    case 2:
      return "Server Failure";
    case 3:
      return "Non-Existent Domain";
    case 4:
      return "Not Implemented";
    case 5:
      return "Query Refused";
    case 6:
      return "Name Exists when it should not";
    case 7:
      return "RR Set Exists when it should not";
    case 8:
      return "RR Set that should exist does not";
    case 9:
      return "Server Not Authoritative for zone";
    case 10:
      return "Name not contained in zone";
    case 16:
      return "Bad OPT Version";
    case 17:
      return "Key not recognized";
    case 18:
      return "Signature out of time window";
    case 19:
      return "Bad TKEY Mode";
    case 20:
      return "Duplicate key name";
    case 21:
      return "Algorithm not supported";
    case 22:
      return "Bad Truncation";
    case 23:
      return "Bad/missing Server Cookie";
    default:
      return "Unknown";
  }
}

namespace {

constexpr std::string_view kKernelReasonPrefix = " (kernel drop reason: ";

std::string L3L4Summary(const flow::Flow& f);

}  // namespace

std::string FlowSummary(const flow::Flow& f, const ConvertContext* ctx) {
  std::string summary = L3L4Summary(f);
  if (f.verdict != flow::Verdict::kDropped || f.drop_reason != 0 || f.kernel_reason == 0 ||
      ctx == nullptr || ctx->kernel_drop_reason_name == nullptr) {
    return summary;
  }
  const char* name = ctx->kernel_drop_reason_name(f.kernel_reason);
  summary += kKernelReasonPrefix;
  summary +=
      name != nullptr && name[0] != '\0' ? std::string(name) : std::to_string(f.kernel_reason);
  summary += ")";
  return summary;
}

std::string KernelDropReasonFromSummary(const std::string& summary) {
  const size_t at = summary.rfind(kKernelReasonPrefix);
  if (at == std::string::npos || summary.empty() || summary.back() != ')') return "";
  const size_t begin = at + kKernelReasonPrefix.size();
  return summary.substr(begin, summary.size() - 1 - begin);
}

namespace {

std::string L3L4Summary(const flow::Flow& f) {
  if (f.l7 != nullptr) {
    if (f.l7->dns != nullptr) return DnsSummary(*f.l7, *f.l7->dns);
    if (f.l7->http != nullptr) return HttpSummary(*f.l7, *f.l7->http);
  }
  switch (f.l4) {
    case flow::L4Protocol::kTcp:
      return "TCP Flags: " + TcpFlagsString(f.tcp_flags);
    case flow::L4Protocol::kUdp:
      return "UDP";
    case flow::L4Protocol::kSctp:
      return "SCTP";
    case flow::L4Protocol::kIcmpv4:
      return "ICMPv4 " + IcmpTypeCodeString(false, f.icmp_type, f.icmp_code);
    case flow::L4Protocol::kIcmpv6:
      return "ICMPv6 " + IcmpTypeCodeString(true, f.icmp_type, f.icmp_code);
    case flow::L4Protocol::kNone:
      break;
  }
  if (f.src_ip.version == 4) return "IPv4";
  if (f.src_ip.version == 6) return "IPv6";
  if (f.has_ethernet) return "Ethernet";
  return "";
}

}  // namespace

void FlowToProto(const flow::Flow& in, const ConvertContext& ctx, flowpb::Flow* out) {
  out->Clear();
  SetTimestamp(in.time_ns, out->mutable_time());
  out->set_uuid(flow::FlowUuid(in.id));
  out->mutable_emitter()->set_name("Loupe");
  out->mutable_emitter()->set_version(ctx.emitter_version);
  out->set_verdict(VerdictToProto(in.verdict));
  auto endpoint = [](const flow::PeerInfo& peer, flowpb::Endpoint* ep) {
    ep->set_id(peer.endpoint.id);
    ep->set_identity(peer.endpoint.identity);
    ep->set_cluster_name(peer.endpoint.cluster_name);
    ep->set_namespace_(peer.endpoint.namespace_name);
    for (const auto& label : peer.endpoint.labels) ep->add_labels(label);
    ep->set_pod_name(peer.endpoint.pod_name);
    for (const auto& w : peer.endpoint.workloads) {
      auto* pw = ep->add_workloads();
      pw->set_name(w.name);
      pw->set_kind(w.kind);
    }
  };
  if (in.src_info) {
    endpoint(*in.src_info, out->mutable_source());
    for (const auto& name : in.src_info->names) out->add_source_names(name);
    if (!in.src_info->service_name.empty()) {
      out->mutable_source_service()->set_name(in.src_info->service_name);
      out->mutable_source_service()->set_namespace_(in.src_info->service_namespace);
    }
  }
  if (in.dst_info) {
    endpoint(*in.dst_info, out->mutable_destination());
    for (const auto& name : in.dst_info->names) out->add_destination_names(name);
    if (!in.dst_info->service_name.empty()) {
      out->mutable_destination_service()->set_name(in.dst_info->service_name);
      out->mutable_destination_service()->set_namespace_(in.dst_info->service_namespace);
    }
  }
  if (in.verdict == flow::Verdict::kDropped) {
    out->set_drop_reason(in.drop_reason);
    if (ValidDropReason(in.drop_reason)) {
      out->set_drop_reason_desc(static_cast<flowpb::DropReason>(in.drop_reason));
    }
  }
  if (in.has_ethernet) {
    out->mutable_ethernet()->set_source(MacString(in.src_mac));
    out->mutable_ethernet()->set_destination(MacString(in.dst_mac));
  }
  if (in.src_ip.version != 0 || in.dst_ip.version != 0) {
    flowpb::IP* ip = out->mutable_ip();
    ip->set_source(in.src_ip.ToString());
    ip->set_destination(in.dst_ip.ToString());
    const uint8_t version = in.src_ip.version != 0 ? in.src_ip.version : in.dst_ip.version;
    ip->set_ipversion(version == 6 ? flowpb::IPv6 : flowpb::IPv4);
  }
  switch (in.l4) {
    case flow::L4Protocol::kTcp: {
      flowpb::TCP* tcp = out->mutable_l4()->mutable_tcp();
      tcp->set_source_port(in.src_port);
      tcp->set_destination_port(in.dst_port);
      if (in.type == flow::FlowType::kL7) break;  // L7 records carry no packet flags
      flowpb::TCPFlags* flags = tcp->mutable_flags();
      flags->set_fin(in.tcp_flags & flow::kTcpFin);
      flags->set_syn(in.tcp_flags & flow::kTcpSyn);
      flags->set_rst(in.tcp_flags & flow::kTcpRst);
      flags->set_psh(in.tcp_flags & flow::kTcpPsh);
      flags->set_ack(in.tcp_flags & flow::kTcpAck);
      flags->set_urg(in.tcp_flags & flow::kTcpUrg);
      flags->set_ece(in.tcp_flags & flow::kTcpEce);
      flags->set_cwr(in.tcp_flags & flow::kTcpCwr);
      break;
    }
    case flow::L4Protocol::kUdp:
      out->mutable_l4()->mutable_udp()->set_source_port(in.src_port);
      out->mutable_l4()->mutable_udp()->set_destination_port(in.dst_port);
      break;
    case flow::L4Protocol::kSctp:
      out->mutable_l4()->mutable_sctp()->set_source_port(in.src_port);
      out->mutable_l4()->mutable_sctp()->set_destination_port(in.dst_port);
      break;
    case flow::L4Protocol::kIcmpv4:
      out->mutable_l4()->mutable_icmpv4()->set_type(in.icmp_type);
      out->mutable_l4()->mutable_icmpv4()->set_code(in.icmp_code);
      break;
    case flow::L4Protocol::kIcmpv6:
      out->mutable_l4()->mutable_icmpv6()->set_type(in.icmp_type);
      out->mutable_l4()->mutable_icmpv6()->set_code(in.icmp_code);
      break;
    case flow::L4Protocol::kNone:
      break;
  }
  out->set_type(static_cast<flowpb::FlowType>(in.type));
  out->set_node_name(ctx.node_name);
  if (in.is_reply >= 0) {
    out->mutable_is_reply()->set_value(in.is_reply == 1);
    out->set_reply(in.is_reply == 1);
  }
  out->mutable_event_type()->set_type(static_cast<int32_t>(in.event_type));
  out->mutable_event_type()->set_sub_type(in.event_subtype);
  out->set_traffic_direction(static_cast<flowpb::TrafficDirection>(in.direction));
  out->set_trace_observation_point(
      static_cast<flowpb::TraceObservationPoint>(in.observation_point));
  if (in.ifindex != 0) {
    flowpb::NetworkInterface* iface = out->mutable_interface();
    iface->set_index(in.ifindex);
    if (ctx.interface_name != nullptr) iface->set_name(ctx.interface_name(in.ifindex));
  }
  if (in.l7 != nullptr) {
    flowpb::Layer7* l7 = out->mutable_l7();
    l7->set_type(static_cast<flowpb::L7FlowType>(in.l7->type));
    l7->set_latency_ns(in.l7->latency_ns);
    if (const flow::DnsInfo* dns = in.l7->dns.get(); dns != nullptr) {
      flowpb::DNS* d = l7->mutable_dns();
      d->set_query(dns->query);
      d->set_observation_source(dns->observation_source);
      for (const auto& q : dns->qtypes) d->add_qtypes(q);
      if (in.l7->type != flow::L7Type::kRequest) {
        for (const auto& ip : dns->ips) d->add_ips(ip);
        d->set_ttl(dns->ttl);
        for (const auto& c : dns->cnames) d->add_cnames(c);
        d->set_rcode(dns->rcode);
        for (const auto& r : dns->rrtypes) d->add_rrtypes(r);
      }
    } else if (const flow::HttpInfo* http = in.l7->http.get(); http != nullptr) {
      flowpb::HTTP* h = l7->mutable_http();
      if (in.l7->type != flow::L7Type::kRequest) h->set_code(http->code);
      h->set_method(http->method);
      h->set_url(http->url);
      h->set_protocol(http->protocol);
      for (const auto& [key, value] : http->headers) {
        flowpb::HTTPHeader* header = h->add_headers();
        header->set_key(key);
        header->set_value(value);
      }
    }
  }
  out->set_summary(FlowSummary(in, &ctx));
}

void LostEventToProto(const flow::LostEvent& in, flowpb::LostEvent* out) {
  out->Clear();
  out->set_source(static_cast<flowpb::LostEventSource>(in.source));
  out->set_num_events_lost(in.num_events_lost);
  if (in.cpu >= 0) out->mutable_cpu()->set_value(in.cpu);
  if (in.first_ns != 0) SetTimestamp(in.first_ns, out->mutable_first());
  if (in.last_ns != 0) SetTimestamp(in.last_ns, out->mutable_last());
}

void AgentEventToProto(const flow::AgentEvent& in, flowpb::AgentEvent* out) {
  out->Clear();
  out->set_type(static_cast<flowpb::AgentEventType>(in.type));
  switch (in.type) {
    case flow::AgentEventType::kAgentStarted:
      SetTimestamp(in.start_time_ns, out->mutable_agent_start()->mutable_time());
      break;
    case flow::AgentEventType::kEndpointCreated:
    case flow::AgentEventType::kEndpointDeleted: {
      flowpb::EndpointUpdateNotification* n = out->mutable_endpoint_update();
      n->set_id(in.endpoint_id);
      for (const auto& label : in.labels) n->add_labels(label);
      n->set_pod_name(in.pod_name);
      n->set_namespace_(in.namespace_name);
      break;
    }
    case flow::AgentEventType::kIpcacheUpserted:
    case flow::AgentEventType::kIpcacheDeleted: {
      flowpb::IPCacheNotification* n = out->mutable_ipcache_update();
      n->set_cidr(in.cidr);
      n->set_identity(in.identity);
      if (in.old_identity) n->mutable_old_identity()->set_value(*in.old_identity);
      n->set_host_ip(in.host_ip);
      n->set_namespace_(in.namespace_name);
      n->set_pod_name(in.pod_name);
      break;
    }
    case flow::AgentEventType::kUnknown:
      break;
  }
}

absl::StatusOr<ConvertedFilter> FilterFromProto(const flowpb::FlowFilter& in) {
  ConvertedFilter result;
  flow::FilterSpec& spec = result.spec;
  auto copy = [](const auto& from, std::vector<std::string>* to) {
    to->assign(from.begin(), from.end());
  };
  auto unsupported = [](const char* field) {
    return absl::InvalidArgumentError(std::string("FlowFilter.") + field +
                                      " is not supported by Loupe");
  };

  copy(in.uuid(), &spec.uuid);
  copy(in.source_ip(), &spec.source_ip);
  copy(in.destination_ip(), &spec.destination_ip);
  copy(in.source_pod(), &spec.source_pod);
  copy(in.destination_pod(), &spec.destination_pod);
  copy(in.source_fqdn(), &spec.source_fqdn);
  copy(in.destination_fqdn(), &spec.destination_fqdn);
  copy(in.source_label(), &spec.source_label);
  copy(in.destination_label(), &spec.destination_label);
  copy(in.source_service(), &spec.source_service);
  copy(in.destination_service(), &spec.destination_service);
  for (const auto& w : in.source_workload()) spec.source_workload.push_back({w.name(), w.kind()});
  for (const auto& w : in.destination_workload()) {
    spec.destination_workload.push_back({w.name(), w.kind()});
  }
  spec.source_identity.assign(in.source_identity().begin(), in.source_identity().end());
  spec.destination_identity.assign(in.destination_identity().begin(),
                                   in.destination_identity().end());
  copy(in.source_cluster_name(), &spec.source_cluster_name);
  copy(in.destination_cluster_name(), &spec.destination_cluster_name);
  for (int v : in.traffic_direction()) {
    if (v < 0 || v > 2)
      return absl::InvalidArgumentError("FlowFilter.traffic_direction: bad value");
    spec.traffic_direction.push_back(static_cast<flow::TrafficDirection>(v));
  }
  for (int v : in.verdict()) {
    if (v < 0 || v > 7) return absl::InvalidArgumentError("FlowFilter.verdict: bad value");
    spec.verdict.push_back(static_cast<flow::Verdict>(v));
  }
  for (int v : in.drop_reason_desc()) spec.drop_reason_desc.push_back(static_cast<uint32_t>(v));
  for (const auto& iface : in.interface()) {
    spec.interface.push_back({iface.index(), iface.name()});
  }
  for (const auto& et : in.event_type()) {
    spec.event_type.push_back({et.type(), et.match_sub_type(), et.sub_type()});
  }
  copy(in.http_status_code(), &spec.http_status_code);
  copy(in.protocol(), &spec.protocol);
  copy(in.source_port(), &spec.source_port);
  copy(in.destination_port(), &spec.destination_port);
  spec.reply.assign(in.reply().begin(), in.reply().end());
  copy(in.dns_query(), &spec.dns_query);
  copy(in.http_method(), &spec.http_method);
  copy(in.http_path(), &spec.http_path);
  copy(in.http_url(), &spec.http_url);
  for (const auto& tf : in.tcp_flags()) {
    uint8_t bits = 0;
    if (tf.fin()) bits |= flow::kTcpFin;
    if (tf.syn()) bits |= flow::kTcpSyn;
    if (tf.rst()) bits |= flow::kTcpRst;
    if (tf.psh()) bits |= flow::kTcpPsh;
    if (tf.ack()) bits |= flow::kTcpAck;
    if (tf.urg()) bits |= flow::kTcpUrg;
    if (tf.ece()) bits |= flow::kTcpEce;
    if (tf.cwr()) bits |= flow::kTcpCwr;
    // NS is not a flag Loupe records: such an entry matches no flow (bits stays 0 if only NS).
    spec.tcp_flags.push_back(bits);
  }
  copy(in.node_name(), &spec.node_name);
  for (int v : in.ip_version()) {
    if (v < 0 || v > 2) return absl::InvalidArgumentError("FlowFilter.ip_version: bad value");
    spec.ip_version.push_back(static_cast<uint8_t>(v));
  }

  if (in.has_experimental() && in.experimental().cel_expression_size() > 0) {
    return unsupported("experimental.cel_expression");
  }
  if (in.http_header_size() > 0) return unsupported("http_header");
  if (in.node_labels_size() > 0) return unsupported("node_labels");

  // Fields whose value is empty on every Loupe flow today (no SNAT, no tracing, no
  // encryption): decide them once here.
  bool never = false;
  if (in.source_ip_xlated_size() > 0) never = true;
  if (in.trace_id_size() > 0 || in.ip_trace_id_size() > 0) never = true;
  if (in.encrypted_size() > 0) {
    bool wants_unencrypted = false;
    for (bool e : in.encrypted()) wants_unencrypted |= !e;
    if (!wants_unencrypted) never = true;
  }
  result.never_matches = never;
  return result;
}

}  // namespace loupe::api
