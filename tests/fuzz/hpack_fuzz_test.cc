// Fuzz target: the HPACK decoder and Huffman decoding. The input is a sequence of header blocks,
// each prefixed by a one-byte length; the first byte sets the table size and synced mode, so the
// dynamic table carries state across blocks as on a real connection.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "src/protocols/http2/hpack.h"
#include "src/protocols/http2/huffman.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  loupe::protocols::http2::HpackDecoder decoder(static_cast<uint32_t>(data[0] & 0x7f) * 64);
  if (data[0] & 0x80) decoder.MarkUnsynced();
  std::vector<loupe::protocols::http2::HeaderField> fields;
  size_t i = 1;
  while (i < size) {
    const size_t length = std::min<size_t>(data[i], size - i - 1);
    ++i;
    size_t count = 0;
    decoder.Decode({data + i, length}, &fields, &count);
    i += length;
  }
  std::string text;
  loupe::protocols::http2::HuffmanDecode({data, size}, &text);
  return 0;
}
