// Result of a protocol parser on a buffer: hot paths return this enum, never a Status.
#pragma once

#include <cstdint>

namespace loupe::protocols {

enum class ParseState : uint8_t {
  kSuccess,        // a complete message was parsed
  kNeedsMoreData,  // the buffer holds a prefix of a message
  kInvalid,        // not a valid message (counted by the caller)
  kIgnored,        // valid but of no interest
};

}  // namespace loupe::protocols
