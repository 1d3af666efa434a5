#include "src/cli/printer.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "src/cli/observe_time.h"

namespace loupe::cli {
namespace {

constexpr const char* kDictSeparator = "------------";

// Monitor message types (reference/hubble.md §1.2).
constexpr int kMessageTypeDrop = 1;
constexpr int kMessageTypeCapture = 3;
constexpr int kMessageTypeTrace = 4;
constexpr int kMessageTypePolicyVerdict = 5;
constexpr int kMessageTypeTraceSock = 7;

std::string JoinHostPort(const std::string& host, const std::string& port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + port;
  return host + ":" + port;
}

std::string PathJoin(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + "/" + b;
}

std::pair<std::string, std::string> Ports(const flowpb::Flow& f) {
  if (!f.has_l4()) return {"", ""};
  const flowpb::Layer4& l4 = f.l4();
  switch (l4.protocol_case()) {
    case flowpb::Layer4::kTCP:
      return {std::to_string(l4.tcp().source_port()), std::to_string(l4.tcp().destination_port())};
    case flowpb::Layer4::kUDP:
      return {std::to_string(l4.udp().source_port()), std::to_string(l4.udp().destination_port())};
    case flowpb::Layer4::kSCTP:
      return {std::to_string(l4.sctp().source_port()),
              std::to_string(l4.sctp().destination_port())};
    default:
      return {"", ""};
  }
}

std::string TraceObservationPointName(int sub_type) {
  static const char* kNames[] = {"to-endpoint", "to-proxy",      "to-host",      "to-stack",
                                 "to-overlay",  "from-endpoint", "from-proxy",   "from-host",
                                 "from-stack",  "from-overlay",  "from-network", "to-network",
                                 "from-crypto", "to-crypto"};
  if (sub_type >= 0 && sub_type < static_cast<int>(std::size(kNames))) return kNames[sub_type];
  return std::to_string(sub_type);
}

std::string PolicyMatchTypeName(uint32_t match) {
  switch (match) {
    case 0:
      return "none";
    case 1:
      return "L3-Only";
    case 2:
      return "L3-L4";
    case 3:
      return "L4-Only";
    case 4:
      return "all";
    case 5:
      return "L3-Proto";
    case 6:
      return "Proto-Only";
    default:
      return "unknown";
  }
}

std::string FormatTimestamp(const google::protobuf::Timestamp& ts, bool present,
                            const std::string& layout) {
  if (!present) return "N/A";
  return FormatTime(ts.seconds() * 1'000'000'000 + ts.nanos(), layout);
}

// A table row: the time, the node when --print-node-name, then `cells` (also the header row).
std::vector<std::string> TableRow(std::string time, bool with_node, const std::string& node,
                                  std::initializer_list<std::string> cells) {
  std::vector<std::string> row = {std::move(time)};
  if (with_node) row.push_back(node);
  row.insert(row.end(), cells.begin(), cells.end());
  return row;
}

std::string Summary(const flowpb::Flow& f) {
  std::string out;
  if (f.has_ip_trace_id() && f.ip_trace_id().trace_id() > 0) {
    out += "IP Trace ID: " + std::to_string(f.ip_trace_id().trace_id()) + "; ";
  }
  out += f.summary();
  if (f.auth_type() != flowpb::DISABLED) out += "; " + flowpb::AuthType_Name(f.auth_type());
  return out;
}

std::string FormatDurationNs(uint64_t ns) {
  // Go's time.Duration.String() rounded to seconds, which is how status prints uptimes.
  uint64_t s = ns / 1'000'000'000;
  const uint64_t h = s / 3600;
  s %= 3600;
  const uint64_t m = s / 60;
  s %= 60;
  std::string out;
  if (h > 0) out += std::to_string(h) + "h";
  if (h > 0 || m > 0) out += std::to_string(m) + "m";
  out += std::to_string(s) + "s";
  return out;
}

std::string Percent(uint64_t num, uint64_t max) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), " (%.2f%%)",
                static_cast<double>(num) / static_cast<double>(max) * 100.0);
  return buf;
}

}  // namespace

absl::StatusOr<OutputFormat> ParseOutputFormat(const std::string& name) {
  if (name == "compact") return OutputFormat::kCompact;
  if (name == "dict") return OutputFormat::kDict;
  if (name == "json" || name == "jsonpb") return OutputFormat::kJson;
  if (name == "table" || name == "tab") return OutputFormat::kTable;
  return absl::InvalidArgumentError("invalid output format \"" + name +
                                    "\": use compact, dict, json, jsonpb or table");
}

void TabWriter::Flush(std::ostream& out) {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    for (size_t i = 0; i + 1 < row.size(); ++i) {
      if (widths.size() <= i) widths.resize(i + 1, 2);
      widths[i] = std::max(widths[i], row[i].size() + 3);
    }
  }
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size(), ' ');
    }
    out << line << "\n";
  }
  rows_.clear();
  out.flush();
}

std::string IdentityString(uint32_t identity) {
  static const std::map<uint32_t, const char*> kReserved = {
      {0, "unknown"}, {1, "host"},       {2, "world"},       {3, "unmanaged"},
      {4, "health"},  {5, "init"},       {6, "remote-node"}, {7, "kube-apiserver"},
      {8, "ingress"}, {9, "world-ipv4"}, {10, "world-ipv6"},
  };
  auto it = kReserved.find(identity);
  if (it != kReserved.end()) return std::string("(") + it->second + ")";
  return "(ID:" + std::to_string(identity) + ")";
}

std::string DropReasonText(uint32_t reason) {
  static const std::map<uint32_t, const char*> kText = {
      {2, "Invalid packet"},
      {130, "Invalid source mac"},
      {131, "Invalid destination mac"},
      {132, "Invalid source ip"},
      {133, "Policy denied"},
      {134, "Invalid packet"},
      {135, "CT: Truncated or invalid header"},
      {136, "Fragmentation needed"},
      {137, "CT: Unknown L4 protocol"},
      {138, "CT: Can't create entry from packet"},
      {139, "Unsupported L3 protocol"},
      {140, "Missed tail call"},
      {141, "Error writing to packet"},
      {142, "Unknown L4 protocol"},
      {143, "Unknown ICMPv4 code"},
      {144, "Unknown ICMPv4 type"},
      {145, "Unknown ICMPv6 code"},
      {146, "Unknown ICMPv6 type"},
      {147, "Error retrieving tunnel key"},
      {148, "Error retrieving tunnel options"},
      {149, "Invalid Geneve option"},
      {150, "Unknown L3 target address"},
      {151, "Stale or unroutable IP"},
      {152, "No matching local container found"},
      {153, "Error while correcting L3 checksum"},
      {154, "Error while correcting L4 checksum"},
      {155, "CT: Map insertion failed"},
      {156, "Invalid IPv6 extension header"},
      {157, "IP fragmentation not supported"},
      {158, "Service backend not found"},
      {160, "No tunnel/encapsulation endpoint (datapath BUG!)"},
      {161, "NAT 46/64 not enabled"},
      {162, "Reached EDT rate-limiting drop horizon"},
      {163, "Unknown connection tracking state"},
      {164, "Local host is unreachable"},
      {165, "No configuration available to perform policy decision"},
      {166, "Unsupported L2 protocol"},
      {167, "No mapping for NAT masquerade"},
      {168, "Unsupported protocol for NAT masquerade"},
      {169, "FIB lookup failed"},
      {170, "Encapsulation traffic is prohibited"},
      {171, "Invalid identity"},
      {172, "Unknown sender"},
      {173, "NAT not needed"},
      {174, "Is a ClusterIP"},
      {175, "First logical datagram fragment not found"},
      {176, "Forbidden ICMPv6 message"},
      {177, "Denied by LB src range check"},
      {178, "Socket lookup failed"},
      {179, "Socket assign failed"},
      {180, "Proxy redirection not supported for protocol"},
      {181, "Policy denied by denylist"},
      {182, "VLAN traffic disallowed by VLAN filter"},
      {183, "Incorrect VNI from VTEP"},
      {184, "Failed to update or lookup TC buffer"},
      {185, "No SID was found for the IP address"},
      {186, "SRv6 state was removed during tail call"},
      {187, "L3 translation from IPv4 to IPv6 failed (NAT46)"},
      {188, "L3 translation from IPv6 to IPv4 failed (NAT64)"},
      {189, "Authentication required"},
      {190, "No conntrack map found"},
      {191, "No nat map found"},
      {192, "Invalid ClusterID"},
      {193, "Unsupported packet protocol for DSR encapsulation"},
      {194, "No egress gateway found"},
      {195, "Traffic is unencrypted"},
      {196, "TTL exceeded"},
      {197, "No node ID found"},
      {198, "Rate limited"},
      {199, "IGMP handled"},
      {200, "IGMP subscribed"},
      {201, "Multicast handled"},
      {202, "Host datapath not ready"},
      {203, "Endpoint policy program not available"},
      {204, "No Egress IP configured"},
      {205, "Punt to proxy"},
  };
  if (reason == 0) return "Unknown";
  auto it = kText.find(reason);
  if (it != kText.end()) return it->second;
  return std::to_string(reason) + ", 0";
}

std::string FlowTypeString(const flowpb::Flow& f) {
  if (f.has_l7()) {
    const flowpb::Layer7& l7 = f.l7();
    std::string type = flowpb::L7FlowType_Name(l7.type());
    std::transform(type.begin(), type.end(), type.begin(), ::tolower);
    std::string protocol = "l7";
    switch (l7.record_case()) {
      case flowpb::Layer7::kHttp:
        protocol = "http";
        break;
      case flowpb::Layer7::kDns:
        protocol = "dns";
        type += " " + l7.dns().observation_source();
        break;
      case flowpb::Layer7::kKafka:
        protocol = "kafka";
        break;
      default:
        break;
    }
    return protocol + "-" + type;
  }
  const int type = f.event_type().type();
  const int sub_type = f.event_type().sub_type();
  switch (type) {
    case kMessageTypeTrace:
      return TraceObservationPointName(sub_type & 0xff);
    case kMessageTypeDrop: {
      // A kernel reason without a Hubble DropReason: its name, from the Summary.
      if ((sub_type & 0xff) == 0) {
        std::string kernel = api::KernelDropReasonFromSummary(f.summary());
        if (!kernel.empty()) return kernel;
      }
      return DropReasonText(static_cast<uint32_t>(sub_type & 0xff));
    }
    case kMessageTypePolicyVerdict:
      return "policy-verdict:" + PolicyMatchTypeName(f.policy_match_type()) + " " +
             flowpb::TrafficDirection_Name(f.traffic_direction());
    case kMessageTypeCapture:
      return flowpb::DebugCapturePoint_Name(f.debug_capture_point());
    case kMessageTypeTraceSock:
      switch (f.sock_xlate_point()) {
        case flowpb::SOCK_XLATE_POINT_POST_DIRECTION_FWD:
          return "post-xlate-fwd";
        case flowpb::SOCK_XLATE_POINT_POST_DIRECTION_REV:
          return "post-xlate-rev";
        case flowpb::SOCK_XLATE_POINT_PRE_DIRECTION_FWD:
          return "pre-xlate-fwd";
        case flowpb::SOCK_XLATE_POINT_PRE_DIRECTION_REV:
          return "pre-xlate-rev";
        default:
          return flowpb::SocketTranslationPoint_Name(f.sock_xlate_point());
      }
    default:
      return "UNKNOWN";
  }
}

std::string VerdictString(const flowpb::Flow& f) {
  const bool policy = f.event_type().type() == kMessageTypePolicyVerdict;
  switch (f.verdict()) {
    case flowpb::FORWARDED:
    case flowpb::REDIRECTED:
      return policy ? "ALLOWED" : flowpb::Verdict_Name(f.verdict());
    case flowpb::DROPPED:
    case flowpb::ERROR:
      return policy ? "DENIED" : flowpb::Verdict_Name(f.verdict());
    case flowpb::AUDIT:
      return policy ? "AUDITED" : "AUDIT";
    default: {
      const std::string& name = flowpb::Verdict_Name(f.verdict());
      return name.empty() ? std::to_string(f.verdict()) : name;
    }
  }
}

std::string GroupDigits(uint64_t value) {
  std::string digits = std::to_string(value);
  std::string out;
  const size_t n = digits.size();
  for (size_t i = 0; i < n; ++i) {
    if (i > 0 && (n - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string ToJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

FlowPrinter::FlowPrinter(PrinterOptions options, std::ostream& out, std::ostream& err)
    : options_(std::move(options)), out_(out), err_(err) {}

std::string FlowPrinter::Host(const flowpb::Flow& f, bool source) const {
  if (!f.has_ip()) {
    if (f.has_ethernet()) return source ? f.ethernet().source() : f.ethernet().destination();
    return "";
  }
  const flowpb::Endpoint& ep = source ? f.source() : f.destination();
  std::string ns = ep.namespace_();
  const std::string pod = ep.pod_name();
  std::string svc;
  const bool has_svc = source ? f.has_source_service() : f.has_destination_service();
  if (has_svc) {
    const flowpb::Service& s = source ? f.source_service() : f.destination_service();
    ns = s.namespace_();
    svc = s.name();
  }
  const auto& names = source ? f.source_names() : f.destination_names();
  std::string host = source ? f.ip().source() : f.ip().destination();
  if (options_.ip_translation) {
    if (!pod.empty()) {
      host = PathJoin(ns, pod);
    } else if (!svc.empty()) {
      host = PathJoin(ns, svc);
    } else if (!names.empty()) {
      host.clear();
      for (int i = 0; i < names.size(); ++i) host += (i > 0 ? "," : "") + names[i];
    }
  }
  const auto [src_port, dst_port] = Ports(f);
  const std::string& port = source ? src_port : dst_port;
  if (!port.empty() && port != "0") return JoinHostPort(host, port);
  return host;
}

void FlowPrinter::Write(const observer::GetFlowsResponse& response) {
  switch (response.response_types_case()) {
    case observer::GetFlowsResponse::kFlow:
      WriteFlow(response);
      break;
    case observer::GetFlowsResponse::kLostEvents:
      WriteLost(response);
      break;
    case observer::GetFlowsResponse::kNodeStatus:
      WriteNodeStatus(response);
      break;
    default:
      break;
  }
}

void FlowPrinter::Flush() {
  if (options_.format == OutputFormat::kTable) table_.Flush(out_);
  out_.flush();
}

void FlowPrinter::WriteFlow(const observer::GetFlowsResponse& response) {
  const flowpb::Flow& f = response.flow();
  const std::string time = FormatTimestamp(f.time(), f.has_time(), options_.time_format);
  std::string src = Host(f, true);
  std::string dst = Host(f, false);
  switch (options_.format) {
    case OutputFormat::kTable: {
      if (line_ == 0) {
        table_.AddRow(TableRow("TIMESTAMP", options_.node_name, "NODE",
                               {"SOURCE", "DESTINATION", "TYPE", "VERDICT", "SUMMARY"}));
      }
      table_.AddRow(TableRow(time, options_.node_name, f.node_name(),
                             {src, dst, FlowTypeString(f), VerdictString(f), Summary(f)}));
      break;
    }
    case OutputFormat::kDict:
      if (line_ != 0) out_ << kDictSeparator << "\n";
      out_ << "  TIMESTAMP: " << time << "\n";
      if (options_.node_name) out_ << "       NODE: " << f.node_name() << "\n";
      out_ << "     SOURCE: " << src << "\n"
           << "DESTINATION: " << dst << "\n"
           << "       TYPE: " << FlowTypeString(f) << "\n"
           << "    VERDICT: " << VerdictString(f) << "\n"
           << "    SUMMARY: " << Summary(f) << "\n";
      break;
    case OutputFormat::kCompact: {
      std::string src_id = IdentityString(f.source().identity());
      std::string dst_id = IdentityString(f.destination().identity());
      std::string arrow = "->";
      if (!f.has_is_reply()) {
        arrow = "<>";
      } else if (f.is_reply().value()) {
        std::swap(src, dst);
        std::swap(src_id, dst_id);
        arrow = "<-";
      }
      out_ << time << (options_.node_name ? " [" + f.node_name() + "]" : "") << ": " << src << " "
           << src_id << " " << arrow << " " << dst << " " << dst_id << " " << FlowTypeString(f)
           << " " << VerdictString(f) << " (" << Summary(f) << ")\n";
      break;
    }
    case OutputFormat::kJson:
      out_ << ToJson(response) << "\n";
      break;
  }
  ++line_;
}

std::string AgentEventDetails(const flowpb::AgentEvent& e, const std::string& time_format) {
  std::string out;
  switch (e.type()) {
    case flowpb::AGENT_STARTED:
      if (!e.has_agent_start()) break;
      return "start time: " +
             FormatTimestamp(e.agent_start().time(), e.agent_start().has_time(), time_format);
    case flowpb::ENDPOINT_CREATED:
    case flowpb::ENDPOINT_DELETED: {
      if (!e.has_endpoint_update()) break;
      const flowpb::EndpointUpdateNotification& n = e.endpoint_update();
      out = "id: " + std::to_string(n.id());
      if (!n.namespace_().empty()) out += ", namespace: " + n.namespace_();
      if (!n.pod_name().empty()) out += ", pod name: " + n.pod_name();
      return out;
    }
    case flowpb::IPCACHE_UPSERTED:
    case flowpb::IPCACHE_DELETED: {
      if (!e.has_ipcache_update()) break;
      const flowpb::IPCacheNotification& n = e.ipcache_update();
      out = "cidr: " + n.cidr() + ", identity: " + std::to_string(n.identity());
      if (n.has_old_identity())
        out += ", old identity: " + std::to_string(n.old_identity().value());
      if (!n.host_ip().empty()) out += ", host ip: " + n.host_ip();
      if (!n.old_host_ip().empty()) out += ", old host ip: " + n.old_host_ip();
      out += ", encrypt key: " + std::to_string(n.encrypt_key());
      return out;
    }
    default:
      break;
  }
  return "UNKNOWN";
}

AgentEventPrinter::AgentEventPrinter(PrinterOptions options, std::ostream& out)
    : options_(std::move(options)), out_(out) {}

void AgentEventPrinter::Write(const observer::GetAgentEventsResponse& response) {
  const flowpb::AgentEvent& e = response.agent_event();
  const std::string time =
      FormatTimestamp(response.time(), response.has_time(), options_.time_format);
  std::string type = flowpb::AgentEventType_Name(e.type());
  if (type.empty()) type = std::to_string(e.type());
  const std::string details = AgentEventDetails(e, options_.time_format);
  switch (options_.format) {
    case OutputFormat::kTable: {
      if (line_ == 0) {
        table_.AddRow(TableRow("TIMESTAMP", options_.node_name, "NODE", {"TYPE", "DETAILS"}));
      }
      table_.AddRow(TableRow(time, options_.node_name, response.node_name(), {type, details}));
      break;
    }
    case OutputFormat::kDict:
      if (line_ != 0) out_ << kDictSeparator << "\n";
      out_ << "  TIMESTAMP: " << time << "\n";
      if (options_.node_name) out_ << "       NODE: " << response.node_name() << "\n";
      out_ << "       TYPE: " << type << "\n"
           << "    DETAILS: " << details << "\n";
      break;
    case OutputFormat::kCompact:
      out_ << time << (options_.node_name ? " [" + response.node_name() + "]" : "") << ": " << type
           << " (" << details << ")\n";
      break;
    case OutputFormat::kJson:
      out_ << ToJson(response) << "\n";
      break;
  }
  ++line_;
}

void AgentEventPrinter::Flush() {
  if (options_.format == OutputFormat::kTable) table_.Flush(out_);
  out_.flush();
}

void FlowPrinter::WriteLost(const observer::GetFlowsResponse& response) {
  const flowpb::LostEvent& lost = response.lost_events();
  const std::string source = flowpb::LostEventSource_Name(lost.source());
  const std::string detail = "CPU(" + std::to_string(lost.cpu().value()) + ")";
  switch (options_.format) {
    case OutputFormat::kTable: {
      if (line_ == 0) {
        table_.AddRow(TableRow("TIMESTAMP", options_.node_name, "NODE",
                               {"SOURCE", "DESTINATION", "TYPE", "VERDICT", "SUMMARY"}));
      }
      table_.AddRow(TableRow("", options_.node_name, "",
                             {source, "", "EVENTS LOST", "",
                              detail + " - " + std::to_string(lost.num_events_lost())}));
      break;
    }
    case OutputFormat::kDict:
      if (line_ != 0) out_ << kDictSeparator << "\n";
      out_ << "  TIMESTAMP: \n";
      if (options_.node_name) out_ << "       NODE: \n";
      out_ << "     SOURCE: " << source << "\n"
           << "       TYPE: EVENTS LOST\n"
           << "    VERDICT: \n"
           << "    SUMMARY: " << detail << " - " << lost.num_events_lost() << "\n";
      break;
    case OutputFormat::kCompact:
      out_ << "EVENTS LOST: " << source << " " << detail << " " << lost.num_events_lost() << "\n";
      break;
    case OutputFormat::kJson:
      out_ << ToJson(response) << "\n";
      break;
  }
  ++line_;
}

void FlowPrinter::WriteNodeStatus(const observer::GetFlowsResponse& response) {
  const relay::NodeStatusEvent& s = response.node_status();
  if (s.state_change() != relay::NODE_ERROR && s.state_change() != relay::NODE_UNAVAILABLE) return;
  std::string nodes;
  for (int i = 0; i < s.node_names_size(); ++i) nodes += (i > 0 ? ", " : "") + s.node_names(i);
  if (options_.format == OutputFormat::kJson) {
    err_ << ToJson(response) << "\n";
    return;
  }
  const std::string prefix =
      FormatTimestamp(response.time(), response.has_time(), options_.time_format) + " [" +
      response.node_name() + "]";
  if (s.state_change() == relay::NODE_UNAVAILABLE) {
    err_ << prefix << ": " << s.node_names_size() << " nodes are unavailable: " << nodes << "\n";
  } else {
    err_ << prefix << ": Error \"" << s.message() << "\" on " << s.node_names_size()
         << " nodes: " << nodes << "\n";
  }
}

void PrintServerStatus(const observer::ServerStatusResponse& status, OutputFormat format,
                       std::ostream& out) {
  std::string flows_per_sec = "N/A";
  char buf[64];
  if (status.flows_rate() > 0) {
    std::snprintf(buf, sizeof(buf), "%.2f", status.flows_rate());
    flows_per_sec = buf;
  }
  const std::string connected = status.has_num_connected_nodes()
                                    ? std::to_string(status.num_connected_nodes().value())
                                    : "N/A";
  const std::string unavailable = status.has_num_unavailable_nodes()
                                      ? std::to_string(status.num_unavailable_nodes().value())
                                      : "N/A";
  switch (format) {
    case OutputFormat::kJson:
      out << ToJson(status) << "\n";
      return;
    case OutputFormat::kTable: {
      TabWriter table;
      table.AddRow({"NUM FLOWS", "MAX FLOWS", "SEEN FLOWS", "FLOWS PER SECOND", "UPTIME",
                    "NUM CONNECTED NODES", "NUM UNAVAILABLE NODES", "VERSION"});
      table.AddRow({GroupDigits(status.num_flows()), GroupDigits(status.max_flows()),
                    GroupDigits(status.seen_flows()), flows_per_sec,
                    FormatDurationNs(status.uptime_ns()), connected, unavailable,
                    status.version()});
      table.Flush(out);
      return;
    }
    case OutputFormat::kDict:
      out << "          NUM FLOWS: " << GroupDigits(status.num_flows()) << "\n"
          << "          MAX FLOWS: " << GroupDigits(status.max_flows()) << "\n"
          << "         SEEN FLOWS: " << GroupDigits(status.seen_flows()) << "\n"
          << "   FLOWS PER SECOND: " << flows_per_sec << "\n"
          << "             UPTIME: " << FormatDurationNs(status.uptime_ns()) << "\n"
          << "NUM CONNECTED NODES: " << connected << "\n"
          << " NUM UNAVAIL. NODES: " << unavailable << "\n"
          << "            VERSION: " << status.version() << "\n";
      return;
    case OutputFormat::kCompact:
      break;
  }
  out << "Current/Max Flows: " << GroupDigits(status.num_flows()) << "/"
      << GroupDigits(status.max_flows())
      << (status.max_flows() > 0 ? Percent(status.num_flows(), status.max_flows()) : "") << "\n";
  const double uptime_s = static_cast<double>(status.uptime_ns()) / 1e9;
  if (flows_per_sec == "N/A" && uptime_s > 0) {
    std::snprintf(buf, sizeof(buf), "%.2f", static_cast<double>(status.seen_flows()) / uptime_s);
    flows_per_sec = buf;
  }
  out << "Flows/s: " << flows_per_sec << "\n";
  if (status.has_num_connected_nodes()) {
    out << "Connected Nodes: " << status.num_connected_nodes().value();
    if (status.has_num_unavailable_nodes()) {
      out << "/" << status.num_unavailable_nodes().value() + status.num_connected_nodes().value();
    }
    out << "\n";
  }
  if (status.has_num_unavailable_nodes() && status.num_unavailable_nodes().value() > 0) {
    std::vector<std::string> nodes(status.unavailable_nodes().begin(),
                                   status.unavailable_nodes().end());
    std::sort(nodes.begin(), nodes.end());
    out << "Unavailable Nodes: " << status.num_unavailable_nodes().value() << "\n";
    for (const auto& n : nodes) out << "  - " << n << "\n";
  }
}

void PrintNodes(const observer::GetNodesResponse& response, const std::string& format,
                std::ostream& out) {
  if (format == "json") {
    out << ToJson(response) << "\n";
    return;
  }
  std::vector<const observer::Node*> nodes;
  for (const auto& n : response.nodes()) nodes.push_back(&n);
  std::sort(nodes.begin(), nodes.end(),
            [](const auto* a, const auto* b) { return a->name() < b->name(); });
  const bool wide = format == "wide";
  TabWriter table;
  std::vector<std::string> header = {"NAME", "STATUS", "AGE", "FLOWS/S", "CURRENT/MAX-FLOWS"};
  if (wide) {
    for (const char* h : {"VERSION", "ADDRESS", "TLS"}) header.push_back(h);
  }
  table.AddRow(header);
  for (const auto* n : nodes) {
    std::string state = relay::NodeState_Name(n->state());
    if (state.rfind("NODE_", 0) == 0) state = state.substr(5);
    for (size_t i = 0; i < state.size(); ++i) {
      state[i] = static_cast<char>(i == 0 ? std::toupper(state[i]) : std::tolower(state[i]));
    }
    const double uptime_s = static_cast<double>(n->uptime_ns()) / 1e9;
    char rate[32] = "N/A";
    if (uptime_s > 0) {
      std::snprintf(rate, sizeof(rate), "%.2f", static_cast<double>(n->seen_flows()) / uptime_s);
    }
    std::string flows = std::to_string(n->num_flows()) + "/" + std::to_string(n->max_flows());
    if (n->max_flows() > 0) flows += Percent(n->num_flows(), n->max_flows());
    std::vector<std::string> row = {n->name(), state, FormatDurationNs(n->uptime_ns()), rate,
                                    flows};
    if (wide) {
      row.push_back(n->version());
      row.push_back(n->address());
      row.push_back(n->tls().enabled() ? "Enabled" : "Disabled");
    }
    table.AddRow(std::move(row));
  }
  table.Flush(out);
}

void PrintNamespaces(const observer::GetNamespacesResponse& response, const std::string& format,
                     std::ostream& out) {
  if (format == "json") {
    // hubble's shape: a list of {"cluster", "namespace"}, an empty cluster left out.
    nlohmann::json list = nlohmann::json::array();
    for (const observer::Namespace& ns : response.namespaces()) {
      nlohmann::json entry = {{"namespace", ns.namespace_()}};
      if (!ns.cluster().empty()) entry["cluster"] = ns.cluster();
      list.push_back(std::move(entry));
    }
    out << list.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  // In the server's order: by cluster, then namespace.
  const bool wide = format == "wide";
  TabWriter table;
  table.AddRow(wide ? std::vector<std::string>{"NAMESPACE", "CLUSTER"}
                    : std::vector<std::string>{"NAMESPACE"});
  for (const observer::Namespace& ns : response.namespaces()) {
    std::vector<std::string> row = {ns.namespace_()};
    if (wide && !ns.cluster().empty()) row.push_back(ns.cluster());
    table.AddRow(std::move(row));
  }
  table.Flush(out);
}

}  // namespace loupe::cli
