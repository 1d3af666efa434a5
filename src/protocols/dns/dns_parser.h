// DNS message parser (RFC 1035 wire format, with name compression) for DNS seen on the wire.
// Pure and allocation-bounded: names are limited to 255 bytes, at most kMaxRecords records per
// section are decoded, compression pointers may only point backwards (so no loops).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "src/protocols/common/parse_state.h"

namespace loupe::protocols::dns {

inline constexpr size_t kMaxRecords = 64;

struct Question {
  std::string name;  // "example.com." (absolute, trailing dot; "." for the root)
  uint16_t qtype = 0;
  uint16_t qclass = 0;
};

struct Answer {
  std::string name;
  uint16_t type = 0;
  uint32_t ttl = 0;
  std::string address;  // A / AAAA, as text
  std::string target;   // CNAME target
};

struct Message {
  uint16_t id = 0;
  bool is_response = false;
  uint8_t opcode = 0;
  uint8_t rcode = 0;
  bool truncated = false;
  std::vector<Question> questions;
  std::vector<Answer> answers;
};

// Parses one DNS message (UDP payload, or a TCP message without its 2-byte length prefix).
// kInvalid for malformed input; kNeedsMoreData when the buffer ends inside the header or a
// section (a truncated capture).
ParseState ParseMessage(std::span<const uint8_t> data, Message* out);

// "A", "AAAA", "CNAME", ... or "TYPE<n>" for types without a mnemonic.
std::string TypeName(uint16_t type);

}  // namespace loupe::protocols::dns
