#include "src/protocols/http2/http2_parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "src/protocols/http2/frames.h"
#include "src/protocols/http2/huffman.h"
#include "src/protocols/http2/wire_builders_for_test.h"

namespace loupe::protocols::http2 {
namespace {

using telemetry::Protocol;
using telemetry::Request;

// Frame and HPACK builders: src/protocols/http2/wire_builders_for_test.h.
using testing::Frame;
using testing::Incremental;
using testing::IncrementalNew;
using testing::Indexed;
using testing::LiteralNew;
using testing::Str;

std::string Settings(const std::vector<std::pair<uint16_t, uint32_t>>& entries) {
  std::string p;
  for (auto [id, v] : entries) {
    p.push_back(static_cast<char>(id >> 8));
    p.push_back(static_cast<char>(id));
    for (int s = 24; s >= 0; s -= 8) p.push_back(static_cast<char>(v >> s));
  }
  return Frame(FrameType::kSettings, 0, 0, p);
}

std::string GrpcMessage(size_t len) {
  std::string m(5, '\0');
  m[4] = static_cast<char>(len);
  return m + std::string(len, 'm');
}

class Conn {
 public:
  explicit Conn(ParserOptions options = {}) : parser_(CreateHttp2Parser(options)) {}
  void Req(std::string_view data, int64_t t, uint32_t original = 0) {
    parser_->OnRequestBytes(Chunk(&req_pos_, data, t, original));
  }
  void Resp(std::string_view data, int64_t t, uint32_t original = 0) {
    parser_->OnResponseBytes(Chunk(&resp_pos_, data, t, original));
  }
  void SkipReq(uint64_t n) { req_pos_ += n; }
  std::vector<Request> Take() {
    std::vector<Request> out;
    parser_->TakeRequests(&out);
    return out;
  }
  const ParserStats& stats() const { return parser_->stats(); }
  ConnectionParser& parser() { return *parser_; }

 private:
  static StreamChunk Chunk(uint64_t* pos, std::string_view data, int64_t t, uint32_t original) {
    StreamChunk c;
    c.position = *pos;
    c.data = {reinterpret_cast<const uint8_t*>(data.data()), data.size()};
    c.original_size = std::max<uint32_t>(original, static_cast<uint32_t>(data.size()));
    c.time_ns = t;
    *pos += c.original_size;
    return c;
  }
  std::unique_ptr<ConnectionParser> parser_;
  uint64_t req_pos_ = 0;
  uint64_t resp_pos_ = 0;
};

// :method POST (3), :scheme http (6), :path, :authority (1), content-type (31), te: trailers.
std::string GrpcRequestHeaders(std::string_view path) {
  return Indexed(3) + Indexed(6) + Incremental(4, path) + Incremental(1, "greeter:50051") +
         Incremental(31, "application/grpc") + IncrementalNew("te", "trailers");
}

struct Exchange {
  std::string client;
  std::string server;
};

// A gRPC connection: a unary OK call on stream 1, then on stream 3 a server-streaming call with
// an error status that reuses dynamic entries; the server's trailers of stream 3 use Huffman.
Exchange GrpcConversation() {
  Exchange e;
  e.client =
      std::string(kConnectionPreface) +
      Settings({{kSettingsHeaderTableSize, 4096}, {kSettingsMaxFrameSize, 16384}}) +
      Frame(FrameType::kHeaders, kFlagEndHeaders, 1, GrpcRequestHeaders("/hello.Greeter/Say")) +
      Frame(FrameType::kData, kFlagEndStream, 1, GrpcMessage(7)) +
      Frame(FrameType::kSettings, kFlagAck, 0, "") +
      // Stream 3: :method POST, :scheme http, :path new literal, authority (dyn 63 after
      // the path insert: te=62? see order), content-type and te from the dynamic table.
      Frame(FrameType::kHeaders, kFlagEndHeaders, 3,
            Indexed(3) + Indexed(6) + Incremental(4, "/hello.Greeter/Stream") + Indexed(65) +
                Indexed(64) + Indexed(63)) +
      Frame(FrameType::kData, kFlagEndStream, 3, GrpcMessage(3));
  e.server = Settings({}) + Frame(FrameType::kSettings, kFlagAck, 0, "") +
             Frame(FrameType::kHeaders, kFlagEndHeaders, 1,
                   Indexed(8) + Incremental(31, "application/grpc")) +
             Frame(FrameType::kData, 0, 1, GrpcMessage(11)) +
             Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 1,
                   IncrementalNew("grpc-status", "0")) +
             Frame(FrameType::kHeaders, kFlagEndHeaders, 3, Indexed(8) + Indexed(62)) +
             Frame(FrameType::kData, 0, 3, GrpcMessage(1)) +
             Frame(FrameType::kData, 0, 3, GrpcMessage(2)) +
             Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 3,
                   std::string(1, '\x40') + Str("grpc-status", true) + Str("13", true) +
                       LiteralNew("grpc-message", "boom"));
  return e;
}

void CheckGrpc(const std::vector<Request>& out) {
  ASSERT_EQ(out.size(), 2u);
  const Request& a = out[0];
  EXPECT_EQ(a.protocol, Protocol::kGrpc);
  EXPECT_EQ(a.method, "POST");
  EXPECT_EQ(a.path, "/hello.Greeter/Say");
  EXPECT_EQ(a.host, "greeter:50051");
  EXPECT_EQ(a.version, "HTTP/2");
  EXPECT_EQ(a.status, 200u);
  EXPECT_EQ(a.grpc_status, 0);
  EXPECT_EQ(a.request_body_bytes, 12u);
  EXPECT_EQ(a.response_body_bytes, 16u);
  EXPECT_FALSE(a.partial);
  const Request& b = out[1];
  EXPECT_EQ(b.protocol, Protocol::kGrpc);
  EXPECT_EQ(b.method, "POST");
  EXPECT_EQ(b.path, "/hello.Greeter/Stream");
  EXPECT_EQ(b.host, "greeter:50051");
  EXPECT_EQ(b.status, 200u);
  EXPECT_EQ(b.grpc_status, 13);
  EXPECT_EQ(b.request_body_bytes, 8u);
  EXPECT_EQ(b.response_body_bytes, 13u);
  EXPECT_FALSE(b.partial);
}

TEST(Http2Test, GrpcUnaryAndStreaming) {
  const Exchange e = GrpcConversation();
  Conn c;
  c.Req(e.client, 10);
  c.Resp(e.server, 20);
  const auto out = c.Take();
  CheckGrpc(out);
  EXPECT_EQ(out[0].start_ns, 10);
  EXPECT_EQ(out[0].end_ns, 20);
  EXPECT_EQ(c.stats().invalid, 0u);
  EXPECT_EQ(c.stats().resyncs, 0u);
}

TEST(Http2Test, SplitAtEveryByteBoundary) {
  const Exchange e = GrpcConversation();
  for (size_t split = 0; split <= e.client.size(); ++split) {
    Conn c;
    c.Req(std::string_view(e.client).substr(0, split), 1);
    c.Req(std::string_view(e.client).substr(split), 2);
    c.Resp(e.server, 3);
    SCOPED_TRACE(split);
    CheckGrpc(c.Take());
    EXPECT_EQ(c.stats().resyncs, 0u);
  }
  for (size_t split = 0; split <= e.server.size(); ++split) {
    Conn c;
    c.Req(e.client, 1);
    c.Resp(std::string_view(e.server).substr(0, split), 2);
    c.Resp(std::string_view(e.server).substr(split), 3);
    SCOPED_TRACE(split);
    CheckGrpc(c.Take());
  }
}

TEST(Http2Test, ResponseBeforeRequestIsStitched) {
  const Exchange e = GrpcConversation();
  Conn c;
  c.Resp(e.server, 3);
  EXPECT_TRUE(c.Take().empty());
  c.Req(e.client, 1);
  CheckGrpc(c.Take());
}

TEST(Http2Test, TimesFromFirstHeadersChunkAndEndStreamChunk) {
  Conn c;
  c.Req(std::string(kConnectionPreface) + Settings({}), 5);
  const std::string headers =
      Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 1,
            Indexed(2) + Indexed(7) + Indexed(5) + Incremental(1, "example.org"));
  c.Req(headers.substr(0, 4), 10);
  c.Req(headers.substr(4), 11);
  c.Resp(Frame(FrameType::kHeaders, kFlagEndHeaders, 1, Indexed(13)), 20);
  c.Resp(Frame(FrameType::kData, 0, 1, "not found"), 21);
  const std::string last = Frame(FrameType::kData, kFlagEndStream, 1, "!");
  c.Resp(last.substr(0, 9), 22);
  c.Resp(last.substr(9), 23);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].protocol, Protocol::kHttp2);
  EXPECT_EQ(out[0].method, "GET");
  EXPECT_EQ(out[0].path, "/index.html");
  EXPECT_EQ(out[0].host, "example.org");
  EXPECT_EQ(out[0].status, 404u);
  EXPECT_EQ(out[0].grpc_status, -1);
  EXPECT_EQ(out[0].start_ns, 10);
  EXPECT_EQ(out[0].end_ns, 23);
  EXPECT_EQ(out[0].response_body_bytes, 10u);
}

// curl closes an HTTP/2 connection as soon as it has content-length bytes of the body, without
// reading the empty DATA frame with END_STREAM that follows: at the close, a response whose body
// is complete by its content-length ends with its last DATA frame. One that is short of it, or has
// no content-length, was cut by the close: it is reported all the same (its head was sent), with
// the body bytes seen and its end at the last of them, and counted as cut.
TEST(Http2Test, ClosingInsideTheResponseReportsItWithTheBytesSeen) {
  const std::string request = std::string(kConnectionPreface) + Settings({}) +
                              Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 1,
                                    Indexed(2) + Indexed(7) + Indexed(4));
  const std::string body(3000, 'b');
  for (const auto& [content_length, want_cut] :
       std::vector<std::tuple<std::string, bool>>{{"3000", false}, {"3001", true}, {"", true}}) {
    SCOPED_TRACE(content_length);
    Conn c;
    c.Req(request, 10);
    std::string head = Indexed(8);
    if (!content_length.empty()) head += Incremental(28, content_length);
    c.Resp(Settings({}) + Frame(FrameType::kHeaders, kFlagEndHeaders, 1, head), 20);
    // The body over two calls, the first one copied only in part.
    const std::string data = Frame(FrameType::kData, 0, 1, body);
    c.Resp(data.substr(0, 100), 21, 2000);
    c.Resp(data.substr(2000), 22);
    EXPECT_TRUE(c.Take().empty());
    c.parser().OnClose(40);
    const auto out = c.Take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].path, "/");
    EXPECT_EQ(out[0].status, 200u);
    EXPECT_EQ(out[0].grpc_status, -1);
    EXPECT_EQ(out[0].start_ns, 10);
    EXPECT_EQ(out[0].end_ns, 22);
    EXPECT_EQ(out[0].response_body_bytes, 3000u);
    EXPECT_FALSE(out[0].partial);
    EXPECT_EQ(c.stats().unmatched, 0u);
    EXPECT_EQ(c.stats().cut_by_close, want_cut ? 1u : 0u);
  }
}

// A gRPC call whose connection closes after the response's head and a message but before its
// trailers: its client got UNAVAILABLE, which the record carries. A stream whose response never
// began is still unmatched, and a cut head alone ends at the head.
TEST(Http2Test, GrpcCallCutByTheCloseIsUnavailable) {
  Conn c;
  c.Req(std::string(kConnectionPreface) + Settings({}) +
            Frame(FrameType::kHeaders, kFlagEndHeaders, 1, GrpcRequestHeaders("/shop.Cart/Add")) +
            Frame(FrameType::kData, kFlagEndStream, 1, GrpcMessage(4)),
        10);
  c.Req(Frame(FrameType::kHeaders, kFlagEndHeaders, 3, GrpcRequestHeaders("/shop.Cart/Watch")) +
            Frame(FrameType::kData, kFlagEndStream, 3, GrpcMessage(4)),
        11);
  c.Req(Frame(FrameType::kHeaders, kFlagEndHeaders, 5, GrpcRequestHeaders("/shop.Cart/Get")) +
            Frame(FrameType::kData, kFlagEndStream, 5, GrpcMessage(4)),
        12);
  c.Resp(Settings({}) + Frame(FrameType::kHeaders, kFlagEndHeaders, 1,
                              Indexed(8) + Incremental(31, "application/grpc")),
         20);
  c.Resp(Frame(FrameType::kData, 0, 1, GrpcMessage(9)), 21);
  c.Resp(Frame(FrameType::kHeaders, kFlagEndHeaders, 3, Indexed(8) + Indexed(62)), 25);
  EXPECT_TRUE(c.Take().empty());
  c.parser().OnClose(40);
  auto out = c.Take();
  ASSERT_EQ(out.size(), 2u);
  std::sort(out.begin(), out.end(),
            [](const Request& a, const Request& b) { return a.start_ns < b.start_ns; });
  EXPECT_EQ(out[0].protocol, Protocol::kGrpc);
  EXPECT_EQ(out[0].path, "/shop.Cart/Add");
  EXPECT_EQ(out[0].status, 200u);
  EXPECT_EQ(out[0].grpc_status, 14);
  EXPECT_EQ(out[0].end_ns, 21);
  EXPECT_EQ(out[0].response_body_bytes, 14u);
  EXPECT_EQ(out[1].path, "/shop.Cart/Watch");
  EXPECT_EQ(out[1].grpc_status, 14);
  EXPECT_EQ(out[1].end_ns, 25);
  EXPECT_EQ(out[1].response_body_bytes, 0u);
  EXPECT_EQ(c.stats().cut_by_close, 2u);
  EXPECT_EQ(c.stats().unmatched, 1u);  // /shop.Cart/Get: no response at all
}

// :path carries the query in HTTP/2: it is dropped by default and kept with its values redacted
// with keep_query, as for HTTP/1 (secrets in query strings must not reach labels or spans).
TEST(Http2Test, PathQueryIsDroppedOrRedactedAsForHttp1) {
  for (bool keep : {false, true}) {
    ParserOptions options;
    options.keep_query = keep;
    Conn c(options);
    c.Req(std::string(kConnectionPreface) + Settings({}) +
              Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 1,
                    Indexed(2) + Indexed(6) + Incremental(4, "/search?token=s3cret&page=2#top") +
                        Incremental(1, "web:8080")),
          1000);
    c.Resp(
        Settings({}) + Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 1, Indexed(8)),
        2000);
    const std::vector<Request> out = c.Take();
    ASSERT_EQ(out.size(), 1u) << keep;
    EXPECT_EQ(out[0].protocol, Protocol::kHttp2);
    EXPECT_EQ(out[0].method, "GET");
    EXPECT_EQ(out[0].path, keep ? "/search?token=*&page=*" : "/search") << keep;
    EXPECT_EQ(out[0].status, 200u);
  }
}

TEST(Http2Test, ContinuationPaddingPriorityAndIgnoredFrames) {
  Conn c;
  const std::string block = Indexed(2) + Indexed(6) + Incremental(4, "/padded", true) +
                            Incremental(1, "h", true) + LiteralNew("x-long", std::string(100, 'v'));
  // HEADERS with PADDED|PRIORITY carrying the first 5 bytes, then two CONTINUATIONs.
  std::string headers_payload =
      std::string(1, '\x03') + std::string(5, '\0') + block.substr(0, 5) + std::string(3, '\0');
  c.Req(std::string(kConnectionPreface) + Settings({}) +
            Frame(FrameType::kPriority, 0, 1, std::string(5, '\0')) +
            Frame(FrameType::kHeaders, kFlagPadded | kFlagPriority, 1, headers_payload) +
            Frame(FrameType::kContinuation, 0, 1, block.substr(5, 20)) +
            Frame(FrameType::kContinuation, kFlagEndHeaders, 1, block.substr(25)) +
            Frame(FrameType::kPing, 0, 0, std::string(8, 'p')) +
            Frame(FrameType::kWindowUpdate, 0, 0, std::string("\0\0\x10\0", 4)) +
            Frame(static_cast<FrameType>(0x42), 0, 0, "unknown frame type") +
            Frame(FrameType::kData, kFlagPadded | kFlagEndStream, 1,
                  std::string(1, '\x02') + "body" + std::string(2, '\0')),
        1);
  // The server pushes (PUSH_PROMISE with an indexed insert it later references), then answers.
  c.Resp(Settings({}) +
             Frame(FrameType::kPushPromise, kFlagEndHeaders, 1,
                   std::string("\0\0\0\x02", 4) + Indexed(2) + Incremental(4, "/pushed.css")) +
             Frame(FrameType::kHeaders, kFlagEndHeaders, 2, Indexed(8)) +
             Frame(FrameType::kData, kFlagEndStream, 2, "css") +
             Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 1,
                   Indexed(8) + LiteralNew("x-seen", "") + Indexed(62)) +
             Frame(FrameType::kGoAway, 0, 0, std::string(8, '\0')),
         2);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].path, "/padded");
  EXPECT_EQ(out[0].host, "h");
  EXPECT_EQ(out[0].status, 200u);
  EXPECT_EQ(out[0].request_body_bytes, 4u);
  EXPECT_FALSE(out[0].partial);
  EXPECT_EQ(c.stats().invalid, 0u);
}

TEST(Http2Test, RstStreamCompletesWithError) {
  Conn c;
  c.Req(std::string(kConnectionPreface) +
            Frame(FrameType::kHeaders, kFlagEndHeaders, 1, GrpcRequestHeaders("/a.B/C")) +
            Frame(FrameType::kRstStream, 0, 1, std::string("\0\0\0\x08", 4)),
        1);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].protocol, Protocol::kGrpc);
  EXPECT_EQ(out[0].grpc_status, 1);  // CANCEL -> CANCELLED
  EXPECT_EQ(out[0].status, 0u);
  EXPECT_EQ(out[0].end_ns, 1);
}

TEST(Http2Test, TrailersOnlyErrorAndInformational) {
  Conn c;
  c.Req(
      std::string(kConnectionPreface) + Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream,
                                              1, GrpcRequestHeaders("/a.B/Missing")),
      1);
  c.Resp(Frame(FrameType::kHeaders, kFlagEndHeaders, 1, Incremental(8, "100")) +
             Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 1,
                   Indexed(8) + Incremental(31, "application/grpc") +
                       IncrementalNew("grpc-status", "12")),
         2);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].status, 200u);
  EXPECT_EQ(out[0].grpc_status, 12);
}

TEST(Http2Test, HeaderTableSizeSettingAndUpdate) {
  Conn c;
  // The client limits the server's encoder to 0; the server acknowledges with a size update to
  // 0 and then sends literals only.
  c.Req(std::string(kConnectionPreface) + Settings({{kSettingsHeaderTableSize, 0}}) +
            Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 1,
                  Indexed(2) + Indexed(6) + Indexed(4) + Incremental(1, "a")),
        1);
  c.Resp(Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 1,
               "\x20" + Indexed(8) + LiteralNew("server", "x")),
         2);
  ASSERT_EQ(c.Take().size(), 1u);
  EXPECT_EQ(c.stats().invalid, 0u);
  // A size update above the SETTINGS bound is a decoding error.
  c.Req(Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 3,
              Indexed(2) + Indexed(6) + Indexed(4)),
        3);
  c.Resp(Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 3,
               std::string("\x3f\xe1\x1f", 3) + Indexed(8)),
         4);
  EXPECT_EQ(c.stats().invalid, 1u);
}

TEST(Http2Test, PreexistingConnectionIsPartialAndNeverWrong) {
  Conn c(ParserOptions{.connection_preexisting = true});
  // Request of stream 41 uses dynamic entries from before the join (:path and :authority
  // unresolvable); stream 43 inserts its own path and then stream 45 references it.
  c.Req(Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 41,
              Indexed(3) + Indexed(6) + Indexed(70) + Indexed(71)),
        1);
  c.Req(Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 43,
              Indexed(2) + Indexed(6) + Incremental(4, "/fresh") + Incremental(1, "svc")),
        2);
  c.Req(Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 45,
              Indexed(2) + Indexed(6) + Indexed(63) + Indexed(62)),
        3);
  // The response of a stream begun before the join (39), then the three answers.
  c.Resp(Frame(FrameType::kData, kFlagEndStream, 39, "tail") +
             Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 37, Indexed(8)) +
             Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 41, Indexed(8)) +
             Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 43, Indexed(13)) +
             Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 45, Indexed(99)),
         4);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].method, "POST");
  EXPECT_EQ(out[0].path, "*");
  EXPECT_EQ(out[0].status, 200u);
  EXPECT_EQ(out[1].method, "GET");
  EXPECT_EQ(out[1].path, "/fresh");
  EXPECT_EQ(out[1].host, "svc");
  EXPECT_EQ(out[1].status, 404u);
  EXPECT_EQ(out[2].path, "/fresh");
  EXPECT_EQ(out[2].host, "svc");
  EXPECT_EQ(out[2].status, 0u);  // behind an unknown dynamic entry
  for (const Request& r : out) EXPECT_TRUE(r.partial);
}

TEST(Http2Test, PrefaceMissingIsTreatedAsPreexisting) {
  Conn c;
  c.Req(Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 5,
              Indexed(2) + Indexed(6) + Indexed(4)),
        1);
  c.Resp(Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 5, Indexed(8)), 2);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].partial);
  EXPECT_EQ(out[0].path, "/");
}

TEST(Http2Test, TruncatedDataIsSkippedGapInHeadersResyncs) {
  Conn c;
  c.Req(std::string(kConnectionPreface) +
            Frame(FrameType::kHeaders, kFlagEndHeaders, 1, GrpcRequestHeaders("/up.Load/Big")),
        1);
  // A 16 KiB DATA frame of which 1 KiB was copied, then the next frame.
  const std::string data = Frame(FrameType::kData, 0, 1, std::string(16384, 'd'));
  c.Req(std::string_view(data).substr(0, 1024), 2, static_cast<uint32_t>(data.size()));
  c.Req(Frame(FrameType::kData, kFlagEndStream, 1, GrpcMessage(1)), 3);
  c.Resp(
      Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 1,
            Indexed(8) + Incremental(31, "application/grpc") + IncrementalNew("grpc-status", "0")),
      4);
  auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].request_body_bytes, 16384u + 6u);
  EXPECT_EQ(c.stats().resyncs, 0u);
  EXPECT_FALSE(out[0].partial);
  // A lost HEADERS frame (gap at a frame boundary): resync at the next chunk, later requests
  // partial; the stream whose HEADERS were lost produces nothing.
  c.SkipReq(50);
  c.Req(Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 5,
              Indexed(3) + Indexed(6) + Indexed(64)),
        5);
  c.Resp(Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 3, Indexed(8)) +
             Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 5, Indexed(8)),
         6);
  out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].path, "*");
  EXPECT_TRUE(out[0].partial);
  EXPECT_EQ(c.stats().resyncs, 1u);
}

// A request header block larger than the copy limit (a big cookie): the kernel copied the first
// 4 KiB of the call. The stream is reported from the fields before the cut; later streams on the
// connection are partial (the request side lost HPACK step), never wrong.
TEST(Http2Test, CutRequestHeaderBlockIsReportedFromItsPseudoHeaders) {
  Conn c;
  // :method GET (2), :scheme http (6), :path, :authority, then an 8 KB cookie; PADDED and
  // PRIORITY, whose fields come before the block.
  const std::string block = Indexed(2) + Indexed(6) + Incremental(4, "/account/orders") +
                            Incremental(1, "shop.local") +
                            Incremental(32, std::string(8000, 'c'));  // cookie (32)
  std::string payload = std::string(1, '\x02') + std::string(5, '\0') + block + "pp";
  const std::string client =
      std::string(kConnectionPreface) + Settings({}) +
      Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream | kFlagPadded | kFlagPriority, 1,
            payload);
  c.Req(std::string_view(client).substr(0, 4096), 10, static_cast<uint32_t>(client.size()));
  c.Resp(Settings({}) + Frame(FrameType::kHeaders, kFlagEndHeaders, 1, Indexed(8)), 20);
  c.Resp(Frame(FrameType::kData, kFlagEndStream, 1, "hello"), 30);
  // The next request references the dynamic table the cut left unknown.
  c.Req(Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 3,
              Indexed(2) + Indexed(6) + Indexed(64) + Indexed(63)),
        40);
  c.Resp(Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 3, Indexed(13)), 50);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].method, "GET");
  EXPECT_EQ(out[0].path, "/account/orders");
  EXPECT_EQ(out[0].host, "shop.local");
  EXPECT_EQ(out[0].status, 200u);
  EXPECT_EQ(out[0].start_ns, 10);
  EXPECT_EQ(out[0].end_ns, 30);
  EXPECT_EQ(out[0].request_header_bytes, block.size());  // without padding and priority
  EXPECT_EQ(out[0].response_body_bytes, 5u);
  EXPECT_FALSE(out[0].partial);
  EXPECT_EQ(out[1].path, "*");  // its :path was a dynamic entry the agent never saw
  EXPECT_EQ(out[1].status, 404u);
  EXPECT_TRUE(out[1].partial);
  EXPECT_EQ(c.stats().gaps, 1u);
  EXPECT_EQ(c.stats().unmatched, 0u);
}

// The same on the response side, and across CONTINUATION: the status was copied, the response
// ends at the call that carried its head.
TEST(Http2Test, CutResponseHeaderBlockIsReportedFromItsStatus) {
  Conn c;
  c.Req(std::string(kConnectionPreface) +
            Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 1,
                  Indexed(2) + Indexed(6) + Incremental(4, "/page") + Incremental(1, "a")),
        10);
  const std::string server =
      Frame(FrameType::kHeaders, 0, 1, Indexed(8) + Incremental(31, "text/html")) +
      Frame(FrameType::kContinuation, kFlagEndHeaders, 1,
            LiteralNew("content-security-policy", std::string(9000, 'p'))) +
      Frame(FrameType::kData, kFlagEndStream, 1, "<html>");
  c.Resp(std::string_view(server).substr(0, 4096), 20, static_cast<uint32_t>(server.size()));
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].path, "/page");
  EXPECT_EQ(out[0].status, 200u);
  EXPECT_EQ(out[0].end_ns, 20);
  EXPECT_FALSE(out[0].partial);
  EXPECT_EQ(c.stats().gaps, 1u);
}

// A block cut before its pseudo-headers are complete gives nothing (as before), and a cut
// interim response (103) is not taken for the final one.
TEST(Http2Test, CutBlockWithoutPseudoHeadersIsDropped) {
  Conn c;
  const std::string client =
      std::string(kConnectionPreface) +
      Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 1,
            Indexed(2) + Indexed(6) + Incremental(4, "/" + std::string(8000, 'x')));
  c.Req(std::string_view(client).substr(0, 4096), 10, static_cast<uint32_t>(client.size()));
  c.Resp(Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 1, Indexed(8)), 20);
  EXPECT_TRUE(c.Take().empty());
  EXPECT_EQ(c.stats().unmatched, 0u);  // not yet: the stream waits for its request until closed

  Conn d;
  d.Req(std::string(kConnectionPreface) +
            Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 1,
                  Indexed(2) + Indexed(6) + Incremental(4, "/") + Incremental(1, "a")),
        10);
  const std::string hints =
      Frame(FrameType::kHeaders, kFlagEndHeaders, 1,
            Incremental(8, "103") + LiteralNew("link", std::string(8000, 'l')));
  d.Resp(std::string_view(hints).substr(0, 4096), 20, static_cast<uint32_t>(hints.size()));
  d.Resp(Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 1, Indexed(8)), 30);
  const auto out = d.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].status, 200u);
  EXPECT_EQ(out[0].end_ns, 30);
}

TEST(Http2Test, GarbageNeverCrashesAndIsBounded) {
  Conn c;
  std::string garbage;
  for (int i = 0; i < 5000; ++i) garbage.push_back(static_cast<char>(i * 131 + 7));
  c.Req(garbage, 1);
  c.Resp(garbage, 2);
  // A frame claiming 16 MB of HEADERS payload is skipped, not buffered.
  c.Req(Frame(FrameType::kHeaders, 0, 1, "").substr(0, 9).replace(0, 3, "\xff\xff\xff"), 3);
  c.Req(std::string(1 << 20, 'x'), 4);
  EXPECT_TRUE(c.Take().empty());
  EXPECT_GT(c.stats().invalid, 0u);
}

TEST(Http2Test, ManyOpenStreamsAreBounded) {
  Conn c;
  std::string client(kConnectionPreface);
  for (uint32_t id = 1; id < 2 * (kMaxStreams + 5); id += 2) {
    client += Frame(FrameType::kHeaders, kFlagEndHeaders, id, Indexed(2) + Indexed(6) + Indexed(4));
  }
  c.Req(client, 1);
  EXPECT_EQ(c.stats().unmatched, 5u);
}

TEST(Http2Test, Inference) {
  auto bytes = [](std::string_view s) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  EXPECT_TRUE(InferHttp2(bytes(kConnectionPreface), true));
  EXPECT_TRUE(InferHttp2(bytes("PRI * HT"), true));
  const std::string settings = Settings({{kSettingsMaxFrameSize, 16384}});
  EXPECT_TRUE(InferHttp2(bytes(settings), false));
  EXPECT_FALSE(InferHttp2(bytes("GET / HTTP/1.1\r\n\r\n"), true));
  EXPECT_FALSE(InferHttp2(bytes("HTTP/1.1 200 OK\r\n\r\n"), false));
  EXPECT_FALSE(InferHttp2(bytes(Frame(FrameType::kContinuation, 4, 1, "x")), false));
}

TEST(Http2Test, HeadersTellRequestsFromResponses) {
  auto bytes = [](std::string_view s) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  const std::string ping = Frame(FrameType::kPing, 0, 0, std::string(8, '\0'));
  // :method POST first (indexed), after other frames of the same call.
  EXPECT_EQ(HeadersAreRequest(bytes(
                ping + Frame(FrameType::kHeaders, kFlagEndHeaders, 41, Indexed(3) + Indexed(70)))),
            std::optional<bool>(true));
  // :status 200 first; and a literal :path (name index 4) without indexing.
  EXPECT_EQ(HeadersAreRequest(bytes(Frame(FrameType::kHeaders, kFlagEndHeaders, 41, Indexed(8)))),
            std::optional<bool>(false));
  EXPECT_EQ(HeadersAreRequest(bytes(
                Frame(FrameType::kHeaders, kFlagEndHeaders, 3, std::string("\x04\x02/x", 4)))),
            std::optional<bool>(true));
  // Padded with priority: the block starts after 1 + 5 bytes.
  EXPECT_EQ(HeadersAreRequest(bytes(Frame(FrameType::kHeaders, kFlagEndHeaders | 0x08 | 0x20, 5,
                                          std::string("\x01"
                                                      "\0\0\0\0\x10",
                                                      6) +
                                              Indexed(13) + std::string(1, '\0')))),
            std::optional<bool>(false));
  // No HEADERS, a header block starting with a dynamic entry or a size update, a cut frame.
  EXPECT_EQ(HeadersAreRequest(bytes(ping + Frame(FrameType::kData, 0, 1, "abc"))), std::nullopt);
  EXPECT_EQ(HeadersAreRequest(bytes(Frame(FrameType::kHeaders, kFlagEndHeaders, 1, Indexed(70)))),
            std::nullopt);
  EXPECT_EQ(HeadersAreRequest(bytes(Frame(FrameType::kHeaders, kFlagEndHeaders, 1,
                                          std::string("\x3f\xe1\x1f", 3) + Indexed(3)))),
            std::nullopt);
  // Trailers (grpc-status, a literal with a new name) tell nothing; the next call's HEADERS do.
  const std::string trailers = Frame(FrameType::kHeaders, kFlagEndHeaders | 0x1, 41,
                                     std::string("\x40\x0bgrpc-status\x01"
                                                 "0",
                                                 15));
  EXPECT_EQ(HeadersAreRequest(bytes(trailers)), std::nullopt);
  EXPECT_EQ(HeadersAreRequest(bytes(trailers + Frame(FrameType::kHeaders, kFlagEndHeaders, 43,
                                                     Indexed(3) + Indexed(70)))),
            std::optional<bool>(true));
  const std::string cut = Frame(FrameType::kHeaders, kFlagEndHeaders, 1, Indexed(3));
  EXPECT_EQ(HeadersAreRequest(bytes(std::string_view(cut).substr(0, 9))), std::nullopt);
}

}  // namespace
}  // namespace loupe::protocols::http2
