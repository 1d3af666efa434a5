#include "src/protocols/http2/frames.h"

#include <cstring>

namespace loupe::protocols::http2 {

FrameHeader DecodeFrameHeader(const uint8_t* b) {
  FrameHeader h;
  h.length = (uint32_t{b[0]} << 16) | (uint32_t{b[1]} << 8) | b[2];
  h.type = b[3];
  h.flags = b[4];
  h.stream_id = ((uint32_t{b[5]} << 24) | (uint32_t{b[6]} << 16) | (uint32_t{b[7]} << 8) | b[8]) &
                0x7fffffffu;
  return h;
}

bool PlausibleFrameHeader(const FrameHeader& h, uint32_t max_length) {
  if (h.length > max_length) return false;
  switch (static_cast<FrameType>(h.type)) {
    case FrameType::kData:
      return h.stream_id != 0 && (h.flags & ~(kFlagEndStream | kFlagPadded)) == 0;
    case FrameType::kHeaders:
      return h.stream_id != 0 &&
             (h.flags & ~(kFlagEndStream | kFlagEndHeaders | kFlagPadded | kFlagPriority)) == 0;
    case FrameType::kPriority:
      return h.stream_id != 0 && h.length == 5 && h.flags == 0;
    case FrameType::kRstStream:
      return h.stream_id != 0 && h.length == 4 && h.flags == 0;
    case FrameType::kSettings:
      return h.stream_id == 0 && h.length % 6 == 0 && (h.flags & ~kFlagAck) == 0 &&
             ((h.flags & kFlagAck) == 0 || h.length == 0);
    case FrameType::kPushPromise:
      return h.stream_id != 0 && h.length >= 4 && (h.flags & ~(kFlagEndHeaders | kFlagPadded)) == 0;
    case FrameType::kPing:
      return h.stream_id == 0 && h.length == 8 && (h.flags & ~kFlagAck) == 0;
    case FrameType::kGoAway:
      return h.stream_id == 0 && h.length >= 8 && h.flags == 0;
    case FrameType::kWindowUpdate:
      return h.length == 4 && h.flags == 0;
    case FrameType::kContinuation:
      return h.stream_id != 0 && (h.flags & ~kFlagEndHeaders) == 0;
  }
  return false;
}

bool LooksLikeHttp2(std::span<const uint8_t> data, int min_frames) {
  if (data.size() >= kConnectionPreface.size() &&
      std::memcmp(data.data(), kConnectionPreface.data(), kConnectionPreface.size()) == 0) {
    return true;
  }
  size_t pos = 0;
  int frames = 0;
  while (pos + kFrameHeaderSize <= data.size()) {
    const FrameHeader h = DecodeFrameHeader(data.data() + pos);
    // A stream cannot start with a CONTINUATION: its HEADERS would be missing.
    if (pos == 0 && h.type == static_cast<uint8_t>(FrameType::kContinuation)) return false;
    if (!PlausibleFrameHeader(h, kDefaultMaxFrameSize * 4)) return false;
    ++frames;
    pos += kFrameHeaderSize + h.length;
  }
  return frames >= min_frames;
}

bool StripPadding(const FrameHeader& h, std::span<const uint8_t>* payload) {
  size_t pad = 0;
  if (h.flags & kFlagPadded) {
    if (payload->empty()) return false;
    pad = (*payload)[0];
    *payload = payload->subspan(1);
  }
  if (h.type == static_cast<uint8_t>(FrameType::kHeaders) && (h.flags & kFlagPriority)) {
    if (payload->size() < 5) return false;
    *payload = payload->subspan(5);
  }
  if (pad > payload->size()) return false;
  *payload = payload->first(payload->size() - pad);
  return true;
}

}  // namespace loupe::protocols::http2
