// Conversion between Loupe's compact records (src/flow) and the Hubble wire messages (proto/):
// Flow -> flow.Flow (with Cilium's Summary strings), LostEvent -> flow.LostEvent, and
// flow.FlowFilter -> FilterSpec for the Observer API's whitelist/blacklist.
//
// Pure functions; thread-safe. The proto package `flow` is `::flow` (Loupe's own records live in
// `loupe::flow`), so this header aliases it as `flowpb`.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "flow/flow.pb.h"
#include "src/flow/agent_events.h"
#include "src/flow/filter.h"
#include "src/flow/flow.h"

namespace flowpb = ::flow;

namespace loupe::api {

struct ConvertContext {
  std::string node_name;
  std::string emitter_version;  // Loupe's version, without a leading "v"
  // Interface name by ifindex; null or "" leaves interface.name empty.
  std::string (*interface_name)(uint32_t ifindex) = nullptr;
  // The running kernel's name of an skb drop reason (sensors::KernelDropReasonName: "NO_SOCKET").
  // Set: a kernel drop without a Hubble DropReason names its reason in the Summary (the number
  // when this returns ""). Null: the Summary is Cilium's plain one (no kernel at hand).
  const char* (*kernel_drop_reason_name)(uint16_t reason) = nullptr;
};

// Name of a local interface by index (if_indextoname, cached for a few seconds); "" if none.
std::string InterfaceName(uint32_t ifindex);

void FlowToProto(const flow::Flow& in, const ConvertContext& ctx, flowpb::Flow* out);
void LostEventToProto(const flow::LostEvent& in, flowpb::LostEvent* out);
// Hubble's flow.AgentEvent: the type and its notification (agent_start, endpoint_update,
// ipcache_update).
void AgentEventToProto(const flow::AgentEvent& in, flowpb::AgentEvent* out);

// The Summary Cilium's parsers would give this flow: "TCP Flags: SYN, ACK", "ICMPv4 EchoRequest",
// "UDP", "DNS Query example.com. A", "HTTP/1.1 200 1ms (GET http://h/)", ... A kernel drop
// whose reason has no Hubble DropReason (drop_reason 0, kernel_reason set) gets the kernel's name
// appended when ctx->kernel_drop_reason_name is set, since drop_reason_desc (an enum) cannot carry
// it: "TCP Flags: ACK (kernel drop reason: TCP_INVALID_SEQUENCE)".
std::string FlowSummary(const flow::Flow& f, const ConvertContext* ctx = nullptr);

// The kernel reason name in a Summary made by FlowSummary ("TCP_INVALID_SEQUENCE"), or "" when
// the Summary has none. The CLI shows it in the TYPE column instead of "Unknown".
std::string KernelDropReasonFromSummary(const std::string& summary);

// Pieces of the summary, exposed for tests and the printers.
std::string TcpFlagsString(uint8_t flags);                            // "SYN, ACK"
std::string IcmpTypeCodeString(bool v6, uint8_t type, uint8_t code);  // "EchoRequest"
std::string DnsRcodeString(uint32_t rcode);                           // "Non-Existent Domain"

// A FlowFilter as Loupe evaluates it. Fields about identities Loupe does not fill yet (identity,
// workload, cluster name, SNAT address, trace ids, encryption) are decided here against the empty
// values every Loupe flow carries: a field that can never match makes the whole filter
// `never_matches`; one that always matches is dropped.
struct ConvertedFilter {
  flow::FilterSpec spec;
  bool never_matches = false;
};

// InvalidArgument naming the field for values that cannot be represented (bad enum value) or
// fields Loupe does not support (experimental.cel_expression, http_header, node_labels).
absl::StatusOr<ConvertedFilter> FilterFromProto(const flowpb::FlowFilter& in);

}  // namespace loupe::api
