// Builders of HTTP/2 frames and HPACK header-block pieces for tests, in the representations real
// encoders emit: indexed static entries, literals with incremental indexing (static or new name),
// literals without indexing, optionally Huffman-coded strings. Shared by the HTTP/2, h2c upgrade
// and request-timeout tests. Test-only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "src/protocols/http2/frames.h"
#include "src/protocols/http2/huffman.h"

namespace loupe::protocols::http2::testing {

inline std::string Frame(FrameType type, uint8_t flags, uint32_t stream, std::string_view payload) {
  std::string f;
  const size_t n = payload.size();
  for (int shift : {16, 8, 0}) f.push_back(static_cast<char>(n >> shift));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  for (int shift : {24, 16, 8, 0}) f.push_back(static_cast<char>(stream >> shift));
  f.append(payload);
  return f;
}

// An HPACK string literal (lengths < 127 in tests).
inline std::string Str(std::string_view s, bool huffman = false) {
  std::string body(s);
  if (huffman) {
    body.clear();
    HuffmanEncode(s, &body);
  }
  // The length as an HPACK integer with a 7-bit prefix (RFC 7541 §5.1).
  const int flag = huffman ? 0x80 : 0;
  std::string out;
  if (body.size() < 127) {
    out.push_back(static_cast<char>(flag | static_cast<int>(body.size())));
  } else {
    out.push_back(static_cast<char>(flag | 127));
    for (size_t rest = body.size() - 127;; rest >>= 7) {
      if (rest < 128) {
        out.push_back(static_cast<char>(rest));
        break;
      }
      out.push_back(static_cast<char>(0x80 | (rest & 0x7f)));
    }
  }
  return out + body;
}
inline std::string Indexed(int index) { return std::string(1, static_cast<char>(0x80 | index)); }
// Literal with incremental indexing, name from the static table.
inline std::string Incremental(int name_index, std::string_view value, bool huffman = false) {
  return std::string(1, static_cast<char>(0x40 | name_index)) + Str(value, huffman);
}
// Literal with incremental indexing, new name.
inline std::string IncrementalNew(std::string_view name, std::string_view value) {
  return std::string(1, '\x40') + Str(name) + Str(value);
}
// Literal without indexing, new name.
inline std::string LiteralNew(std::string_view name, std::string_view value) {
  return std::string(1, '\x00') + Str(name) + Str(value);
}

}  // namespace loupe::protocols::http2::testing
