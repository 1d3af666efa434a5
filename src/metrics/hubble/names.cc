#include "src/metrics/hubble/names.h"

#include <array>
#include <string>

#include "flow/flow.pb.h"

namespace loupe::metrics::hubble {
namespace {

// Monitor message types (Cilium pkg/monitor/api).
constexpr int kMessageTypeDrop = 1;
constexpr int kMessageTypeCapture = 3;
constexpr int kMessageTypeTrace = 4;
constexpr int kMessageTypePolicyVerdict = 5;
constexpr int kMessageTypeAccessLog = 129;

// Decimal strings of 0..255, for the `subtype` of unknown event types.
const std::array<std::string, 256>& SmallNumbers() {
  static const auto* numbers = [] {
    auto* out = new std::array<std::string, 256>();
    for (size_t i = 0; i < out->size(); ++i) (*out)[i] = std::to_string(i);
    return out;
  }();
  return *numbers;
}

const std::array<std::string, 256>& ObservationPointNames() {
  static const auto* names = [] {
    auto* out = new std::array<std::string, 256>();
    for (int subtype = 0; subtype < 256; ++subtype) {
      // Monitor numbering equals flow.TraceObservationPoint's, except that TO_ENDPOINT is 0 on
      // the monitor side (101 in the proto) and 0 in the proto means "unknown".
      const int point = subtype == 0 ? ::flow::TO_ENDPOINT : subtype;
      if (!::flow::TraceObservationPoint_IsValid(point)) continue;
      if (subtype != 0 && point == ::flow::TO_ENDPOINT) continue;
      std::string name =
          ::flow::TraceObservationPoint_Name(static_cast<::flow::TraceObservationPoint>(point));
      for (char& c : name) {
        c = c == '_' ? '-' : static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
      }
      (*out)[subtype] = std::move(name);
    }
    return out;
  }();
  return *names;
}

// Names of an enum's values 0..255, read once from the generated descriptor (the generated
// *_Name functions check the descriptor on every call); "" for values the enum lacks.
template <typename Enum>
const std::array<std::string, 256>& EnumNames(bool (*is_valid)(int),
                                              const std::string& (*name)(Enum)) {
  static const auto* names = [&] {
    auto* out = new std::array<std::string, 256>();
    for (int v = 0; v < 256; ++v) {
      if (is_valid(v)) (*out)[v] = name(static_cast<Enum>(v));
    }
    return out;
  }();
  return *names;
}

}  // namespace

std::string_view FlowProtocol(const flow::Flow& f) {
  const int type = static_cast<int>(f.event_type);
  if (type == kMessageTypeAccessLog) {
    if (f.l7 != nullptr) {
      if (f.l7->dns != nullptr) return "DNS";
      if (f.l7->http != nullptr) return "HTTP";
    }
    return "Unknown L7";
  }
  if (type == kMessageTypeDrop || type == kMessageTypeTrace || type == kMessageTypePolicyVerdict ||
      type == kMessageTypeCapture) {
    switch (f.l4) {
      case flow::L4Protocol::kTcp:
        return "TCP";
      case flow::L4Protocol::kUdp:
        return "UDP";
      case flow::L4Protocol::kIcmpv4:
        return "ICMPv4";
      case flow::L4Protocol::kIcmpv6:
        return "ICMPv6";
      case flow::L4Protocol::kSctp:
        return "SCTP";
      case flow::L4Protocol::kNone:
        break;
    }
    return "Unknown L4";
  }
  return "Unknown flow";
}

std::string_view FlowTypeName(const flow::Flow& f) {
  switch (static_cast<int>(f.event_type)) {
    case kMessageTypeAccessLog:
      return "L7";
    case kMessageTypeDrop:
      return "Drop";
    case kMessageTypeCapture:
      return "Capture";
    case kMessageTypeTrace:
      return "Trace";
    case kMessageTypePolicyVerdict:
      return "PolicyVerdict";
    default:
      return "Unknown";
  }
}

std::string_view FlowSubtypeName(const flow::Flow& f) {
  switch (static_cast<int>(f.event_type)) {
    case kMessageTypeAccessLog:
      if (f.l7 != nullptr && f.l7->dns != nullptr) return "DNS";
      if (f.l7 != nullptr && f.l7->http != nullptr) return "HTTP";
      return "";
    case kMessageTypeTrace:
      return TraceObservationPointName(f.event_subtype);
    case kMessageTypeDrop:
    case kMessageTypeCapture:
    case kMessageTypePolicyVerdict:
      return "";
    default:
      return SmallNumbers()[static_cast<uint8_t>(f.event_type)];
  }
}

std::string_view TraceObservationPointName(uint8_t subtype) {
  return ObservationPointNames()[subtype];
}

std::string_view VerdictName(flow::Verdict verdict) {
  return EnumNames<::flow::Verdict>(::flow::Verdict_IsValid,
                                    ::flow::Verdict_Name)[static_cast<uint8_t>(verdict)];
}

std::string_view DropReasonName(uint32_t drop_reason) {
  const auto& names =
      EnumNames<::flow::DropReason>(::flow::DropReason_IsValid, ::flow::DropReason_Name);
  if (drop_reason < names.size() && !names[drop_reason].empty()) return names[drop_reason];
  if (drop_reason <= 0x7fffffffu && ::flow::DropReason_IsValid(static_cast<int>(drop_reason))) {
    return ::flow::DropReason_Name(static_cast<::flow::DropReason>(drop_reason));
  }
  return names[::flow::DROP_REASON_UNKNOWN];
}

std::string_view DnsRcodeMetricName(uint32_t rcode) {
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
      return "Not Authorized";
    case 10:
      return "Name not contained in zone";
    case 11:
      return "DSO-TYPE Not Implemented";
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
      return "";
  }
}

std::string_view Reporter(flow::TrafficDirection direction) {
  switch (direction) {
    case flow::TrafficDirection::kEgress:
      return "client";
    case flow::TrafficDirection::kIngress:
      return "server";
    case flow::TrafficDirection::kUnknown:
      break;
  }
  return "unknown";
}

std::string_view IpFamilyName(const flow::Flow& f) {
  // As src/api: the source address's version, else the destination's.
  const uint8_t version = f.src_ip.version != 0 ? f.src_ip.version : f.dst_ip.version;
  if (version == 0) return ::flow::IPVersion_Name(::flow::IP_NOT_USED);
  return ::flow::IPVersion_Name(version == 6 ? ::flow::IPv6 : ::flow::IPv4);
}

}  // namespace loupe::metrics::hubble
