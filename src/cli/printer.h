// Output of `loupe observe` and `loupe status` in the hubble CLI's formats (compact, dict, table,
// json/jsonpb), line for line as hubble prints them (reference/hubble.md §4.3-4.4).
//
// Not thread-safe: one printer per output stream.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "observer/observer.pb.h"
#include "src/api/convert.h"  // flowpb

namespace loupe::cli {

enum class OutputFormat { kCompact, kDict, kJson, kTable };

// "compact", "dict", "json", "jsonpb" (json is an alias of jsonpb, as in hubble), "table"/"tab".
absl::StatusOr<OutputFormat> ParseOutputFormat(const std::string& name);

struct PrinterOptions {
  OutputFormat format = OutputFormat::kCompact;
  bool node_name = false;  // --print-node-name
  std::string time_format = "StampMilli";
  bool ip_translation = true;  // show ns/pod, ns/service or FQDNs instead of addresses
};

// Aligns cells like Go's text/tabwriter with minwidth 2, padding 3, space padding: each cell but
// the last of a line is padded to the widest cell of its column plus 3.
class TabWriter {
 public:
  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  void Flush(std::ostream& out);

 private:
  std::vector<std::vector<std::string>> rows_;
};

class FlowPrinter {
 public:
  FlowPrinter(PrinterOptions options, std::ostream& out, std::ostream& err);

  void Write(const observer::GetFlowsResponse& response);
  // Writes buffered table rows (the table needs all rows for its widths). Follow mode flushes
  // after each response.
  void Flush();

 private:
  void WriteFlow(const observer::GetFlowsResponse& response);
  void WriteLost(const observer::GetFlowsResponse& response);
  void WriteNodeStatus(const observer::GetFlowsResponse& response);
  std::string Host(const flowpb::Flow& f, bool source) const;

  PrinterOptions options_;
  std::ostream& out_;
  std::ostream& err_;
  int line_ = 0;
  TabWriter table_;
};

// `loupe observe agent-events` (hubble observe agent-events): compact `<time>[ [node]]: <TYPE>
// (<details>)`, dict (TIMESTAMP/NODE/TYPE/DETAILS), table (TIMESTAMP [NODE] TYPE DETAILS) or the
// response as jsonpb.
class AgentEventPrinter {
 public:
  AgentEventPrinter(PrinterOptions options, std::ostream& out);
  void Write(const observer::GetAgentEventsResponse& response);
  void Flush();

 private:
  PrinterOptions options_;
  std::ostream& out_;
  int line_ = 0;
  TabWriter table_;
};

// Hubble's DETAILS of an agent event: "start time: ...", "id: 0, namespace: shop, pod name: web",
// "cidr: 10.0.0.9/32, identity: 4242, old identity: 300, host ip: ..., encrypt key: 0".
std::string AgentEventDetails(const flowpb::AgentEvent& event, const std::string& time_format);

// The TYPE column: "to-endpoint", "Policy denied", "QDISC_DROP" (kernel drop reason without a
// Hubble DropReason), "dns-request proxy", "http-response", ...
std::string FlowTypeString(const flowpb::Flow& f);
// The VERDICT column: FORWARDED, DROPPED ... (ALLOWED/DENIED/AUDITED for policy verdicts).
std::string VerdictString(const flowpb::Flow& f);
// "(ID:12345)", or "(world)" etc. for reserved identities.
std::string IdentityString(uint32_t identity);
// Hubble's human drop reason for the TYPE column ("Policy denied"); "Unknown" for reason 0.
// FlowTypeString shows a kernel drop without a Hubble equivalent by its kernel name instead
// ("TCP_INVALID_SEQUENCE", taken from the Summary, see api::FlowSummary).
std::string DropReasonText(uint32_t reason);
// "8,190"
std::string GroupDigits(uint64_t value);
// Proto3 JSON with the proto field names, on one line (hubble's jsonpb output).
std::string ToJson(const google::protobuf::Message& message);

// `loupe status` after a successful health check. `compact` prints hubble's three lines.
void PrintServerStatus(const observer::ServerStatusResponse& status, OutputFormat format,
                       std::ostream& out);
// `loupe list nodes`: table (default), wide or json.
void PrintNodes(const observer::GetNodesResponse& nodes, const std::string& format,
                std::ostream& out);
// `loupe list namespaces` (hubble list namespaces): table (NAMESPACE), wide (+ CLUSTER) or json
// (an array of {"cluster", "namespace"} objects, an empty cluster left out, as hubble prints it;
// `[]` when there are none).
void PrintNamespaces(const observer::GetNamespacesResponse& response, const std::string& format,
                     std::ostream& out);

}  // namespace loupe::cli
