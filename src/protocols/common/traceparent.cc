#include "src/protocols/common/traceparent.h"

#include <string>

namespace loupe::protocols {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is invalid in traceparent
}

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (HexValue(c) < 0) return false;
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
