// HTTP/2 frame layer (RFC 9113 §4, §6): the 9-byte frame header, frame types and flags, and the
// plausibility check used for inference and to resync a stream joined mid-way.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace loupe::protocols::http2 {

inline constexpr std::string_view kConnectionPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
inline constexpr size_t kFrameHeaderSize = 9;
inline constexpr uint32_t kDefaultMaxFrameSize = 16384;
inline constexpr uint32_t kMaxFrameSize = (1u << 24) - 1;

enum class FrameType : uint8_t {
  kData = 0,
  kHeaders = 1,
  kPriority = 2,
  kRstStream = 3,
  kSettings = 4,
  kPushPromise = 5,
  kPing = 6,
  kGoAway = 7,
  kWindowUpdate = 8,
  kContinuation = 9,
};

inline constexpr uint8_t kFlagEndStream = 0x1;
inline constexpr uint8_t kFlagAck = 0x1;
inline constexpr uint8_t kFlagEndHeaders = 0x4;
inline constexpr uint8_t kFlagPadded = 0x8;
inline constexpr uint8_t kFlagPriority = 0x20;

inline constexpr uint16_t kSettingsHeaderTableSize = 0x1;
inline constexpr uint16_t kSettingsMaxFrameSize = 0x5;

struct FrameHeader {
  uint32_t length = 0;
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t stream_id = 0;
};

// Decodes a frame header from 9 bytes.
FrameHeader DecodeFrameHeader(const uint8_t* bytes);

// Whether a frame header looks like one a conforming peer sends: a known type, a length within
// `max_length`, the stream id rules and fixed lengths of each type, only defined flags.
bool PlausibleFrameHeader(const FrameHeader& h, uint32_t max_length);

// Whether `data` starts with the connection preface or a chain of plausible frame headers (each
// followed by its payload; the last frame may run past the end). `min_frames` complete headers
// must be seen unless the preface is present.
bool LooksLikeHttp2(std::span<const uint8_t> data, int min_frames);

// Strips padding (and the HEADERS priority fields) from a HEADERS/PUSH_PROMISE/DATA payload.
// Returns false when the padding is longer than the payload.
bool StripPadding(const FrameHeader& h, std::span<const uint8_t>* payload);

}  // namespace loupe::protocols::http2
