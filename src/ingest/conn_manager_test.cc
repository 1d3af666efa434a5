#include "src/ingest/conn_manager.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "src/protocols/http2/http2_parser.h"
#include "src/protocols/http2/wire_builders_for_test.h"

namespace loupe::ingest {
namespace {

using sensors::ConnId;
using sensors::ConnRole;
using sensors::DataDirection;

class RecordingSink : public RequestSink {
 public:
  void OnRequest(telemetry::Request&& r) override { requests.push_back(std::move(r)); }
  std::vector<telemetry::Request> requests;
};

sensors::ConnTuple Tuple() {
  sensors::ConnTuple t;
  flow::IpAddress::Parse("198.18.0.3", &t.local_ip);
  flow::IpAddress::Parse("198.18.0.2", &t.remote_ip);
  t.local_port = 80;
  t.remote_port = 40000;
  return t;
}

struct Harness {
  metrics::Registry registry;
  RecordingSink sink;
  // OnTick's clock; the events carry `now`, which tests keep close to it.
  FakeClock clock{1'000'000'000, 0};
  ConnManager manager;
  ConnId id{4242, 7, 1};
  uint64_t pos[2] = {0, 0};
  int64_t now = 1'000'000'000;

  explicit Harness(ConnManagerOptions options = {}) : manager(options, sink, registry, clock) {}

  void Open(ConnRole role) {
    sensors::SocketOpenEvent e;
    e.id = id;
    e.time_ns = now;
    e.role = role;
    e.tuple = Tuple();
    manager.OnOpen(e);
  }
  // Sends `text` in `dir`; `copied` < size simulates a truncated copy.
  void Data(DataDirection dir, const std::string& text, size_t copied = std::string::npos,
            int64_t position = -1, bool preexisting = false, ConnRole role = ConnRole::kServer) {
    sensors::SocketDataEvent e;
    e.id = id;
    e.time_ns = now += 1000;
    e.direction = dir;
    e.role = role;
    e.tuple = Tuple();
    e.position = position >= 0 ? static_cast<uint64_t>(position) : pos[static_cast<int>(dir)];
    e.original_size = static_cast<uint32_t>(text.size());
    const size_t n = std::min(copied, text.size());
    e.data = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), n);
    e.preexisting = preexisting;
    manager.OnData(e);
    pos[static_cast<int>(dir)] =
        std::max<uint64_t>(pos[static_cast<int>(dir)], e.position + text.size());
  }
  // Sends HTTP/2 `bytes` in `dir` on a connection joined mid-stream between two ephemeral ports
  // (a gRPC server on 50051): the sensor knows the protocol, not the role.
  void Http2Midstream(DataDirection dir, const std::string& bytes) {
    sensors::SocketDataEvent e;
    e.id = id;
    e.time_ns = now += 1000;
    e.direction = dir;
    e.role = ConnRole::kUnknown;
    e.protocol = protocols::http2::kProtocolId;
    e.preexisting = true;
    e.tuple = Tuple();
    e.tuple.local_port = 50051;
    e.position = pos[static_cast<int>(dir)];
    pos[static_cast<int>(dir)] += bytes.size();
    e.original_size = static_cast<uint32_t>(bytes.size());
    e.data = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    manager.OnData(e);
  }
  void Close() {
    sensors::SocketCloseEvent e;
    e.id = id;
    e.time_ns = now += 1000;
    manager.OnClose(e);
  }
};

const std::string kRequest = "GET /items/1?token=secret HTTP/1.1\r\nHost: shop\r\n\r\n";
const std::string kResponse = "HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnope!";

TEST(ConnManagerTest, ServerExchangeBecomesARequestWithProcessFields) {
  Harness h;
  h.Open(ConnRole::kServer);
  h.Data(DataDirection::kIngress, kRequest);
  h.Data(DataDirection::kEgress, kResponse);
  ASSERT_EQ(h.sink.requests.size(), 1u);
  const telemetry::Request& r = h.sink.requests[0];
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/items/1");  // query dropped by default
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.pid, 4242u);
  EXPECT_EQ(r.role, telemetry::Role::kServer);
  EXPECT_EQ(r.local_port, 80);
  EXPECT_EQ(r.remote_ip.ToString(), "198.18.0.2");
  EXPECT_EQ(r.response_body_bytes, 5u);
  EXPECT_LT(r.start_ns, r.end_ns);
  EXPECT_FALSE(r.partial);
}

// Bytes that are not UTF-8 in the request line and Host header reach the records repaired (each
// invalid byte is U+FFFD): protobuf strings, JSON and metric labels downstream need valid UTF-8.
TEST(ConnManagerTest, InvalidUtf8FromTheWireIsRepaired) {
  Harness h;
  h.Open(ConnRole::kServer);
  h.Data(DataDirection::kIngress, "GET /caf\xC3\xA9/\xFF\xFE HTTP/1.1\r\nHost: \x80x\r\n\r\n");
  h.Data(DataDirection::kEgress, kResponse);
  ASSERT_EQ(h.sink.requests.size(), 1u);
  const telemetry::Request& r = h.sink.requests[0];
  EXPECT_EQ(r.path, "/caf\xC3\xA9/\xEF\xBF\xBD\xEF\xBF\xBD");  // the valid \xC3\xA9 kept
  EXPECT_EQ(r.host, "\xEF\xBF\xBDx");
}

TEST(ConnManagerTest, ClientRoleSwapsSides) {
  Harness h;
  h.Open(ConnRole::kClient);
  h.Data(DataDirection::kEgress, kRequest, std::string::npos, -1, false, ConnRole::kClient);
  h.Data(DataDirection::kIngress, kResponse, std::string::npos, -1, false, ConnRole::kClient);
  ASSERT_EQ(h.sink.requests.size(), 1u);
  EXPECT_EQ(h.sink.requests[0].role, telemetry::Role::kClient);
  EXPECT_EQ(h.sink.requests[0].status, 404u);
}

TEST(ConnManagerTest, TruncatedBodyIsSkippedByPosition) {
  Harness h;
  h.Open(ConnRole::kServer);
  const std::string body(10000, 'x');
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n" + body;
  for (int i = 0; i < 3; ++i) {
    h.Data(DataDirection::kIngress, kRequest);
    h.Data(DataDirection::kEgress, response, /*copied=*/4096);  // the kernel copied 4 KiB
  }
  ASSERT_EQ(h.sink.requests.size(), 3u);
  for (const auto& r : h.sink.requests) {
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.response_body_bytes, 10000u);
  }
}

TEST(ConnManagerTest, PreexistingConnectionInfersRoleFromTheFirstRequest) {
  Harness h;
  // No open event: the connection predates the agent; it joins at a later position.
  h.pos[1] = 5000;
  h.pos[0] = 9000;
  h.Data(DataDirection::kIngress, kRequest, std::string::npos, -1, true, ConnRole::kUnknown);
  h.Data(DataDirection::kEgress, kResponse, std::string::npos, -1, true, ConnRole::kUnknown);
  ASSERT_EQ(h.sink.requests.size(), 1u);
  EXPECT_EQ(h.sink.requests[0].role, telemetry::Role::kServer);
  EXPECT_EQ(h.sink.requests[0].status, 404u);
}

TEST(ConnManagerTest, PreexistingConnectionsAreCountedOncePerTracker) {
  Harness h;
  h.Open(ConnRole::kServer);
  h.Data(DataDirection::kIngress, kRequest);
  h.Data(DataDirection::kEgress, kResponse);
  EXPECT_EQ(h.manager.preexisting_connections(), 0u);
  // Another connection, first seen mid-stream: counted at its first event only.
  h.id = ConnId{4242, 8, 2};
  h.pos[0] = h.pos[1] = 100;
  h.Data(DataDirection::kIngress, kRequest, std::string::npos, -1, true, ConnRole::kUnknown);
  h.Data(DataDirection::kEgress, kResponse, std::string::npos, -1, true, ConnRole::kUnknown);
  EXPECT_EQ(h.manager.preexisting_connections(), 1u);
  EXPECT_EQ(h.sink.requests.size(), 2u);
}

// The server-side record of `POST /` answered 200, partial (the HEADERS of the tests below).
void ExpectOnePartialPostAnswered(const Harness& h) {
  ASSERT_EQ(h.sink.requests.size(), 1u);
  const telemetry::Request& r = h.sink.requests[0];
  EXPECT_EQ(r.role, telemetry::Role::kServer);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/");
  EXPECT_EQ(r.status, 200u);
  EXPECT_TRUE(r.partial);
}

// An HTTP/2 connection joined mid-stream between two ephemeral ports (a gRPC server on 50051): the
// sensor knows the protocol but not the role; the first HEADERS tell which side sends requests.
TEST(ConnManagerTest, PreexistingHttp2ConnectionTakesItsRoleFromTheFirstHeaders) {
  using protocols::http2::FrameType;
  using protocols::http2::testing::Frame;
  using protocols::http2::testing::Indexed;
  constexpr uint8_t kEndHeaders = 0x4, kEndStream = 0x1;
  Harness h;
  const std::string ping = Frame(FrameType::kPing, 0, 0, std::string(8, '\0'));
  const std::string request = Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 41,
                                    Indexed(3) + Indexed(6) + Indexed(4));
  const std::string response = Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 41, Indexed(8));
  h.pos[0] = 7000;
  h.pos[1] = 9000;
  h.Http2Midstream(DataDirection::kEgress, ping);
  h.Http2Midstream(DataDirection::kIngress, request);
  h.Http2Midstream(DataDirection::kEgress, response);
  ExpectOnePartialPostAnswered(h);
}

// The same, joined during a long gRPC stream: the first calls carry only DATA and WINDOW_UPDATE
// frames, and the stream's trailers (a literal grpc-status) tell nothing either. The tracker keeps
// looking, and the next call's HEADERS give the roles; its record comes at once, whether the
// chunks held from before are contiguous (few calls) or not (the hold window filled).
TEST(ConnManagerTest, PreexistingHttp2ConnectionFindsItsRoleAfterALongStream) {
  using protocols::http2::FrameType;
  using protocols::http2::testing::Frame;
  using protocols::http2::testing::Indexed;
  constexpr uint8_t kEndHeaders = 0x4, kEndStream = 0x1;
  for (const int pairs : {5, 50, 500, 600}) {
    SCOPED_TRACE(pairs);
    Harness h;
    h.pos[0] = 70000;
    h.pos[1] = 90000;
    for (int i = 0; i < pairs; ++i) {
      h.Http2Midstream(DataDirection::kEgress,
                       Frame(FrameType::kData, 0, 41, std::string(100, 'd')));
      h.Http2Midstream(DataDirection::kIngress,
                       Frame(FrameType::kWindowUpdate, 0, 0, std::string("\0\0\0\x64", 4)));
    }
    h.Http2Midstream(DataDirection::kEgress,
                     Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 41,
                           std::string("\x40\x0bgrpc-status\x01"
                                       "0",
                                       15)));
    EXPECT_TRUE(h.sink.requests.empty());
    h.Http2Midstream(DataDirection::kIngress, Frame(FrameType::kHeaders, kEndHeaders | kEndStream,
                                                    43, Indexed(3) + Indexed(6) + Indexed(4)));
    h.Http2Midstream(DataDirection::kEgress,
                     Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 43, Indexed(8)));
    if (pairs == 600) {
      // The search is bounded (1024 calls): given up before the HEADERS came, and counted.
      EXPECT_TRUE(h.sink.requests.empty());
      EXPECT_EQ(h.manager.ignored_connections(), 1u);
      continue;
    }
    EXPECT_EQ(h.manager.ignored_connections(), 0u);
    ExpectOnePartialPostAnswered(h);
  }
}

TEST(ConnManagerTest, UnknownProtocolIsIgnoredAndNothingIsEmitted) {
  Harness h;
  h.Open(ConnRole::kServer);
  for (int i = 0; i < 6; ++i) h.Data(DataDirection::kIngress, std::string("\x16\x03\x01\x02", 4));
  EXPECT_TRUE(h.sink.requests.empty());
  EXPECT_EQ(h.manager.ignored_connections(), 1u);  // once, not per later event
}

TEST(ConnManagerTest, TableIsBoundedAndEvictionsCounted) {
  ConnManagerOptions options;
  options.max_connections = 4;
  Harness h(options);
  for (int fd = 0; fd < 10; ++fd) {
    h.id = ConnId{1, fd, 1};
    h.pos[0] = h.pos[1] = 0;
    h.Open(ConnRole::kServer);
  }
  EXPECT_EQ(h.manager.connections(), 4u);
  EXPECT_EQ(h.manager.evictions(), 6u);
}

// A full table makes room from closed connections (oldest close first) before it evicts a live
// one: under connection churn the lingering closed trackers used to push out the least recently
// active live connection, losing its pending request.
TEST(ConnManagerTest, AFullTableDropsClosedConnectionsBeforeLiveOnes) {
  ConnManagerOptions options;
  options.max_connections = 4;
  Harness h(options);
  const auto use = [&h](int fd) {
    h.id = ConnId{1, fd, 1};
    h.pos[0] = h.pos[1] = 0;
  };
  use(3);
  h.Open(ConnRole::kServer);
  h.Data(DataDirection::kIngress, kRequest);  // answered later: fd 3 is the least recently active
  for (int fd = 0; fd < 3; ++fd) {
    use(fd);
    h.Open(ConnRole::kServer);
  }
  use(2);
  h.Close();
  use(1);
  h.Close();
  for (int fd = 4; fd < 6; ++fd) {  // take the places of 2, then 1
    use(fd);
    h.Open(ConnRole::kServer);
  }
  EXPECT_EQ(h.manager.connections(), 4u);
  EXPECT_EQ(h.manager.reaped_early(), 2u);
  EXPECT_EQ(h.manager.evictions(), 0u);
  use(3);
  h.pos[0] = kRequest.size();
  h.Data(DataDirection::kEgress, kResponse);
  ASSERT_EQ(h.sink.requests.size(), 1u);  // fd 3 kept its pending request
  EXPECT_EQ(h.sink.requests[0].status, 404u);
  for (int fd = 6; fd < 8; ++fd) {  // no closed connection left: live ones are evicted
    use(fd);
    h.Open(ConnRole::kServer);
  }
  EXPECT_EQ(h.manager.reaped_early(), 2u);
  EXPECT_EQ(h.manager.evictions(), 2u);
  EXPECT_EQ(h.manager.connections(), 4u);
}

TEST(ConnManagerTest, ClosedConnectionsAreReapedAfterTheCountdown) {
  Harness h;
  h.Open(ConnRole::kServer);
  h.Data(DataDirection::kIngress, kRequest);
  h.Data(DataDirection::kEgress, kResponse);
  h.Close();
  EXPECT_EQ(h.manager.connections(), 1u);  // still lingering
  h.now += 2'000'000'000;
  h.id = ConnId{1, 99, 1};
  h.Open(ConnRole::kServer);  // any later event runs housekeeping
  EXPECT_EQ(h.manager.connections(), 1u);
}

double CounterValue(const metrics::Registry& registry, const std::string& name,
                    const std::string& protocol) {
  double total = 0;
  for (const metrics::FamilySnapshot& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const metrics::Sample& sample : family.samples) {
      for (const auto& [label, value] : sample.labels) {
        if (label == "protocol" && value == protocol) total += sample.value;
      }
    }
  }
  return total;
}

TEST(ConnManagerTest, UnansweredRequestsAreExportedAsUnmatched) {
  Harness h;
  h.Open(ConnRole::kServer);
  h.Data(DataDirection::kIngress, kRequest);
  h.Data(DataDirection::kEgress, kResponse);
  h.Data(DataDirection::kIngress, kRequest + kRequest);  // two requests, never answered
  EXPECT_EQ(CounterValue(h.registry, "loupe_unmatched_messages_total", "http1"), 0);
  h.Close();
  EXPECT_EQ(h.sink.requests.size(), 1u);
  EXPECT_EQ(CounterValue(h.registry, "loupe_unmatched_messages_total", "http1"), 2);
  EXPECT_EQ(CounterValue(h.registry, "loupe_requests_total", "http1"), 1);
}

double LabelledValue(const metrics::Registry& registry, const std::string& name,
                     const std::string& label_name, const std::string& label_value) {
  double total = 0;
  for (const metrics::FamilySnapshot& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const metrics::Sample& sample : family.samples) {
      for (const auto& [label, value] : sample.labels) {
        if (label == label_name && value == label_value) total += sample.value;
      }
    }
  }
  return total;
}

TEST(ConnManagerTest, OutOfOrderChunksAreReorderedAndCounted) {
  Harness h;
  h.Open(ConnRole::kServer);
  const std::string first = kRequest.substr(0, 10);
  const std::string second = kRequest.substr(10);
  h.Data(DataDirection::kIngress, first, std::string::npos, 0);  // the parser starts here
  EXPECT_EQ(
      LabelledValue(h.registry, "loupe_stream_chunks_out_of_order_total", "outcome", "reordered"),
      0);
  // The next request's two halves swap places.
  h.Data(DataDirection::kIngress, second, std::string::npos, 10);
  h.Data(DataDirection::kEgress, kResponse);
  const uint64_t next = kRequest.size();
  h.Data(DataDirection::kIngress, second, std::string::npos, static_cast<int64_t>(next + 10));
  h.Data(DataDirection::kIngress, first, std::string::npos, static_cast<int64_t>(next));
  h.Data(DataDirection::kEgress, kResponse);
  ASSERT_EQ(h.sink.requests.size(), 2u);
  EXPECT_EQ(h.sink.requests[1].path, "/items/1");
  EXPECT_EQ(
      LabelledValue(h.registry, "loupe_stream_chunks_out_of_order_total", "outcome", "reordered"),
      1);
  EXPECT_EQ(LabelledValue(h.registry, "loupe_stream_chunks_out_of_order_total", "outcome", "stale"),
            0);
}

TEST(ConnManagerTest, DuplicateChunksAreDroppedAsStaleAndCounted) {
  Harness h;
  h.Open(ConnRole::kServer);
  h.Data(DataDirection::kIngress, kRequest);
  h.Data(DataDirection::kIngress, kRequest, std::string::npos, 0);  // the same bytes again
  h.Data(DataDirection::kEgress, kResponse);
  ASSERT_EQ(h.sink.requests.size(), 1u);
  EXPECT_EQ(LabelledValue(h.registry, "loupe_stream_chunks_out_of_order_total", "outcome", "stale"),
            1);
  EXPECT_EQ(CounterValue(h.registry, "loupe_unmatched_messages_total", "http1"), 0);
}

TEST(ConnManagerTest, OversizedHeaderBlockIsCountedAndTheNextRequestParses) {
  Harness h;
  h.Open(ConnRole::kServer);
  h.Data(DataDirection::kIngress, kRequest);
  h.Data(DataDirection::kEgress, kResponse);
  EXPECT_EQ(CounterValue(h.registry, "loupe_oversized_messages_total", "http1"), 0);
  // A request whose header block never ends within the parser's bound (256 KiB).
  std::string huge = "GET /big HTTP/1.1\r\nHost: shop\r\n";
  while (huge.size() <= protocols::kMaxBufferedBytes + 4096)
    huge += "X-Filler: " + std::string(100, 'f') + "\r\n";
  for (size_t off = 0; off < huge.size(); off += 4096)
    h.Data(DataDirection::kIngress, huge.substr(off, 4096));
  h.Data(DataDirection::kIngress, "\r\n");
  EXPECT_EQ(CounterValue(h.registry, "loupe_oversized_messages_total", "http1"), 1);
  // The server refuses it, then the connection goes on.
  h.Data(DataDirection::kEgress,
         "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n");
  h.Data(DataDirection::kIngress, kRequest);
  h.Data(DataDirection::kEgress, kResponse);
  // The oversized request is reported from its start line with the server's 431.
  ASSERT_EQ(h.sink.requests.size(), 3u);
  EXPECT_EQ(h.sink.requests[1].path, "/big");
  EXPECT_EQ(h.sink.requests[1].status, 431u);
  EXPECT_EQ(h.sink.requests[2].path, "/items/1");
  EXPECT_EQ(h.sink.requests[2].status, 404u);
  EXPECT_EQ(CounterValue(h.registry, "loupe_unmatched_messages_total", "http1"), 0);
}

// A request line longer than the copy, cut inside its path: reported partial with the path as far
// as it was copied, and counted.
TEST(ConnManagerTest, PathCutByTheCopyIsReportedPartialAndCounted) {
  Harness h;
  h.Open(ConnRole::kServer);
  const std::string path = "/blobs/" + std::string(6000, 'b');
  h.Data(DataDirection::kIngress, "GET " + path + " HTTP/1.1\r\nHost: shop\r\n\r\n", 4096);
  h.Data(DataDirection::kEgress, kResponse);
  EXPECT_EQ(CounterValue(h.registry, "loupe_cut_paths_total", "http1"), 1);
  ASSERT_EQ(h.sink.requests.size(), 1u);
  EXPECT_EQ(h.sink.requests[0].path, path.substr(0, 4092));
  EXPECT_TRUE(h.sink.requests[0].partial);
  EXPECT_EQ(h.sink.requests[0].status, 404u);
  h.Data(DataDirection::kIngress, kRequest);
  h.Data(DataDirection::kEgress, kResponse);
  ASSERT_EQ(h.sink.requests.size(), 2u);
  EXPECT_FALSE(h.sink.requests[1].partial);
  EXPECT_EQ(CounterValue(h.registry, "loupe_cut_paths_total", "http1"), 1);
  EXPECT_EQ(CounterValue(h.registry, "loupe_unmatched_messages_total", "http1"), 0);
}

TEST(ConnManagerTest, ParseErrorsHaveOneFamilySharedWithOtherOwners) {
  Harness h;
  // The network view's DNS path asks for the same family through the same registry.
  ParseErrorCounters& counters = ParseErrorCounters::For(h.registry);
  EXPECT_EQ(&counters, &ParseErrorCounters::For(h.registry));
  counters.ForProtocol("dns")->Inc(3);
  h.Open(ConnRole::kServer);
  h.Data(DataDirection::kIngress, kRequest);
  h.Data(DataDirection::kIngress, "GET /x HTTP/1.1\r\nBad Header\r\n\r\n");
  int families = 0;
  for (const metrics::FamilySnapshot& family : h.registry.Collect()) {
    families += family.name == "loupe_parse_errors_total" ? 1 : 0;
  }
  EXPECT_EQ(families, 1);
  EXPECT_EQ(CounterValue(h.registry, "loupe_parse_errors_total", "dns"), 3);
  EXPECT_EQ(CounterValue(h.registry, "loupe_parse_errors_total", "http1"), 1);
}

TEST(ConnManagerTest, ParseErrorCountersAreNotSharedAcrossRegistries) {
  auto first = std::make_unique<metrics::Registry>();
  ParseErrorCounters::For(*first).ForProtocol("dns")->Inc();
  EXPECT_EQ(CounterValue(*first, "loupe_parse_errors_total", "dns"), 1);
  first.reset();
  // A registry created after the first is gone (possibly at the same address) starts from zero.
  metrics::Registry second;
  ParseErrorCounters::For(second).ForProtocol("dns")->Inc(2);
  EXPECT_EQ(CounterValue(second, "loupe_parse_errors_total", "dns"), 2);
}

// --- request timeouts (Beyla's ebpf.http_request_timeout) and protocol switches ---

ConnManagerOptions WithTimeout() {
  ConnManagerOptions options;
  options.request_timeout_ns = 1'000'000'000;
  return options;
}

TEST(ConnManagerTest, TickReportsAnUnansweredRequestAs408OnceTheClockPassesTheDeadline) {
  Harness h(WithTimeout());
  h.Open(ConnRole::kServer);
  h.Data(DataDirection::kIngress, kRequest);
  const int64_t start = h.now;
  h.manager.OnTick();
  h.clock.Advance(std::chrono::milliseconds(1050));  // past the deadline, within the slack
  h.manager.OnTick();
  EXPECT_TRUE(h.sink.requests.empty());
  h.clock.Advance(std::chrono::milliseconds(100));
  h.manager.OnTick();
  ASSERT_EQ(h.sink.requests.size(), 1u);
  const telemetry::Request& r = h.sink.requests[0];
  EXPECT_EQ(r.status, 408u);
  EXPECT_EQ(r.path, "/items/1");
  EXPECT_EQ(r.start_ns, start);
  EXPECT_EQ(r.end_ns, start + 1'000'000'000);
  EXPECT_EQ(r.pid, 4242u);
  EXPECT_EQ(r.role, telemetry::Role::kServer);
  EXPECT_EQ(CounterValue(h.registry, "loupe_requests_total", "http1"), 1);
  // The answer arrives late: no second record, one unmatched response.
  h.now = h.clock.NowRealtimeNs();
  h.Data(DataDirection::kEgress, kResponse);
  h.manager.OnTick();
  EXPECT_EQ(h.sink.requests.size(), 1u);
  EXPECT_EQ(CounterValue(h.registry, "loupe_unmatched_messages_total", "http1"), 1);
  EXPECT_EQ(CounterValue(h.registry, "loupe_requests_total", "http1"), 1);
}

TEST(ConnManagerTest, TickWithoutTimeoutReportsNothingButReapsClosedConnections) {
  Harness h;
  h.Open(ConnRole::kServer);
  h.Data(DataDirection::kIngress, kRequest);
  h.Close();
  h.clock.Advance(std::chrono::seconds(60));
  EXPECT_EQ(h.manager.connections(), 1u);
  h.manager.OnTick();  // no event needed for the death countdown
  EXPECT_EQ(h.manager.connections(), 0u);
  EXPECT_TRUE(h.sink.requests.empty());
  EXPECT_EQ(CounterValue(h.registry, "loupe_unmatched_messages_total", "http1"), 1);
}

TEST(ConnManagerTest, H2cUpgradeSwitchesTheTrackerToHttp2AndItsCounters) {
  Harness h;
  h.Open(ConnRole::kServer);
  h.Data(DataDirection::kIngress,
         "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
         "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n");
  // 101, the server's SETTINGS, then stream 1's response (HEADERS :status 200, END_STREAM).
  h.Data(DataDirection::kEgress,
         std::string("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
                     "\r\n") +
             std::string("\0\0\0\x04\0\0\0\0\0", 9) +
             std::string("\0\0\x01\x01\x05\0\0\0\x01\x88", 10));
  ASSERT_EQ(h.sink.requests.size(), 1u);
  EXPECT_EQ(h.sink.requests[0].protocol, telemetry::Protocol::kHttp2);
  EXPECT_EQ(h.sink.requests[0].path, "/");
  EXPECT_EQ(h.sink.requests[0].status, 200u);
  EXPECT_EQ(h.sink.requests[0].role, telemetry::Role::kServer);
  // The client's preface and a request on stream 3 (GET /x), answered 404.
  h.Data(DataDirection::kIngress,
         std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") +
             std::string("\0\0\x05\x01\x05\0\0\0\x03\x82\x86\x04\x01x", 14));
  h.Data(DataDirection::kEgress, std::string("\0\0\x01\x01\x05\0\0\0\x03\x8d", 10));
  ASSERT_EQ(h.sink.requests.size(), 2u);
  EXPECT_EQ(h.sink.requests[1].path, "x");
  EXPECT_EQ(h.sink.requests[1].status, 404u);
  EXPECT_EQ(CounterValue(h.registry, "loupe_requests_total", "http2"), 2);
  EXPECT_EQ(CounterValue(h.registry, "loupe_requests_total", "http1"), 0);
  EXPECT_EQ(CounterValue(h.registry, "loupe_parse_errors_total", "http1"), 0);
  EXPECT_EQ(CounterValue(h.registry, "loupe_parse_errors_total", "http2"), 0);
}

// A closed connection waits out its death countdown with its tracker only: the parser, whose
// close reported everything, is freed (3.3 KB of heap per closed HTTP/1 connection before, 0.5 KB
// after: BM_ClosedTrackerHeap), and late data neither reaches a parser nor makes a new one.
TEST(ConnTrackerTest, AClosedTrackerReleasesItsParserAndIgnoresLateData) {
  ConnTracker tracker(ConnId{4242, 7, 1}, /*keep_query=*/false);
  std::vector<telemetry::Request> out;
  const auto data = [&](DataDirection dir, const std::string& text, uint64_t position) {
    sensors::SocketDataEvent e;
    e.id = ConnId{4242, 7, 1};
    e.time_ns = 1000 + static_cast<int64_t>(position);
    e.direction = dir;
    e.role = ConnRole::kServer;
    e.tuple = Tuple();
    e.position = position;
    e.original_size = static_cast<uint32_t>(text.size());
    e.data = {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
    tracker.OnData(e);
  };
  data(DataDirection::kIngress, kRequest, 0);
  data(DataDirection::kIngress, kRequest, kRequest.size());  // never answered
  data(DataDirection::kEgress, kResponse, 0);
  sensors::SocketCloseEvent close;
  close.id = ConnId{4242, 7, 1};
  close.time_ns = 5000;
  tracker.OnClose(close);
  tracker.TakeRequests(&out);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_NE(tracker.parser_stats(), nullptr);
  EXPECT_EQ(tracker.parser_stats()->unmatched, 1u);
  tracker.ReleaseParser();
  EXPECT_EQ(tracker.parser_stats(), nullptr);
  EXPECT_EQ(tracker.state(), ConnTracker::State::kClosed);
  // A late request and its answer: nothing.
  data(DataDirection::kIngress, kRequest, 2 * kRequest.size());
  data(DataDirection::kEgress, kResponse, kResponse.size());
  EXPECT_EQ(tracker.parser_stats(), nullptr);
  out.clear();
  tracker.TakeRequests(&out);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace loupe::ingest
