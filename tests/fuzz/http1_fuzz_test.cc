// Fuzz target: the HTTP/1 parser and stitcher (traced connections carry untrusted bytes). The
// input is a script: the first byte picks options, then records of
// [side+flags:1][length:1][gap:1][bytes...] drive both directions with splits, truncated copies
// and position jumps, and end with a close. Option bit 4 turns the request timeout on (flag 16 of a
// record fires the timer); after every record a parser that switched protocol (h2c upgrade) is
// replaced by its successor, as the ingest layer does, so the HTTP/2 side of an upgrade is fuzzed
// too.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "src/protocols/http1/http1_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  loupe::protocols::ParserOptions options;
  options.keep_query = data[0] & 1;
  options.connection_preexisting = data[0] & 2;
  if (data[0] & 4) options.request_timeout_ns = 1 + (data[0] >> 3);
  std::unique_ptr<loupe::protocols::ConnectionParser> parser =
      loupe::protocols::http1::CreateHttp1Parser(options);
  uint64_t pos[2] = {0, 0};
  int64_t time_ns = 0;
  size_t i = 1;
  std::vector<loupe::telemetry::Request> out;
  while (i + 3 <= size) {
    const uint8_t control = data[i];
    const size_t length = std::min<size_t>(data[i + 1], size - i - 3);
    const uint8_t gap = data[i + 2];
    i += 3;
    const int side = control & 1;
    loupe::protocols::StreamChunk chunk;
    pos[side] += (control & 2) ? gap : 0;  // a lost event
    chunk.position = pos[side];
    chunk.data = {data + i, length};
    // A truncated copy: the syscall moved more than was copied.
    chunk.original_size = static_cast<uint32_t>(length + ((control & 4) ? gap * 64 : 0));
    chunk.time_ns = ++time_ns;
    pos[side] += chunk.original_size;
    i += length;
    if (side == 0) {
      parser->OnRequestBytes(chunk);
    } else {
      parser->OnResponseBytes(chunk);
    }
    if (control & 8) parser->TakeRequests(&out);
    if (control & 16) parser->OnTimer(time_ns + gap);
    loupe::protocols::ProtocolSwitch next = parser->TakeSuccessor();
    if (next.parser) {
      parser->TakeRequests(&out);
      parser = std::move(next.parser);
    }
  }
  parser->OnClose(++time_ns);
  parser->TakeRequests(&out);
  return 0;
}
