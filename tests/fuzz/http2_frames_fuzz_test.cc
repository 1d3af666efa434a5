// Fuzz target: the HTTP/2 frame reader, stream tracking and gRPC stitching, and the HEADERS role
// test (HeadersAreRequest) on every chunk. Same script format as
// the HTTP/1 target: [side+flags:1][length:1][gap:1][bytes...] records after an options byte. Seeds
// start with the connection preface so that the frame layer is reached.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "src/protocols/http2/http2_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  loupe::protocols::ParserOptions options;
  options.connection_preexisting = data[0] & 2;
  auto parser = loupe::protocols::http2::CreateHttp2Parser(options);
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
    pos[side] += (control & 2) ? gap : 0;
    chunk.position = pos[side];
    chunk.data = {data + i, length};
    // The role test for connections joined mid-stream reads the same bytes.
    (void)loupe::protocols::http2::HeadersAreRequest(chunk.data);
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
  }
  parser->OnClose(++time_ns);
  parser->TakeRequests(&out);
  return 0;
}
