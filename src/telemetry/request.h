// A Request record: one completed request/response exchange of an instrumented process, as the
// L7 engine reconstructed it. It becomes an L7 Flow (network view), and a span plus RED metric
// observations (application view).
#pragma once

#include <cstdint>
#include <string>

#include "src/flow/flow.h"

namespace loupe::telemetry {

enum class Protocol : uint8_t { kUnknown = 0, kHttp1 = 1, kHttp2 = 2, kGrpc = 3 };
enum class Role : uint8_t { kUnknown = 0, kClient = 1, kServer = 2 };

struct TraceContext {
  std::string trace_id;        // 32 hex chars, "" when absent
  std::string parent_span_id;  // 16 hex chars
  uint8_t flags = 0;
};

struct Request {
  // Who
  uint32_t pid = 0;
  uint32_t tid = 0;
  std::string process;  // comm / executable name
  Role role = Role::kUnknown;
  flow::IpAddress local_ip;
  flow::IpAddress remote_ip;
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  // What
  Protocol protocol = Protocol::kUnknown;
  std::string method;        // "GET"; gRPC: "POST"
  std::string path;          // without the query (unless configured); gRPC: "/pkg.Service/Method"
  std::string version;       // "HTTP/1.1", "HTTP/2"
  std::string host;          // Host / :authority
  uint32_t status = 0;       // HTTP status; for gRPC the HTTP :status
  int32_t grpc_status = -1;  // -1 when not gRPC or unknown
  // When: wall clock ns. start = first byte of the request; end = last byte of the response
  // written (server) or read (client).
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  // Sizes
  uint64_t request_header_bytes = 0;
  uint64_t request_body_bytes = 0;
  uint64_t response_header_bytes = 0;
  uint64_t response_body_bytes = 0;
  TraceContext trace;
  // Set when fields may be incomplete: the exchange began before the agent saw the connection
  // start (e.g. an HTTP/2 connection whose HPACK table state is unknown), or a field was cut
  // where the bytes seen ended (an HTTP/1 path longer than the copy).
  bool partial = false;
};

}  // namespace loupe::telemetry
