// The `trace_printer: json` line as an nlohmann::json object wrote it before AppendRequestJson
// (sorted keys, nlohmann's escapes and numbers). Not used by the agent: it is the oracle of
// request_flows_test and the baseline of the printer's benchmark (bench/pipeline_benchmark.cc).
#pragma once

#include <string>

#include "nlohmann/json.hpp"
#include "src/telemetry/request.h"
#include "src/telemetry/request_flows.h"

namespace loupe::telemetry {

// `local` and `remote` are the ends as host:port, as the printer writes them.
inline std::string NlohmannRequestLine(const Request& r, const std::string& local,
                                       const std::string& remote) {
  nlohmann::json j = {{"start_ns", r.start_ns},
                      {"end_ns", r.end_ns},
                      {"duration_ns", r.end_ns - r.start_ns},
                      {"role", r.role == Role::kServer ? "server" : "client"},
                      {"protocol", ProtocolName(r.protocol)},
                      {"method", r.method},
                      {"path", r.path},
                      {"version", r.version},
                      {"host", r.host},
                      {"status", r.status},
                      {"grpc_status", r.grpc_status},
                      {"pid", r.pid},
                      {"tid", r.tid},
                      {"process", r.process},
                      {"local", local},
                      {"remote", remote},
                      {"request_header_bytes", r.request_header_bytes},
                      {"request_body_bytes", r.request_body_bytes},
                      {"response_header_bytes", r.response_header_bytes},
                      {"response_body_bytes", r.response_body_bytes},
                      {"trace_id", r.trace.trace_id},
                      {"parent_span_id", r.trace.parent_span_id},
                      {"partial", r.partial}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace loupe::telemetry
