// The contract between the ingest layer and protocol parsers (ARCHITECTURE.md principle 2):
// parsers see ordered byte chunks {position, bytes, time} of a connection's request side and
// response side, never BPF structs, so they are pure, fuzzable and benchmarkable without a kernel.
//
// Request side = what the client sends (a server's ingress, a client's egress); response side =
// the other direction. Chunks of one side arrive in position order. A chunk whose position is
// past the end of the previous chunk (a gap: the kernel copied only a prefix of a large write, or
// an event was lost) means bytes are missing: the parser must drop the partial message and resync
// at the next message boundary, counting it.
//
// Bounded: a parser buffers at most kMaxBufferedBytes per side; beyond that it drops and resyncs.
// Not thread-safe: one parser per connection, driven by one ingest shard.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "src/protocols/common/parse_state.h"
#include "src/telemetry/request.h"

namespace loupe::protocols {

inline constexpr size_t kMaxBufferedBytes = 256 * 1024;

struct StreamChunk {
  uint64_t position = 0;          // byte offset of data[0] in this side's stream
  std::span<const uint8_t> data;  // may be shorter than original_size (truncated copy)
  uint32_t original_size = 0;     // bytes the syscall moved; > data.size() means a gap follows
  int64_t time_ns = 0;            // wall clock of the syscall
};

struct ParserStats {
  uint64_t requests = 0;  // completed exchanges produced
  uint64_t invalid = 0;   // messages rejected as malformed
  uint64_t resyncs = 0;   // gaps or garbage skipped to the next message boundary
  uint64_t gaps = 0;  // missing bytes that cost data (inside headers or framing); gaps in bodies
                      // of known length are skipped by length, not counted
  uint64_t unmatched = 0;     // responses without a request, or requests never answered
  uint64_t oversized = 0;     // messages dropped for exceeding the buffer bound
  uint64_t cut_by_close = 0;  // responses the connection closed inside: reported as they were
  uint64_t cut_paths = 0;     // requests reported with their path cut where the copy ended
};

struct ParserOptions {
  bool keep_query = false;              // keep the URL query string (values redacted)
  bool connection_preexisting = false;  // began before the agent saw it: mark results partial
  // Beyla's ebpf.http_request_timeout; 0 = off. When > 0, an HTTP request whose response has not
  // begun `request_timeout_ns` after its start (or whose connection closed first) completes as
  // status 408 with end = start + timeout; a response that arrives later is counted unmatched.
  int64_t request_timeout_ns = 0;
};

class ConnectionParser;

// What a parser hands over when its connection switches protocol (HTTP/1.1 Upgrade: h2c).
struct ProtocolSwitch {
  uint8_t protocol = 0;  // registry id of the new protocol
  std::unique_ptr<ConnectionParser> parser;
};

class ConnectionParser {
 public:
  virtual ~ConnectionParser() = default;
  virtual void OnRequestBytes(const StreamChunk& chunk) = 0;
  virtual void OnResponseBytes(const StreamChunk& chunk) = 0;
  // The connection closed at `time_ns`: completes close-delimited responses; requests still
  // unanswered are dropped (counted as unmatched), or with ParserOptions::request_timeout_ns
  // completed as timeouts.
  virtual void OnClose(int64_t time_ns) = 0;
  // Time passed without bytes (the ingest shard's periodic sweep; `now_ns` is on the clock of
  // StreamChunk::time_ns): requests unanswered for ParserOptions::request_timeout_ns complete as
  // timeouts. Parsers without timeouts ignore it.
  virtual void OnTimer(int64_t now_ns) { (void)now_ns; }
  // Once both directions have switched to another protocol (or the connection closed after the
  // switch), the parser of the new protocol, which already holds the bytes and exchanges since the
  // switch; empty otherwise. The caller takes this parser's requests and stats first, then replaces
  // it with the new one for the rest of the connection.
  virtual ProtocolSwitch TakeSuccessor() { return {}; }
  // Moves the exchanges completed so far into `out` (appending). Fills the protocol fields of
  // Request (protocol, method, path, version, host, status, grpc_status, start/end, sizes,
  // trace context, partial); the caller fills pid, process, role and addresses.
  virtual void TakeRequests(std::vector<telemetry::Request>* out) = 0;
  virtual const ParserStats& stats() const = 0;
};

// One row per protocol (principle 3): adding a protocol adds a row, a folder, an inference rule
// (mirrored in bpf/lib/protocol_inference.h), a fuzz target and an integration test.
struct ProtocolDescriptor {
  uint8_t id;        // stable; the BPF side uses the same numbers
  const char* name;  // "http1", "http2"
  // Cheap check on the first bytes a connection carried in either direction.
  bool (*infer)(std::span<const uint8_t> first_bytes, bool is_request_side);
  std::unique_ptr<ConnectionParser> (*create)(const ParserOptions& options);
  // For a connection whose role is unknown (it predates the agent) and whose protocol is known:
  // whether the bytes one side sent are a request (that side is the client), a response, or
  // cannot tell (nullopt). Null: `infer` with is_request_side already tells.
  std::optional<bool> (*is_request)(std::span<const uint8_t> bytes) = nullptr;
};

const std::vector<ProtocolDescriptor>& ProtocolRegistry();
const ProtocolDescriptor* FindProtocol(uint8_t id);
// The first protocol whose inference accepts these bytes, or nullptr.
const ProtocolDescriptor* InferProtocol(std::span<const uint8_t> first_bytes, bool is_request_side);

}  // namespace loupe::protocols
