#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "src/protocols/dns/dns_parser.h"
#include "src/protocols/dns/dns_tracker.h"

namespace loupe::protocols::dns {
namespace {

// Builds DNS messages byte by byte for the tests.
class Builder {
 public:
  Builder(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an) {
    U16(id);
    U16(flags);
    U16(qd);
    U16(an);
    U16(0);
    U16(0);
  }
  Builder& U16(uint16_t v) {
    b_.push_back(static_cast<uint8_t>(v >> 8));
    b_.push_back(static_cast<uint8_t>(v));
    return *this;
  }
  Builder& U32(uint32_t v) {
    return U16(static_cast<uint16_t>(v >> 16)).U16(static_cast<uint16_t>(v));
  }
  Builder& Name(const std::string& dotted) {
    size_t start = 0;
    while (start < dotted.size()) {
      size_t dot = dotted.find('.', start);
      if (dot == std::string::npos) dot = dotted.size();
      b_.push_back(static_cast<uint8_t>(dot - start));
      b_.insert(b_.end(), dotted.begin() + start, dotted.begin() + dot);
      start = dot + 1;
    }
    b_.push_back(0);
    return *this;
  }
  Builder& Pointer(uint16_t offset) { return U16(static_cast<uint16_t>(0xC000 | offset)); }
  Builder& Bytes(std::vector<uint8_t> bytes) {
    b_.insert(b_.end(), bytes.begin(), bytes.end());
    return *this;
  }
  std::vector<uint8_t> Build() const { return b_; }

 private:
  std::vector<uint8_t> b_;
};

std::vector<uint8_t> Query(uint16_t id, const std::string& name, uint16_t qtype) {
  return Builder(id, 0x0100, 1, 0).Name(name).U16(qtype).U16(1).Build();
}

// Response: question at offset 12, answers use a pointer to it; one CNAME, one A, one AAAA.
std::vector<uint8_t> Response(uint16_t id, uint8_t rcode) {
  Builder b(id, static_cast<uint16_t>(0x8180 | rcode), 1, rcode == 0 ? 3 : 0);
  b.Name("www.example.com").U16(1).U16(1);
  if (rcode == 0) {
    b.Pointer(12).U16(5).U16(1).U32(300).U16(10).Name("edge.cdn");
    b.Name("edge.cdn").U16(1).U16(1).U32(30).U16(4).Bytes({198, 18, 0, 9});
    b.Name("edge.cdn")
        .U16(28)
        .U16(1)
        .U32(60)
        .U16(16)
        .Bytes({0xfd, 0x4c, 0x6f, 0x75, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9});
  }
  return b.Build();
}

TEST(DnsParserTest, Query) {
  Message m;
  ASSERT_EQ(ParseMessage(Query(0x1234, "www.example.com", 28), &m), ParseState::kSuccess);
  EXPECT_EQ(m.id, 0x1234);
  EXPECT_FALSE(m.is_response);
  ASSERT_EQ(m.questions.size(), 1u);
  EXPECT_EQ(m.questions[0].name, "www.example.com.");
  EXPECT_EQ(TypeName(m.questions[0].qtype), "AAAA");
}

// Labels are raw bytes on the wire; names reach flows (protobuf strings) as valid UTF-8, each
// invalid byte U+FFFD, valid multi-byte sequences kept.
TEST(DnsParserTest, NamesAreMadeValidUtf8) {
  Message m;
  ASSERT_EQ(ParseMessage(Query(7, "caf\xC3\xA9.\xFF\xFEx.example", 1), &m), ParseState::kSuccess);
  ASSERT_EQ(m.questions.size(), 1u);
  EXPECT_EQ(m.questions[0].name, "caf\xC3\xA9.\xEF\xBF\xBD\xEF\xBF\xBDx.example.");
}

TEST(DnsParserTest, ResponseWithCompressionCnameAAndAaaa) {
  Message m;
  ASSERT_EQ(ParseMessage(Response(7, 0), &m), ParseState::kSuccess);
  EXPECT_TRUE(m.is_response);
  EXPECT_EQ(m.rcode, 0);
  ASSERT_EQ(m.answers.size(), 3u);
  EXPECT_EQ(m.answers[0].name, "www.example.com.");
  EXPECT_EQ(m.answers[0].type, 5);
  EXPECT_EQ(m.answers[0].target, "edge.cdn.");
  EXPECT_EQ(m.answers[1].address, "198.18.0.9");
  EXPECT_EQ(m.answers[1].ttl, 30u);
  EXPECT_EQ(m.answers[2].address, "fd4c:6f75::9");
}

TEST(DnsParserTest, RejectsHostileAndTruncatedInput) {
  Message m;
  EXPECT_EQ(ParseMessage({}, &m), ParseState::kNeedsMoreData);
  auto full = Response(7, 0);
  for (size_t cut : {5ul, 13ul, 30ul, full.size() - 1}) {
    EXPECT_EQ(ParseMessage(std::span(full).first(cut), &m), ParseState::kNeedsMoreData) << cut;
  }
  // A pointer to itself (a loop) and a forward pointer are invalid.
  auto loop = Builder(1, 0x0100, 1, 0).Pointer(12).U16(1).U16(1).Build();
  EXPECT_EQ(ParseMessage(loop, &m), ParseState::kInvalid);
  auto forward = Builder(1, 0x0100, 1, 0).Pointer(20).U16(1).U16(1).Build();
  EXPECT_EQ(ParseMessage(forward, &m), ParseState::kInvalid);
  // A name longer than 255 bytes.
  std::string long_name;
  for (int i = 0; i < 10; ++i) long_name += std::string(60, 'a') + ".";
  long_name.pop_back();
  EXPECT_EQ(ParseMessage(Query(1, long_name, 1), &m), ParseState::kInvalid);
  // An A record with a wrong length.
  auto bad_a = Builder(1, 0x8180, 1, 1)
                   .Name("a")
                   .U16(1)
                   .U16(1)
                   .Name("a")
                   .U16(1)
                   .U16(1)
                   .U32(1)
                   .U16(3)
                   .Bytes({1, 2, 3})
                   .Build();
  EXPECT_EQ(ParseMessage(bad_a, &m), ParseState::kInvalid);
}

flow::Flow Packet(bool response, int64_t t) {
  flow::Flow f;
  flow::IpAddress client;
  flow::IpAddress server;
  flow::IpAddress::Parse("198.18.0.2", &client);
  flow::IpAddress::Parse("198.18.0.3", &server);
  f.time_ns = t;
  f.l4 = flow::L4Protocol::kUdp;
  f.src_ip = response ? server : client;
  f.dst_ip = response ? client : server;
  f.src_port = response ? 53 : 40000;
  f.dst_port = response ? 40000 : 53;
  return f;
}

TEST(DnsTrackerTest, RequestAndResponseBecomeL7FlowsWithLatency) {
  DnsTracker tracker;
  flow::Flow l7;
  auto q = Query(7, "www.example.com", 1);
  ASSERT_EQ(tracker.Process(Packet(false, 1'000'000), q, &l7), ParseState::kSuccess);
  EXPECT_EQ(l7.type, flow::FlowType::kL7);
  EXPECT_EQ(l7.event_type, flow::EventType::kL7);
  ASSERT_TRUE(l7.l7 && l7.l7->dns);
  EXPECT_EQ(l7.l7->type, flow::L7Type::kRequest);
  EXPECT_EQ(l7.l7->dns->query, "www.example.com.");
  EXPECT_EQ(l7.l7->dns->qtypes, std::vector<std::string>{"A"});
  EXPECT_EQ(l7.is_reply, 0);

  auto r = Response(7, 0);
  ASSERT_EQ(tracker.Process(Packet(true, 3'500'000), r, &l7), ParseState::kSuccess);
  EXPECT_EQ(l7.l7->type, flow::L7Type::kResponse);
  EXPECT_EQ(l7.l7->latency_ns, 2'500'000u);
  EXPECT_EQ(l7.l7->dns->rcode, 0u);
  EXPECT_EQ(l7.l7->dns->ips, (std::vector<std::string>{"198.18.0.9", "fd4c:6f75::9"}));
  EXPECT_EQ(l7.l7->dns->cnames, std::vector<std::string>{"edge.cdn."});
  EXPECT_EQ(l7.l7->dns->rrtypes, (std::vector<std::string>{"CNAME", "A", "AAAA"}));
  EXPECT_EQ(l7.l7->dns->ttl, 30u);
  EXPECT_EQ(l7.is_reply, 1);
  EXPECT_EQ(tracker.stats().matched, 1u);
}

TEST(DnsTrackerTest, NxdomainAndUnmatchedResponse) {
  DnsTracker tracker;
  flow::Flow l7;
  auto r = Response(9, 3);
  ASSERT_EQ(tracker.Process(Packet(true, 5), r, &l7), ParseState::kSuccess);
  EXPECT_EQ(l7.l7->dns->rcode, 3u);
  EXPECT_EQ(l7.l7->latency_ns, 0u);
  EXPECT_TRUE(l7.l7->dns->ips.empty());
  EXPECT_EQ(tracker.stats().matched, 0u);
}

TEST(DnsTrackerTest, TcpLengthPrefixAndGarbage) {
  DnsTracker tracker;
  flow::Flow l7;
  flow::Flow pkt = Packet(false, 1);
  pkt.l4 = flow::L4Protocol::kTcp;
  auto q = Query(3, "example.org", 1);
  std::vector<uint8_t> framed = {static_cast<uint8_t>(q.size() >> 8),
                                 static_cast<uint8_t>(q.size())};
  framed.insert(framed.end(), q.begin(), q.end());
  ASSERT_EQ(tracker.Process(pkt, framed, &l7), ParseState::kSuccess);
  EXPECT_EQ(l7.l7->dns->query, "example.org.");
  std::vector<uint8_t> garbage(40, 0xff);
  EXPECT_EQ(tracker.Process(Packet(false, 2), garbage, &l7), ParseState::kInvalid);
  EXPECT_EQ(tracker.stats().invalid, 1u);
}

TEST(DnsTrackerTest, PendingQueriesAreBounded) {
  DnsTracker tracker(/*max_pending=*/4, std::chrono::seconds(10));
  flow::Flow l7;
  for (uint16_t id = 0; id < 10; ++id) {
    auto q = Query(id, "a.b", 1);
    ASSERT_EQ(tracker.Process(Packet(false, 100 + id), q, &l7), ParseState::kSuccess);
  }
  EXPECT_EQ(tracker.pending(), 4u);
  EXPECT_EQ(tracker.stats().evicted, 6u);
}

TEST(DnsTrackerTest, PendingQueriesExpire) {
  DnsTracker tracker(100, std::chrono::seconds(1));
  flow::Flow l7;
  auto q = Query(1, "a.b", 1);
  tracker.Process(Packet(false, 0), q, &l7);
  auto q2 = Query(2, "a.b", 1);
  tracker.Process(Packet(false, 2'000'000'000), q2, &l7);
  EXPECT_EQ(tracker.pending(), 1u);
}

}  // namespace
}  // namespace loupe::protocols::dns
