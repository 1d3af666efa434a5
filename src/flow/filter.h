// Hubble FlowFilter semantics on the compact Flow record. A FlowFilter matches when every field
// that is set matches (AND); within a field, any listed value matching is enough (OR). A request
// passes a flow when it matches any whitelist filter (or there is none) and no blacklist filter.
//
// Filters are compiled once per request (CIDRs parsed, regexes built) and then evaluated per flow
// without allocation. Thread-compatible: a compiled filter is immutable and may be shared.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/flow/flow.h"

namespace loupe::flow {

// The FlowFilter fields Loupe fills (flow.proto field numbers in comments). Values use the same
// text forms as the proto/JSON: IPs or CIDRs, ports as decimal strings, enums by value.
struct FilterSpec {
  std::vector<std::string> uuid;                      // 29
  std::vector<std::string> source_ip;                 // 1
  std::vector<std::string> destination_ip;            // 3
  std::vector<std::string> source_pod;                // 2  ([ns/]pod prefix)
  std::vector<std::string> destination_pod;           // 4
  std::vector<std::string> source_fqdn;               // 7
  std::vector<std::string> destination_fqdn;          // 8
  std::vector<std::string> source_label;              // 10
  std::vector<std::string> destination_label;         // 11
  std::vector<std::string> source_service;            // 16
  std::vector<std::string> destination_service;       // 17
  std::vector<Workload> source_workload;              // 26
  std::vector<Workload> destination_workload;         // 27
  std::vector<uint32_t> source_identity;              // 19
  std::vector<uint32_t> destination_identity;         // 20
  std::vector<std::string> source_cluster_name;       // 37
  std::vector<std::string> destination_cluster_name;  // 38
  std::vector<TrafficDirection> traffic_direction;    // 30
  std::vector<Verdict> verdict;                       // 5
  std::vector<uint32_t> drop_reason_desc;             // 33
  struct Interface {
    uint32_t index = 0;  // 0 = any index
    std::string name;    // "" = any name
  };
  std::vector<Interface> interface;  // 35
  struct EventTypeFilter {
    int32_t type = 0;
    bool match_sub_type = false;
    int32_t sub_type = 0;
  };
  std::vector<EventTypeFilter> event_type;    // 6
  std::vector<std::string> http_status_code;  // 9  ("404", "5+", "40+", "500-599")
  std::vector<std::string> protocol;     // 12 (tcp, udp, icmp, icmpv4, icmpv6, sctp, dns, http)
  std::vector<std::string> source_port;  // 13
  std::vector<std::string> destination_port;  // 14
  std::vector<bool> reply;                    // 15
  std::vector<std::string> dns_query;         // 18 (RE2 regex)
  std::vector<std::string> http_method;       // 21
  std::vector<std::string> http_path;         // 22 (regex)
  std::vector<std::string> http_url;          // 31 (regex)
  std::vector<uint8_t> tcp_flags;             // 23 (each entry: flags that must all be set)
  std::vector<std::string> node_name;         // 24 (glob patterns)
  std::vector<uint8_t> ip_version;            // 25 (0 IP_NOT_USED, 1 IPv4, 2 IPv6)
};

// Context a filter needs besides the flow itself.
struct FilterContext {
  std::string node_name;
  // Interface name by ifindex (for the interface filter); may be null.
  std::string (*interface_name)(uint32_t ifindex) = nullptr;
};

class CompiledFilter;

// One request's whitelist and blacklist, compiled.
class FlowPredicate {
 public:
  // InvalidArgument naming the field and value when a filter cannot be compiled (bad CIDR, bad
  // regex, bad port, bad http status).
  static absl::StatusOr<FlowPredicate> Compile(const std::vector<FilterSpec>& whitelist,
                                               const std::vector<FilterSpec>& blacklist,
                                               FilterContext context);
  FlowPredicate(FlowPredicate&&) noexcept;
  FlowPredicate& operator=(FlowPredicate&&) noexcept;
  ~FlowPredicate();

  bool Matches(const Flow& flow) const;

 private:
  FlowPredicate();
  std::vector<std::unique_ptr<CompiledFilter>> whitelist_;
  std::vector<std::unique_ptr<CompiledFilter>> blacklist_;
  FilterContext context_;
};

// The uuid Loupe gives a flow: derived from the agent's boot id and the flow id, so it is unique
// and stable for the life of the flow in the buffer.
std::string FlowUuid(uint64_t flow_id);

}  // namespace loupe::flow
