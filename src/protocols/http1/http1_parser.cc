#include "src/protocols/http1/http1_parser.h"

#include <algorithm>
#include <cstring>
#include <deque>

#include "src/base/strings.h"
#include "src/protocols/common/traceparent.h"

namespace loupe::protocols::http1 {
namespace {

constexpr std::string_view kMethods[] = {"GET ",   "POST ",    "PUT ",     "DELETE ", "HEAD ",
                                         "PATCH ", "OPTIONS ", "CONNECT ", "TRACE "};
constexpr std::string_view kStatusPrefix = "HTTP/1.";

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

// Parses the header lines after the start line. `lines` starts after the start line's '\n'.
ParseState ParseHeaderLines(std::string_view lines, MessageHead* out) {
  while (!lines.empty()) {
    const size_t nl = lines.find('\n');
    std::string_view line = lines.substr(0, nl);
    lines.remove_prefix(nl == std::string_view::npos ? lines.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return ParseState::kInvalid;
    const std::string_view name = line.substr(0, colon);
    // Whitespace between a field name and the colon is forbidden (request smuggling).
    if (name.back() == ' ' || name.back() == '\t') return ParseState::kInvalid;
    const std::string_view value = StripWhitespace(line.substr(colon + 1));
    switch (name.size()) {
      case 4:
        if (NameIs(name, "host")) out->host = value;
        break;
      case 6:
        if (NameIs(name, "expect")) out->expect_continue = NameIs(value, "100-continue");
        break;
      case 11:
        if (NameIs(name, "traceparent")) out->traceparent = value;
        break;
      case 14:
        if (NameIs(name, "content-length")) {
          int64_t length = 0;
          if (!ParseInt(value, &length) || length < 0) return ParseState::kInvalid;
          // Differing duplicate Content-Length values make the framing ambiguous.
          if (out->content_length >= 0 && out->content_length != length) {
            return ParseState::kInvalid;
          }
          out->content_length = length;
        }
        break;
      case 17:
        if (NameIs(name, "transfer-encoding") && HasToken(value, "chunked")) out->chunked = true;
        break;
      default:
        break;
    }
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

ParseState ParseRequestHead(std::string_view head, MessageHead* out) {
  *out = MessageHead{};
  out->header_bytes = head.size();
  const size_t nl = head.find('\n');
  if (nl == std::string_view::npos) return ParseState::kInvalid;
  std::string_view line = head.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return ParseState::kInvalid;
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return ParseState::kInvalid;
  out->method = line.substr(0, sp1);
  for (char c : out->method) {
    if (!IsTokenChar(c)) return ParseState::kInvalid;
  }
  out->target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  out->version = line.substr(sp2 + 1);
  if (out->version.size() != 8 || out->version.substr(0, 7) != "HTTP/1." ||
      !IsDigit(out->version[7])) {
    return ParseState::kInvalid;
  }
  return ParseHeaderLines(head.substr(nl + 1), out);
}

ParseState ParseResponseHead(std::string_view head, MessageHead* out) {
  *out = MessageHead{};
  out->header_bytes = head.size();
  if (MatchMessageStart(head, /*is_request=*/false) != 1) return ParseState::kInvalid;
  const size_t nl = head.find('\n');
  if (nl == std::string_view::npos) return ParseState::kInvalid;
  out->version = head.substr(0, 8);
  out->status =
      static_cast<uint32_t>((head[9] - '0') * 100 + (head[10] - '0') * 10 + head[11] - '0');
  // A reason phrase, if any, follows a space.
  if (nl > 12 && head[12] != ' ' && head[12] != '\r') return ParseState::kInvalid;
  return ParseHeaderLines(head.substr(nl + 1), out);
}

std::string NormalizeTarget(std::string_view target, bool keep_query) {
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
  std::string out(target.substr(0, q));
  if (out.empty() || out[0] == '?') out.insert(0, "/");
  if (!keep_query || q == std::string_view::npos) return out;
  out += '?';
  std::string_view query = target.substr(q + 1);
  bool first = true;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    if (param.empty()) continue;
    if (!first) out += '&';
    first = false;
    const size_t eq = param.find('=');
    out.append(param.substr(0, eq));
    if (eq != std::string_view::npos) out += "=*";
  }
  return out;
}

namespace {

struct PendingRequest {
  uint64_t seq = 0;
  bool lost = false;  // placeholder for a request dropped by a resync
  bool is_head = false;
  bool is_connect = false;
  std::string method;
  std::string path;
  std::string version;
  std::string host;
  telemetry::TraceContext trace;
  int64_t start_ns = 0;
  uint64_t header_bytes = 0;
  uint64_t body_bytes = 0;
};

struct CompletedResponse {
  bool lost = false;  // placeholder for a response dropped by a resync
  uint32_t status = 0;
  int64_t end_ns = 0;
  uint64_t header_bytes = 0;
  uint64_t body_bytes = 0;
};

enum class State : uint8_t {
  kHeaders,         // at a message start or inside its header block
  kBody,            // Content-Length body: `remaining` bytes to go
  kChunkLine,       // expecting a chunk-size line (or the CRLF that ends chunk data)
  kChunkData,       // `remaining` bytes of chunk data to go
  kTrailers,        // after the last chunk: trailer lines until the empty line
  kCloseDelimited,  // response body until the connection closes
  kResync,          // discarding until a plausible message start
  kUpgraded,        // 101 / CONNECT: no longer HTTP/1
};

struct Side {
  bool is_request = true;
  State state = State::kHeaders;
  bool started = false;
  uint64_t expected_pos = 0;
  std::string buf;  // unconsumed bytes of an incomplete header block or chunk line
  int64_t buf_time_ns = 0;
  size_t scan_from = 0;
  uint64_t remaining = 0;
  int64_t last_time_ns = 0;
  // The message in progress.
  int64_t msg_start_ns = 0;
  uint64_t msg_seq = 0;        // request side: seq of the PendingRequest being read
  CompletedResponse response;  // response side: the response being read
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
    }
  }

  void OnRequestBytes(const StreamChunk& chunk) override { Feed(request_, chunk); }
  void OnResponseBytes(const StreamChunk& chunk) override { Feed(response_, chunk); }

  void OnClose(int64_t time_ns) override {
    (void)time_ns;
    if (response_.state == State::kCloseDelimited) {
      response_.response.end_ns = response_.last_time_ns;
      CompleteResponse();
    }
    for (const PendingRequest& r : pending_) stats_.unmatched += r.lost ? 0 : 1;
    for (const CompletedResponse& r : early_) stats_.unmatched += r.lost ? 0 : 1;
    pending_.clear();
    early_.clear();
    request_.state = State::kUpgraded;
    response_.state = State::kUpgraded;
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
  size_t Process(Side& s, const char* p, size_t n, size_t chunk_offset, int64_t time_ns);
  void Gap(Side& s, uint64_t length, int64_t time_ns);
  // Returns the offset of the first plausible message start in [from, n), or n.
  size_t FindMessageStart(const Side& s, const char* p, size_t n, size_t from,
                          size_t chunk_offset) const;
  bool OnHead(Side& s, std::string_view head, int64_t time_ns);
  void EndMessage(Side& s, int64_t time_ns);
  void DropPartial(Side& s, int64_t time_ns);
  void EnterResync(Side& s);
  void CompleteResponse();
  void Stitch();

  ParserOptions options_;
  ParserStats stats_;
  Side request_;
  Side response_;
  uint64_t next_seq_ = 1;
  std::deque<PendingRequest> pending_;
  std::deque<CompletedResponse> early_;
  std::vector<telemetry::Request> done_;
};

void Http1Parser::Feed(Side& s, const StreamChunk& chunk) {
  if (s.state == State::kUpgraded) return;
  std::span<const uint8_t> data = chunk.data;
  uint64_t pos = chunk.position;
  uint64_t total = std::max<uint64_t>(chunk.original_size, data.size());
  s.last_time_ns = chunk.time_ns;
  if (!s.started) {
    s.started = true;
    s.expected_pos = pos;
  }
  if (pos < s.expected_pos) {
    // Overlap with bytes already seen (a retransmitted or duplicated event): skip them.
    const uint64_t dup = s.expected_pos - pos;
    if (dup >= total) return;
    data = dup >= data.size() ? std::span<const uint8_t>() : data.subspan(dup);
    total -= dup;
    pos = s.expected_pos;
  } else if (pos > s.expected_pos) {
    Gap(s, pos - s.expected_pos, chunk.time_ns);
  }
  s.expected_pos = pos + total;
  if (!data.empty()) Consume(s, data, chunk.time_ns);
  if (total > data.size()) Gap(s, total - data.size(), chunk.time_ns);
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
  if (s.state == State::kResync || s.state == State::kUpgraded) return;
  ++stats_.resyncs;
  s.state = State::kResync;
  s.scan_from = 0;
}

size_t Http1Parser::Process(Side& s, const char* p, size_t n, size_t chunk_offset,
                            int64_t time_ns) {
  size_t off = 0;
  while (off < n) {
    switch (s.state) {
      case State::kUpgraded:
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
        if (start < 0) {
          ++stats_.invalid;
          EnterResync(s);
          ++off;
          break;
        }
        if (start == 0) return off;
        const size_t head_len = FindHeadEnd(rest, &s.scan_from);
        if (head_len == 0) {
          if (rest.size() > kMaxBufferedBytes) {
            ++stats_.oversized;
            s.msg_start_ns = off < chunk_offset ? s.buf_time_ns : time_ns;
            DropPartial(s, time_ns);
            EnterResync(s);
            s.scan_from = 0;
            ++off;
            break;
          }
          return off;
        }
        s.msg_start_ns = off < chunk_offset ? s.buf_time_ns : time_ns;
        const bool ok = OnHead(s, rest.substr(0, head_len), time_ns);
        if (!ok) {
          ++stats_.invalid;
          EnterResync(s);
          ++off;
          break;
        }
        off += head_len;
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
            EndMessage(s, time_ns);
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
          if (line.empty()) EndMessage(s, time_ns);
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
          if (s.is_request) {
            if (!pending_.empty() && pending_.back().seq == s.msg_seq) {
              pending_.back().body_bytes += size;
            }
          } else {
            s.response.body_bytes += size;
          }
        }
        break;
      }
      case State::kCloseDelimited:
        s.response.body_bytes += n - off;
        return n;
    }
  }
  return n;
}

bool Http1Parser::OnHead(Side& s, std::string_view head, int64_t time_ns) {
  MessageHead h;
  if (s.is_request) {
    if (ParseRequestHead(head, &h) != ParseState::kSuccess) return false;
    PendingRequest r;
    r.seq = next_seq_++;
    r.is_head = h.method == "HEAD";
    r.is_connect = h.method == "CONNECT";
    r.method.assign(h.method);
    r.path = r.is_connect ? std::string(h.target) : NormalizeTarget(h.target, options_.keep_query);
    r.version.assign(h.version);
    r.host.assign(h.host);
    if (r.host.empty() && h.target.size() > 8 && (h.target[0] == 'h' || h.target[0] == 'H')) {
      // absolute-form without Host: take the authority from the URL.
      const size_t scheme_end = h.target.find("://");
      if (scheme_end != std::string_view::npos) {
        const std::string_view rest = h.target.substr(scheme_end + 3);
        r.host.assign(rest.substr(0, rest.find_first_of("/?#")));
      }
    }
    if (!h.traceparent.empty()) ParseTraceparent(h.traceparent, &r.trace);
    r.start_ns = s.msg_start_ns;
    r.header_bytes = h.header_bytes;
    r.body_bytes = h.chunked ? 0 : static_cast<uint64_t>(std::max<int64_t>(h.content_length, 0));
    s.msg_seq = r.seq;
    pending_.push_back(std::move(r));
    if (pending_.size() > kMaxPendingRequests) {
      if (!pending_.front().lost) ++stats_.unmatched;
      pending_.pop_front();
    }
    if (h.chunked) {
      s.state = State::kChunkLine;
    } else if (h.content_length > 0) {
      s.state = State::kBody;
      s.remaining = static_cast<uint64_t>(h.content_length);
    } else {
      s.state = State::kHeaders;
    }
    Stitch();
    return true;
  }

  if (ParseResponseHead(head, &h) != ParseState::kSuccess) return false;
  if (h.status >= 100 && h.status < 200 && h.status != 101) {
    // Interim (100 Continue, 103 Early Hints): the final response follows.
    s.state = State::kHeaders;
    return true;
  }
  s.response = CompletedResponse{};
  s.response.status = h.status;
  s.response.header_bytes = h.header_bytes;
  const PendingRequest* request = early_.empty() && !pending_.empty() ? &pending_.front() : nullptr;
  const bool tunnel =
      h.status == 101 || (request != nullptr && request->is_connect && h.status / 100 == 2);
  const bool no_body =
      tunnel || h.status == 204 || h.status == 304 || (request != nullptr && request->is_head);
  if (no_body) {
    s.response.end_ns = time_ns;
    s.state = State::kHeaders;
    CompleteResponse();
    if (tunnel) {
      // The connection stops being HTTP/1 (WebSocket, h2c, a CONNECT tunnel).
      request_.state = State::kUpgraded;
      response_.state = State::kUpgraded;
      request_.buf.clear();
    }
  } else if (h.chunked) {
    s.state = State::kChunkLine;
  } else if (h.content_length >= 0) {
    s.state = State::kBody;
    s.remaining = static_cast<uint64_t>(h.content_length);
    if (s.remaining == 0) EndMessage(s, time_ns);
  } else {
    s.state = State::kCloseDelimited;
  }
  return true;
}

void Http1Parser::EndMessage(Side& s, int64_t time_ns) {
  s.state = State::kHeaders;
  s.scan_from = 0;
  if (!s.is_request) {
    s.response.end_ns = time_ns;
    CompleteResponse();
  }
}

void Http1Parser::DropPartial(Side& s, int64_t time_ns) {
  // Only a message whose start was plausible is known to exist; keep the FIFO pairing right by
  // leaving a placeholder for it. A request whose head was already queued needs none.
  if (s.is_request) {
    if (s.state != State::kHeaders) return;
    PendingRequest lost;
    lost.lost = true;
    lost.seq = next_seq_++;
    lost.start_ns = s.msg_start_ns;
    pending_.push_back(std::move(lost));
    if (pending_.size() > kMaxPendingRequests) pending_.pop_front();
  } else {
    s.response = CompletedResponse{};
    s.response.lost = true;
    s.response.end_ns = time_ns;
    CompleteResponse();
  }
  Stitch();
}

void Http1Parser::CompleteResponse() {
  early_.push_back(response_.response);
  response_.response = CompletedResponse{};
  if (early_.size() > kMaxEarlyResponses) {
    if (!early_.front().lost) ++stats_.unmatched;
    early_.pop_front();
  }
  Stitch();
}

void Http1Parser::Stitch() {
  while (!pending_.empty() && !early_.empty()) {
    PendingRequest& req = pending_.front();
    CompletedResponse& resp = early_.front();
    if (req.lost || resp.lost) {
      if (!req.lost || !resp.lost) ++stats_.unmatched;
      pending_.pop_front();
      early_.pop_front();
      continue;
    }
    if (req.start_ns > resp.end_ns) {
      // The response ended before this request began: it answered a request we never saw.
      ++stats_.unmatched;
      early_.pop_front();
      continue;
    }
    telemetry::Request& out = done_.emplace_back();
    out.protocol = telemetry::Protocol::kHttp1;
    out.method = std::move(req.method);
    out.path = std::move(req.path);
    out.version = std::move(req.version);
    out.host = std::move(req.host);
    out.trace = std::move(req.trace);
    out.status = resp.status;
    out.start_ns = req.start_ns;
    out.end_ns = resp.end_ns;
    out.request_header_bytes = req.header_bytes;
    out.request_body_bytes = req.body_bytes;
    out.response_header_bytes = resp.header_bytes;
    out.response_body_bytes = resp.body_bytes;
    ++stats_.requests;
    pending_.pop_front();
    early_.pop_front();
  }
}

void Http1Parser::Gap(Side& s, uint64_t length, int64_t time_ns) {
  switch (s.state) {
    case State::kResync:
    case State::kUpgraded:
      return;
    case State::kCloseDelimited:
      s.response.body_bytes += length;
      return;
    case State::kBody:
      if (length < s.remaining) {
        s.remaining -= length;
        if (!s.is_request) s.response.body_bytes += length;
        return;
      }
      if (!s.is_request) s.response.body_bytes += s.remaining;
      length -= s.remaining;
      s.remaining = 0;
      EndMessage(s, time_ns);
      if (length == 0) return;
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
      break;
    case State::kHeaders:
      if (s.buf.empty()) {
        // At a message boundary: the gap hides the start of the next message.
        ++stats_.gaps;
        EnterResync(s);
        return;
      }
      break;
    case State::kChunkLine:
    case State::kTrailers:
      break;
  }
  // Framing lost inside a header block or chunked framing.
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
