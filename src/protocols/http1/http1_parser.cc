#include "src/protocols/http1/http1_parser.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <vector>

#include "src/base/strings.h"
#include "src/protocols/common/stream_side.h"
#include "src/protocols/common/traceparent.h"
#include "src/protocols/http2/frames.h"
#include "src/protocols/http2/http2_parser.h"

namespace loupe::protocols::http1 {
namespace {

constexpr std::string_view kMethods[] = {"GET ",   "POST ",    "PUT ",     "DELETE ", "HEAD ",
                                         "PATCH ", "OPTIONS ", "CONNECT ", "TRACE "};
constexpr std::string_view kStatusPrefix = "HTTP/1.";
constexpr uint32_t kTimeoutStatus = 408;  // Beyla's status for a request timeout

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// `name` must be lower case.
bool NameIs(std::string_view header, std::string_view name) {
  if (header.size() != name.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (Lower(header[i]) != name[i]) return false;
  }
  return true;
}

// Case-insensitive search of a lower-case token in a comma-separated header value.
bool HasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    if (NameIs(StripWhitespace(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

std::string_view AsView(std::span<const uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// Offset of the first ':' in `s`, or s.size(). Eight bytes at a time: field names are short, so
// this usually ends in the first word, without a call or a byte loop.
size_t FindColon(std::string_view s) {
  static_assert(std::endian::native == std::endian::little, "byte order of the word scan");
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHighs = 0x8080808080808080ULL;
  constexpr uint64_t kColons = 0x3a3a3a3a3a3a3a3aULL;
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, s.data() + i, sizeof(word));
    const uint64_t x = word ^ kColons;  // zero bytes where ':' was
    // The lowest set bit marks the first zero byte exactly (borrows only disturb higher bytes).
    const uint64_t zero = (x - kOnes) & ~x & kHighs;
    if (zero != 0) return i + static_cast<size_t>(std::countr_zero(zero)) / 8;
  }
  for (; i < s.size(); ++i) {
    if (s[i] == ':') return i;
  }
  return s.size();
}

// Parses one header field line (without its line ending; not empty).
bool ParseHeaderLine(std::string_view line, MessageHead* out) {
  const size_t colon = FindColon(line);
  if (colon == line.size() || colon == 0) return false;
  const std::string_view name = line.substr(0, colon);
  // Whitespace between a field name and the colon is forbidden (request smuggling).
  if (name.back() == ' ' || name.back() == '\t') return false;
  // Only the fields the engine uses are looked at; their values are stripped on demand.
  switch (name.size()) {
    case 4:
      if (NameIs(name, "host")) out->host = StripWhitespace(line.substr(colon + 1));
      break;
    case 6:
      if (NameIs(name, "expect")) {
        out->expect_continue = NameIs(StripWhitespace(line.substr(colon + 1)), "100-continue");
      }
      break;
    case 7:
      if (NameIs(name, "upgrade") && HasToken(StripWhitespace(line.substr(colon + 1)), "h2c")) {
        out->upgrade_h2c = true;
      }
      break;
    case 11:
      if (NameIs(name, "traceparent")) out->traceparent = StripWhitespace(line.substr(colon + 1));
      break;
    case 14:
      if (NameIs(name, "content-length")) {
        int64_t length = 0;
        if (!ParseInt(StripWhitespace(line.substr(colon + 1)), &length) || length < 0) {
          return false;
        }
        // Differing duplicate Content-Length values make the framing ambiguous.
        if (out->content_length >= 0 && out->content_length != length) return false;
        out->content_length = length;
      }
      break;
    case 17:
      if (NameIs(name, "transfer-encoding") &&
          HasToken(StripWhitespace(line.substr(colon + 1)), "chunked")) {
        out->chunked = true;
      }
      break;
    default:
      break;
  }
  return true;
}

// Parses the header lines after the start line. `lines` starts after the start line's '\n'.
ParseState ParseHeaderLines(std::string_view lines, MessageHead* out) {
  while (!lines.empty()) {
    const size_t nl = lines.find('\n');
    std::string_view line = lines.substr(0, nl);
    lines.remove_prefix(nl == std::string_view::npos ? lines.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    if (!ParseHeaderLine(line, out)) return ParseState::kInvalid;
  }
  return ParseState::kSuccess;
}

bool IsTokenChar(char c) {
  return c > ' ' && c < 127 && c != '(' && c != ')' && c != ',' && c != '/' && c != ':' &&
         c != ';' && c != '<' && c != '=' && c != '>' && c != '?' && c != '@' && c != '[' &&
         c != '\\' && c != ']' && c != '{' && c != '}' && c != '"';
}

}  // namespace

int MatchMessageStart(std::string_view data, bool is_request) {
  if (!is_request) {
    const size_t n = std::min(data.size(), kStatusPrefix.size());
    if (data.substr(0, n) != kStatusPrefix.substr(0, n)) return -1;
    // "HTTP/1.1 200"
    if (data.size() > 7 && !IsDigit(data[7])) return -1;
    if (data.size() > 8 && data[8] != ' ') return -1;
    for (size_t i = 9; i < 12 && i < data.size(); ++i) {
      if (!IsDigit(data[i])) return -1;
    }
    return data.size() >= 12 ? 1 : 0;
  }
  for (std::string_view method : kMethods) {
    const size_t n = std::min(data.size(), method.size());
    if (data.substr(0, n) != method.substr(0, n)) continue;
    if (data.size() <= method.size()) return 0;
    const char first = data[method.size()];
    // origin-form, absolute-form, asterisk-form, authority-form (CONNECT).
    if (first == '/' || first == 'h' || first == 'H' || first == '*') return 1;
    if (method == "CONNECT " && IsTokenChar(first)) return 1;
    return -1;
  }
  return -1;
}

bool InferHttp1(std::span<const uint8_t> first_bytes, bool is_request_side) {
  return MatchMessageStart(AsView(first_bytes), is_request_side) == 1;
}

size_t FindHeadEnd(std::string_view data, size_t* scan_from) {
  size_t line_start = *scan_from;
  while (line_start < data.size()) {
    const void* found = std::memchr(data.data() + line_start, '\n', data.size() - line_start);
    if (found == nullptr) break;
    const size_t nl = static_cast<size_t>(static_cast<const char*>(found) - data.data());
    const size_t line_len = nl - line_start;
    if (line_start > 0 && (line_len == 0 || (line_len == 1 && data[line_start] == '\r'))) {
      *scan_from = 0;
      return nl + 1;
    }
    line_start = nl + 1;
  }
  *scan_from = line_start;
  return 0;
}

namespace {

// The request line, without its line ending.
bool ParseRequestLine(std::string_view line, MessageHead* out) {
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return false;
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return false;
  out->method = line.substr(0, sp1);
  for (char c : out->method) {
    if (!IsTokenChar(c)) return false;
  }
  out->target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  out->version = line.substr(sp2 + 1);
  return out->version.size() == 8 && out->version.substr(0, 7) == "HTTP/1." &&
         IsDigit(out->version[7]);
}

// The status line, up to its '\n' (a '\r' before it is kept).
bool ParseStatusLine(std::string_view line, MessageHead* out) {
  if (MatchMessageStart(line, /*is_request=*/false) != 1) return false;
  out->version = line.substr(0, 8);
  out->status =
      static_cast<uint32_t>((line[9] - '0') * 100 + (line[10] - '0') * 10 + line[11] - '0');
  // A reason phrase, if any, follows a space.
  return line.size() <= 12 || line[12] == ' ' || line[12] == '\r';
}

}  // namespace

ParseState ParseRequestHead(std::string_view head, MessageHead* out) {
  *out = MessageHead{};
  out->header_bytes = head.size();
  const size_t nl = head.find('\n');
  if (nl == std::string_view::npos) return ParseState::kInvalid;
  std::string_view line = head.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!ParseRequestLine(line, out)) return ParseState::kInvalid;
  return ParseHeaderLines(head.substr(nl + 1), out);
}

ParseState ParseResponseHead(std::string_view head, MessageHead* out) {
  *out = MessageHead{};
  out->header_bytes = head.size();
  const size_t nl = head.find('\n');
  if (nl == std::string_view::npos) return ParseState::kInvalid;
  if (!ParseStatusLine(head.substr(0, nl), out)) return ParseState::kInvalid;
  return ParseHeaderLines(head.substr(nl + 1), out);
}

size_t ScanHead(std::string_view data, bool is_request, MessageHead* out, ParseState* state,
                size_t* scan_from) {
  *out = MessageHead{};
  bool valid = true;
  size_t line_start = 0;
  while (line_start < data.size()) {
    const void* found = std::memchr(data.data() + line_start, '\n', data.size() - line_start);
    if (found == nullptr) break;
    const size_t nl = static_cast<size_t>(static_cast<const char*>(found) - data.data());
    std::string_view line = data.substr(line_start, nl - line_start);
    if (line_start == 0) {
      if (is_request) {
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        valid = ParseRequestLine(line, out);
      } else {
        valid = ParseStatusLine(line, out);
      }
    } else {
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty()) {
        // Once a line is invalid the rest is only scanned for the end of the block.
        *scan_from = 0;
        out->header_bytes = nl + 1;
        *state = valid ? ParseState::kSuccess : ParseState::kInvalid;
        return nl + 1;
      }
      if (valid) valid = ParseHeaderLine(line, out);
    }
    line_start = nl + 1;
  }
  *scan_from = line_start;
  return 0;
}

void NormalizeTargetInto(std::string_view target, bool keep_query, std::string* out) {
  const size_t hash = target.find('#');
  if (hash != std::string_view::npos) target = target.substr(0, hash);
  if (target.size() > 7 && (target[0] == 'h' || target[0] == 'H')) {
    const size_t scheme_end = target.find("://");
    if (scheme_end != std::string_view::npos) {
      const size_t path_start = target.find_first_of("/?", scheme_end + 3);
      target =
          path_start == std::string_view::npos ? std::string_view() : target.substr(path_start);
    }
  }
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  if (path.empty()) {
    out->assign(1, '/');
  } else {
    out->assign(path.data(), path.size());
  }
  if (!keep_query || q == std::string_view::npos) return;
  *out += '?';
  std::string_view query = target.substr(q + 1);
  bool first = true;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    if (param.empty()) continue;
    if (!first) *out += '&';
    first = false;
    const size_t eq = param.find('=');
    const std::string_view name = param.substr(0, eq);
    out->append(name.data(), name.size());
    if (eq != std::string_view::npos) *out += "=*";
  }
}

std::string NormalizeTarget(std::string_view target, bool keep_query) {
  std::string out;
  NormalizeTargetInto(target, keep_query, &out);
  return out;
}

namespace {

// FIFO over a circular array that grows by doubling: pushing and popping allocate nothing once it
// has grown to the connection's depth, and a popped slot keeps its object (and the capacity of
// its strings) for the next push. The caller bounds the size.
template <typename T>
class Fifo {
 public:
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  T& front() { return slots_[head_]; }
  T& operator[](size_t i) { return slots_[(head_ + i) & (slots_.size() - 1)]; }
  T& back() { return slots_[(head_ + size_ - 1) & (slots_.size() - 1)]; }
  // Appends a slot and returns it; it holds whatever its previous use left: assign every field.
  T& PushSlot() {
    if (size_ == slots_.size()) Grow();
    T& slot = slots_[(head_ + size_) & (slots_.size() - 1)];
    ++size_;
    return slot;
  }
  void PopFront() {
    head_ = (head_ + 1) & (slots_.size() - 1);
    --size_;
  }
  void PopBack() { --size_; }
  void Clear() {
    head_ = 0;
    size_ = 0;
  }
  template <typename Fn>
  void ForEach(Fn fn) const {
    for (size_t i = 0; i < size_; ++i) fn(slots_[(head_ + i) & (slots_.size() - 1)]);
  }

 private:
  void Grow() {
    std::vector<T> bigger(slots_.empty() ? 4 : slots_.size() * 2);
    for (size_t i = 0; i < size_; ++i) {
      bigger[i] = std::move(slots_[(head_ + i) & (slots_.size() - 1)]);
    }
    slots_.swap(bigger);
    head_ = 0;
  }

  std::vector<T> slots_;  // size is 0 or a power of two
  size_t head_ = 0;
  size_t size_ = 0;
};

struct PendingRequest {
  uint64_t seq = 0;
  // Placeholder: a request dropped by a resync, or one already reported as a timeout. It keeps the
  // FIFO pairing right; the response that pairs with it is counted unmatched.
  bool lost = false;
  bool is_head = false;
  bool is_connect = false;
  bool upgrade_h2c = false;  // asked to switch to HTTP/2 (Upgrade: h2c)
  // The first request after the request side resynced (or of a connection joined mid-stream):
  // requests before it may have been missed, so a response that ended before it started answered
  // one of those. Requests seen in order pair FIFO whatever the timestamps say.
  bool check_order = false;
  // The record under construction: the request's fields are written here once, when its head is
  // parsed, and the record is moved out when its response completes.
  telemetry::Request record;
};

struct CompletedResponse {
  bool lost = false;  // placeholder for a response dropped by a resync
  uint32_t status = 0;
  int64_t start_ns = 0;  // first byte of the head
  int64_t end_ns = 0;
  uint64_t header_bytes = 0;
  uint64_t body_bytes = 0;
};

enum class State : uint8_t {
  kHeaders,    // at a message start or inside its header block
  kBody,       // Content-Length body: `remaining` bytes to go
  kChunkLine,  // expecting a chunk-size line (or the CRLF that ends chunk data)
  kChunkData,  // `remaining` bytes of chunk data to go
  kTrailers,   // after the last chunk: trailer lines until the empty line
  // A chunked body whose framing fell in bytes the kernel did not copy (a call larger than the
  // copy, such as a 16 KiB read of a big response): its bytes count as body (framing included)
  // until its end shows: the last chunk ending a call copied whole, the next message's start, or
  // the close.
  kChunkLost,
  kCloseDelimited,  // response body until the connection closes
  kResync,          // discarding until a plausible message start
  // Request side after a request with Upgrade: h2c: what the client sends next is HTTP/2 if the
  // server answers 101 Upgrade: h2c, HTTP/1 otherwise; it is held until the answer.
  kUpgradePending,
  kH2c,       // switched to HTTP/2: bytes go to the successor parser
  kUpgraded,  // 101 (not h2c) / CONNECT: no longer HTTP/1, no longer parsed
};

// Bytes held in kUpgradePending: `data` at stream position `position`, then `gap_after` bytes
// the kernel did not copy.
struct HeldPiece {
  uint64_t position = 0;
  std::string data;
  uint64_t gap_after = 0;
  int64_t time_ns = 0;
};

struct Side {
  bool is_request = true;
  State state = State::kHeaders;
  StreamSide stream;
  std::string buf;  // unconsumed bytes of an incomplete header block or chunk line
  int64_t buf_time_ns = 0;
  size_t scan_from = 0;
  uint64_t remaining = 0;
  int64_t last_time_ns = 0;
  // kChunkLost: the time of its last bytes so far, and the last (up to 7) bytes of the call that
  // carried them when they ended a call copied whole (the last chunk may end across calls).
  int64_t lost_last_ns = 0;
  std::string lost_tail;
  // The message in progress.
  int64_t msg_start_ns = 0;
  uint64_t msg_seq = 0;        // request side: seq of the PendingRequest being read
  bool msg_upgrade = false;    // request side: the request being read has Upgrade: h2c
  CompletedResponse response;  // response side: the response being read
  uint64_t data_end_pos = 0;   // stream position just past the bytes being processed
  // Request side, kUpgradePending: held bytes (bounded by kMaxBufferedBytes) from `held_from`.
  std::vector<HeldPiece> held;
  size_t held_bytes = 0;
  uint64_t held_from = 0;
};

class Http1Parser final : public ConnectionParser {
 public:
  explicit Http1Parser(const ParserOptions& options) : options_(options) {
    request_.is_request = true;
    response_.is_request = false;
    if (options.connection_preexisting) {
      // Joined mid-stream: accept only a chunk that starts at a message start.
      request_.state = State::kResync;
      response_.state = State::kResync;
      requests_may_be_missing_ = true;
    }
  }

  void OnRequestBytes(const StreamChunk& chunk) override { Feed(request_, chunk); }
  void OnResponseBytes(const StreamChunk& chunk) override { Feed(response_, chunk); }

  void OnClose(int64_t time_ns) override {
    if (response_.state == State::kCloseDelimited || response_.state == State::kChunkLost) {
      response_.response.end_ns =
          response_.state == State::kChunkLost ? response_.lost_last_ns : response_.last_time_ns;
      response_.state = State::kHeaders;
      CompleteResponse();
    } else if (response_.state == State::kBody || response_.state == State::kChunkLine ||
               response_.state == State::kChunkData || response_.state == State::kTrailers) {
      // Closed inside a body: one end went away mid-response (a client stopping with requests in
      // flight, a server cut off). The head was sent, so the request was answered, as the
      // server's own log says: the exchange ends at the last byte seen, its body what was seen.
      if (response_.state == State::kChunkData) {
        response_.response.body_bytes -= std::min(response_.response.body_bytes,
                                                  response_.remaining);  // declared, not seen
      }
      response_.response.end_ns = response_.last_time_ns;
      response_.state = State::kHeaders;
      ++stats_.cut_by_close;
      CompleteResponse();
    }
    closed_ = true;
    if (successor_) successor_->OnClose(time_ns);
    // With timeouts on, a request the connection closed on is a timeout too (Beyla: "disconnects
    // can look like timeouts").
    ExpireRequests(std::numeric_limits<int64_t>::max());
    pending_.ForEach([this](const PendingRequest& r) { stats_.unmatched += r.lost ? 0 : 1; });
    early_.ForEach([this](const CompletedResponse& r) { stats_.unmatched += r.lost ? 0 : 1; });
    pending_.Clear();
    early_.Clear();
    request_.state = State::kUpgraded;
    response_.state = State::kUpgraded;
    request_.held.clear();
  }

  void OnTimer(int64_t now_ns) override {
    if (successor_) successor_->OnTimer(now_ns);
    ExpireRequests(now_ns);
  }

  ProtocolSwitch TakeSuccessor() override {
    if (!successor_) return {};
    if (!closed_ && (request_.state != State::kH2c || response_.state != State::kH2c)) return {};
    return {http2::kProtocolId, std::move(successor_)};
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
  // New bytes at stream position `pos`: parsed, held or passed to the successor.
  void Data(Side& s, uint64_t pos, std::span<const uint8_t> data, int64_t time_ns);
  void Consume(Side& s, std::span<const uint8_t> data, int64_t time_ns);
  size_t Process(Side& s, const char* p, size_t n, size_t chunk_offset, int64_t time_ns);
  // `length` missing bytes from stream position `start`.
  void Gap(Side& s, uint64_t start, uint64_t length, int64_t time_ns);
  // kUpgradePending: holds the bytes; kH2c: hands them to the successor.
  void PassOn(Side& s, uint64_t pos, std::span<const uint8_t> data, uint64_t gap_after,
              int64_t time_ns);
  static bool PassesOn(const Side& s) {
    return s.state == State::kUpgradePending || s.state == State::kH2c;
  }
  // The server answered 101 Upgrade: h2c; its HTTP/2 bytes start at `response_pos`.
  void AcceptH2c(uint64_t response_pos, int64_t time_ns);
  // The request side's HTTP/2 bytes start at `pos`.
  void SwitchRequestSide(uint64_t pos, int64_t time_ns);
  // The upgrade was declined: the held request bytes are HTTP/1 after all.
  void ResumeRequestSide();
  // A request ended at stream position `end_pos`.
  void RequestEnded(Side& s, uint64_t end_pos, int64_t time_ns);
  // Reports requests whose response has not begun and that started `request_timeout_ns` before
  // `now_ns` as timeouts (status 408). `response_starting`: a response head begins at `now_ns`
  // (a late one is then the answer to a timed-out request, whatever the sweep's phase).
  void ExpireRequests(int64_t now_ns, bool response_starting = false);
  bool ResponseUnderWay() const;
  // Returns the offset of the first plausible message start in [from, n), or n.
  size_t FindMessageStart(const Side& s, const char* p, size_t n, size_t from,
                          size_t chunk_offset) const;
  // `end_pos`: the stream position just past the head.
  void OnHead(Side& s, const MessageHead& h, int64_t time_ns, uint64_t end_pos);
  void EndMessage(Side& s, int64_t time_ns, uint64_t end_pos);
  void DropPartial(Side& s, int64_t time_ns);
  // The header block `buf` (begun at s.msg_start_ns) will not be complete: cut by bytes the
  // kernel did not copy, or grown past kMaxBufferedBytes. Reports the message from its complete
  // lines when its start line is among them, with `header_bytes` and the head ending at stream
  // position `end_pos`; false otherwise.
  bool RecoverCutHead(Side& s, std::string_view buf, uint64_t header_bytes, int64_t time_ns,
                      uint64_t end_pos);
  void EnterResync(Side& s);
  // A gap of `length` bytes hid the chunked framing of the message being read (kChunkLost).
  void LoseChunkFraming(Side& s, uint64_t length, int64_t time_ns);
  // `n` more body bytes of the message being read (a chunk's size, or bytes of a kChunkLost body).
  void AddBodyBytes(Side& s, uint64_t n);
  PendingRequest& PushPending();
  void CompleteResponse();
  void Stitch();

  ParserOptions options_;
  ParserStats stats_;
  Side request_;
  Side response_;
  uint64_t next_seq_ = 1;
  Fifo<PendingRequest> pending_;
  Fifo<CompletedResponse> early_;
  std::vector<telemetry::Request> done_;
  bool closed_ = false;
  // The request side resynced (or the connection was joined mid-stream) since the last request
  // head: see PendingRequest::check_order.
  bool requests_may_be_missing_ = false;
  // h2c: the HTTP/2 parser the connection switches to, until TakeSuccessor() hands it over.
  std::unique_ptr<http2::UpgradedHttp2Parser> successor_;
  bool h2c_accepted_ = false;  // the server answered 101 Upgrade: h2c
  uint64_t upgrade_seq_ = 0;   // the request the held bytes wait on (kUpgradePending)
};

void Http1Parser::Feed(Side& s, const StreamChunk& chunk) {
  if (s.state == State::kUpgraded) return;
  s.last_time_ns = chunk.time_ns;
  ChunkIntake in;
  if (!s.stream.Accept(chunk, &in)) return;
  const uint64_t data_pos = s.stream.expected_position() - in.gap_after - in.data.size();
  if (in.gap_before > 0) Gap(s, data_pos - in.gap_before, in.gap_before, chunk.time_ns);
  if (!in.data.empty()) Data(s, data_pos, in.data, chunk.time_ns);
  if (s.state == State::kChunkLost && !in.data.empty()) {
    if (in.gap_after > 0) {
      s.lost_tail.clear();
    } else {
      // A call copied whole: does it end with the last chunk ("0" CRLF CRLF after a CRLF)?
      const std::string_view data(reinterpret_cast<const char*>(in.data.data()), in.data.size());
      s.lost_tail.append(data.substr(data.size() - std::min<size_t>(data.size(), 7)));
      if (s.lost_tail.size() > 7) s.lost_tail.erase(0, s.lost_tail.size() - 7);
      const std::string_view tail = s.lost_tail;
      if (tail.ends_with("\r\n0\r\n\r\n") || data == "0\r\n\r\n") {
        s.lost_tail.clear();
        EndMessage(s, chunk.time_ns, data_pos + in.data.size());
      }
    }
  }
  if (in.gap_after > 0) Gap(s, data_pos + in.data.size(), in.gap_after, chunk.time_ns);
}

void Http1Parser::Data(Side& s, uint64_t pos, std::span<const uint8_t> data, int64_t time_ns) {
  if (s.state == State::kUpgraded) return;
  if (PassesOn(s)) {
    PassOn(s, pos, data, 0, time_ns);
    return;
  }
  s.data_end_pos = pos + data.size();
  Consume(s, data, time_ns);
}

void Http1Parser::PassOn(Side& s, uint64_t pos, std::span<const uint8_t> data, uint64_t gap_after,
                         int64_t time_ns) {
  if (s.state == State::kH2c) {
    if (!successor_) return;
    // A gap travels as an empty chunk at the position after it (no 32-bit size limit).
    const auto deliver = [&](const StreamChunk& chunk) {
      if (s.is_request) {
        successor_->OnRequestBytes(chunk);
      } else {
        successor_->OnResponseBytes(chunk);
      }
    };
    if (!data.empty()) deliver({pos, data, static_cast<uint32_t>(data.size()), time_ns});
    if (gap_after > 0) deliver({pos + data.size() + gap_after, {}, 0, time_ns});
    return;
  }
  if (s.held_bytes + data.size() > kMaxBufferedBytes) {
    // The client keeps sending without an answer to its upgrade: give up holding (counted) and
    // read what follows as HTTP/1 from the next message start.
    ++stats_.oversized;
    s.held.clear();
    s.held_bytes = 0;
    upgrade_seq_ = 0;
    s.state = State::kHeaders;
    EnterResync(s);
    return;
  }
  s.held_bytes += data.size();
  s.held.push_back({pos, std::string(reinterpret_cast<const char*>(data.data()), data.size()),
                    gap_after, time_ns});
}

void Http1Parser::Consume(Side& s, std::span<const uint8_t> data, int64_t time_ns) {
  const char* p = reinterpret_cast<const char*>(data.data());
  if (s.buf.empty()) {
    const size_t used = Process(s, p, data.size(), 0, time_ns);
    if (used < data.size() && s.state != State::kUpgraded) {
      s.buf.assign(p + used, data.size() - used);
      s.buf_time_ns = time_ns;
    }
    return;
  }
  const size_t old_size = s.buf.size();
  s.buf.append(p, data.size());
  const size_t used = Process(s, s.buf.data(), s.buf.size(), old_size, time_ns);
  if (s.state == State::kUpgraded) {
    s.buf.clear();
    return;
  }
  if (used > 0) {
    s.buf.erase(0, used);
    s.buf_time_ns = time_ns;
  }
}

size_t Http1Parser::FindMessageStart(const Side& s, const char* p, size_t n, size_t from,
                                     size_t chunk_offset) const {
  // Candidates: line starts, and the start of the chunk (a syscall boundary).
  size_t i = from;
  while (i < n) {
    const bool candidate = i == chunk_offset || (i > 0 && p[i - 1] == '\n');
    if (candidate && MatchMessageStart({p + i, n - i}, s.is_request) >= 0) return i;
    const void* nl = std::memchr(p + i, '\n', n - i);
    size_t next = nl == nullptr ? n : static_cast<size_t>(static_cast<const char*>(nl) - p) + 1;
    if (chunk_offset > i && chunk_offset < next) next = chunk_offset;
    i = next;
  }
  return n;
}

void Http1Parser::EnterResync(Side& s) {
  if (s.state == State::kResync || s.state == State::kUpgraded || PassesOn(s)) return;
  ++stats_.resyncs;
  s.state = State::kResync;
  s.scan_from = 0;
  if (s.is_request) requests_may_be_missing_ = true;
}

size_t Http1Parser::Process(Side& s, const char* p, size_t n, size_t chunk_offset,
                            int64_t time_ns) {
  // p[0, n) ends where the bytes being processed end.
  const uint64_t base = s.data_end_pos - n;
  size_t off = 0;
  while (off < n) {
    switch (s.state) {
      case State::kUpgraded:
        return n;
      case State::kUpgradePending:
      case State::kH2c:
        PassOn(s, base + off, {reinterpret_cast<const uint8_t*>(p + off), n - off}, 0, time_ns);
        return n;
      case State::kResync: {
        off = FindMessageStart(s, p, n, off, chunk_offset);
        if (off >= n) return n;
        s.state = State::kHeaders;
        s.scan_from = 0;
        break;
      }
      case State::kHeaders: {
        // Tolerate empty lines between messages (RFC 9112 §2.2).
        if (s.scan_from == 0) {
          while (off < n && (p[off] == '\r' || p[off] == '\n')) ++off;
          if (off >= n) return n;
        }
        const std::string_view rest(p + off, n - off);
        const int start = MatchMessageStart(rest, s.is_request);
        if (start < 0 && s.is_request && h2c_accepted_ && successor_ &&
            rest.substr(0, http2::kConnectionPreface.size()) ==
                http2::kConnectionPreface.substr(0, rest.size())) {
          // The client's HTTP/2 preface after an accepted upgrade whose request went unseen.
          SwitchRequestSide(base + off, time_ns);
          break;
        }
        if (start < 0) {
          ++stats_.invalid;
          EnterResync(s);
          ++off;
          break;
        }
        if (start == 0) return off;
        MessageHead h;
        ParseState parsed = ParseState::kInvalid;
        size_t head_len;
        if (s.scan_from == 0) {
          // Usually the whole block is here: find its end and parse it in one pass.
          head_len = ScanHead(rest, s.is_request, &h, &parsed, &s.scan_from);
        } else {
          // A block arriving in pieces: find its end without rescanning, then parse it.
          head_len = FindHeadEnd(rest, &s.scan_from);
          if (head_len > 0) {
            const std::string_view head = rest.substr(0, head_len);
            parsed = s.is_request ? ParseRequestHead(head, &h) : ParseResponseHead(head, &h);
          }
        }
        if (head_len == 0) {
          if (rest.size() > kMaxBufferedBytes) {
            // A header block too large to hold: reported from its start line like a block cut by
            // a gap (a server answers such a request, e.g. with 431), then the side resyncs.
            ++stats_.oversized;
            s.msg_start_ns = off < chunk_offset ? s.buf_time_ns : time_ns;
            if (!RecoverCutHead(s, rest, rest.size(), time_ns, base + n)) DropPartial(s, time_ns);
            if (s.state == State::kUpgraded) return n;
            s.state = State::kHeaders;
            EnterResync(s);
            s.scan_from = 0;
            ++off;
            break;
          }
          return off;
        }
        s.msg_start_ns = off < chunk_offset ? s.buf_time_ns : time_ns;
        if (parsed != ParseState::kSuccess) {
          ++stats_.invalid;
          EnterResync(s);
          ++off;
          break;
        }
        off += head_len;
        OnHead(s, h, time_ns, base + off);
        break;
      }
      case State::kBody:
      case State::kChunkData: {
        const uint64_t take = std::min<uint64_t>(s.remaining, n - off);
        off += take;
        s.remaining -= take;
        if (s.state == State::kBody && !s.is_request) s.response.body_bytes += take;
        if (s.remaining == 0) {
          if (s.state == State::kBody) {
            EndMessage(s, time_ns, base + off);
          } else {
            s.state = State::kChunkLine;
          }
        }
        break;
      }
      case State::kChunkLine:
      case State::kTrailers: {
        const void* found = std::memchr(p + off, '\n', n - off);
        if (found == nullptr) {
          if (n - off > kMaxChunkLineBytes) {
            ++stats_.invalid;
            DropPartial(s, time_ns);
            EnterResync(s);
            break;
          }
          return off;
        }
        const size_t nl = static_cast<size_t>(static_cast<const char*>(found) - p);
        std::string_view line(p + off, nl - off);
        off = nl + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (s.state == State::kTrailers) {
          if (line.empty()) EndMessage(s, time_ns, base + off);
          break;
        }
        if (line.empty()) break;  // the CRLF that ends the previous chunk's data
        // chunk-size [; extensions]
        uint64_t size = 0;
        size_t digits = 0;
        for (char c : line) {
          int v;
          if (c >= '0' && c <= '9') {
            v = c - '0';
          } else if (c >= 'a' && c <= 'f') {
            v = c - 'a' + 10;
          } else if (c >= 'A' && c <= 'F') {
            v = c - 'A' + 10;
          } else {
            break;
          }
          if (++digits > 15) break;
          size = size * 16 + static_cast<uint64_t>(v);
        }
        const std::string_view tail = StripWhitespace(line.substr(digits));
        if (digits == 0 || digits > 15 || (!tail.empty() && tail[0] != ';')) {
          ++stats_.invalid;
          DropPartial(s, time_ns);
          EnterResync(s);
          off = nl;  // the next line may start a message
          break;
        }
        if (size == 0) {
          s.state = State::kTrailers;
        } else {
          s.state = State::kChunkData;
          s.remaining = size;
          AddBodyBytes(s, size);
        }
        break;
      }
      case State::kCloseDelimited:
        s.response.body_bytes += n - off;
        return n;
      case State::kChunkLost: {
        // The next message (at a call's first byte or a line start, as a resync finds it) ends
        // this one: with the bytes before it, at the time of the call that carried them.
        const size_t next = FindMessageStart(s, p, n, off, chunk_offset);
        AddBodyBytes(s, next - off);
        if (next < n) {
          s.lost_tail.clear();
          EndMessage(s, next == chunk_offset ? s.lost_last_ns : time_ns, base + next);
          off = next;
          break;
        }
        s.lost_last_ns = time_ns;
        return n;
      }
    }
  }
  return n;
}

void Http1Parser::AddBodyBytes(Side& s, uint64_t n) {
  if (!s.is_request) {
    s.response.body_bytes += n;
  } else if (!pending_.empty() && pending_.back().seq == s.msg_seq) {
    pending_.back().record.request_body_bytes += n;
  }
}

void Http1Parser::LoseChunkFraming(Side& s, uint64_t length, int64_t time_ns) {
  ++stats_.gaps;
  // Chunk data sizes are counted when their line is read: the rest of the current chunk is.
  if (s.state == State::kChunkData) length -= std::min(length, s.remaining);
  s.remaining = 0;
  s.buf.clear();
  s.scan_from = 0;
  s.lost_tail.clear();
  s.state = State::kChunkLost;
  AddBodyBytes(s, length);
  s.lost_last_ns = time_ns;
}

PendingRequest& Http1Parser::PushPending() {
  if (pending_.size() == kMaxPendingRequests) {
    // The oldest request is given up on to bound the queue.
    if (!pending_.front().lost) ++stats_.unmatched;
    pending_.PopFront();
  }
  return pending_.PushSlot();
}

void Http1Parser::OnHead(Side& s, const MessageHead& h, int64_t time_ns, uint64_t end_pos) {
  if (s.is_request) {
    PendingRequest& r = PushPending();
    r.seq = next_seq_++;
    r.lost = false;
    r.is_head = h.method == "HEAD";
    r.is_connect = h.method == "CONNECT";
    r.upgrade_h2c = h.upgrade_h2c;
    r.check_order = requests_may_be_missing_;
    requests_may_be_missing_ = false;
    // The slot may hold a previous record: every field the parser fills is assigned here or in
    // Stitch; the others keep their defaults (the parser never sets them).
    telemetry::Request& rec = r.record;
    rec.protocol = telemetry::Protocol::kHttp1;
    rec.method.assign(h.method.data(), h.method.size());
    if (r.is_connect) {
      rec.path.assign(h.target.data(), h.target.size());
    } else {
      NormalizeTargetInto(h.target, options_.keep_query, &rec.path);
    }
    rec.partial = h.target_cut;
    rec.version.assign(h.version.data(), h.version.size());
    rec.host.assign(h.host.data(), h.host.size());
    if (rec.host.empty() && h.target.size() > 8 && (h.target[0] == 'h' || h.target[0] == 'H')) {
      // absolute-form without Host: take the authority from the URL.
      const size_t scheme_end = h.target.find("://");
      if (scheme_end != std::string_view::npos) {
        const std::string_view rest = h.target.substr(scheme_end + 3);
        const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
        rec.host.assign(authority.data(), authority.size());
      }
    }
    rec.trace.trace_id.clear();
    rec.trace.parent_span_id.clear();
    rec.trace.flags = 0;
    if (!h.traceparent.empty()) ParseTraceparent(h.traceparent, &rec.trace);
    rec.start_ns = s.msg_start_ns;
    rec.request_header_bytes = h.header_bytes;
    rec.request_body_bytes =
        h.chunked ? 0 : static_cast<uint64_t>(std::max<int64_t>(h.content_length, 0));
    s.msg_seq = r.seq;
    s.msg_upgrade = h.upgrade_h2c;
    if (h.upgrade_h2c && h2c_accepted_ && successor_) {
      // The server's 101 was seen first (the directions' events were reordered): this request
      // is stream 1 of the HTTP/2 connection.
      successor_->AddUpgradeRequest(std::move(r.record));
      pending_.PopBack();
    } else {
      Stitch();
    }
    if (h.chunked) {
      s.state = State::kChunkLine;
    } else if (h.content_length > 0) {
      s.state = State::kBody;
      s.remaining = static_cast<uint64_t>(h.content_length);
    } else {
      s.state = State::kHeaders;
      RequestEnded(s, end_pos, time_ns);
    }
    return;
  }

  // A response that begins after its request's deadline answers a timed-out request.
  ExpireRequests(s.msg_start_ns, /*response_starting=*/true);
  if (h.status >= 100 && h.status < 200 && h.status != 101) {
    // Interim (100 Continue, 103 Early Hints): the final response follows.
    s.state = State::kHeaders;
    return;
  }
  if (h.status == 101 && h.upgrade_h2c) {
    AcceptH2c(end_pos, time_ns);
    return;
  }
  s.response = CompletedResponse{};
  s.response.status = h.status;
  s.response.start_ns = s.msg_start_ns;
  s.response.header_bytes = h.header_bytes;
  const PendingRequest* request = early_.empty() && !pending_.empty() ? &pending_.front() : nullptr;
  // The request this final response answers (0: not known yet).
  const uint64_t answered_seq = request != nullptr ? request->seq : 0;
  const bool tunnel =
      h.status == 101 || (request != nullptr && request->is_connect && h.status / 100 == 2);
  const bool no_body =
      tunnel || h.status == 204 || h.status == 304 || (request != nullptr && request->is_head);
  if (no_body) {
    s.response.end_ns = time_ns;
    s.state = State::kHeaders;
    CompleteResponse();
    if (tunnel) {
      // The connection stops being HTTP/1 (WebSocket, a CONNECT tunnel).
      request_.state = State::kUpgraded;
      response_.state = State::kUpgraded;
      request_.buf.clear();
      request_.held.clear();
      return;
    }
  } else if (h.chunked) {
    s.state = State::kChunkLine;
  } else if (h.content_length >= 0) {
    s.state = State::kBody;
    s.remaining = static_cast<uint64_t>(h.content_length);
    if (s.remaining == 0) EndMessage(s, time_ns, end_pos);
  } else {
    s.state = State::kCloseDelimited;
  }
  // Last: resuming parses held request bytes, which may move pending_.
  if (upgrade_seq_ != 0 && answered_seq == upgrade_seq_) ResumeRequestSide();
}

void Http1Parser::EndMessage(Side& s, int64_t time_ns, uint64_t end_pos) {
  s.state = State::kHeaders;
  s.scan_from = 0;
  if (!s.is_request) {
    s.response.end_ns = time_ns;
    CompleteResponse();
  } else {
    RequestEnded(s, end_pos, time_ns);
  }
}

void Http1Parser::RequestEnded(Side& s, uint64_t end_pos, int64_t time_ns) {
  if (!s.msg_upgrade) return;
  s.msg_upgrade = false;
  if (h2c_accepted_ && successor_) {
    SwitchRequestSide(end_pos, time_ns);
    return;
  }
  // Already answered (the response came first) or given up on: HTTP/1 goes on.
  if (pending_.empty() || pending_.back().seq != s.msg_seq || pending_.back().lost) return;
  s.state = State::kUpgradePending;
  s.held_from = end_pos;
  upgrade_seq_ = s.msg_seq;
}

void Http1Parser::AcceptH2c(uint64_t response_pos, int64_t time_ns) {
  if (!successor_) {
    ParserOptions options = options_;
    options.connection_preexisting = false;  // the switch was seen: HPACK starts in step
    successor_ = http2::CreateUpgradedHttp2Parser(options);
  }
  h2c_accepted_ = true;
  // The rest of the bytes being processed goes to the successor (Process), and the buffer they
  // may be in is released by Consume.
  response_.state = State::kH2c;
  // The server's HTTP/2 bytes (its SETTINGS first) start right after the 101 head.
  successor_->OnResponseBytes({response_pos, {}, 0, time_ns});
  // The request the 101 answers becomes stream 1.
  if (early_.empty() && !pending_.empty() && !pending_.front().lost &&
      pending_.front().upgrade_h2c) {
    successor_->AddUpgradeRequest(std::move(pending_.front().record));
    pending_.PopFront();
  }
  // Nothing else waits for an HTTP/1 answer any more.
  pending_.ForEach([this](const PendingRequest& r) { stats_.unmatched += r.lost ? 0 : 1; });
  early_.ForEach([this](const CompletedResponse& r) { stats_.unmatched += r.lost ? 0 : 1; });
  pending_.Clear();
  early_.Clear();
  upgrade_seq_ = 0;
  if (request_.state == State::kUpgradePending) {
    std::vector<HeldPiece> held = std::move(request_.held);
    request_.held.clear();
    request_.held_bytes = 0;
    SwitchRequestSide(request_.held_from, time_ns);
    for (const HeldPiece& piece : held) {
      PassOn(request_, piece.position,
             {reinterpret_cast<const uint8_t*>(piece.data.data()), piece.data.size()},
             piece.gap_after, piece.time_ns);
    }
  }
}

void Http1Parser::SwitchRequestSide(uint64_t pos, int64_t time_ns) {
  request_.state = State::kH2c;
  request_.msg_upgrade = false;
  // The client's connection preface starts here.
  successor_->OnRequestBytes({pos, {}, 0, time_ns});
}

void Http1Parser::ResumeRequestSide() {
  upgrade_seq_ = 0;
  if (request_.state != State::kUpgradePending) return;
  std::vector<HeldPiece> held = std::move(request_.held);
  request_.held.clear();
  request_.held_bytes = 0;
  request_.state = State::kHeaders;
  request_.scan_from = 0;
  for (const HeldPiece& piece : held) {
    if (!piece.data.empty()) {
      Data(request_, piece.position,
           {reinterpret_cast<const uint8_t*>(piece.data.data()), piece.data.size()}, piece.time_ns);
    }
    if (piece.gap_after > 0) {
      Gap(request_, piece.position + piece.data.size(), piece.gap_after, piece.time_ns);
    }
  }
}

bool Http1Parser::ResponseUnderWay() const {
  switch (response_.state) {
    case State::kBody:
    case State::kChunkLine:
    case State::kChunkData:
    case State::kTrailers:
    case State::kCloseDelimited:
    case State::kChunkLost:
      return true;
    case State::kHeaders:
      return !response_.buf.empty();  // a head arriving in pieces
    case State::kResync:
    case State::kUpgradePending:
    case State::kH2c:
    case State::kUpgraded:
      return false;
  }
  return false;
}

void Http1Parser::ExpireRequests(int64_t now_ns, bool response_starting) {
  const int64_t timeout = options_.request_timeout_ns;
  if (timeout <= 0) return;
  // Unless a response is starting now, the front request's response may be under way: it is
  // answered, not timed out.
  const bool front_answered = !response_starting && early_.empty() && ResponseUnderWay();
  for (size_t i = front_answered ? 1 : 0; i < pending_.size(); ++i) {
    PendingRequest& r = pending_[i];
    if (r.lost) continue;
    // Requests queue in start order: the rest started later.
    if (now_ns - r.record.start_ns < timeout) break;
    telemetry::Request& out = done_.emplace_back(std::move(r.record));
    out.status = kTimeoutStatus;
    out.end_ns = out.start_ns + timeout;
    out.response_header_bytes = 0;
    out.response_body_bytes = 0;
    ++stats_.requests;
    r.lost = true;
  }
}

void Http1Parser::DropPartial(Side& s, int64_t time_ns) {
  // Only a message whose start was plausible is known to exist; keep the FIFO pairing right by
  // leaving a placeholder for it. A request whose head was already queued needs none.
  if (s.is_request) {
    if (s.state != State::kHeaders) return;
    if (pending_.size() == kMaxPendingRequests) pending_.PopFront();
    PendingRequest& lost = pending_.PushSlot();
    lost.lost = true;
    lost.seq = next_seq_++;
    lost.is_head = false;
    lost.is_connect = false;
    lost.check_order = false;
    lost.record.start_ns = s.msg_start_ns;
  } else {
    s.response = CompletedResponse{};
    s.response.lost = true;
    s.response.end_ns = time_ns;
    CompleteResponse();
  }
  Stitch();
}

// Headers larger than the copy limit (big cookies or tokens, long Content-Security-Policy or
// Link headers) are what cuts a header block in practice. Their start line (method, target and
// version, or the status) and the lines before the cut are known, which is what a record needs;
// the end of the block, the body's framing and the fields after the cut (Host, traceparent) are
// not. The message is reported from what was copied, with its header bytes counted up to the end
// of the gap, and the side resyncs at the next message start. A response ends at the call that
// carried its head (Beyla's end of a response, too); a request's body size is its Content-Length
// when that line was copied.
bool Http1Parser::RecoverCutHead(Side& s, std::string_view buf, uint64_t header_bytes,
                                 int64_t time_ns, uint64_t end_pos) {
  const size_t last_nl = buf.rfind('\n');
  MessageHead h;
  if (last_nl == std::string_view::npos) {
    // The start line itself was cut: a request target longer than the copy, usually for its query
    // string. The record needs the method and the path, which end at the '?'; the version is not
    // known (the Hubble flow then says HTTP/1.1). A path cut before its end is reported as far as
    // it was copied, the record marked partial (Beyla's path buffer cuts long paths too).
    if (!s.is_request || MatchMessageStart(buf, /*is_request=*/true) != 1) return false;
    const size_t sp = buf.find(' ');
    const std::string_view target = buf.substr(sp + 1);
    const size_t target_end = target.find(' ');
    if (target_end != std::string_view::npos) {
      h.target = target.substr(0, target_end);  // whole: only the version was cut
    } else {
      const size_t query = target.find('?');
      if (query != std::string_view::npos) {
        h.target = target.substr(0, query);  // without the query, which was cut
      } else {
        h.target = target;
        h.target_cut = true;
        ++stats_.cut_paths;
      }
    }
    h.method = buf.substr(0, sp);
  } else {
    const std::string_view lines = buf.substr(0, last_nl + 1);
    const ParseState parsed =
        s.is_request ? ParseRequestHead(lines, &h) : ParseResponseHead(lines, &h);
    if (parsed != ParseState::kSuccess) return false;
  }
  h.header_bytes = header_bytes;
  h.upgrade_h2c = false;  // the upgrade's framing cannot be followed
  if (s.is_request) {
    OnHead(s, h, time_ns, end_pos);
    return true;
  }
  const PendingRequest* request = early_.empty() && !pending_.empty() ? &pending_.front() : nullptr;
  const bool tunnel =
      h.status == 101 || (request != nullptr && request->is_connect && h.status / 100 == 2);
  if (tunnel || (h.status >= 100 && h.status < 200)) {
    // A tunnel stops HTTP/1 parsing, an interim response has a final one after it: as usual.
    OnHead(s, h, time_ns, end_pos);
    return true;
  }
  ExpireRequests(s.msg_start_ns, /*response_starting=*/true);
  s.response = CompletedResponse{};
  s.response.status = h.status;
  s.response.start_ns = s.msg_start_ns;
  s.response.end_ns = time_ns;
  s.response.header_bytes = h.header_bytes;
  s.response.body_bytes = h.content_length > 0 ? static_cast<uint64_t>(h.content_length) : 0;
  const uint64_t answered_seq = request != nullptr ? request->seq : 0;
  CompleteResponse();
  // A declined h2c upgrade: the held request bytes are HTTP/1 after all (as in OnHead).
  if (upgrade_seq_ != 0 && answered_seq == upgrade_seq_) ResumeRequestSide();
  return true;
}

void Http1Parser::CompleteResponse() {
  if (early_.size() == kMaxEarlyResponses) {
    if (!early_.front().lost) ++stats_.unmatched;
    early_.PopFront();
  }
  early_.PushSlot() = response_.response;
  response_.response = CompletedResponse{};
  Stitch();
}

void Http1Parser::Stitch() {
  while (!pending_.empty() && !early_.empty()) {
    PendingRequest& req = pending_.front();
    const CompletedResponse& resp = early_.front();
    if (req.lost || resp.lost) {
      if (!req.lost || !resp.lost) ++stats_.unmatched;
      pending_.PopFront();
      early_.PopFront();
      continue;
    }
    if (req.check_order && req.record.start_ns > resp.end_ns) {
      // The response ended before this request began: it answered a request we never saw.
      ++stats_.unmatched;
      early_.PopFront();
      continue;
    }
    telemetry::Request& out = done_.emplace_back(std::move(req.record));
    if (out.start_ns > resp.end_ns) {
      // Seen in order, timed out of order: a client whose writing and reading threads race (Go's
      // transport) can read the whole response before the writer's send call returns and is
      // timed. The request was sent before the response began; that is the start we know.
      out.start_ns = std::min(resp.start_ns, resp.end_ns);
    }
    out.status = resp.status;
    out.end_ns = resp.end_ns;
    out.response_header_bytes = resp.header_bytes;
    out.response_body_bytes = resp.body_bytes;
    ++stats_.requests;
    pending_.PopFront();
    early_.PopFront();
  }
}

void Http1Parser::Gap(Side& s, uint64_t start, uint64_t length, int64_t time_ns) {
  if (PassesOn(s)) {
    PassOn(s, start, {}, length, time_ns);
    return;
  }
  switch (s.state) {
    case State::kResync:
    case State::kUpgraded:
    case State::kUpgradePending:
    case State::kH2c:
      return;
    case State::kCloseDelimited:
      s.response.body_bytes += length;
      return;
    case State::kChunkLost:
      s.lost_tail.clear();
      AddBodyBytes(s, length);
      s.lost_last_ns = time_ns;
      return;
    case State::kBody:
      if (length < s.remaining) {
        s.remaining -= length;
        if (!s.is_request) s.response.body_bytes += length;
        return;
      }
      if (!s.is_request) s.response.body_bytes += s.remaining;
      length -= s.remaining;
      start += s.remaining;
      s.remaining = 0;
      EndMessage(s, time_ns, start);
      if (length == 0) return;
      if (PassesOn(s)) {
        PassOn(s, start, {}, length, time_ns);
        return;
      }
      // The rest of the gap hides the start of the next message.
      ++stats_.gaps;
      EnterResync(s);
      return;
    case State::kChunkData:
      if (length <= s.remaining) {
        s.remaining -= length;
        if (s.remaining == 0) s.state = State::kChunkLine;
        return;
      }
      LoseChunkFraming(s, length, time_ns);
      return;
    case State::kHeaders:
      if (s.buf.empty()) {
        // At a message boundary: the gap hides the start of the next message.
        ++stats_.gaps;
        EnterResync(s);
        return;
      }
      s.msg_start_ns = s.buf_time_ns;
      if (RecoverCutHead(s, s.buf, s.buf.size() + length, time_ns, s.data_end_pos + length)) {
        ++stats_.gaps;
        s.buf.clear();
        s.scan_from = 0;
        if (s.state == State::kUpgraded) return;
        // Where the cut block ends, and so where its body ends, is not known.
        s.state = State::kHeaders;
        EnterResync(s);
        return;
      }
      break;
    case State::kChunkLine:
    case State::kTrailers:
      LoseChunkFraming(s, length, time_ns);
      return;
  }
  // Framing lost inside a header block.
  ++stats_.gaps;
  DropPartial(s, time_ns);
  s.buf.clear();
  EnterResync(s);
}

}  // namespace

std::unique_ptr<ConnectionParser> CreateHttp1Parser(const ParserOptions& options) {
  return std::make_unique<Http1Parser>(options);
}

}  // namespace loupe::protocols::http1
