#include "src/flow/filter.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe::flow {
namespace {

using ::testing::HasSubstr;

Flow Tcp(const char* src, uint16_t sport, const char* dst, uint16_t dport, uint8_t flags) {
  Flow f;
  IpAddress::Parse(src, &f.src_ip);
  IpAddress::Parse(dst, &f.dst_ip);
  f.l4 = L4Protocol::kTcp;
  f.src_port = sport;
  f.dst_port = dport;
  f.tcp_flags = flags;
  f.direction = TrafficDirection::kEgress;
  f.ifindex = 3;
  return f;
}

Flow DnsFlow(const std::string& query, uint32_t rcode) {
  Flow f = Tcp("198.18.0.2", 40000, "198.18.0.3", 53, 0);
  f.l4 = L4Protocol::kUdp;
  f.type = FlowType::kL7;
  f.event_type = EventType::kL7;
  auto l7 = std::make_shared<L7Info>();
  l7->type = L7Type::kResponse;
  l7->dns = std::make_unique<DnsInfo>();
  l7->dns->query = query;
  l7->dns->rcode = rcode;
  f.l7 = l7;
  return f;
}

Flow HttpFlow(const std::string& method, const std::string& url, uint32_t code) {
  Flow f = Tcp("198.18.0.2", 40000, "198.18.0.3", 80, 0);
  f.type = FlowType::kL7;
  auto l7 = std::make_shared<L7Info>();
  l7->http = std::make_unique<HttpInfo>();
  l7->http->method = method;
  l7->http->url = url;
  l7->http->code = code;
  f.l7 = l7;
  return f;
}

std::string IfName(uint32_t ifindex) { return ifindex == 3 ? "lpv1" : "eth0"; }

bool Match(const Flow& flow, const std::vector<FilterSpec>& white,
           const std::vector<FilterSpec>& black = {}) {
  auto p = FlowPredicate::Compile(white, black, FilterContext{"node-a", IfName});
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() && p->Matches(flow);
}

TEST(FilterTest, EmptyRequestMatchesEverything) {
  EXPECT_TRUE(Match(Tcp("1.1.1.1", 1, "2.2.2.2", 2, kTcpSyn), {}));
}

TEST(FilterTest, IpExactAndCidr) {
  const Flow f = Tcp("198.18.0.2", 1234, "198.18.1.9", 80, kTcpSyn);
  FilterSpec s;
  s.source_ip = {"198.18.0.2"};
  EXPECT_TRUE(Match(f, {s}));
  s.source_ip = {"198.18.0.0/24"};
  EXPECT_TRUE(Match(f, {s}));
  s.source_ip = {"198.18.1.0/24"};
  EXPECT_FALSE(Match(f, {s}));
  s.source_ip = {"10.0.0.1", "198.18.0.0/16"};  // OR within a field
  EXPECT_TRUE(Match(f, {s}));
  FilterSpec d;
  d.destination_ip = {"fd4c::/16"};
  EXPECT_FALSE(Match(f, {d}));  // other family never matches
  const Flow v6 = Tcp("fd4c:6f75::2", 1, "fd4c:6f75::3", 2, 0);
  EXPECT_TRUE(Match(v6, {d}));
}

TEST(FilterTest, FieldsAreAndedFiltersAreOred) {
  const Flow f = Tcp("198.18.0.2", 1234, "198.18.0.3", 80, kTcpSyn);
  FilterSpec both;
  both.source_ip = {"198.18.0.2"};
  both.destination_port = {"443"};
  EXPECT_FALSE(Match(f, {both}));
  FilterSpec other;
  other.destination_port = {"80"};
  EXPECT_TRUE(Match(f, {both, other}));
}

TEST(FilterTest, BlacklistRemovesFromWhitelist) {
  const Flow f = Tcp("198.18.0.2", 1234, "198.18.0.3", 80, kTcpSyn);
  FilterSpec port80;
  port80.destination_port = {"80"};
  FilterSpec from2;
  from2.source_ip = {"198.18.0.2"};
  EXPECT_FALSE(Match(f, {}, {port80}));
  EXPECT_FALSE(Match(f, {from2}, {port80}));
  FilterSpec port443;
  port443.destination_port = {"443"};
  EXPECT_TRUE(Match(f, {from2}, {port443}));
}

TEST(FilterTest, VerdictDirectionDropReasonInterfaceReply) {
  Flow f = Tcp("198.18.0.2", 1234, "198.18.0.3", 80, kTcpSyn);
  f.verdict = Verdict::kDropped;
  f.drop_reason = 133;
  f.is_reply = 0;
  FilterSpec s;
  s.verdict = {Verdict::kForwarded};
  EXPECT_FALSE(Match(f, {s}));
  s.verdict = {Verdict::kForwarded, Verdict::kDropped};
  EXPECT_TRUE(Match(f, {s}));
  s.traffic_direction = {TrafficDirection::kIngress};
  EXPECT_FALSE(Match(f, {s}));
  FilterSpec r;
  r.drop_reason_desc = {133};
  EXPECT_TRUE(Match(f, {r}));
  FilterSpec i;
  i.interface = {{0, "lpv1"}};
  EXPECT_TRUE(Match(f, {i}));
  i.interface = {{4, ""}};
  EXPECT_FALSE(Match(f, {i}));
  FilterSpec reply;
  reply.reply = {true};
  EXPECT_FALSE(Match(f, {reply}));
  reply.reply = {false};
  EXPECT_TRUE(Match(f, {reply}));
  f.is_reply = -1;  // unknown matches neither
  EXPECT_FALSE(Match(f, {reply}));
}

TEST(FilterTest, ProtocolsPortsAndTcpFlags) {
  const Flow syn = Tcp("198.18.0.2", 1234, "198.18.0.3", 80, kTcpSyn);
  const Flow synack = Tcp("198.18.0.3", 80, "198.18.0.2", 1234, kTcpSyn | kTcpAck);
  FilterSpec tcp;
  tcp.protocol = {"TCP"};
  EXPECT_TRUE(Match(syn, {tcp}));
  FilterSpec udp;
  udp.protocol = {"udp"};
  EXPECT_FALSE(Match(syn, {udp}));
  FilterSpec flags;
  flags.tcp_flags = {kTcpSyn | kTcpAck};
  EXPECT_FALSE(Match(syn, {flags}));
  EXPECT_TRUE(Match(synack, {flags}));
  Flow icmp;
  icmp.l4 = L4Protocol::kIcmpv6;
  FilterSpec icmp_filter;
  icmp_filter.protocol = {"icmp"};
  EXPECT_TRUE(Match(icmp, {icmp_filter}));
  FilterSpec port;
  port.source_port = {"0"};
  EXPECT_FALSE(Match(icmp, {port}));  // ICMP has no ports
}

TEST(FilterTest, DnsAndHttp) {
  const Flow dns = DnsFlow("www.example.com.", 3);
  FilterSpec q;
  q.dns_query = {"example\\.com\\.$"};
  EXPECT_TRUE(Match(dns, {q}));
  q.dns_query = {"^example"};
  EXPECT_FALSE(Match(dns, {q}));
  FilterSpec p;
  p.protocol = {"dns"};
  EXPECT_TRUE(Match(dns, {p}));
  p.protocol = {"udp"};
  EXPECT_TRUE(Match(dns, {p}));

  const Flow http = HttpFlow("GET", "http://198.18.0.3/status/503?x=1", 503);
  FilterSpec status;
  status.http_status_code = {"5+"};
  EXPECT_TRUE(Match(http, {status}));
  status.http_status_code = {"50+"};
  EXPECT_TRUE(Match(http, {status}));
  status.http_status_code = {"404"};
  EXPECT_FALSE(Match(http, {status}));
  // Ranges (inclusive): the product brief's `--http-status 500-599`.
  status.http_status_code = {"500-599"};
  EXPECT_TRUE(Match(http, {status}));
  status.http_status_code = {"503-503"};
  EXPECT_TRUE(Match(http, {status}));
  status.http_status_code = {"400-502"};
  EXPECT_FALSE(Match(http, {status}));
  status.http_status_code = {"504-599"};
  EXPECT_FALSE(Match(http, {status}));
  status.http_status_code = {"400-499", "503"};
  EXPECT_TRUE(Match(http, {status}));
  FilterSpec method;
  method.http_method = {"get"};
  EXPECT_TRUE(Match(http, {method}));
  FilterSpec path;
  path.http_path = {"^/status/5[0-9]+"};
  EXPECT_TRUE(Match(http, {path}));
  FilterSpec url;
  url.http_url = {"^https://"};
  EXPECT_FALSE(Match(http, {url}));
  // A DNS flow has no HTTP status.
  EXPECT_FALSE(Match(dns, {status}));
}

// Regex filters use Go's regexp syntax (Hubble's CLI compiles them with Go) and match in linear
// time: a 200 KB path from the wire against `^/api/.*$` is an ordinary match. With std::regex
// this overflowed the stack (recursive backtracking) and crashed the agent.
TEST(FilterTest, RegexFiltersAreGoSyntaxAndSafeOnLongInput) {
  const Flow http = HttpFlow("GET", "http://198.18.0.3/API/" + std::string(200000, 'a'), 200);
  FilterSpec path;
  path.http_path = {"^/API/.*$"};
  EXPECT_TRUE(Match(http, {path}));
  path.http_path = {"(?i)^/api/a+$"};  // Go's inline flags: not ECMAScript
  EXPECT_TRUE(Match(http, {path}));
  path.http_path = {"^/api/"};
  EXPECT_FALSE(Match(http, {path}));
  FilterSpec url;
  url.http_url = {R"(^http://198\.18\.0\.3/\pL+/)"};
  EXPECT_TRUE(Match(http, {url}));
  // Perl/ECMAScript backreferences are not Go syntax: a clear error.
  FilterSpec backref;
  backref.http_path = {"(a)\\1"};
  auto p = FlowPredicate::Compile({backref}, {}, {});
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("invalid http_path filter '(a)\\1'"));
}

TEST(FilterTest, NodeNameGlobIpVersionEventTypeUuid) {
  Flow f = Tcp("198.18.0.2", 1, "198.18.0.3", 2, 0);
  f.id = 99;
  f.event_type = EventType::kDrop;
  f.event_subtype = 133;
  FilterSpec n;
  n.node_name = {"node-*"};
  EXPECT_TRUE(Match(f, {n}));
  n.node_name = {"other"};
  EXPECT_FALSE(Match(f, {n}));
  FilterSpec v;
  v.ip_version = {2};
  EXPECT_FALSE(Match(f, {v}));
  v.ip_version = {1};
  EXPECT_TRUE(Match(f, {v}));
  FilterSpec e;
  e.event_type = {{1, true, 133}};
  EXPECT_TRUE(Match(f, {e}));
  e.event_type = {{4, false, 0}};
  EXPECT_FALSE(Match(f, {e}));
  FilterSpec u;
  u.uuid = {FlowUuid(99)};
  EXPECT_TRUE(Match(f, {u}));
  u.uuid = {FlowUuid(98)};
  EXPECT_FALSE(Match(f, {u}));
}

TEST(FilterTest, IdentityFieldsMatchNothingUntilFlowsCarryIdentity) {
  FilterSpec pod;
  pod.source_pod = {"default/"};
  EXPECT_FALSE(Match(Tcp("1.1.1.1", 1, "2.2.2.2", 2, 0), {pod}));
}

TEST(FilterTest, BadFiltersAreRejectedNamingFieldAndValue) {
  struct Case {
    FilterSpec spec;
    std::string expected;
  };
  std::vector<Case> cases(11);
  cases[0].spec.source_ip = {"300.1.1.1"};
  cases[0].expected = "invalid source_ip filter '300.1.1.1'";
  cases[1].spec.destination_ip = {"10.0.0.0/33"};
  cases[1].expected = "prefix length must be 0..32";
  cases[2].spec.destination_port = {"http"};
  cases[2].expected = "invalid destination_port filter 'http'";
  cases[3].spec.http_status_code = {"6+"};
  cases[3].expected = "invalid http_status_code filter '6+'";
  cases[4].spec.dns_query = {"(unclosed"};
  cases[4].expected = "invalid dns_query filter '(unclosed'";
  cases[5].spec.protocol = {"carrier-pigeon"};
  cases[5].expected = "known protocols";
  // Ranges: two three-digit codes 100..599, the first not above the second.
  const char* bad_ranges[] = {"599-500", "500-", "-599", "500-600", "50-599"};
  for (size_t i = 0; i < std::size(bad_ranges); ++i) {
    cases[6 + i].spec.http_status_code = {bad_ranges[i]};
    cases[6 + i].expected = std::string("invalid http_status_code filter '") + bad_ranges[i] + "'";
  }
  for (const auto& c : cases) {
    auto p = FlowPredicate::Compile({c.spec}, {}, {});
    ASSERT_FALSE(p.ok()) << c.expected;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(p.status().message()), HasSubstr(c.expected));
  }
}

}  // namespace
}  // namespace loupe::flow
