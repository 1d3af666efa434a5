// HTTP/1.1 -> HTTP/2 upgrades (RFC 7540 §3.2, Upgrade: h2c) across the HTTP/1 parser and its
// HTTP/2 successor, over byte streams written out by hand the way curl --http2 and Go's
// x/net/http2/h2c put them on the wire; plus an upgrade the server ignores and a WebSocket upgrade.
#include <gtest/gtest.h>

#include <memory>
#include <random>
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

using http2::testing::Frame;
using http2::testing::Incremental;
using http2::testing::Indexed;

constexpr uint8_t kEndStream = http2::kFlagEndStream;
constexpr uint8_t kEndHeaders = http2::kFlagEndHeaders;

std::string Settings() {
  return Frame(FrameType::kSettings, 0, 0, std::string("\0\x3\0\0\0\x64", 6));
}
std::string SettingsAck() { return Frame(FrameType::kSettings, http2::kFlagAck, 0, ""); }
// GET {path} on `stream`: :method GET (2), :scheme http (6), :path (4), :authority (1).
std::string GetHeaders(uint32_t stream, std::string_view path) {
  return Frame(FrameType::kHeaders, kEndStream | kEndHeaders, stream,
               Indexed(2) + Indexed(6) + Incremental(4, path) + Incremental(1, "gohttp:8080"));
}
// A response: :status 200 (8), 404 (13), 500 (14), content-type text/plain, then a body.
std::string Response(uint32_t stream, int status_index, std::string_view body) {
  return Frame(FrameType::kHeaders, kEndHeaders, stream,
               Indexed(status_index) + Incremental(31, "text/plain")) +
         Frame(FrameType::kData, kEndStream, stream, body);
}

constexpr std::string_view kTraceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

// What curl --http2 sends for http://gohttp:8080/ (no prior knowledge: it asks to upgrade).
std::string UpgradeRequest(std::string_view method = "GET", std::string_view body = "") {
  std::string r = std::string(method) +
                  " / HTTP/1.1\r\nHost: gohttp:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n"
                  "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                  "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\ntraceparent: " +
                  std::string(kTraceparent) + "\r\n";
  if (!body.empty()) r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + std::string(body);
}

// Go's h2c handler: the 101 head, then (same buffered write) the server's SETTINGS, then the
// response of stream 1.
const std::string k101 =
    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
const std::string kServerAfter101 = Settings() + Response(1, 8, "gohttp ok\n");
// The client after the 101: preface and SETTINGS, then two more requests on streams 3 and 5.
const std::string kClientPreface = std::string(http2::kConnectionPreface) + Settings();
const std::string kClientStreams =
    SettingsAck() + GetHeaders(3, "/status/404") + GetHeaders(5, "/status/500");
const std::string kServerStreams =
    SettingsAck() + Response(3, 13, "status 404\n") + Response(5, 14, "status 500\n");
// Where stream 3's response ends in kServerStreams.
const size_t kStream3End = SettingsAck().size() + Response(3, 13, "status 404\n").size();

// Drives a connection the way ConnTracker does: an HTTP/1 parser first, replaced by its successor
// when it hands one over; requests and stats are collected per protocol.
class SwitchingConn {
 public:
  explicit SwitchingConn(ParserOptions options = {}) : parser_(http1::CreateHttp1Parser(options)) {}

  void Req(std::string_view data, int64_t t, uint32_t original = 0) {
    parser_->OnRequestBytes(Chunk(&req_pos_, data, t, original));
    Drain();
  }
  void Resp(std::string_view data, int64_t t, uint32_t original = 0) {
    parser_->OnResponseBytes(Chunk(&resp_pos_, data, t, original));
    Drain();
  }
  void SkipReq(uint64_t n) { req_pos_ += n; }
  void Close(int64_t t) {
    parser_->OnClose(t);
    Drain();
  }
  void Timer(int64_t now) {
    parser_->OnTimer(now);
    Drain();
  }

  uint8_t protocol() const { return protocol_; }
  std::vector<Request> requests;
  ParserStats http1_stats;  // of the HTTP/1 parser, frozen when it was replaced
  const ParserStats& stats() const { return parser_->stats(); }

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
  void Drain() {
    parser_->TakeRequests(&requests);
    if (protocol_ == http1::kProtocolId) http1_stats = parser_->stats();
    ProtocolSwitch next = parser_->TakeSuccessor();
    if (!next.parser) return;
    parser_ = std::move(next.parser);
    protocol_ = next.protocol;
    parser_->TakeRequests(&requests);
  }

  std::unique_ptr<ConnectionParser> parser_;
  uint8_t protocol_ = http1::kProtocolId;
  uint64_t req_pos_ = 0;
  uint64_t resp_pos_ = 0;
};

struct Expected {
  std::string method;
  std::string path;
  uint32_t status;
  int64_t start;
  int64_t end;
};

void ExpectRecords(const std::vector<Request>& got, const std::vector<Expected>& want,
                   Protocol protocol, const std::string& version) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(want[i].path);
    EXPECT_EQ(got[i].protocol, protocol);
    EXPECT_EQ(got[i].version, version);
    EXPECT_EQ(got[i].method, want[i].method);
    EXPECT_EQ(got[i].path, want[i].path);
    EXPECT_EQ(got[i].status, want[i].status);
    EXPECT_EQ(got[i].start_ns, want[i].start);
    EXPECT_EQ(got[i].end_ns, want[i].end);
    EXPECT_FALSE(got[i].partial);
  }
}

const std::vector<Expected> kUpgradedExchanges = {{"GET", "/", 200, 100, 200},
                                                  {"GET", "/status/404", 404, 300, 400},
                                                  {"GET", "/status/500", 500, 300, 500}};

TEST(H2cUpgradeTest, AcceptedUpgradeContinuesAsHttp2WithTheRequestAsStream1) {
  SwitchingConn c;
  c.Req(UpgradeRequest(), 100);
  c.Resp(k101 + kServerAfter101, 200);
  EXPECT_EQ(c.protocol(), http2::kProtocolId);  // both sides switched: handed over
  c.Req(kClientPreface + kClientStreams, 300);
  c.Resp(kServerStreams.substr(0, kStream3End), 400);
  c.Resp(kServerStreams.substr(kStream3End), 500);
  c.Close(600);
  ExpectRecords(c.requests, kUpgradedExchanges, Protocol::kHttp2, "HTTP/2");
  // Stream 1 keeps what HTTP/1 parsed.
  const Request& first = c.requests[0];
  EXPECT_EQ(first.host, "gohttp:8080");
  EXPECT_EQ(first.trace.trace_id, "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(first.request_header_bytes, UpgradeRequest().size());
  EXPECT_EQ(first.response_body_bytes, 10u);
  EXPECT_EQ(c.requests[1].host, "gohttp:8080");
  EXPECT_EQ(c.http1_stats.requests, 0u);  // no HTTP/1 record for the 101
  EXPECT_EQ(c.http1_stats.invalid, 0u);
  EXPECT_EQ(c.http1_stats.unmatched, 0u);
  EXPECT_EQ(c.stats().requests, 3u);
  EXPECT_EQ(c.stats().invalid, 0u);
  EXPECT_EQ(c.stats().resyncs, 0u);
  EXPECT_EQ(c.stats().unmatched, 0u);
}

TEST(H2cUpgradeTest, EverySplitOfThe101ChunkAndTheRequest) {
  const std::string req = UpgradeRequest();
  const std::string resp = k101 + kServerAfter101;
  for (size_t cut = 1; cut < std::max(req.size(), resp.size()); ++cut) {
    SCOPED_TRACE(cut);
    SwitchingConn c;
    if (cut < req.size()) {
      c.Req(req.substr(0, cut), 100);
      c.Req(req.substr(cut), 100);
    } else {
      c.Req(req, 100);
    }
    if (cut < resp.size()) {
      c.Resp(resp.substr(0, cut), 200);
      c.Resp(resp.substr(cut), 200);
    } else {
      c.Resp(resp, 200);
    }
    c.Req(kClientPreface, 300);
    c.Req(kClientStreams, 300);
    c.Resp(kServerStreams.substr(0, kStream3End), 400);
    c.Resp(kServerStreams.substr(kStream3End), 500);
    ExpectRecords(c.requests, kUpgradedExchanges, Protocol::kHttp2, "HTTP/2");
    EXPECT_EQ(c.protocol(), http2::kProtocolId);
    EXPECT_EQ(c.http1_stats.invalid + c.stats().invalid + c.stats().resyncs, 0u);
  }
}

TEST(H2cUpgradeTest, ByteAtATime) {
  SwitchingConn c;
  const std::string req = UpgradeRequest();
  const std::string resp = k101 + kServerAfter101;
  for (char ch : req) c.Req(std::string(1, ch), 100);
  for (char ch : resp) c.Resp(std::string(1, ch), 200);
  for (char ch : kClientPreface + kClientStreams) c.Req(std::string(1, ch), 300);
  for (size_t i = 0; i < kServerStreams.size(); ++i) {
    c.Resp(kServerStreams.substr(i, 1), i < kStream3End ? 400 : 500);
  }
  ExpectRecords(c.requests, kUpgradedExchanges, Protocol::kHttp2, "HTTP/2");
}

TEST(H2cUpgradeTest, ResponseSeenBeforeTheUpgradingRequest) {
  // Events of the two directions reordered: the 101 (and stream 1's response) first.
  SwitchingConn c;
  c.Resp(k101 + kServerAfter101, 200);
  EXPECT_EQ(c.protocol(), http1::kProtocolId);  // the request side has not switched yet
  c.Req(UpgradeRequest(), 100);
  EXPECT_EQ(c.protocol(), http2::kProtocolId);
  c.Req(kClientPreface + kClientStreams, 300);
  c.Resp(kServerStreams.substr(0, kStream3End), 400);
  c.Resp(kServerStreams.substr(kStream3End), 500);
  ExpectRecords(c.requests, kUpgradedExchanges, Protocol::kHttp2, "HTTP/2");
  EXPECT_EQ(c.http1_stats.requests + c.http1_stats.unmatched + c.http1_stats.invalid, 0u);
}

TEST(H2cUpgradeTest, UpgradingPostWithBodyIsStream1) {
  SwitchingConn c;
  const std::string req = UpgradeRequest("POST", "hello h2c");
  c.Req(req.substr(0, req.size() - 4), 100);  // the body arrives in two reads
  c.Req(req.substr(req.size() - 4), 110);
  c.Resp(k101 + kServerAfter101, 200);
  c.Req(kClientPreface, 300);
  c.Close(600);
  ExpectRecords(c.requests, {{"POST", "/", 200, 100, 200}}, Protocol::kHttp2, "HTTP/2");
  EXPECT_EQ(c.requests[0].request_body_bytes, 9u);
}

TEST(H2cUpgradeTest, UnseenUpgradingRequestSwitchesAtTheClientPreface) {
  // The request's event was lost: the 101 is answered by no request, but the client's preface
  // after it still moves the request side to HTTP/2; stream 1 has no request (unmatched).
  SwitchingConn c;
  c.SkipReq(UpgradeRequest().size());
  c.Resp(k101 + kServerAfter101, 200);
  c.Req(kClientPreface + kClientStreams, 300);
  c.Resp(kServerStreams.substr(0, kStream3End), 400);
  c.Resp(kServerStreams.substr(kStream3End), 500);
  c.Close(600);
  ExpectRecords(c.requests,
                {{"GET", "/status/404", 404, 300, 400}, {"GET", "/status/500", 500, 300, 500}},
                Protocol::kHttp2, "HTTP/2");
  EXPECT_EQ(c.http1_stats.invalid, 0u);
  EXPECT_EQ(c.stats().unmatched, 1u);  // stream 1's response
}

TEST(H2cUpgradeTest, IgnoredUpgradeStaysHttp1) {
  // The server does not speak h2c: a plain 200, and the connection stays HTTP/1.
  SwitchingConn c;
  c.Req(UpgradeRequest(), 100);
  c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\ngohttp ok\n", 200);
  c.Req("GET /status/404 HTTP/1.1\r\nHost: gohttp:8080\r\n\r\n", 300);
  c.Resp("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 400);
  c.Close(500);
  ExpectRecords(c.requests, {{"GET", "/", 200, 100, 200}, {"GET", "/status/404", 404, 300, 400}},
                Protocol::kHttp1, "HTTP/1.1");
  EXPECT_EQ(c.protocol(), http1::kProtocolId);
  EXPECT_EQ(c.stats().unmatched + c.stats().invalid, 0u);
}

TEST(H2cUpgradeTest, BytesSentBeforeADeclinedUpgradeIsAnsweredAreHttp1) {
  // A client that does not wait for the answer: its next request is held until the 200 says the
  // upgrade was declined, then parsed as HTTP/1 (with its own start time).
  SwitchingConn c;
  c.Req(UpgradeRequest(), 100);
  c.Req("GET /status/404 HTTP/1.1\r\nHost: gohttp:8080\r\n\r\n", 150);
  c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\ngohttp ok\n", 200);
  c.Resp("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 400);
  ExpectRecords(c.requests, {{"GET", "/", 200, 100, 200}, {"GET", "/status/404", 404, 150, 400}},
                Protocol::kHttp1, "HTTP/1.1");
}

TEST(H2cUpgradeTest, ADeclinedUpgradeAnsweredWithACutHeadReleasesTheHeldBytes) {
  // The same when the answer's header block is larger than the copy: the cut 200 still says the
  // upgrade was declined.
  SwitchingConn c;
  c.Req(UpgradeRequest(), 100);
  c.Req("GET /status/404 HTTP/1.1\r\nHost: gohttp:8080\r\n\r\n", 150);
  const std::string big =
      "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-Big: " + std::string(8000, 'b') +
      "\r\n\r\ngohttp ok\n";
  c.Resp(std::string_view(big).substr(0, 4096), 200, static_cast<uint32_t>(big.size()));
  c.Resp("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 400);
  ExpectRecords(c.requests, {{"GET", "/", 200, 100, 200}, {"GET", "/status/404", 404, 150, 400}},
                Protocol::kHttp1, "HTTP/1.1");
}

TEST(H2cUpgradeTest, HeldBytesAreBounded) {
  // Megabytes after an unanswered upgrade request: holding stops at the buffer bound (counted)
  // and the side resyncs as HTTP/1.
  SwitchingConn c;
  c.Req(UpgradeRequest(), 100);
  const std::string junk(64 * 1024, 'j');
  for (int i = 0; i < 5; ++i) c.Req(junk, 110);
  EXPECT_EQ(c.stats().oversized, 1u);
  c.Req("GET /status/404 HTTP/1.1\r\nHost: gohttp:8080\r\n\r\n", 150);
  c.Resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\ngohttp ok\n", 200);
  c.Resp("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 400);
  ExpectRecords(c.requests, {{"GET", "/", 200, 100, 200}, {"GET", "/status/404", 404, 150, 400}},
                Protocol::kHttp1, "HTTP/1.1");
}

TEST(H2cUpgradeTest, WebSocketUpgradeEndsParsing) {
  SwitchingConn c;
  c.Req("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 100);
  c.Resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
         200);
  c.Req(std::string("\x81\x85mask!hello", 11), 300);
  c.Resp(std::string("\x81\x05hello", 7), 400);
  c.Close(500);
  ExpectRecords(c.requests, {{"GET", "/ws", 101, 100, 200}}, Protocol::kHttp1, "HTTP/1.1");
  EXPECT_EQ(c.protocol(), http1::kProtocolId);
  EXPECT_EQ(c.stats().invalid + c.stats().unmatched + c.stats().resyncs, 0u);
}

TEST(H2cUpgradeTest, ClientPrefaceNeverReachesTheHttp1Parser) {
  // After an accepted upgrade the client's frames never reach the HTTP/1 parser: no parse
  // errors even when the preface and frames come byte by byte, interleaved with the server's.
  SwitchingConn c;
  c.Req(UpgradeRequest(), 100);
  c.Resp(k101, 200);
  for (char ch : kClientPreface) c.Req(std::string(1, ch), 250);
  c.Resp(kServerAfter101, 260);
  ExpectRecords(c.requests, {{"GET", "/", 200, 100, 260}}, Protocol::kHttp2, "HTTP/2");
  EXPECT_EQ(c.http1_stats.invalid + c.stats().invalid, 0u);
}

TEST(H2cUpgradeTest, RandomSplitsGapsAndTimersStayBoundedAndNeverInventRequests) {
  // The whole upgraded conversation cut at random points, with random truncated copies, lost
  // bytes and sweeps: never more records than requests, HTTP/2 records only (but for the
  // upgrading request timing out before the 101), and a clean run still gives the exact records.
  const std::string req = UpgradeRequest() + kClientPreface + kClientStreams;
  const std::string resp = k101 + kServerAfter101 + kServerStreams;
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    ParserOptions options;
    options.request_timeout_ns = (round % 3 == 0) ? 50 : 0;
    SwitchingConn c(options);
    size_t ri = 0;
    size_t si = 0;
    int64_t t = 0;
    const bool damage = round % 2 == 1;
    while (ri < req.size() || si < resp.size()) {
      const bool request_side = si == resp.size() || (ri < req.size() && rng() % 2 == 0);
      const std::string& text = request_side ? req : resp;
      size_t& at = request_side ? ri : si;
      const size_t n = std::min<size_t>(1 + rng() % 64, text.size() - at);
      std::string piece = text.substr(at, n);
      uint32_t original = 0;
      if (damage && rng() % 8 == 0) {
        original = static_cast<uint32_t>(piece.size());  // copied only in part
        piece.resize(piece.size() / 2);
      }
      t += 1 + static_cast<int64_t>(rng() % 20);
      if (request_side) {
        c.Req(piece, t, original);
      } else {
        c.Resp(piece, t, original);
      }
      at += n;
      if (rng() % 16 == 0) c.Timer(t);
    }
    c.Close(t + 1);
    ASSERT_LE(c.requests.size(), 3u) << round;
    for (const Request& r : c.requests) {
      if (r.protocol == Protocol::kHttp1) {
        // Only the upgrading request: timed out before the server's 101 was seen, or answered by
        // a 101 whose head was cut (where the HTTP/2 bytes start is then unknown, so the
        // connection is reported up to the switch, as a WebSocket upgrade is).
        ASSERT_EQ(r.path, "/") << round;
        if (r.status == 101) {
          ASSERT_TRUE(damage) << round;
          continue;
        }
        ASSERT_GT(options.request_timeout_ns, 0) << round << " " << r.status;
        ASSERT_EQ(r.status, 408u) << round;
        continue;
      }
      ASSERT_EQ(r.protocol, Protocol::kHttp2) << round;
      ASSERT_TRUE(r.status == 200 || r.status == 404 || r.status == 500 || r.status == 408 ||
                  r.status == 0)
          << round << " " << r.status;
    }
    if (!damage && options.request_timeout_ns == 0) {
      ASSERT_EQ(c.requests.size(), 3u) << round;
      ASSERT_EQ(c.protocol(), http2::kProtocolId) << round;
    }
  }
}

}  // namespace
}  // namespace loupe::protocols
