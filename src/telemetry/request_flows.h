// A Request record as Hubble L7 flows: one REQUEST flow (client -> server, at the request's start)
// and one RESPONSE flow (server -> client, at its end, with the status and latency_ns), as
// Hubble's proxy emits them for HTTP. gRPC is reported as HTTP/2 (Hubble has no gRPC record).
#pragma once

#include <string>
#include <string_view>

#include "src/flow/flow.h"
#include "src/telemetry/request.h"

namespace loupe::telemetry {

void RequestToFlows(const Request& request, flow::Flow* request_flow, flow::Flow* response_flow);

// One line of Beyla's `trace_printer: text` output for a request.
std::string FormatRequestText(const Request& request);
// One JSON object (no newline) for `trace_printer: json`, appended to *out.
void AppendRequestJson(const Request& request, std::string* out);
std::string FormatRequestJson(const Request& request);
// `trace_printer: json_indent`: the same object over several lines, one space per level (as
// Beyla's json_indent and nlohmann::json::dump(1) write it), appended to *out without a final
// newline.
void AppendRequestJsonIndented(const Request& request, std::string* out);
// Indents compact JSON (no whitespace outside strings, as AppendRequestJson writes it).
void AppendIndentedJson(std::string_view json, std::string* out);

const char* ProtocolName(Protocol protocol);

}  // namespace loupe::telemetry
