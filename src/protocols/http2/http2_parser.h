// HTTP/2 and gRPC parser (RFC 9113, RFC 7541; gRPC over HTTP/2) for the L7 engine.
//
// Each direction is a frame reader with its own HPACK decoder. Streams are tracked by id (client-
// initiated, odd); an exchange completes on the response's END_STREAM, or on RST_STREAM from
// either side (then grpc_status, if the trailers did not carry one, follows gRPC's mapping of
// HTTP/2 error codes). start = time of the chunk holding the first byte of the request's HEADERS
// frame; end = time of the chunk holding the last byte of the frame that ended the response. Body
// sizes are DATA payload bytes without padding; header sizes are HPACK-encoded block bytes.
// gRPC = content-type application/grpc* (request or response): Request.protocol kGrpc.
//
// DATA payloads are skipped by length and never buffered, so truncated copies of them cost
// nothing. A gap anywhere else loses frame sync: the reader resyncs at the next chunk that starts
// with a plausible frame chain, and its HPACK decoder goes unsynced (see hpack.h), as for a
// connection the agent joined mid-way (ParserOptions::connection_preexisting).
//
// Unsynced / preexisting connections: records are marked partial. Only what decodes consistently
// is used: static-table and literal fields, and dynamic entries inserted since the join. A
// :method or :path hidden behind an unresolvable dynamic reference is reported as "*" (Beyla's
// convention for the same limitation); a status behind one stays 0; grpc-status stays -1. Streams
// whose request HEADERS were never seen (begun before the join or lost in a gap) produce no record.
//
// With ParserOptions::request_timeout_ns (Beyla's ebpf.http_request_timeout), a stream whose
// response HEADERS have not arrived `timeout` after its request began (or whose connection closed
// first) is reported with status 408 and end = start + timeout; a response arriving later is
// counted unmatched, not reported. gRPC streams are exempt: a streaming call may legitimately wait
// long before the server's first message.
//
// Not thread-safe: one parser per connection.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "src/protocols/common/interface.h"

namespace loupe::protocols::http2 {

inline constexpr uint8_t kProtocolId = 2;
// Open streams one connection may track; beyond, the lowest id is evicted (counted unmatched).
inline constexpr size_t kMaxStreams = 1024;

// Request side: the connection preface or a plausible frame chain; response side: a plausible
// frame chain (a server starts with SETTINGS).
bool InferHttp2(std::span<const uint8_t> first_bytes, bool is_request_side);

// For a connection joined mid-stream: whether the first telling HEADERS frame among the whole
// frames at the start of `bytes` carries a request (its first field is :method, :scheme, :path or
// :authority from HPACK's static table) or a response (:status). HEADERS that start otherwise
// (trailers, a dynamic entry, a size update) are passed over; nullopt when no frame tells.
// Pseudo-header fields come first, and encoders send these by static index.
std::optional<bool> HeadersAreRequest(std::span<const uint8_t> bytes);

std::unique_ptr<ConnectionParser> CreateHttp2Parser(const ParserOptions& options);

// The HTTP/2 side of a connection upgraded from HTTP/1.1 (RFC 7540 §3.2, Upgrade: h2c). The
// HTTP/1.1 parser creates it when the server answers 101 Upgrade: h2c and feeds it the bytes after
// the 101 head (server preface, then frames) and after the upgrading request (client preface, then
// frames); positions continue those of the HTTP/1.1 streams. HPACK starts empty on both sides.
class UpgradedHttp2Parser : public ConnectionParser {
 public:
  // The upgrading request becomes stream 1, half-closed from the client: its response arrives on
  // stream 1 in HTTP/2. `request` carries what HTTP/1.1 parsed (method, path, host, trace context,
  // start, request sizes); the record reports HTTP/2 with the stream's status and end.
  virtual void AddUpgradeRequest(telemetry::Request request) = 0;
};

std::unique_ptr<UpgradedHttp2Parser> CreateUpgradedHttp2Parser(const ParserOptions& options);

// gRPC status for a stream reset with this HTTP/2 error code (gRPC's PROTOCOL-HTTP2 mapping).
int32_t GrpcStatusForRstCode(uint32_t error_code);

}  // namespace loupe::protocols::http2
