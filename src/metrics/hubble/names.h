// Label value spellings of Hubble's metric handlers for a Loupe Flow, derived from the Hubble wire
// names (proto/flow enums) that src/api puts on the same flow. Every function returns a string
// with static storage: no allocation per call.
#pragma once

#include <cstdint>
#include <string_view>

#include "src/flow/flow.h"

namespace loupe::metrics::hubble {

// Hubble's v1.FlowProtocol: "DNS" | "HTTP" | "Kafka" | "Unknown L7" for L7 events; "TCP" | "UDP" |
// "ICMPv4" | "ICMPv6" | "SCTP" | "Unknown L4" for drop/trace/capture/policy-verdict events;
// "Unknown flow" otherwise.
std::string_view FlowProtocol(const flow::Flow& f);

// hubble_flows_processed_total's `type` ("L7", "Drop", "Capture", "Trace", "PolicyVerdict",
// "Unknown") and `subtype` ("DNS"/"HTTP" for L7; the observation point "to-endpoint", ... for
// Trace; the event type number for Unknown; "" otherwise).
std::string_view FlowTypeName(const flow::Flow& f);
std::string_view FlowSubtypeName(const flow::Flow& f);

// The monitor trace sub-type's name: 0 "to-endpoint", 1 "to-proxy", ... 13 "to-crypto"; "" when the
// number names no observation point. Built from flow.TraceObservationPoint's enum names.
std::string_view TraceObservationPointName(uint8_t subtype);

// flow.Verdict name: "FORWARDED", "DROPPED", ... ("VERDICT_UNKNOWN" for 0).
std::string_view VerdictName(flow::Verdict verdict);

// flow.DropReason name of the flow's drop_reason ("POLICY_DENIED"); "DROP_REASON_UNKNOWN" when the
// value is not a DropReason (the wire's drop_reason_desc is then unset).
std::string_view DropReasonName(uint32_t drop_reason);

// The DNS rcode names of Hubble's dns metrics (`dns/rcode.go`: "No Error", "Non-Existent Domain",
// ...; note 9 is "Not Authorized" here, unlike the Summary); "" for codes without a name.
std::string_view DnsRcodeMetricName(uint32_t rcode);

// `reporter`: "client" for egress, "server" for ingress, else "unknown".
std::string_view Reporter(flow::TrafficDirection direction);

// flow.IPVersion name of the flow's addresses: "IPv4" or "IPv6" ("IP_NOT_USED" without addresses).
std::string_view IpFamilyName(const flow::Flow& f);

}  // namespace loupe::metrics::hubble
