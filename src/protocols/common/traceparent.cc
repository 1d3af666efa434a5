#include "src/protocols/common/traceparent.h"

#include <cstdint>
#include <cstring>
#include <string>

namespace loupe::protocols {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is invalid in traceparent
}

// Eight bytes at a time: a byte is lower-case hex iff it is in '0'..'9' or 'a'..'f'. On the low
// seven bits of each byte, adding 0x80 - c sets the byte's high bit iff the byte >= c, with no
// carry into the next byte; a byte with its own high bit set is never hex.
bool IsLowerHexWord(uint64_t word) {
  constexpr uint64_t kHighs = 0x8080808080808080ULL;
  constexpr uint64_t kLows = 0x7f7f7f7f7f7f7f7fULL;
  constexpr auto kEach = [](uint64_t byte) { return byte * 0x0101010101010101ULL; };
  const uint64_t low = word & kLows;
  const uint64_t ge_0 = low + kEach(0x80 - '0');
  const uint64_t gt_9 = low + kEach(0x80 - '9' - 1);
  const uint64_t ge_a = low + kEach(0x80 - 'a');
  const uint64_t gt_f = low + kEach(0x80 - 'f' - 1);
  const uint64_t hex = ((ge_0 & ~gt_9) | (ge_a & ~gt_f)) & ~word & kHighs;
  return hex == kHighs;
}

bool IsLowerHex(std::string_view s) {
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, s.data() + i, sizeof(word));
    if (!IsLowerHexWord(word)) return false;
  }
  for (; i < s.size(); ++i) {
    if (HexValue(s[i]) < 0) return false;
  }
  return true;
}

bool IsAllZero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

}  // namespace

bool ParseTraceparent(std::string_view value, telemetry::TraceContext* out) {
  // Optional whitespace around the value is already stripped by the header parsers.
  constexpr size_t kV0Size = 2 + 1 + 32 + 1 + 16 + 1 + 2;
  if (value.size() < kV0Size) return false;
  const std::string_view version = value.substr(0, 2);
  const std::string_view trace_id = value.substr(3, 32);
  const std::string_view parent_id = value.substr(36, 16);
  const std::string_view flags = value.substr(53, 2);
  if (value[2] != '-' || value[35] != '-' || value[52] != '-') return false;
  if (!IsLowerHex(version) || version == "ff") return false;
  if (version == "00" && value.size() != kV0Size) return false;
  if (value.size() > kV0Size && value[kV0Size] != '-') return false;
  if (!IsLowerHex(trace_id) || !IsLowerHex(parent_id) || !IsLowerHex(flags)) return false;
  if (IsAllZero(trace_id) || IsAllZero(parent_id)) return false;
  out->trace_id.assign(trace_id.data(), trace_id.size());
  out->parent_span_id.assign(parent_id.data(), parent_id.size());
  out->flags = static_cast<uint8_t>(HexValue(flags[0]) * 16 + HexValue(flags[1]));
  return true;
}

}  // namespace loupe::protocols
