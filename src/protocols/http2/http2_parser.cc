#include "src/protocols/http2/http2_parser.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "src/base/strings.h"
#include "src/protocols/common/stream_side.h"
#include "src/protocols/common/traceparent.h"
#include "src/protocols/http1/http1_parser.h"
#include "src/protocols/http2/frames.h"
#include "src/protocols/http2/hpack.h"

namespace loupe::protocols::http2 {

int32_t GrpcStatusForRstCode(uint32_t error_code) {
  switch (error_code) {
    case 0x7:     // REFUSED_STREAM
      return 14;  // UNAVAILABLE
    case 0x8:     // CANCEL
      return 1;   // CANCELLED
    case 0xb:     // ENHANCE_YOUR_CALM
      return 8;   // RESOURCE_EXHAUSTED
    case 0xc:     // INADEQUATE_SECURITY
      return 7;   // PERMISSION_DENIED
    default:
      return 13;  // INTERNAL
  }
}

bool InferHttp2(std::span<const uint8_t> first_bytes, bool is_request_side) {
  (void)is_request_side;
  if (first_bytes.size() < kConnectionPreface.size() &&
      std::memcmp(first_bytes.data(), kConnectionPreface.data(),
                  std::min(first_bytes.size(), kConnectionPreface.size())) == 0) {
    return first_bytes.size() >= 4;  // "PRI " at least
  }
  return LooksLikeHttp2(first_bytes, 1);
}

std::optional<bool> HeadersAreRequest(std::span<const uint8_t> bytes) {
  size_t off = 0;
  while (off + kFrameHeaderSize <= bytes.size()) {
    const uint8_t* h = bytes.data() + off;
    const size_t length = (size_t{h[0]} << 16) | (size_t{h[1]} << 8) | h[2];
    const uint8_t type = h[3], flags = h[4];
    if (length > bytes.size() - off - kFrameHeaderSize) return std::nullopt;
    if (type == 0x1) {  // HEADERS: [pad length] [priority: 5 bytes] header block
      size_t start = off + kFrameHeaderSize;
      if (flags & 0x08) ++start;
      if (flags & 0x20) start += 5;
      if (start >= off + kFrameHeaderSize + length) return std::nullopt;
      const uint8_t b = bytes[start];
      // The static index of the field (or of its name): 7 bits indexed, 6 bits with incremental
      // indexing, 4 bits without indexing or never indexed; 0 or a size update: cannot tell.
      size_t index = 0;
      if (b & 0x80) {
        index = b & 0x7f;
      } else if ((b & 0xc0) == 0x40) {
        index = b & 0x3f;
      } else if ((b & 0xe0) == 0x00) {
        index = b & 0x0f;
      }
      if (index >= 1 && index <= 7) return true;    // :authority, :method, :path, :scheme
      if (index >= 8 && index <= 14) return false;  // :status
      // Cannot tell (trailers, a dynamic entry): a later HEADERS frame may.
    }
    off += kFrameHeaderSize + length;
  }
  return std::nullopt;
}

namespace {

enum class State : uint8_t {
  kPreface,      // request side of a new connection: the 24-byte preface
  kFrameHeader,  // reading a 9-byte frame header
  kPayload,      // buffering the payload of a frame we decode
  kSkip,         // skipping a payload by length (DATA, frames of no interest, oversized)
  kResync,       // waiting for a chunk that starts with plausible frames
  kClosed,
};

struct Side {
  bool is_request = true;
  State state = State::kFrameHeader;
  StreamSide stream;
  size_t preface_matched = 0;
  uint8_t header[kFrameHeaderSize] = {};
  size_t header_len = 0;
  FrameHeader frame;
  int64_t frame_start_ns = 0;
  std::string payload;
  uint64_t remaining = 0;
  bool data_pad_pending = false;  // DATA with PADDED: the pad length byte is still to come
  // Header block in progress (HEADERS or PUSH_PROMISE followed by CONTINUATION).
  bool in_block = false;
  bool block_is_push = false;
  bool block_end_stream = false;
  uint32_t block_stream = 0;
  int64_t block_start_ns = 0;
  std::string block;
  HpackDecoder decoder;
  std::vector<HeaderField> fields;
};

struct Stream {
  bool request_seen = false;
  bool request_done = false;  // the client's END_STREAM
  bool response_headers_seen = false;
  bool response_done = false;
  bool partial = false;
  bool timed_out = false;  // reported as a 408; kept to absorb a late response
  std::string method;
  std::string path;
  std::string authority;
  std::string content_type;
  telemetry::TraceContext trace;
  uint32_t status = 0;
  int32_t grpc_status = -1;
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  uint64_t request_header_bytes = 0;
  uint64_t request_body_bytes = 0;
  uint64_t response_header_bytes = 0;
  uint64_t response_body_bytes = 0;
  // The response's content-length (-1: none), and the time of the chunk that ended its last frame
  // seen (header block or DATA): a client that has the whole body may close before it reads the
  // END_STREAM, and a response cut by the close ends there.
  int64_t response_content_length = -1;
  int64_t response_last_ns = 0;
};

bool ParseStatus(std::string_view s, uint32_t* out) { return s.size() == 3 && ParseInt(s, out); }

bool IsGrpc(const Stream& st) { return st.content_type.rfind("application/grpc", 0) == 0; }

constexpr uint32_t kTimeoutStatus = 408;
constexpr int32_t kGrpcUnavailable = 14;

class Http2Parser final : public UpgradedHttp2Parser {
 public:
  explicit Http2Parser(const ParserOptions& options)
      : preexisting_(options.connection_preexisting),
        keep_query_(options.keep_query),
        request_timeout_ns_(options.request_timeout_ns) {
    request_.is_request = true;
    response_.is_request = false;
    if (preexisting_) {
      request_.state = State::kResync;
      response_.state = State::kResync;
      request_.decoder.MarkUnsynced();
      response_.decoder.MarkUnsynced();
    } else {
      request_.state = State::kPreface;
    }
  }

  void OnRequestBytes(const StreamChunk& chunk) override { Feed(request_, chunk); }
  void OnResponseBytes(const StreamChunk& chunk) override { Feed(response_, chunk); }

  void OnClose(int64_t time_ns) override {
    (void)time_ns;
    for (auto& [id, st] : streams_) {
      if (st.timed_out) {
        // Already reported; a response that began afterwards is unmatched.
        if (st.response_headers_seen) ++stats_.unmatched;
      } else if (st.request_seen && st.response_done) {
        Emit(st);
      } else if (st.request_seen && st.response_headers_seen && st.response_content_length >= 0 &&
                 st.response_body_bytes >= static_cast<uint64_t>(st.response_content_length)) {
        // The whole body arrived and the connection closed before its END_STREAM was seen (curl
        // closes as soon as it has content-length bytes): the response ended with its body.
        st.response_done = true;
        if (st.response_last_ns > 0) st.end_ns = st.response_last_ns;
        Emit(st);
      } else if (st.request_seen && st.response_headers_seen) {
        // The connection closed inside the response (a client that went away, a server cut off):
        // its head was sent, so it is reported with the body bytes seen, ending at the last of
        // them. A gRPC call without its trailers failed for its client as UNAVAILABLE.
        ++stats_.cut_by_close;
        st.end_ns = st.response_last_ns;
        if (IsGrpc(st) && st.grpc_status < 0) st.grpc_status = kGrpcUnavailable;
        Emit(st);
      } else if (TimesOut(st)) {
        EmitTimeout(st);
      } else {
        ++stats_.unmatched;
      }
    }
    streams_.clear();
    request_.state = State::kClosed;
    response_.state = State::kClosed;
  }

  void OnTimer(int64_t now_ns) override {
    if (request_timeout_ns_ <= 0) return;
    for (auto& [id, st] : streams_) {
      if (!st.timed_out && TimesOut(st) && now_ns - st.start_ns >= request_timeout_ns_) {
        EmitTimeout(st);
      }
    }
  }

  void AddUpgradeRequest(telemetry::Request request) override {
    Stream* st = GetStream(1, true);
    if (st->request_seen) return;
    st->request_seen = true;
    st->request_done = true;  // half-closed (local) from the client's side after the upgrade
    st->method = std::move(request.method);
    st->path = std::move(request.path);
    st->authority = std::move(request.host);
    st->trace = std::move(request.trace);
    st->start_ns = request.start_ns;
    st->request_header_bytes = request.request_header_bytes;
    st->request_body_bytes = request.request_body_bytes;
    st->partial = st->partial || request.partial;
    TryComplete(1);
  }

  void TakeRequests(std::vector<telemetry::Request>* out) override {
    if (out->empty()) {
      out->swap(done_);  // no per-record moves; done_ inherits out's (empty) capacity
    } else {
      for (telemetry::Request& r : done_) out->push_back(std::move(r));
    }
    done_.clear();
  }

  const ParserStats& stats() const override { return stats_; }

 private:
  void Feed(Side& s, const StreamChunk& chunk);
  void Consume(Side& s, std::span<const uint8_t> data, int64_t time_ns);
  void Gap(Side& s, uint64_t length, int64_t time_ns);
  void Desync(Side& s);
  bool StartFrame(Side& s, int64_t time_ns);  // false: implausible header (desynced)
  void EndSkip(Side& s, int64_t time_ns);
  void HandleFrame(Side& s, std::span<const uint8_t> payload, int64_t time_ns);
  void StartBlock(Side& s, std::span<const uint8_t> fragment, bool is_push, int64_t time_ns);
  // Notes the stream, END_STREAM and start time of the block the current frame begins.
  static void OpenBlock(Side& s, bool is_push);
  void DecodeBlock(Side& s, std::span<const uint8_t> block, int64_t time_ns);
  // `synced`: the decoder was in step with the encoder when the block began.
  void OnHeaders(Side& s, size_t count, uint64_t block_bytes, int64_t time_ns, bool synced);
  // A gap cut the header block being read: reports its stream from the fields before the cut.
  void RecoverCutBlock(Side& s, int64_t time_ns);
  Stream* GetStream(uint32_t id, bool create);
  void Reset(uint32_t id, uint32_t error_code, int64_t time_ns);
  void TryComplete(uint32_t id);
  void Emit(Stream& st);
  // An unanswered request that the timeout applies to (its response has not begun).
  bool TimesOut(const Stream& st) const {
    return request_timeout_ns_ > 0 && st.request_seen && !st.response_headers_seen && !IsGrpc(st);
  }
  void EmitTimeout(Stream& st);
  Side& Other(const Side& s) { return s.is_request ? response_ : request_; }

  bool preexisting_;
  bool keep_query_;  // ParserOptions::keep_query, for :path
  int64_t request_timeout_ns_;
  ParserStats stats_;
  Side request_;
  Side response_;
  std::map<uint32_t, Stream> streams_;
  std::vector<telemetry::Request> done_;
};

void Http2Parser::Feed(Side& s, const StreamChunk& chunk) {
  if (s.state == State::kClosed) return;
  ChunkIntake in;
  if (!s.stream.Accept(chunk, &in)) return;
  if (in.gap_before > 0) Gap(s, in.gap_before, chunk.time_ns);
  if (!in.data.empty()) Consume(s, in.data, chunk.time_ns);
  if (in.gap_after > 0) Gap(s, in.gap_after, chunk.time_ns);
}

void Http2Parser::Desync(Side& s) {
  if (s.state == State::kResync || s.state == State::kClosed) return;
  ++stats_.resyncs;
  s.state = State::kResync;
  s.header_len = 0;
  s.payload.clear();
  s.in_block = false;
  s.block.clear();
  s.decoder.MarkUnsynced();
}

void Http2Parser::Gap(Side& s, uint64_t length, int64_t time_ns) {
  switch (s.state) {
    case State::kResync:
    case State::kClosed:
      return;
    case State::kSkip:
      if (length <= s.remaining) {
        if (s.data_pad_pending) {
          // The pad length byte is lost: count it, not the padding.
          s.data_pad_pending = false;
          Stream* st = GetStream(s.frame.stream_id, false);
          if (st != nullptr) {
            (s.is_request ? st->request_body_bytes : st->response_body_bytes) -= 1;
          }
        }
        s.remaining -= length;
        if (s.remaining == 0) EndSkip(s, time_ns);
        return;
      }
      break;
    case State::kPayload:
      RecoverCutBlock(s, time_ns);
      break;
    case State::kPreface:
    case State::kFrameHeader:
      break;
  }
  ++stats_.gaps;
  Desync(s);
}

// A header block larger than the copy limit in one call (a big cookie or token, a long
// Content-Security-Policy): the fields before the cut are known, and the pseudo-header fields
// come first (RFC 9113 §8.3), so a request's method and path, or a response's status, usually
// are. The stream is reported from them, with the block's size from the frame header as its
// header bytes; the side then loses HPACK step as before (later streams on the connection are
// partial). A cut request counts as complete (its END_STREAM may never be seen again), a cut
// response ends at the call that carried its head, as in HTTP/1.
void Http2Parser::RecoverCutBlock(Side& s, int64_t time_ns) {
  const FrameHeader& h = s.frame;
  const auto type = static_cast<FrameType>(h.type);
  std::string block;
  uint64_t block_bytes = 0;
  if (type == FrameType::kHeaders && !s.in_block) {
    std::span<const uint8_t> fragment(reinterpret_cast<const uint8_t*>(s.payload.data()),
                                      s.payload.size());
    // Only the front of the payload is here: skip the pad length and the priority fields; the
    // padding at the end was not reached.
    const size_t skip = ((h.flags & kFlagPadded) ? 1 : 0) + ((h.flags & kFlagPriority) ? 5 : 0);
    if (fragment.size() <= skip) return;
    const size_t pad = (h.flags & kFlagPadded) ? fragment[0] : 0;
    if (skip + pad >= h.length) return;  // malformed
    fragment = fragment.subspan(skip);
    block.assign(reinterpret_cast<const char*>(fragment.data()), fragment.size());
    block_bytes = h.length - skip - pad;  // the whole block's size, as for a block not cut
    OpenBlock(s, /*is_push=*/false);
  } else if (type == FrameType::kContinuation && s.in_block && h.stream_id == s.block_stream &&
             !s.block_is_push) {
    block_bytes = s.block.size() + h.length;
    block = std::move(s.block);
    block.append(s.payload);
  } else {
    return;
  }
  const bool synced = s.decoder.synced();
  size_t count = 0;
  // Fails at the cut (and leaves the decoder unsynced); the fields before it are kept.
  s.decoder.Decode({reinterpret_cast<const uint8_t*>(block.data()), block.size()}, &s.fields,
                   &count);
  const auto has = [&](std::string_view name) {
    for (size_t i = 0; i < count; ++i) {
      if (s.fields[i].known && s.fields[i].name == name) return true;
    }
    return false;
  };
  if (s.is_request ? !(has(":method") && has(":path")) : !has(":status")) return;
  const uint32_t id = s.block_stream;
  OnHeaders(s, count, block_bytes, time_ns, synced);
  Stream* st = GetStream(id, false);
  if (st == nullptr) return;  // a server push, or an interim response
  if (s.is_request) {
    st->request_done = true;
  } else if (st->response_headers_seen && !st->response_done) {
    st->response_done = true;
    st->end_ns = time_ns;
  }
  TryComplete(id);
}

bool Http2Parser::StartFrame(Side& s, int64_t time_ns) {
  s.frame = DecodeFrameHeader(s.header);
  s.header_len = 0;
  const FrameHeader& h = s.frame;
  const auto type = static_cast<FrameType>(h.type);
  const bool known_type = h.type <= static_cast<uint8_t>(FrameType::kContinuation);
  if (known_type && !PlausibleFrameHeader(h, kMaxFrameSize)) {
    ++stats_.invalid;
    Desync(s);
    return false;
  }
  if (s.in_block && type != FrameType::kContinuation) {
    // RFC 9113 §6.10: nothing may interleave a header block. The block is lost.
    ++stats_.invalid;
    Desync(s);
    return false;
  }
  (void)time_ns;
  s.remaining = h.length;
  s.data_pad_pending = false;
  const bool buffered = type == FrameType::kHeaders || type == FrameType::kContinuation ||
                        type == FrameType::kPushPromise || type == FrameType::kSettings ||
                        type == FrameType::kRstStream;
  if (known_type && buffered) {
    if (h.length + s.block.size() > kMaxBufferedBytes) {
      ++stats_.oversized;
      if (type != FrameType::kSettings && type != FrameType::kRstStream) {
        // The header block cannot be decoded: the HPACK state is lost from here.
        s.decoder.MarkUnsynced();
        s.in_block = false;
        s.block.clear();
      }
      s.state = State::kSkip;
    } else {
      s.state = State::kPayload;
      s.payload.clear();
    }
  } else {
    s.state = State::kSkip;
    if (type == FrameType::kData) {
      Stream* st = GetStream(h.stream_id, false);
      if (st != nullptr)
        (s.is_request ? st->request_body_bytes : st->response_body_bytes) += h.length;
      s.data_pad_pending = (h.flags & kFlagPadded) != 0 && h.length > 0;
    }
  }
  if (s.remaining == 0) {
    if (s.state == State::kPayload) {
      s.state = State::kFrameHeader;
      HandleFrame(s, {}, time_ns);
    } else {
      EndSkip(s, time_ns);
    }
  }
  return true;
}

void Http2Parser::EndSkip(Side& s, int64_t time_ns) {
  s.state = State::kFrameHeader;
  const FrameHeader& h = s.frame;
  if (h.type == static_cast<uint8_t>(FrameType::kData) && !s.is_request) {
    Stream* st = GetStream(h.stream_id, false);
    if (st != nullptr) st->response_last_ns = time_ns;
  }
  if (h.type == static_cast<uint8_t>(FrameType::kData) && (h.flags & kFlagEndStream)) {
    Stream* st = GetStream(h.stream_id, false);
    if (st == nullptr) return;
    if (s.is_request) {
      st->request_done = true;
    } else {
      st->response_done = true;
    }
    st->end_ns = time_ns;
    TryComplete(h.stream_id);
  }
}

void Http2Parser::Consume(Side& s, std::span<const uint8_t> data, int64_t time_ns) {
  size_t off = 0;
  const size_t n = data.size();
  while (off < n) {
    switch (s.state) {
      case State::kClosed:
        return;
      case State::kResync:
        // Only a chunk start (a syscall boundary) is a plausible frame boundary.
        if (off != 0 || !LooksLikeHttp2(data, 1)) return;
        s.state = State::kFrameHeader;
        s.header_len = 0;
        break;
      case State::kPreface: {
        const size_t take = std::min(n - off, kConnectionPreface.size() - s.preface_matched);
        if (std::memcmp(data.data() + off, kConnectionPreface.data() + s.preface_matched, take) !=
            0) {
          // No preface: a connection we joined late (or not HTTP/2). Its HPACK state is unknown.
          ++stats_.invalid;
          preexisting_ = true;
          response_.decoder.MarkUnsynced();
          request_.decoder.MarkUnsynced();
          s.state = State::kResync;
          ++stats_.resyncs;
          if (off == 0 && s.preface_matched == 0 && LooksLikeHttp2(data, 1)) {
            s.state = State::kFrameHeader;
          }
          s.preface_matched = 0;
          if (s.state == State::kResync) return;
          break;
        }
        s.preface_matched += take;
        off += take;
        if (s.preface_matched == kConnectionPreface.size()) s.state = State::kFrameHeader;
        break;
      }
      case State::kFrameHeader: {
        if (s.header_len == 0) s.frame_start_ns = time_ns;
        const size_t take = std::min(n - off, kFrameHeaderSize - s.header_len);
        std::memcpy(s.header + s.header_len, data.data() + off, take);
        s.header_len += take;
        off += take;
        if (s.header_len == kFrameHeaderSize && !StartFrame(s, time_ns)) return;
        break;
      }
      case State::kPayload: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(n - off, s.remaining));
        if (s.payload.empty() && take == s.remaining) {
          // The whole payload is in this chunk: no copy.
          s.remaining = 0;
          s.state = State::kFrameHeader;
          HandleFrame(s, data.subspan(off, take), time_ns);
          off += take;
          break;
        }
        s.payload.append(reinterpret_cast<const char*>(data.data() + off), take);
        s.remaining -= take;
        off += take;
        if (s.remaining == 0) {
          s.state = State::kFrameHeader;
          std::string payload = std::move(s.payload);
          s.payload.clear();
          HandleFrame(s, {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()},
                      time_ns);
        }
        break;
      }
      case State::kSkip: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(n - off, s.remaining));
        if (s.data_pad_pending && take > 0) {
          s.data_pad_pending = false;
          Stream* st = GetStream(s.frame.stream_id, false);
          const uint64_t pad = uint64_t{data[off]} + 1;
          if (st != nullptr) {
            uint64_t& bytes = s.is_request ? st->request_body_bytes : st->response_body_bytes;
            bytes -= std::min(bytes, pad);
          }
        }
        s.remaining -= take;
        off += take;
        if (s.remaining == 0) EndSkip(s, time_ns);
        break;
      }
    }
  }
}

void Http2Parser::HandleFrame(Side& s, std::span<const uint8_t> payload, int64_t time_ns) {
  const FrameHeader& h = s.frame;
  switch (static_cast<FrameType>(h.type)) {
    case FrameType::kHeaders: {
      std::span<const uint8_t> fragment = payload;
      if (!StripPadding(h, &fragment)) {
        ++stats_.invalid;
        Desync(s);
        return;
      }
      StartBlock(s, fragment, /*is_push=*/false, time_ns);
      return;
    }
    case FrameType::kPushPromise: {
      std::span<const uint8_t> fragment = payload;
      if (!StripPadding(h, &fragment) || fragment.size() < 4) {
        ++stats_.invalid;
        Desync(s);
        return;
      }
      StartBlock(s, fragment.subspan(4), /*is_push=*/true, time_ns);
      return;
    }
    case FrameType::kContinuation:
      if (!s.in_block || h.stream_id != s.block_stream) {
        ++stats_.invalid;
        Desync(s);
        return;
      }
      s.block.append(reinterpret_cast<const char*>(payload.data()), payload.size());
      if (h.flags & kFlagEndHeaders) {
        s.in_block = false;
        std::string block = std::move(s.block);
        s.block.clear();
        DecodeBlock(s, {reinterpret_cast<const uint8_t*>(block.data()), block.size()}, time_ns);
      }
      return;
    case FrameType::kSettings:
      if (h.flags & kFlagAck) return;
      for (size_t i = 0; i + 6 <= payload.size(); i += 6) {
        const uint16_t id = static_cast<uint16_t>((payload[i] << 8) | payload[i + 1]);
        const uint32_t value = (uint32_t{payload[i + 2]} << 24) | (uint32_t{payload[i + 3]} << 16) |
                               (uint32_t{payload[i + 4]} << 8) | payload[i + 5];
        // A side's SETTINGS bound what the peer's encoder may use: our decoder of the peer.
        if (id == kSettingsHeaderTableSize) Other(s).decoder.SetMaxAllowedTableSize(value);
      }
      return;
    case FrameType::kRstStream:
      if (payload.size() == 4) {
        const uint32_t code = (uint32_t{payload[0]} << 24) | (uint32_t{payload[1]} << 16) |
                              (uint32_t{payload[2]} << 8) | payload[3];
        Reset(h.stream_id, code, time_ns);
      }
      return;
    case FrameType::kData:
    case FrameType::kPriority:
    case FrameType::kPing:
    case FrameType::kGoAway:
    case FrameType::kWindowUpdate:
      return;
  }
}

void Http2Parser::OpenBlock(Side& s, bool is_push) {
  s.block_is_push = is_push;
  s.block_stream = s.frame.stream_id;
  s.block_end_stream = !is_push && (s.frame.flags & kFlagEndStream) != 0;
  s.block_start_ns = s.frame_start_ns;
}

void Http2Parser::StartBlock(Side& s, std::span<const uint8_t> fragment, bool is_push,
                             int64_t time_ns) {
  OpenBlock(s, is_push);
  if (s.frame.flags & kFlagEndHeaders) {
    DecodeBlock(s, fragment, time_ns);
    return;
  }
  s.in_block = true;
  s.block.assign(reinterpret_cast<const char*>(fragment.data()), fragment.size());
}

void Http2Parser::DecodeBlock(Side& s, std::span<const uint8_t> block, int64_t time_ns) {
  size_t count = 0;
  // Every block is decoded, also of streams we ignore, to keep the dynamic table in step.
  if (s.decoder.Decode(block, &s.fields, &count) != ParseState::kSuccess) {
    ++stats_.invalid;
    return;
  }
  if (s.block_is_push) return;
  OnHeaders(s, count, block.size(), time_ns, s.decoder.synced());
}

Stream* Http2Parser::GetStream(uint32_t id, bool create) {
  auto it = streams_.find(id);
  if (it != streams_.end()) return &it->second;
  if (!create) return nullptr;
  if (streams_.size() >= kMaxStreams) {
    Stream& oldest = streams_.begin()->second;
    if (oldest.timed_out) {
      // Already reported as a timeout.
    } else if (oldest.request_seen && oldest.response_done) {
      Emit(oldest);
    } else {
      ++stats_.unmatched;
    }
    streams_.erase(streams_.begin());
  }
  return &streams_[id];
}

void Http2Parser::OnHeaders(Side& s, size_t count, uint64_t block_bytes, int64_t time_ns,
                            bool synced) {
  const uint32_t id = s.block_stream;
  // Client-initiated streams are odd; even ones are server pushes, which we do not report.
  if (id % 2 == 0) return;
  bool unknown = false;
  if (s.is_request) {
    Stream* st = GetStream(id, true);
    if (st->request_seen) {  // request trailers
      if (s.block_end_stream) st->request_done = true;
      TryComplete(id);
      return;
    }
    st->request_seen = true;
    st->start_ns = s.block_start_ns;
    st->request_header_bytes = block_bytes;
    for (size_t i = 0; i < count; ++i) {
      const HeaderField& f = s.fields[i];
      if (!f.known) {
        unknown = true;
      } else if (f.name == ":method") {
        st->method = f.value;
      } else if (f.name == ":path") {
        // The query is dropped (or kept with its values redacted) as for HTTP/1.
        http1::NormalizeTargetInto(f.value, keep_query_, &st->path);
      } else if (f.name == ":authority" || (f.name == "host" && st->authority.empty())) {
        st->authority = f.value;
      } else if (f.name == "content-type") {
        st->content_type = f.value;
      } else if (f.name == "traceparent") {
        ParseTraceparent(f.value, &st->trace);
      }
    }
    if (st->method.empty()) st->method = "*";
    if (st->path.empty()) st->path = "*";
    if (unknown || !synced) st->partial = true;
    if (s.block_end_stream) st->request_done = true;
    TryComplete(id);
    return;
  }
  Stream* st = GetStream(id, true);
  if (!st->response_headers_seen) {
    uint32_t status = 0;
    for (size_t i = 0; i < count; ++i) {
      const HeaderField& f = s.fields[i];
      if (f.known && f.name == ":status") ParseStatus(f.value, &status);
    }
    if (status >= 100 && status < 200) return;  // informational
    // A response that begins after the request's deadline answers a timed-out request.
    if (!st->timed_out && TimesOut(*st) && s.block_start_ns - st->start_ns >= request_timeout_ns_) {
      EmitTimeout(*st);
    }
    st->response_headers_seen = true;
    st->status = status;
    st->response_header_bytes = block_bytes;
  } else {
    st->response_header_bytes += block_bytes;  // trailers
  }
  st->response_last_ns = time_ns;
  for (size_t i = 0; i < count; ++i) {
    const HeaderField& f = s.fields[i];
    if (!f.known) {
      unknown = true;
    } else if (f.name == "grpc-status") {
      int32_t code = -1;
      if (ParseInt(f.value, &code) && code >= 0) st->grpc_status = code;
    } else if (f.name == "content-type" && st->content_type.empty()) {
      st->content_type = f.value;
    } else if (f.name == "content-length" && st->response_content_length < 0) {
      uint64_t length = 0;
      if (ParseInt(f.value, &length) && length <= INT64_MAX) {
        st->response_content_length = static_cast<int64_t>(length);
      }
    }
  }
  if (unknown || !synced || st->status == 0) st->partial = true;
  if (s.block_end_stream) {
    st->response_done = true;
    st->end_ns = time_ns;
    TryComplete(id);
  }
}

void Http2Parser::Reset(uint32_t id, uint32_t error_code, int64_t time_ns) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  Stream& st = it->second;
  if (st.timed_out) {
    // Reported as a timeout already; a response that began since is unmatched.
    if (st.response_headers_seen) ++stats_.unmatched;
    streams_.erase(it);
    return;
  }
  if (!st.request_seen) {
    ++stats_.unmatched;
    streams_.erase(it);
    return;
  }
  if (!st.response_done) st.end_ns = time_ns;
  if (st.grpc_status < 0 && st.content_type.rfind("application/grpc", 0) == 0) {
    st.grpc_status = GrpcStatusForRstCode(error_code);
  }
  Emit(st);
  streams_.erase(it);
}

void Http2Parser::TryComplete(uint32_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  Stream& st = it->second;
  if (st.timed_out) {
    // The response came after the request was reported as a timeout: not a second record.
    if (st.response_done) {
      ++stats_.unmatched;
      streams_.erase(it);
    }
    return;
  }
  // A response may be seen before its request when the directions' events are reordered: the
  // stream waits (bounded by kMaxStreams) for the request and its END_STREAM, so that the request
  // body size is complete. A request never ended is completed by RST_STREAM or the close.
  if (!st.request_seen || !st.response_done || !st.request_done) return;
  Emit(st);
  streams_.erase(it);
}

void Http2Parser::EmitTimeout(Stream& st) {
  st.status = kTimeoutStatus;
  st.end_ns = st.start_ns + request_timeout_ns_;
  st.response_header_bytes = 0;
  st.response_body_bytes = 0;
  Emit(st);
  st.timed_out = true;
}

void Http2Parser::Emit(Stream& st) {
  telemetry::Request& out = done_.emplace_back();
  out.protocol = IsGrpc(st) ? telemetry::Protocol::kGrpc : telemetry::Protocol::kHttp2;
  out.method = std::move(st.method);
  out.path = std::move(st.path);
  out.version = "HTTP/2";
  out.host = std::move(st.authority);
  out.status = st.status;
  out.grpc_status = out.protocol == telemetry::Protocol::kGrpc ? st.grpc_status : -1;
  out.start_ns = st.start_ns;
  out.end_ns = st.end_ns;
  out.request_header_bytes = st.request_header_bytes;
  out.request_body_bytes = st.request_body_bytes;
  out.response_header_bytes = st.response_header_bytes;
  out.response_body_bytes = st.response_body_bytes;
  out.trace = std::move(st.trace);
  out.partial = st.partial || preexisting_;
  ++stats_.requests;
}

}  // namespace

std::unique_ptr<ConnectionParser> CreateHttp2Parser(const ParserOptions& options) {
  return std::make_unique<Http2Parser>(options);
}

std::unique_ptr<UpgradedHttp2Parser> CreateUpgradedHttp2Parser(const ParserOptions& options) {
  return std::make_unique<Http2Parser>(options);
}

}  // namespace loupe::protocols::http2
