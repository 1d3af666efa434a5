// HTTP/1.x parser and request/response stitcher (RFC 9112) for the L7 engine.
//
// Each side (request bytes, response bytes) is a streaming state machine driven by position-
// addressed chunks: header blocks are buffered until complete (bounded by kMaxBufferedBytes),
// bodies are never buffered but skipped by length, so a body the kernel copied only a prefix of
// (original_size > data.size()) or a position jump inside a Content-Length body costs nothing and
// is not an error. A gap inside a header block or chunked framing drops that message and resyncs at
// the next line that starts like a request line (a known method) or a status line ("HTTP/1.").
//
// Stitching is FIFO (pipelining: N requests then N responses), with interim 1xx responses skipped
// (Expect: 100-continue), HEAD/204/304 responses bodiless, and close-delimited response bodies
// completed by OnClose. A message dropped by a resync leaves a placeholder so that the FIFO pairing
// of the following messages stays right. Responses seen before their request (events of the two
// directions can be reordered) wait in a small queue; a response that ended before the next request
// started is unmatched, not paired.
//
// Protocol switches: 101 Switching Protocols with Upgrade: h2c (RFC 7540 §3.2) hands the
// connection to an HTTP/2 parser (http2::CreateUpgradedHttp2Parser): the response side after the
// 101 head, the request side after the end of the upgrading request (bytes the client sends after
// a request with Upgrade: h2c are held, bounded, until the server's answer says which protocol they
// are). The upgrading request becomes HTTP/2 stream 1 and is reported once, as HTTP/2, with its
// stream-1 response; no HTTP/1 record is made for the 101. TakeSuccessor() gives the HTTP/2 parser
// to the caller once both sides have switched. A server that ignores the Upgrade (answers 200)
// keeps the connection HTTP/1. Any other 101 (WebSocket) and CONNECT 2xx end parsing on the
// connection: the 101 / 2xx is reported and nothing after it.
//
// A request that is never answered stays queued until the connection closes (or the queue bound
// pushes it out) and is then counted unmatched, not reported: Beyla's default
// (`ebpf.http_request_timeout: 0`). With ParserOptions::request_timeout_ns, a request whose
// response has not begun `timeout` after the request's start (OnTimer), or when the connection
// closes, is reported with status 408 and end = start + timeout; its queue slot stays as a
// placeholder, so a response that arrives later pairs with it and is counted unmatched.
//
// Not thread-safe: one parser per connection.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "src/protocols/common/interface.h"
#include "src/protocols/common/parse_state.h"

namespace loupe::protocols::http1 {

inline constexpr uint8_t kProtocolId = 1;
// Requests sent and not yet answered that one connection may hold (pipelining depth).
inline constexpr size_t kMaxPendingRequests = 256;
// Responses seen before their request (cross-direction reordering) that one connection may hold.
inline constexpr size_t kMaxEarlyResponses = 16;
// A chunk-size or trailer line longer than this is not chunked framing.
inline constexpr size_t kMaxChunkLineBytes = 4096;

// The parts of a request or status line and of the headers that the engine uses. Views point into
// the parsed header block.
struct MessageHead {
  std::string_view method;   // request only
  std::string_view target;   // request only
  std::string_view version;  // "HTTP/1.1"
  uint32_t status = 0;       // response only
  std::string_view host;
  std::string_view traceparent;
  int64_t content_length = -1;  // -1: absent
  bool chunked = false;
  bool expect_continue = false;
  bool upgrade_h2c = false;  // an Upgrade header that lists h2c
  bool target_cut = false;   // the target as far as the copy went (the rest was not copied)
  size_t header_bytes = 0;   // start line through the empty line
};

// Cheap check on the first bytes a connection carried (the registry's inference rule).
bool InferHttp1(std::span<const uint8_t> first_bytes, bool is_request_side);

// Whether `data` starts like a request line (a known method, a space and a target) or, for
// responses, a status line. 1: yes; 0: consistent so far, need more bytes; -1: no.
int MatchMessageStart(std::string_view data, bool is_request);

// Finds the end of the header block that starts at data[0]. `scan_from` is where the previous call
// stopped (a line start; 0 initially) so that a block arriving in pieces is scanned once. Returns
// the block length through its empty line, or 0 when the block is not complete yet.
size_t FindHeadEnd(std::string_view data, size_t* scan_from);

// Parse a complete header block (as delimited by FindHeadEnd).
ParseState ParseRequestHead(std::string_view head, MessageHead* out);
ParseState ParseResponseHead(std::string_view head, MessageHead* out);

// FindHeadEnd and ParseRequestHead / ParseResponseHead in one pass over the lines (the common case
// of a header block that arrived whole). Returns the block length, with `*state` kSuccess or
// kInvalid, or 0 when the block is not complete yet (then `*scan_from` is where FindHeadEnd can
// continue and `*out` is unspecified). Same results as the two-step path.
size_t ScanHead(std::string_view data, bool is_request, MessageHead* out, ParseState* state,
                size_t* scan_from);

// The path of a request target: origin-form "/a?b=1" -> "/a"; absolute-form "http://h/a" -> "/a";
// "*" and authority-form kept. With keep_query the query is kept with every value redacted:
// "/a?b=1&c=2&d" -> "/a?b=*&c=*&d". A fragment is always dropped.
std::string NormalizeTarget(std::string_view target, bool keep_query);
// The same, written into `out` (replacing its contents, reusing its capacity).
void NormalizeTargetInto(std::string_view target, bool keep_query, std::string* out);

std::unique_ptr<ConnectionParser> CreateHttp1Parser(const ParserOptions& options);

}  // namespace loupe::protocols::http1
