// Beyla's ebpf.http_request_timeout in the HTTP/1 and HTTP/2 parsers (ParserOptions::
// request_timeout_ns): an unanswered request becomes a 408 record with end = start + timeout, a
// late response is counted unmatched and never makes a second record. Time is driven by hand
// (OnTimer's `now`), as the ingest shard's sweep does with its clock.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "src/protocols/http1/http1_parser.h"
#include "src/protocols/http2/frames.h"
#include "src/protocols/http2/http2_parser.h"
#include "src/protocols/http2/wire_builders_for_test.h"

namespace loupe::protocols {
namespace {

using http2::FrameType;
using telemetry::Protocol;
using telemetry::Request;

constexpr int64_t kTimeout = 1'000;

class Conn {
 public:
  explicit Conn(std::unique_ptr<ConnectionParser> parser) : parser_(std::move(parser)) {}
  void Req(std::string_view data, int64_t t) { parser_->OnRequestBytes(Chunk(&req_pos_, data, t)); }
  void Resp(std::string_view data, int64_t t) {
    parser_->OnResponseBytes(Chunk(&resp_pos_, data, t));
  }
  void Timer(int64_t now) { parser_->OnTimer(now); }
  void Close(int64_t t) { parser_->OnClose(t); }
  std::vector<Request> Take() {
    std::vector<Request> out;
    parser_->TakeRequests(&out);
    return out;
  }
  const ParserStats& stats() const { return parser_->stats(); }

 private:
  static StreamChunk Chunk(uint64_t* pos, std::string_view data, int64_t t) {
    StreamChunk c;
    c.position = *pos;
    c.data = {reinterpret_cast<const uint8_t*>(data.data()), data.size()};
    c.original_size = static_cast<uint32_t>(data.size());
    c.time_ns = t;
    *pos += data.size();
    return c;
  }
  std::unique_ptr<ConnectionParser> parser_;
  uint64_t req_pos_ = 0;
  uint64_t resp_pos_ = 0;
};

ParserOptions WithTimeout(int64_t timeout = kTimeout) {
  ParserOptions o;
  o.request_timeout_ns = timeout;
  return o;
}

Conn Http1(ParserOptions options = WithTimeout()) {
  return Conn(http1::CreateHttp1Parser(options));
}
Conn Http2(ParserOptions options = WithTimeout()) {
  return Conn(http2::CreateHttp2Parser(options));
}

const std::string kGet = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n";
const std::string kGet2 = "GET /next HTTP/1.1\r\nHost: x\r\n\r\n";
const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

void ExpectTimeout(const Request& r, std::string_view path, int64_t start, Protocol protocol) {
  EXPECT_EQ(r.path, path);
  EXPECT_EQ(r.status, 408u);
  EXPECT_EQ(r.protocol, protocol);
  EXPECT_EQ(r.start_ns, start);
  EXPECT_EQ(r.end_ns, start + kTimeout);
  EXPECT_EQ(r.response_header_bytes, 0u);
  EXPECT_EQ(r.response_body_bytes, 0u);
}

TEST(Http1TimeoutTest, UnansweredRequestBecomes408AtTheDeadline) {
  Conn c = Http1();
  c.Req(kGet, 100);
  c.Timer(100 + kTimeout - 1);
  EXPECT_TRUE(c.Take().empty());
  c.Timer(100 + kTimeout);
  auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  ExpectTimeout(out[0], "/slow", 100, Protocol::kHttp1);
  EXPECT_EQ(out[0].method, "GET");
  EXPECT_EQ(out[0].version, "HTTP/1.1");
  c.Timer(100 + 5 * kTimeout);
  EXPECT_TRUE(c.Take().empty());  // reported once
  EXPECT_EQ(c.stats().requests, 1u);
  EXPECT_EQ(c.stats().unmatched, 0u);
}

TEST(Http1TimeoutTest, LateResponseIsUnmatchedAndPairingStaysRight) {
  Conn c = Http1();
  c.Req(kGet, 100);
  c.Timer(2'000);
  ASSERT_EQ(c.Take().size(), 1u);
  c.Resp(kOk, 2'500);  // the answer to /slow, too late
  EXPECT_TRUE(c.Take().empty());
  EXPECT_EQ(c.stats().unmatched, 1u);
  // The connection goes on: the next exchange pairs correctly.
  c.Req(kGet2, 3'000);
  c.Resp(kOk, 3'100);
  auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].path, "/next");
  EXPECT_EQ(out[0].status, 200u);
  EXPECT_EQ(out[0].end_ns, 3'100);
  c.Close(4'000);
  EXPECT_EQ(c.stats().unmatched, 1u);
}

TEST(Http1TimeoutTest, ResponseUnderWayIsNotATimeoutButPipelinedOnesBehindItAre) {
  Conn c = Http1();
  c.Req(kGet + kGet2, 100);
  c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", 500);  // the first's, in progress
  c.Timer(100 + kTimeout);
  auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  ExpectTimeout(out[0], "/next", 100, Protocol::kHttp1);
  c.Resp("-done!", 1'500);
  c.Resp(kOk, 1'600);  // the second's, after its 408
  out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].path, "/slow");
  EXPECT_EQ(out[0].status, 200u);
  EXPECT_EQ(out[0].end_ns, 1'500);
  EXPECT_EQ(c.stats().unmatched, 1u);
  EXPECT_EQ(c.stats().requests, 2u);
}

TEST(Http1TimeoutTest, ResponseAfterTheDeadlineIsATimeoutWithoutASweep) {
  // Whether the sweep ran before the late response or not, the outcome is the same.
  Conn c = Http1();
  c.Req(kGet, 100);
  c.Resp(kOk, 100 + kTimeout + 500);
  auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  ExpectTimeout(out[0], "/slow", 100, Protocol::kHttp1);
  EXPECT_EQ(c.stats().unmatched, 1u);
  EXPECT_EQ(c.stats().requests, 1u);
}

TEST(Http1TimeoutTest, AnswerInTimeIsNormal) {
  Conn c = Http1();
  c.Req(kGet, 100);
  c.Resp(kOk, 100 + kTimeout - 1);
  c.Timer(100 + 3 * kTimeout);
  auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].status, 200u);
  EXPECT_EQ(out[0].end_ns, 100 + kTimeout - 1);
}

TEST(Http1TimeoutTest, CloseWithAnUnansweredRequestIsATimeoutWhenTimeoutsAreOn) {
  Conn c = Http1();
  c.Req(kGet, 100);
  c.Close(300);  // before the deadline: Beyla reports disconnects as timeouts too
  auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  ExpectTimeout(out[0], "/slow", 100, Protocol::kHttp1);
  EXPECT_EQ(c.stats().unmatched, 0u);
}

TEST(Http1TimeoutTest, CloseEndsACloseDelimitedResponseAndTimesOutTheRequestBehindIt) {
  Conn c = Http1();
  c.Req(kGet + kGet2, 100);
  c.Resp("HTTP/1.1 200 OK\r\n\r\nbody until close", 200);
  c.Close(300);
  auto out = c.Take();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].path, "/slow");
  EXPECT_EQ(out[0].status, 200u);
  EXPECT_EQ(out[0].end_ns, 200);
  ExpectTimeout(out[1], "/next", 100, Protocol::kHttp1);
  EXPECT_EQ(c.stats().unmatched, 0u);
}

TEST(Http1TimeoutTest, OffByDefault) {
  Conn c = Http1(ParserOptions{});
  c.Req(kGet, 100);
  c.Timer(1'000'000'000);
  EXPECT_TRUE(c.Take().empty());
  c.Close(1'000'000'001);
  EXPECT_TRUE(c.Take().empty());
  EXPECT_EQ(c.stats().unmatched, 1u);
}

// The response began: it is reported as what it was (its status, the bytes seen), cut by the
// close, not as a timeout.
TEST(Http1TimeoutTest, TruncatedResponseAtCloseIsReportedNotATimeout) {
  Conn c = Http1();
  c.Req(kGet, 100);
  c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhal", 200);
  c.Close(300);
  const auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].status, 200u);
  EXPECT_EQ(out[0].response_body_bytes, 3u);
  EXPECT_EQ(out[0].end_ns, 200);
  EXPECT_EQ(c.stats().unmatched, 0u);
  EXPECT_EQ(c.stats().cut_by_close, 1u);
}

// HTTP/2 frames: src/protocols/http2/wire_builders_for_test.h.
using http2::testing::Frame;
using http2::testing::Incremental;
using http2::testing::Indexed;
constexpr uint8_t kEndStream = http2::kFlagEndStream;
constexpr uint8_t kEndHeaders = http2::kFlagEndHeaders;

// GET {path} (:method GET, :scheme http, :path literal, :authority x).
std::string Get(uint32_t stream, std::string_view path) {
  return Frame(FrameType::kHeaders, kEndStream | kEndHeaders, stream,
               Indexed(2) + Indexed(6) + Incremental(4, path) + Incremental(1, "x"));
}
// A gRPC call that has sent its request but got nothing back yet (a streaming call).
std::string GrpcCall(uint32_t stream) {
  return Frame(FrameType::kHeaders, kEndHeaders, stream,
               Indexed(3) + Indexed(6) + Incremental(4, "/svc/Watch") + Incremental(1, "x") +
                   Incremental(31, "application/grpc"));
}
std::string Ok(uint32_t stream) {
  return Frame(FrameType::kHeaders, kEndStream | kEndHeaders, stream, Indexed(8));
}
const std::string kPreface = std::string(http2::kConnectionPreface);

TEST(Http2TimeoutTest, UnansweredStreamBecomes408AndItsLateResponseIsUnmatched) {
  Conn c = Http2();
  c.Req(kPreface + Get(1, "/slow") + Get(3, "/fast"), 100);
  c.Resp(Ok(3), 200);
  auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].path, "/fast");
  c.Timer(100 + kTimeout - 1);
  EXPECT_TRUE(c.Take().empty());
  c.Timer(100 + kTimeout);
  out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  ExpectTimeout(out[0], "/slow", 100, Protocol::kHttp2);
  EXPECT_EQ(out[0].version, "HTTP/2");
  c.Timer(100 + 9 * kTimeout);
  EXPECT_TRUE(c.Take().empty());
  c.Resp(Ok(1), 5'000);
  EXPECT_TRUE(c.Take().empty());
  EXPECT_EQ(c.stats().unmatched, 1u);
  EXPECT_EQ(c.stats().requests, 2u);
}

TEST(Http2TimeoutTest, ResponseAfterTheDeadlineIsATimeoutWithoutASweep) {
  Conn c = Http2();
  c.Req(kPreface + Get(1, "/slow"), 100);
  c.Resp(Ok(1), 100 + kTimeout);
  auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  ExpectTimeout(out[0], "/slow", 100, Protocol::kHttp2);
  EXPECT_EQ(c.stats().unmatched, 1u);
  // One nanosecond earlier it is a normal answer.
  Conn d = Http2();
  d.Req(kPreface + Get(1, "/slow"), 100);
  d.Resp(Ok(1), 100 + kTimeout - 1);
  out = d.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].status, 200u);
  EXPECT_EQ(d.stats().unmatched, 0u);
}

TEST(Http2TimeoutTest, GrpcAndBegunResponsesAreNotTimedOut) {
  Conn c = Http2();
  c.Req(kPreface + GrpcCall(1) + Get(3, "/stream"), 100);
  // Stream 3's response HEADERS arrived (a long body follows): not a timeout.
  c.Resp(Frame(FrameType::kHeaders, kEndHeaders, 3, Indexed(8)), 200);
  c.Timer(100 + 10 * kTimeout);
  EXPECT_TRUE(c.Take().empty());
  c.Close(100 + 11 * kTimeout);
  // At the close, stream 3's response was cut: reported with its status, ending at its head; the
  // gRPC call that never got an answer is unmatched, not a timeout.
  auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].path, "/stream");
  EXPECT_EQ(out[0].status, 200u);
  EXPECT_EQ(out[0].end_ns, 200);
  EXPECT_EQ(c.stats().cut_by_close, 1u);
  EXPECT_EQ(c.stats().unmatched, 1u);
}

TEST(Http2TimeoutTest, CloseWithAnUnansweredStreamIsATimeout) {
  Conn c = Http2();
  c.Req(kPreface + Get(1, "/slow"), 100);
  c.Close(200);
  auto out = c.Take();
  ASSERT_EQ(out.size(), 1u);
  ExpectTimeout(out[0], "/slow", 100, Protocol::kHttp2);
  EXPECT_EQ(c.stats().unmatched, 0u);
}

TEST(Http2TimeoutTest, LateResetOfATimedOutStreamMakesNoRecord) {
  Conn c = Http2();
  c.Req(kPreface + Get(1, "/slow"), 100);
  c.Timer(100 + kTimeout);
  ASSERT_EQ(c.Take().size(), 1u);
  c.Req(Frame(FrameType::kRstStream, 0, 1, std::string("\0\0\0\x8", 4)), 3'000);  // CANCEL
  c.Close(4'000);
  EXPECT_TRUE(c.Take().empty());
  EXPECT_EQ(c.stats().unmatched, 0u);
}

TEST(Http2TimeoutTest, OffByDefault) {
  Conn c = Http2(ParserOptions{});
  c.Req(kPreface + Get(1, "/slow"), 100);
  c.Timer(1'000'000'000);
  c.Close(1'000'000'001);
  EXPECT_TRUE(c.Take().empty());
  EXPECT_EQ(c.stats().unmatched, 1u);
}

}  // namespace
}  // namespace loupe::protocols
