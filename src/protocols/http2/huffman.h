// HPACK Huffman decoding (RFC 7541 §5.2 and Appendix B).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace loupe::protocols::http2 {

// Appends the decoding of `in` to `out`. Returns false for invalid input: a code for EOS, padding
// longer than 7 bits, or padding that is not the most significant bits of EOS (all ones).
bool HuffmanDecode(std::span<const uint8_t> in, std::string* out);

// Appends the Huffman encoding of `in` to `out` (for tests, benchmarks and fuzz seeds).
void HuffmanEncode(std::string_view in, std::string* out);

}  // namespace loupe::protocols::http2
