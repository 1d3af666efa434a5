#include "src/protocols/http1/http1_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace loupe::protocols::http1 {
namespace {

using telemetry::Request;

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Drives one parser with chunks, keeping each side's stream position.
class Conn {
 public:
  explicit Conn(ParserOptions options = {}) : parser_(CreateHttp1Parser(options)) {}

  // `original` > data size: the kernel copied a prefix of a larger write.
  void Req(std::string_view data, int64_t t, uint32_t original = 0) {
    parser_->OnRequestBytes(Chunk(&req_pos_, data, t, original));
  }
  void Resp(std::string_view data, int64_t t, uint32_t original = 0) {
    parser_->OnResponseBytes(Chunk(&resp_pos_, data, t, original));
  }
  void SkipReq(uint64_t n) { req_pos_ += n; }
  void SkipResp(uint64_t n) { resp_pos_ += n; }
  void Close(int64_t t) { parser_->OnClose(t); }
  std::vector<Request> Take() {
    std::vector<Request> out;
    parser_->TakeRequests(&out);
    return out;
  }
  const ParserStats& stats() const { return parser_->stats(); }

 private:
  static StreamChunk Chunk(uint64_t* pos, std::string_view data, int64_t t, uint32_t original) {
    StreamChunk c;
    c.position = *pos;
    c.data = Bytes(data);
    c.original_size = std::max<uint32_t>(original, static_cast<uint32_t>(data.size()));
    c.time_ns = t;
    *pos += c.original_size;
    return c;
  }

  std::unique_ptr<ConnectionParser> parser_;
  uint64_t req_pos_ = 0;
  uint64_t resp_pos_ = 0;
};

constexpr std::string_view kGet =
    "GET /api/items?id=7&sort=asc HTTP/1.1\r\nHost: shop.local:8080\r\nUser-Agent: curl/7.88\r\n"
    "Accept: */*\r\n\r\n";
constexpr std::string_view kOk =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
    "{\"items\": []}";

TEST(Http1Test, SimpleExchange) {
  Conn c;
  c.Req(kGet, 100);
  c.Resp(kOk, 250);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  const Request& r = out[0];
  EXPECT_EQ(r.protocol, telemetry::Protocol::kHttp1);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/api/items");
  EXPECT_EQ(r.version, "HTTP/1.1");
  EXPECT_EQ(r.host, "shop.local:8080");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.start_ns, 100);
  EXPECT_EQ(r.end_ns, 250);
  EXPECT_EQ(r.request_header_bytes, kGet.size());
  EXPECT_EQ(r.request_body_bytes, 0u);
  EXPECT_EQ(r.response_header_bytes, kOk.size() - 13);
  EXPECT_EQ(r.response_body_bytes, 13u);
  EXPECT_EQ(r.grpc_status, -1);
  EXPECT_FALSE(r.partial);
  EXPECT_TRUE(r.trace.trace_id.empty());
  EXPECT_EQ(c.stats().requests, 1u);
  EXPECT_EQ(c.stats().resyncs, 0u);
}

TEST(Http1Test, KeepQueryRedactsValues) {
  Conn c(ParserOptions{.keep_query = true});
  c.Req("GET /a/b?token=secret&x=1&flag&=v HTTP/1.1\r\n\r\n", 1);
  c.Resp("HTTP/1.1 204 No Content\r\n\r\n", 2);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].path, "/a/b?token=*&x=*&flag&=*");
}

TEST(Http1Test, NormalizeTarget) {
  EXPECT_EQ(NormalizeTarget("/x?y=1#frag", false), "/x");
  EXPECT_EQ(NormalizeTarget("http://h:80/p/q?y=1", false), "/p/q");
  EXPECT_EQ(NormalizeTarget("http://h:80", false), "/");
  EXPECT_EQ(NormalizeTarget("http://h?a=1", true), "/?a=*");
  EXPECT_EQ(NormalizeTarget("*", false), "*");
  EXPECT_EQ(NormalizeTarget("/p?", true), "/p?");
}

// A conversation exercising every body kind, used split in every way below.
struct Conversation {
  std::string requests;
  std::string responses;
  size_t expected;
};

Conversation Mixed() {
  Conversation conv;
  conv.requests =
      std::string(kGet) +
      "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
      "PUT /chunked HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\n\r\n"
      "HEAD /head HTTP/1.1\r\n\r\n"
      "DELETE /x HTTP/1.0\r\n\r\n";
  conv.responses = std::string(kOk) +
                   "HTTP/1.1 100 Continue\r\n\r\n"
                   "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "4\r\nWiki\r\n5;name=value\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n"
                   "HTTP/1.1 304 Not Modified\r\nContent-Length: 999\r\n\r\n"
                   "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
                   "HTTP/1.0 500 Internal Server Error\r\n\r\nclose-delimited body";
  conv.expected = 5;
  return conv;
}

void CheckMixed(const std::vector<Request>& out) {
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0].path, "/api/items");
  EXPECT_EQ(out[0].status, 200u);
  EXPECT_EQ(out[1].method, "POST");
  EXPECT_EQ(out[1].status, 201u);
  EXPECT_EQ(out[1].request_body_bytes, 5u);
  EXPECT_EQ(out[1].response_body_bytes, 9u);
  EXPECT_EQ(out[2].method, "PUT");
  EXPECT_EQ(out[2].status, 304u);
  EXPECT_EQ(out[2].request_body_bytes, 3u);
  EXPECT_EQ(out[2].response_body_bytes, 0u);
  EXPECT_EQ(out[3].method, "HEAD");
  EXPECT_EQ(out[3].status, 200u);
  EXPECT_EQ(out[3].response_body_bytes, 0u);
  EXPECT_EQ(out[4].method, "DELETE");
  EXPECT_EQ(out[4].version, "HTTP/1.0");
  EXPECT_EQ(out[4].status, 500u);
  EXPECT_EQ(out[4].response_body_bytes, 20u);
}

TEST(Http1Test, PipelinedMixedBodies) {
  const Conversation conv = Mixed();
  Conn c;
  c.Req(conv.requests, 1);
  c.Resp(conv.responses, 2);
  EXPECT_EQ(c.Take().size(), 4u);  // the last body is close-delimited
  c.Close(3);
  auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end_ns, 2);  // last response byte, not the close
  EXPECT_EQ(c.stats().unmatched, 0u);
  EXPECT_EQ(c.stats().invalid, 0u);
}

TEST(Http1Test, SplitAtEveryByteBoundary) {
  const Conversation conv = Mixed();
  for (size_t split = 0; split <= conv.requests.size(); ++split) {
    Conn c;
    c.Req(std::string_view(conv.requests).substr(0, split), 1);
    c.Req(std::string_view(conv.requests).substr(split), 2);
    c.Resp(conv.responses, 3);
    c.Close(4);
    auto out = c.Take();
    SCOPED_TRACE(split);
    CheckMixed(out);
    EXPECT_EQ(c.stats().resyncs, 0u);
  }
  for (size_t split = 0; split <= conv.responses.size(); ++split) {
    Conn c;
    c.Req(conv.requests, 1);
    c.Resp(std::string_view(conv.responses).substr(0, split), 2);
    c.Resp(std::string_view(conv.responses).substr(split), 3);
    c.Close(4);
    auto out = c.Take();
    SCOPED_TRACE(split);
    CheckMixed(out);
    EXPECT_EQ(c.stats().resyncs, 0u);
  }
}

TEST(Http1Test, ByteAtATime) {
  const Conversation conv = Mixed();
  Conn c;
  for (char ch : conv.requests) c.Req(std::string_view(&ch, 1), 1);
  for (char ch : conv.responses) c.Resp(std::string_view(&ch, 1), 2);
  c.Close(3);
  CheckMixed(c.Take());
}

TEST(Http1Test, TimesComeFromFirstAndLastChunks) {
  Conn c;
  c.Req("GET / HT", 10);
  c.Req("TP/1.1\r\n\r\n", 20);
  c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab", 30);
  c.Resp("cd", 40);
  c.Req("GET /next HTTP/1.1\r\n\r\n", 50);
  c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 60);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].start_ns, 10);
  EXPECT_EQ(out[0].end_ns, 40);
  EXPECT_EQ(out[1].start_ns, 50);
  EXPECT_EQ(out[1].end_ns, 60);
}

TEST(Http1Test, ExpectContinue) {
  Conn c;
  c.Req("POST /big HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 6\r\n\r\n", 1);
  c.Resp("HTTP/1.1 100 Continue\r\n\r\n", 2);
  EXPECT_TRUE(c.Take().empty());  // the interim response is not the final one
  c.Req("abcdef", 3);
  c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 4);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].status, 200u);
  EXPECT_EQ(out[0].request_body_bytes, 6u);
  EXPECT_EQ(out[0].start_ns, 1);
  EXPECT_EQ(out[0].end_ns, 4);
}

TEST(Http1Test, InterimResponsesAndNoBodyStatuses) {
  Conn c;
  c.Req("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 1);
  c.Resp(
      "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
      "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
      2);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].status, 204u);
  EXPECT_EQ(out[1].status, 200u);
  EXPECT_EQ(out[1].response_body_bytes, 1u);
}

TEST(Http1Test, ConnectionCloseAndCloseDelimitedBody) {
  Conn c;
  c.Req("GET /stream HTTP/1.1\r\nConnection: close\r\n\r\n", 1);
  c.Resp("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart1", 2);
  c.Resp("part2", 3);
  EXPECT_TRUE(c.Take().empty());
  c.Close(9);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].response_body_bytes, 10u);
  EXPECT_EQ(out[0].end_ns, 3);
}

// One end went away inside a response body (wrk stopping with requests in flight: nginx logs them
// as answered, 200). The head was sent, so the exchange is reported, ending at the last byte seen,
// with the body bytes seen; counted as cut. A Content-Length body and a chunked one.
// The one record of a response cut by the close, and the counters.
void ExpectOneCutResponse(Conn& c, uint32_t status, uint64_t body_bytes, int64_t end_ns) {
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].status, status);
  EXPECT_EQ(out[0].response_body_bytes, body_bytes);
  EXPECT_EQ(out[0].end_ns, end_ns);
  EXPECT_EQ(c.stats().unmatched, 0u);
  EXPECT_EQ(c.stats().cut_by_close, 1u);
}

TEST(Http1Test, ResponseCutByCloseInsideItsBodyIsReported) {
  Conn c;
  c.Req("GET /big HTTP/1.1\r\n\r\n", 1);
  c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", 2);
  c.Resp(std::string(300, 'x'), 3);
  EXPECT_TRUE(c.Take().empty());
  c.Close(9);
  ExpectOneCutResponse(c, 200, 300, 3);

  Conn chunked;
  chunked.Req("GET /feed HTTP/1.1\r\n\r\n", 1);
  chunked.Resp("HTTP/1.1 206 Partial\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", 2);
  chunked.Resp("64\r\n" + std::string(40, 'y'), 4);  // 100 declared, 40 seen
  chunked.Close(9);
  ExpectOneCutResponse(chunked, 206, 45, 4);

  // A head cut before its end gives no status: still unmatched.
  Conn head;
  head.Req("GET /x HTTP/1.1\r\n\r\n", 1);
  head.Resp("HTTP/1.1 200 OK\r\nContent-Len", 2);
  head.Close(9);
  EXPECT_TRUE(head.Take().empty());
  EXPECT_EQ(head.stats().unmatched, 1u);
  EXPECT_EQ(head.stats().cut_by_close, 0u);
}

TEST(Http1Test, UnansweredRequestsAreUnmatchedOnClose) {
  Conn c;
  c.Req("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 1);
  c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2);
  c.Close(3);
  EXPECT_EQ(c.Take().size(), 1u);
  EXPECT_EQ(c.stats().unmatched, 1u);
}

TEST(Http1Test, Traceparent) {
  struct Case {
    const char* value;
    bool valid;
  };
  const Case cases[] = {
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
      {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},    // upper case
      {"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},    // zero trace id
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},    // zero parent
      {"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},    // version ff
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", false},  // v00 + extra
      {"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", true},   // future version
      {"00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", false},    // misplaced dash
      {"garbage", false},
  };
  for (const Case& tc : cases) {
    Conn c;
    c.Req(std::string("GET / HTTP/1.1\r\ntraceparent: ") + tc.value + "\r\n\r\n", 1);
    c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2);
    const auto out = c.Take();
    ASSERT_EQ(out.size(), 1u);
    SCOPED_TRACE(tc.value);
    if (tc.valid) {
      EXPECT_EQ(out[0].trace.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
      EXPECT_EQ(out[0].trace.parent_span_id, "00f067aa0ba902b7");
      EXPECT_EQ(out[0].trace.flags, 1);
    } else {
      EXPECT_TRUE(out[0].trace.trace_id.empty());
    }
  }
}

TEST(Http1Test, GarbagePrefixResyncs) {
  Conn c;
  c.Req("\x16\x03\x01 binary junk\r\nmore junk\r\nGET /ok HTTP/1.1\r\n\r\n", 1);
  c.Resp("junk\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].path, "/ok");
  EXPECT_EQ(c.stats().resyncs, 2u);
  EXPECT_EQ(c.stats().invalid, 2u);
}

TEST(Http1Test, MalformedHeadersAreInvalid) {
  const char* requests[] = {
      "GET / HTTP/1.1\r\nHost : smuggled\r\n\r\n",
      "GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
      "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
      "GET / HTTP/9.9\r\n\r\n",
      "GET /\r\n\r\n",
      "GET / HTTP/1.1\r\nno colon\r\n\r\n",
  };
  for (const char* req : requests) {
    Conn c;
    c.Req(req, 1);
    EXPECT_EQ(c.stats().invalid, 1u) << req;
  }
}

TEST(Http1Test, TruncatedBodyIsSkippedByPosition) {
  Conn c;
  // A 1 MB upload of which the kernel copied 100 bytes, then the next request.
  const std::string head = "POST /up HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n";
  c.Req(head + std::string(100, 'x'), 1, static_cast<uint32_t>(head.size() + 1000000));
  c.Req("GET /after HTTP/1.1\r\n\r\n", 2);
  // A 64 KiB response body copied as 4 KiB prefixes of 16 KiB writes.
  c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 65536\r\n\r\n", 3);
  for (int i = 0; i < 4; ++i) c.Resp(std::string(4096, 'y'), 4 + i, 16384);
  c.Resp("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 10);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].request_body_bytes, 1000000u);
  EXPECT_EQ(out[0].response_body_bytes, 65536u);
  EXPECT_EQ(out[0].end_ns, 7);
  EXPECT_EQ(out[1].path, "/after");
  EXPECT_EQ(out[1].status, 404u);
  EXPECT_EQ(c.stats().resyncs, 0u);
}

TEST(Http1Test, PositionJumpInsideBodyIsNotAnError) {
  Conn c;
  c.Req("GET / HTTP/1.1\r\n\r\n", 1);
  c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 300\r\n\r\n" + std::string(100, 'a'), 2);
  c.SkipResp(150);  // a lost event
  c.Resp(std::string(50, 'b'), 3);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].response_body_bytes, 300u);
  EXPECT_EQ(c.stats().resyncs, 0u);
}

TEST(Http1Test, GapInHeadersKeepsTheMessageFromItsStartLineAndThePairing) {
  Conn c;
  c.Req("GET /first HTTP/1.1\r\nHost: a\r\n", 1);
  c.SkipReq(40);  // the rest of /first's headers is lost
  c.Req("GET /second HTTP/1.1\r\n\r\n", 2);
  c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 3);  // answers /first
  c.Resp("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 4);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].path, "/first");
  EXPECT_EQ(out[0].host, "a");
  EXPECT_EQ(out[0].status, 200u);
  EXPECT_EQ(out[1].path, "/second");
  EXPECT_EQ(out[1].status, 201u);
  EXPECT_EQ(c.stats().resyncs, 1u);
  EXPECT_EQ(c.stats().gaps, 1u);
  EXPECT_EQ(c.stats().unmatched, 0u);
}

// A gap inside the target: the request is reported with the path as far as it came, marked
// partial, and the pairing holds.
TEST(Http1Test, GapInTheTargetReportsThePathSeenAsPartial) {
  Conn c;
  c.Req("GET /first-with-a-very-long", 1);
  c.SkipReq(40);  // the rest of the target, and the headers
  c.Req("GET /second HTTP/1.1\r\n\r\n", 2);
  c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 3);  // answers /first...
  c.Resp("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 4);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].method, "GET");
  EXPECT_EQ(out[0].path, "/first-with-a-very-long");
  EXPECT_TRUE(out[0].partial);
  EXPECT_EQ(out[0].status, 200u);
  EXPECT_EQ(out[1].path, "/second");
  EXPECT_FALSE(out[1].partial);
  EXPECT_EQ(out[1].status, 201u);
  EXPECT_EQ(c.stats().resyncs, 1u);
  EXPECT_EQ(c.stats().cut_paths, 1u);
  EXPECT_EQ(c.stats().unmatched, 0u);
}

// A gap before the target began (inside the method, or right after it) leaves no path: the request
// is dropped, its response is counted unmatched, and the pairing holds.
TEST(Http1Test, GapBeforeATargetDropsTheMessageAndKeepsPairing) {
  for (const std::string_view cut : {"GE", "GET", "GET "}) {
    SCOPED_TRACE(cut);
    Conn c;
    c.Req(cut, 1);
    c.SkipReq(40);
    c.Req("GET /second HTTP/1.1\r\n\r\n", 2);
    c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 3);  // answers the cut one
    c.Resp("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 4);
    const auto out = c.Take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].path, "/second");
    EXPECT_EQ(out[0].status, 201u);
    EXPECT_EQ(c.stats().cut_paths, 0u);
    EXPECT_EQ(c.stats().unmatched, 1u);
  }
}

// A request line longer than the copy with no '?' before the cut (a long REST path): the path as
// far as the copy went, marked partial; the next request on the connection is whole.
TEST(Http1Test, RequestLineCutInItsPathIsReportedAsFarAsCopied) {
  Conn c;
  const std::string path = "/files/" + std::string(6000, 'f');
  const std::string line = "PUT " + path + " HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
  c.Req(std::string_view(line).substr(0, 4096), 10, static_cast<uint32_t>(line.size()));
  c.Resp("HTTP/1.1 414 URI Too Long\r\nContent-Length: 0\r\n\r\n", 20);
  c.Req("GET /next HTTP/1.1\r\n\r\n", 30);
  c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 40);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].method, "PUT");
  EXPECT_EQ(out[0].path, path.substr(0, 4096 - 4));
  EXPECT_TRUE(out[0].partial);
  EXPECT_EQ(out[0].status, 414u);
  EXPECT_EQ(out[0].request_header_bytes, line.size());
  EXPECT_EQ(out[1].path, "/next");
  EXPECT_FALSE(out[1].partial);  // the reused slot does not keep the flag
  EXPECT_EQ(out[1].status, 200u);
  EXPECT_EQ(c.stats().cut_paths, 1u);
  EXPECT_EQ(c.stats().unmatched, 0u);
}

// A request target longer than the copy, for its query string: the path before the '?' is
// whole, so the request is reported (without the query, even with keep_query; version unknown).
TEST(Http1Test, RequestLineCutInItsQueryIsReportedWithItsPath) {
  for (const bool keep_query : {false, true}) {
    SCOPED_TRACE(keep_query);
    ParserOptions options;
    options.keep_query = keep_query;
    Conn c(options);
    const std::string line = "GET /collect?v=1&data=" + std::string(6000, 'd') +
                             " HTTP/1.1\r\nHost: beacon.local\r\n\r\n";
    c.Req(std::string_view(line).substr(0, 4096), 10, static_cast<uint32_t>(line.size()));
    c.Resp("HTTP/1.1 204 No Content\r\n\r\n", 20);
    // A cut line whose target is whole (only the version was cut) keeps its query.
    const std::string long_path = "/" + std::string(4080, 'p') + "?a=1";
    const std::string second = "GET " + long_path + " HTTP/1.1\r\n\r\n";
    c.Req(std::string_view(second).substr(0, long_path.size() + 6), 30,
          static_cast<uint32_t>(second.size()));
    c.Resp("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 40);
    const auto out = c.Take();
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].method, "GET");
    EXPECT_EQ(out[0].path, "/collect");
    EXPECT_EQ(out[0].version, "");
    EXPECT_EQ(out[0].host, "");
    EXPECT_EQ(out[0].status, 204u);
    EXPECT_EQ(out[0].request_header_bytes, line.size());
    const std::string path = "/" + std::string(4080, 'p');
    EXPECT_EQ(out[1].path, keep_query ? path + "?a=*" : path);
    EXPECT_EQ(out[1].status, 404u);
    EXPECT_EQ(c.stats().unmatched, 0u);
  }
}

// Headers larger than the copy limit: the kernel copies the first 4 KiB of a call that moved
// more. The request is still reported, from its start line and the lines before the cut.
TEST(Http1Test, RequestHeadLargerThanTheCopyIsReported) {
  Conn c;
  const std::string cookie = "Cookie: session=" + std::string(6000, 'c') + "\r\n";
  const std::string big =
      "POST /login?next=%2F HTTP/1.1\r\nHost: shop.local\r\n"
      "Content-Length: 5\r\n" +
      cookie +
      "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
      "\r\n\r\nhello";
  c.Req(std::string_view(big).substr(0, 4096), 10, static_cast<uint32_t>(big.size()));
  c.Resp("HTTP/1.1 303 See Other\r\nContent-Length: 0\r\n\r\n", 20);
  c.Req("GET /next HTTP/1.1\r\nHost: shop.local\r\n\r\n", 30);
  c.Resp(kOk, 40);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].method, "POST");
  EXPECT_EQ(out[0].path, "/login");
  EXPECT_EQ(out[0].version, "HTTP/1.1");
  EXPECT_EQ(out[0].host, "shop.local");
  EXPECT_EQ(out[0].status, 303u);
  EXPECT_EQ(out[0].start_ns, 10);
  EXPECT_EQ(out[0].end_ns, 20);
  EXPECT_EQ(out[0].request_header_bytes, big.size());  // up to the end of the cut call
  EXPECT_EQ(out[0].request_body_bytes, 5u);            // its Content-Length was copied
  EXPECT_TRUE(out[0].trace.trace_id.empty());          // traceparent came after the cut
  EXPECT_EQ(out[1].path, "/next");
  EXPECT_EQ(out[1].status, 200u);
  EXPECT_EQ(c.stats().gaps, 1u);
  EXPECT_EQ(c.stats().unmatched, 0u);
  EXPECT_EQ(c.stats().invalid, 0u);
}

// The same on the response side: a server's large header block (the client reads it in one call,
// or the server writes it in one). The response ends at the call that carried its head.
TEST(Http1Test, ResponseHeadLargerThanTheCopyIsReported) {
  Conn c;
  c.Req("GET /page HTTP/1.1\r\nHost: a\r\n\r\n", 10);
  const std::string big =
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Security-Policy: " + std::string(9000, 'p') +
      "\r\n\r\nok";
  c.Resp(std::string_view(big).substr(0, 4096), 20, static_cast<uint32_t>(big.size()));
  // The next exchange on the connection pairs as usual.
  c.Req("GET /b HTTP/1.1\r\n\r\n", 30);
  c.Resp("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 40);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].path, "/page");
  EXPECT_EQ(out[0].status, 200u);
  EXPECT_EQ(out[0].start_ns, 10);
  EXPECT_EQ(out[0].end_ns, 20);
  EXPECT_EQ(out[0].response_header_bytes, big.size());
  EXPECT_EQ(out[0].response_body_bytes, 2u);
  EXPECT_EQ(out[1].path, "/b");
  EXPECT_EQ(out[1].status, 404u);
  EXPECT_EQ(c.stats().unmatched, 0u);
}

// A cut interim response (103 Early Hints with many Link headers) is not the answer: the final
// response after it is.
TEST(Http1Test, CutInterimResponseWaitsForTheFinalOne) {
  Conn c;
  c.Req("GET / HTTP/1.1\r\n\r\n", 10);
  const std::string hints =
      "HTTP/1.1 103 Early Hints\r\nLink: " + std::string(8000, 'l') + "\r\n\r\n";
  c.Resp(std::string_view(hints).substr(0, 4096), 20, static_cast<uint32_t>(hints.size()));
  c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 30);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].status, 200u);
  EXPECT_EQ(out[0].end_ns, 30);
}

// A gap in chunked framing (a call larger than the copy) loses where the chunks are, not the
// message: it ends where the next one starts (here pipelined, inside a call), with the bytes
// before it counted as body, framing included.
TEST(Http1Test, GapInChunkFramingEndsAtTheNextMessage) {
  Conn c;
  c.Req("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 1);
  c.Resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n", 2);
  c.SkipResp(30);  // chunk framing lost: where /a's response ends is not known yet
  c.Resp("tail of something\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", 3);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].path, "/a");
  EXPECT_EQ(out[0].status, 200u);
  EXPECT_EQ(out[0].end_ns, 3);
  EXPECT_EQ(out[0].response_body_bytes, 5u + 30 + 19);  // "tail of something\r\n"
  EXPECT_EQ(out[1].path, "/b");
  EXPECT_EQ(out[1].status, 202u);
  EXPECT_EQ(c.stats().resyncs, 0u);
  EXPECT_EQ(c.stats().gaps, 1u);
}

// Big chunked bodies read or written in calls larger than the copy (`original` > data: the rest
// of the call is a gap): each message ends where its end shows, none is lost, nothing resyncs.
TEST(Http1Test, ChunkedBodiesLargerThanTheCopyEndWhereTheirEndShows) {
  Conn c;
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string chunk = "1b58\r\n" + std::string(7000, 'x') + "\r\n";
  // 1: the last call is copied whole and ends with the last chunk.
  c.Req("GET /1 HTTP/1.1\r\n\r\n", 10);
  c.Resp(head + chunk.substr(0, 100), 11, static_cast<uint32_t>(head.size() + 16384));
  c.Resp(std::string(50, 'x'), 12, 16384);
  c.Resp("xxxx\r\n0\r\n\r\n", 13);
  auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].path, "/1");
  EXPECT_EQ(out[0].status, 200u);
  EXPECT_EQ(out[0].start_ns, 10);
  EXPECT_EQ(out[0].end_ns, 13);
  // Every body byte but the first chunk's size line ("1b58\r\n"): framing after it is counted.
  EXPECT_EQ(out[0].response_body_bytes, 16384u - 6 + 16384 + 11);
  // 2: the last chunk split between two calls ("\r\n0\r" and "\n\r\n").
  c.Req("GET /2 HTTP/1.1\r\n\r\n", 20);
  c.Resp(head + chunk.substr(0, 100), 21, static_cast<uint32_t>(head.size() + 9000));
  c.Resp("xx\r\n0\r", 22);
  EXPECT_TRUE(c.Take().empty());
  c.Resp("\n\r\n", 23);
  out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end_ns, 23);
  // 3: the last chunk alone in a call after a call cut by the copy.
  c.Req("GET /3 HTTP/1.1\r\n\r\n", 30);
  c.Resp(head + chunk.substr(0, 100), 31, static_cast<uint32_t>(head.size() + 9000));
  c.Resp("0\r\n\r\n", 32);
  out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end_ns, 32);
  // 4: the end never copied (the last call is cut too): the next response, at a call's first
  // byte, ends it at the time of the call before.
  c.Req("GET /4 HTTP/1.1\r\n\r\n", 40);
  c.Resp(head + chunk.substr(0, 100), 41, static_cast<uint32_t>(head.size() + 9000));
  c.Resp(std::string(100, 'x'), 42, 9000);
  c.Req("GET /5 HTTP/1.1\r\n\r\n", 50);
  EXPECT_TRUE(c.Take().empty());
  c.Resp("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 51);
  out = c.Take();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].path, "/4");
  EXPECT_EQ(out[0].end_ns, 42);
  EXPECT_EQ(out[1].path, "/5");
  EXPECT_EQ(out[1].status, 404u);
  EXPECT_EQ(out[1].end_ns, 51);
  // 6: a chunked upload cut by the copy: the request's body counts on and the next request is
  // parsed; its response ends by the close.
  const std::string post = "POST /6 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  c.Req(post + chunk.substr(0, 100), 60, 16384);
  c.Req("GET /7 HTTP/1.1\r\n\r\n", 61);
  c.Resp("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 62);
  c.Resp(head + chunk.substr(0, 100), 63, static_cast<uint32_t>(head.size() + 9000));
  c.Resp(std::string(10, 'x'), 64, 9000);
  c.Close(70);
  out = c.Take();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].path, "/6");
  EXPECT_EQ(out[0].status, 201u);
  EXPECT_EQ(out[0].request_body_bytes, 16384u - post.size() - 6);
  EXPECT_EQ(out[1].path, "/7");
  EXPECT_EQ(out[1].end_ns, 64);
  EXPECT_EQ(c.stats().resyncs, 0u);
  EXPECT_EQ(c.stats().unmatched, 0u);
}

TEST(Http1Test, OversizedHeadersAreBounded) {
  Conn c;
  c.Req("GET / HTTP/1.1\r\n", 1);
  const std::string filler = "X-Filler: " + std::string(1000, 'f') + "\r\n";
  for (int i = 0; i < 300; ++i) c.Req(filler, 1);
  EXPECT_EQ(c.stats().oversized, 1u);
  c.Req("GET /next HTTP/1.1\r\n\r\n", 2);
  c.Resp("HTTP/1.1 431 Too Large\r\nContent-Length: 0\r\n\r\n", 3);
  c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 4);
  const auto out = c.Take();
  // The oversized request is still reported from its start line, with the server's answer and
  // the header bytes held when the bound was crossed; the next request pairs as usual.
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].method, "GET");
  EXPECT_EQ(out[0].path, "/");
  EXPECT_EQ(out[0].status, 431u);
  EXPECT_GT(out[0].request_header_bytes, kMaxBufferedBytes);
  EXPECT_EQ(out[0].start_ns, 1);
  EXPECT_EQ(out[0].end_ns, 3);
  EXPECT_EQ(out[1].path, "/next");
  EXPECT_EQ(out[1].status, 200u);
  EXPECT_EQ(c.stats().unmatched, 0u);
}

// An oversized block whose complete lines do not parse: nothing to report, its request is
// unmatched, and the connection goes on.
TEST(Http1Test, OversizedBlockWithoutAStartLineIsDropped) {
  Conn c;
  c.Req("GET /a HTTP/1.1\r\n\r\n", 1);
  c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2);
  // A response with a malformed header line, then more than 256 KiB of header lines.
  c.Req("GET /b HTTP/1.1\r\n\r\n", 3);
  c.Resp("HTTP/1.1 200 OK\r\nno colon here\r\n", 4);
  const std::string filler = "X-Filler: " + std::string(1000, 'f') + "\r\n";
  for (int i = 0; i < 300; ++i) c.Resp(filler, 4);
  EXPECT_EQ(c.stats().oversized, 1u);
  c.Resp("\r\n", 5);
  c.Req("GET /c HTTP/1.1\r\n\r\n", 6);
  c.Resp("HTTP/1.1 204 No Content\r\n\r\n", 7);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].path, "/a");
  EXPECT_EQ(out[1].path, "/c");
  EXPECT_EQ(out[1].status, 204u);
  EXPECT_EQ(c.stats().unmatched, 1u);  // /b
}

TEST(Http1Test, ResponseSeenBeforeItsRequest) {
  Conn c;
  c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 20);
  c.Req("GET /reordered HTTP/1.1\r\n\r\n", 10);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].path, "/reordered");
  EXPECT_EQ(out[0].start_ns, 10);
  EXPECT_EQ(out[0].end_ns, 20);
}

// A client that writes requests and reads responses from different threads (Go's transport) can
// read the whole response before the writer's send call returns and is timed: the data arrives in
// order, the timestamps do not. The pair is kept, starting where the response began.
TEST(Http1Test, ClientTimestampsInvertedByRacingThreadsStillPair) {
  Conn c;
  c.Req("GET /first HTTP/1.1\r\n\r\n", 10);
  c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 20);
  c.Req("GET /raced HTTP/1.1\r\n\r\n", 50);
  c.Resp("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\n", 30);
  c.Resp("oops", 40);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].path, "/raced");
  EXPECT_EQ(out[1].status, 500u);
  EXPECT_EQ(out[1].start_ns, 30);
  EXPECT_EQ(out[1].end_ns, 40);
  EXPECT_EQ(c.stats().unmatched, 0u);
}

// After a gap hid whole requests, a response that ended before the next request started answered
// one of the hidden ones and is not paired with it.
TEST(Http1Test, AfterARequestGapAnEarlierResponseIsUnmatched) {
  Conn c;
  c.Req("GET /a HTTP/1.1\r\n\r\n", 1);
  c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2);
  c.SkipReq(40);  // a request lost in the ring
  c.Resp("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 5);
  c.Req("GET /after HTTP/1.1\r\n\r\n", 6);
  c.Resp("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 7);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].path, "/after");
  EXPECT_EQ(out[1].status, 201u);
  EXPECT_EQ(c.stats().unmatched, 1u);
}

TEST(Http1Test, PreexistingConnectionJoinedMidResponse) {
  Conn c(ParserOptions{.connection_preexisting = true});
  // The tail of a response to a request before the join, then a full response we did not see
  // the request of, then a normal exchange.
  c.Resp("dy of an earlier response", 1);
  c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2);
  c.Req("GET /new HTTP/1.1\r\n\r\n", 3);
  c.Resp("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 4);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].path, "/new");
  EXPECT_EQ(out[0].status, 404u);
  EXPECT_EQ(c.stats().unmatched, 1u);
}

TEST(Http1Test, UpgradeEndsHttp1) {
  Conn c;
  c.Req("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 1);
  c.Resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello", 2);
  c.Req("\x81\x85masked", 3);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].status, 101u);
  EXPECT_EQ(c.stats().invalid, 0u);
}

TEST(Http1Test, ManyPipelinedRequestsAreBounded) {
  Conn c;
  std::string reqs;
  for (size_t i = 0; i < kMaxPendingRequests + 10; ++i) reqs += "GET / HTTP/1.1\r\n\r\n";
  c.Req(reqs, 1);
  EXPECT_EQ(c.stats().unmatched, 10u);
}

// ScanHead (one pass) must agree with FindHeadEnd + ParseRequestHead / ParseResponseHead on
// complete, incomplete and malformed blocks, also when an early line is bad and the block is not
// complete yet (then it must wait for the end, not reject early).
TEST(Http1Test, ScanHeadAgreesWithTheTwoStepPath) {
  const std::vector<std::pair<std::string, bool>> blocks = {
      {"GET /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", true},
      {"GET /a HTTP/1.1\nHost: h\n\n", true},
      {"POST /a HTTP/1.1\r\nTransfer-Encoding: gzip, CHUNKED\r\nExpect: 100-Continue\r\n\r\n",
       true},
      {"GET /a HTTP/1.1\r\nBad Name: x\r\nHost: h\r\n\r\n", true},
      {"GET /a HTTP/1.1\r\nno-colon-here\r\n\r\n", true},
      {"GET /a HTTP/1.1\r\n: empty name\r\n\r\n", true},
      {"GET /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", true},
      {"GET /a HTTP/1.1\r\nContent-Length: -1\r\n\r\n", true},
      {"GET /a HTTP/1.1\r\nHost: a:b:c\r\ntraceparent:  00-x  \r\nX-Long-Header-Name-Here: "
       "v\r\n\r\n",
       true},
      {"GET  /a HTTP/1.1\r\n\r\n", true},
      {"GET /a HTTP/2.0\r\n\r\n", true},
      {"GET /a HTTP/1.1\r\nHost: h\r\n", true},      // incomplete
      {"GET /a HTTP/1.1\r\nBad Name: x\r\n", true},  // incomplete, bad line seen
      {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", false},
      {"HTTP/1.1 204\r\n\r\n", false},
      {"HTTP/1.1 200X\r\n\r\n", false},
      {"HTTP/1.1 2\r\n\r\n", false},
      {"HTTP/1.1 301 Moved\r\nLocation: /b\r\nTransfer-Encoding: chunked\r\n\r\n", false},
      {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", false},  // incomplete
  };
  for (const auto& [block, is_request] : blocks) {
    SCOPED_TRACE(block);
    size_t find_from = 0;
    const size_t expected_len = FindHeadEnd(block, &find_from);
    MessageHead expected;
    ParseState expected_state = ParseState::kNeedsMoreData;
    if (expected_len > 0) {
      const std::string_view head = std::string_view(block).substr(0, expected_len);
      expected_state =
          is_request ? ParseRequestHead(head, &expected) : ParseResponseHead(head, &expected);
    }
    MessageHead got;
    ParseState state = ParseState::kNeedsMoreData;
    size_t scan_from = 0;
    const size_t len = ScanHead(block, is_request, &got, &state, &scan_from);
    ASSERT_EQ(len, expected_len);
    EXPECT_EQ(scan_from, find_from);
    if (len == 0) continue;
    ASSERT_EQ(state, expected_state);
    if (state != ParseState::kSuccess) continue;
    EXPECT_EQ(got.method, expected.method);
    EXPECT_EQ(got.target, expected.target);
    EXPECT_EQ(got.version, expected.version);
    EXPECT_EQ(got.status, expected.status);
    EXPECT_EQ(got.host, expected.host);
    EXPECT_EQ(got.traceparent, expected.traceparent);
    EXPECT_EQ(got.content_length, expected.content_length);
    EXPECT_EQ(got.chunked, expected.chunked);
    EXPECT_EQ(got.expect_continue, expected.expect_continue);
    EXPECT_EQ(got.header_bytes, expected.header_bytes);
  }
}

// The request and response queues are circular arrays that grow: grow them while their contents
// wrap around the end, and check that pairing and every record's fields survive.
TEST(Http1Test, QueuesGrowWhileWrappedAndKeepFifoOrder) {
  Conn c;
  int64_t t = 0;
  int next_request = 0;
  int next_response = 0;
  std::vector<Request> out;
  auto send_requests = [&](int n) {
    std::string reqs;
    for (int i = 0; i < n; ++i) {
      const std::string index = std::to_string(next_request++);
      reqs.append("GET /r").append(index).append(" HTTP/1.1\r\nHost: host-with-a-long-name-");
      reqs.append(index).append("\r\n\r\n");
    }
    c.Req(reqs, ++t);
  };
  auto send_responses = [&](int n) {
    std::string resps;
    for (int i = 0; i < n; ++i) {
      const std::string body(static_cast<size_t>(next_response++), 'b');
      resps +=
          "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    }
    c.Resp(resps, ++t);
    for (Request& r : c.Take()) out.push_back(std::move(r));
  };
  // Sizes chosen so that the head of the queue is in the middle when it grows (4 -> 8 -> 16).
  send_requests(3);
  send_responses(2);
  send_requests(4);  // 5 pending: grows while wrapped
  send_responses(3);
  send_requests(12);  // 14 pending
  send_responses(14);
  ASSERT_EQ(out.size(), 19u);
  for (size_t i = 0; i < out.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(out[i].path, "/r" + std::to_string(i));
    EXPECT_EQ(out[i].host, "host-with-a-long-name-" + std::to_string(i));
    EXPECT_EQ(out[i].response_body_bytes, i);
  }
  EXPECT_EQ(c.stats().unmatched, 0u);
  EXPECT_EQ(c.stats().requests, 19u);
}

// Records are built in reused queue slots: a slot whose request was given up on (its response was
// lost in a gap) still holds that request's host, trace context and body size, and must not leak
// them into the requests it carries later.
TEST(Http1Test, ReusedSlotsDoNotLeakFields) {
  Conn c;
  c.Req(
      "POST /a HTTP/1.1\r\nHost: first.example\r\nContent-Length: 3\r\ntraceparent: "
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\nabc",
      1);
  c.Resp("HTTP/1.1 200", 2);
  c.SkipResp(100);  // bytes lost inside the status line: the response is dropped
  int64_t t = 3;
  for (int i = 0; i < 9; ++i) {
    c.Req("GET /b HTTP/1.1\r\n\r\n", t++);
    c.Resp("HTTP/1.1 204 No Content\r\n\r\n", t++);
  }
  EXPECT_EQ(c.stats().unmatched, 1u);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 9u);
  for (size_t i = 0; i < out.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(out[i].method, "GET");
    EXPECT_EQ(out[i].path, "/b");
    EXPECT_EQ(out[i].host, "");
    EXPECT_EQ(out[i].trace.trace_id, "");
    EXPECT_EQ(out[i].trace.parent_span_id, "");
    EXPECT_EQ(out[i].trace.flags, 0);
    EXPECT_EQ(out[i].request_body_bytes, 0u);
    EXPECT_EQ(out[i].status, 204u);
    EXPECT_EQ(out[i].response_body_bytes, 0u);
  }
}

TEST(Http1Test, Inference) {
  EXPECT_TRUE(InferHttp1(Bytes("GET / HTTP/1.1\r\n"), true));
  EXPECT_TRUE(InferHttp1(Bytes("OPTIONS * HTTP/1.1"), true));
  EXPECT_TRUE(InferHttp1(Bytes("HTTP/1.1 200 OK\r\n"), false));
  EXPECT_FALSE(InferHttp1(Bytes("HTTP/1.1 200 OK\r\n"), true));
  EXPECT_FALSE(InferHttp1(Bytes("GETX / HTTP/1.1"), true));
  EXPECT_FALSE(InferHttp1(Bytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), true));
  EXPECT_FALSE(InferHttp1(Bytes("GE"), true));
}

}  // namespace
}  // namespace loupe::protocols::http1
