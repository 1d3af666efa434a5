#include "src/metrics/hubble/hubble_metrics.h"

#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/base/clock.h"
#include "src/export/prometheus/exposition.h"
#include "src/metrics/hubble/names.h"

namespace loupe::metrics::hubble {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using Series = std::map<Labels, double>;

struct HistogramSeries {
  uint64_t count = 0;
  double sum = 0;
  std::vector<double> bounds;
  std::vector<uint64_t> buckets;
  std::vector<std::optional<StoredExemplar>> exemplars;
};

const FamilySnapshot* Find(const std::vector<FamilySnapshot>& families, const std::string& name) {
  for (const auto& family : families) {
    if (family.name == name) return &family;
  }
  return nullptr;
}

Series Counters(const Registry& registry, const std::string& name) {
  const auto families = registry.Collect();
  const FamilySnapshot* family = Find(families, name);
  if (family == nullptr) {
    ADD_FAILURE() << "no family " << name;
    return {};
  }
  EXPECT_EQ(family->type, MetricType::kCounter) << name;
  Series out;
  for (const Sample& s : family->samples) out[s.labels] += s.value;
  return out;
}

std::map<Labels, HistogramSeries> Histograms(const Registry& registry, const std::string& name) {
  const auto families = registry.Collect();
  const FamilySnapshot* family = Find(families, name);
  if (family == nullptr) {
    ADD_FAILURE() << "no family " << name;
    return {};
  }
  EXPECT_EQ(family->type, MetricType::kHistogram) << name;
  std::map<Labels, HistogramSeries> out;
  for (const Sample& s : family->samples) {
    out[s.labels] = {s.count, s.sum, s.bounds, s.bucket_counts, s.exemplars};
  }
  return out;
}

flow::IpAddress Ip(const std::string& text) {
  flow::IpAddress ip;
  EXPECT_TRUE(flow::IpAddress::Parse(text, &ip)) << text;
  return ip;
}

std::shared_ptr<const flow::PeerInfo> Peer(const std::string& ns, const std::string& pod,
                                           const std::string& workload,
                                           std::vector<std::string> labels = {}) {
  auto info = std::make_shared<flow::PeerInfo>();
  info->endpoint.namespace_name = ns;
  info->endpoint.pod_name = pod;
  if (!workload.empty()) info->endpoint.workloads.push_back({workload, "Deployment"});
  info->endpoint.labels = std::move(labels);
  return info;
}

// A TC trace event (from-network) of a TCP packet 10.0.0.1:40000 -> 10.0.0.2:443.
flow::Flow TcpPacket(uint8_t flags) {
  flow::Flow f;
  f.type = flow::FlowType::kL3L4;
  f.event_type = flow::EventType::kTrace;
  f.observation_point = flow::ObservationPoint::kFromNetwork;
  f.event_subtype = 10;
  f.verdict = flow::Verdict::kForwarded;
  f.direction = flow::TrafficDirection::kIngress;
  f.is_reply = 0;
  f.l4 = flow::L4Protocol::kTcp;
  f.src_ip = Ip("10.0.0.1");
  f.dst_ip = Ip("10.0.0.2");
  f.src_port = 40000;
  f.dst_port = 443;
  f.tcp_flags = flags;
  return f;
}

flow::Flow Drop(uint32_t reason) {
  flow::Flow f = TcpPacket(flow::kTcpSyn);
  f.verdict = flow::Verdict::kDropped;
  f.event_type = flow::EventType::kDrop;
  f.drop_reason = reason;
  f.event_subtype = static_cast<uint8_t>(reason);
  return f;
}

flow::Flow Icmp(bool v6, uint8_t type, uint8_t code) {
  flow::Flow f = TcpPacket(0);
  f.l4 = v6 ? flow::L4Protocol::kIcmpv6 : flow::L4Protocol::kIcmpv4;
  f.src_port = f.dst_port = 0;
  f.icmp_type = type;
  f.icmp_code = code;
  if (v6) {
    f.src_ip = Ip("fd00::1");
    f.dst_ip = Ip("fd00::2");
  }
  return f;
}

flow::Flow Dns(bool response, std::vector<std::string> qtypes, uint32_t rcode = 0,
               std::vector<std::string> ips = {}, std::vector<std::string> rrtypes = {}) {
  flow::Flow f;
  f.type = flow::FlowType::kL7;
  f.event_type = flow::EventType::kL7;
  f.verdict = flow::Verdict::kForwarded;
  f.l4 = flow::L4Protocol::kUdp;
  f.src_ip = Ip(response ? "10.96.0.10" : "10.0.0.1");
  f.dst_ip = Ip(response ? "10.0.0.1" : "10.96.0.10");
  f.src_port = response ? 53 : 41000;
  f.dst_port = response ? 41000 : 53;
  f.is_reply = response ? 1 : 0;
  f.direction = flow::TrafficDirection::kEgress;
  auto l7 = std::make_shared<flow::L7Info>();
  l7->type = response ? flow::L7Type::kResponse : flow::L7Type::kRequest;
  l7->dns = std::make_unique<flow::DnsInfo>();
  l7->dns->query = "example.com.";
  l7->dns->qtypes = std::move(qtypes);
  l7->dns->rcode = rcode;
  l7->dns->ips = std::move(ips);
  l7->dns->rrtypes = std::move(rrtypes);
  f.l7 = std::move(l7);
  return f;
}

// An HTTP exchange observed at the server (ingress), as telemetry::RequestToFlows builds it:
// the request goes client 10.0.1.5:50000 -> server 10.0.2.7:8080, the response back.
flow::Flow Http(bool response, uint32_t code = 200, uint64_t latency_ns = 0,
                std::vector<std::pair<std::string, std::string>> headers = {}) {
  flow::Flow f;
  f.type = flow::FlowType::kL7;
  f.event_type = flow::EventType::kL7;
  f.verdict = flow::Verdict::kForwarded;
  f.l4 = flow::L4Protocol::kTcp;
  f.direction = flow::TrafficDirection::kIngress;
  f.is_reply = response ? 1 : 0;
  const auto client = Peer("web", "frontend-7d4b9c5f6-x2kq9", "frontend");
  const auto server = Peer("shop", "api-0", "api");
  f.src_ip = Ip(response ? "10.0.2.7" : "10.0.1.5");
  f.dst_ip = Ip(response ? "10.0.1.5" : "10.0.2.7");
  f.src_port = response ? 8080 : 50000;
  f.dst_port = response ? 50000 : 8080;
  f.src_info = response ? server : client;
  f.dst_info = response ? client : server;
  auto l7 = std::make_shared<flow::L7Info>();
  l7->type = response ? flow::L7Type::kResponse : flow::L7Type::kRequest;
  l7->latency_ns = latency_ns;
  l7->http = std::make_unique<flow::HttpInfo>();
  l7->http->code = response ? code : 0;
  l7->http->method = "GET";
  l7->http->url = "http://api.shop:8080/items";
  l7->http->protocol = "HTTP/1.1";
  l7->http->headers = std::move(headers);
  f.l7 = std::move(l7);
  return f;
}

std::unique_ptr<HubbleMetrics> Make(Registry& registry, const std::vector<std::string>& entries) {
  auto metrics = HubbleMetrics::Create(registry, entries);
  EXPECT_TRUE(metrics.ok()) << metrics.status();
  return metrics.ok() ? std::move(*metrics) : nullptr;
}

TEST(HubbleMetricsTest, CreateRejectsBadEntries) {
  Registry registry;
  auto metrics = HubbleMetrics::Create(registry, {"flow", "nope:x"});
  ASSERT_FALSE(metrics.ok());
  EXPECT_THAT(std::string(metrics.status().message()), HasSubstr("unknown handler \"nope\""));
  EXPECT_TRUE(registry.Collect().empty());
}

TEST(FlowHandlerTest, TypeSubtypeProtocolAndVerdict) {
  Registry registry;
  auto metrics = Make(registry, {"flow"});
  metrics->OnFlow(TcpPacket(flow::kTcpSyn));
  metrics->OnFlow(TcpPacket(flow::kTcpAck));
  flow::Flow to_endpoint = TcpPacket(flow::kTcpAck);
  to_endpoint.event_subtype = 0;
  to_endpoint.l4 = flow::L4Protocol::kUdp;
  metrics->OnFlow(to_endpoint);
  metrics->OnFlow(Drop(133));
  metrics->OnFlow(Http(/*response=*/true));
  metrics->OnFlow(Dns(/*response=*/false, {"A"}));
  flow::Flow sock = TcpPacket(0);
  sock.event_type = flow::EventType::kTraceSock;
  metrics->OnFlow(sock);
  flow::Flow unknown_point = TcpPacket(0);
  unknown_point.event_subtype = 200;
  unknown_point.l4 = flow::L4Protocol::kNone;
  metrics->OnFlow(unknown_point);

  auto labels = [](const char* protocol, const char* type, const char* subtype,
                   const char* verdict) {
    return Labels{
        {"protocol", protocol}, {"type", type}, {"subtype", subtype}, {"verdict", verdict}};
  };
  EXPECT_EQ(Counters(registry, "hubble_flows_processed_total"),
            (Series{{labels("TCP", "Trace", "from-network", "FORWARDED"), 2},
                    {labels("UDP", "Trace", "to-endpoint", "FORWARDED"), 1},
                    {labels("TCP", "Drop", "", "DROPPED"), 1},
                    {labels("HTTP", "L7", "HTTP", "FORWARDED"), 1},
                    {labels("DNS", "L7", "DNS", "FORWARDED"), 1},
                    {labels("Unknown flow", "Unknown", "7", "FORWARDED"), 1},
                    {labels("Unknown L4", "Trace", "", "FORWARDED"), 1}}));
}

TEST(FlowHandlerTest, ContextLabelsComeLast) {
  Registry registry;
  auto metrics = Make(registry, {"flow:sourceContext=namespace;labelsContext=destination_pod"});
  flow::Flow f = TcpPacket(flow::kTcpSyn);
  f.src_info = Peer("web", "frontend-0", "frontend");
  f.dst_info = Peer("shop", "api-0", "api");
  metrics->OnFlow(f);
  EXPECT_EQ(Counters(registry, "hubble_flows_processed_total"),
            (Series{{{{"protocol", "TCP"},
                      {"type", "Trace"},
                      {"subtype", "from-network"},
                      {"verdict", "FORWARDED"},
                      {"destination_pod", "api-0"},
                      {"source", "web"}},
                     1}}));
}

TEST(DropHandlerTest, ReasonNamesAndContextFirst) {
  Registry registry;
  auto metrics = Make(registry, {"drop:sourceContext=pod;destinationContext=ip"});
  metrics->OnFlow(Drop(133));  // POLICY_DENIED
  metrics->OnFlow(Drop(133));
  metrics->OnFlow(Drop(0));      // a kernel drop without a Hubble reason
  metrics->OnFlow(Drop(60000));  // not a DropReason value
  flow::Flow udp = Drop(181);
  udp.l4 = flow::L4Protocol::kUdp;
  metrics->OnFlow(udp);
  metrics->OnFlow(TcpPacket(flow::kTcpSyn));  // forwarded: not a drop

  auto labels = [](const char* reason, const char* protocol) {
    return Labels{
        {"source", ""}, {"destination", "10.0.0.2"}, {"reason", reason}, {"protocol", protocol}};
  };
  EXPECT_EQ(Counters(registry, "hubble_drop_total"),
            (Series{{labels("POLICY_DENIED", "TCP"), 2},
                    {labels("DROP_REASON_UNKNOWN", "TCP"), 2},
                    {labels("POLICY_DENY", "UDP"), 1}}));
}

TEST(TcpHandlerTest, FlagNamesFamilyAndVerdicts) {
  Registry registry;
  auto metrics = Make(registry, {"tcp"});
  metrics->OnFlow(TcpPacket(flow::kTcpSyn));
  metrics->OnFlow(TcpPacket(flow::kTcpSyn | flow::kTcpAck));
  metrics->OnFlow(TcpPacket(flow::kTcpFin | flow::kTcpAck));
  metrics->OnFlow(TcpPacket(flow::kTcpRst | flow::kTcpFin));
  metrics->OnFlow(TcpPacket(flow::kTcpAck | flow::kTcpPsh));  // no counted flag
  flow::Flow redirected = TcpPacket(flow::kTcpSyn);
  redirected.verdict = flow::Verdict::kRedirected;
  metrics->OnFlow(redirected);
  metrics->OnFlow(Drop(133));  // dropped SYN: not counted
  flow::Flow v6 = TcpPacket(flow::kTcpSyn);
  v6.src_ip = Ip("fd00::1");
  v6.dst_ip = Ip("fd00::2");
  metrics->OnFlow(v6);
  flow::Flow l7 = Http(false);
  metrics->OnFlow(l7);  // L7 records have no flags

  auto labels = [](const char* flag, const char* family) {
    return Labels{{"flag", flag}, {"family", family}};
  };
  EXPECT_EQ(Counters(registry, "hubble_tcp_flags_total"), (Series{{labels("SYN", "IPv4"), 2},
                                                                  {labels("SYN-ACK", "IPv4"), 1},
                                                                  {labels("FIN", "IPv4"), 2},
                                                                  {labels("RST", "IPv4"), 1},
                                                                  {labels("SYN", "IPv6"), 1}}));
}

TEST(PortDistributionHandlerTest, NonReplyForwardedFlowsByDestinationPort) {
  Registry registry;
  auto metrics = Make(registry, {"port-distribution:destinationContext=namespace"});
  flow::Flow to_api = TcpPacket(flow::kTcpSyn);
  to_api.dst_info = Peer("shop", "api-0", "api");
  metrics->OnFlow(to_api);
  metrics->OnFlow(to_api);
  flow::Flow reply = to_api;
  reply.is_reply = 1;
  metrics->OnFlow(reply);
  flow::Flow unknown_reply = to_api;
  unknown_reply.is_reply = -1;
  metrics->OnFlow(unknown_reply);
  metrics->OnFlow(Drop(133));
  metrics->OnFlow(Dns(false, {"A"}));  // L7 DNS request: UDP 53, not a reply
  metrics->OnFlow(Icmp(false, 8, 0));
  metrics->OnFlow(Icmp(true, 128, 0));
  flow::Flow sctp = TcpPacket(0);
  sctp.l4 = flow::L4Protocol::kSctp;
  sctp.dst_port = 36412;
  metrics->OnFlow(sctp);

  auto labels = [](const char* protocol, const char* port, const char* destination) {
    return Labels{{"protocol", protocol}, {"port", port}, {"destination", destination}};
  };
  EXPECT_EQ(Counters(registry, "hubble_port_distribution_total"),
            (Series{{labels("TCP", "443", "shop"), 2},
                    {labels("UDP", "53", ""), 1},
                    {labels("ICMPv4", "0", ""), 1},
                    {labels("ICMPv6", "0", ""), 1},
                    {labels("SCTP", "36412", ""), 1}}));
}

TEST(IcmpHandlerTest, FamilyAndGopacketTypeNames) {
  Registry registry;
  auto metrics = Make(registry, {"icmp:labelsContext=traffic_direction"});
  metrics->OnFlow(Icmp(false, 8, 0));
  metrics->OnFlow(Icmp(false, 0, 0));
  metrics->OnFlow(Icmp(false, 3, 3));
  metrics->OnFlow(Icmp(true, 1, 4));
  metrics->OnFlow(Icmp(true, 128, 0));
  metrics->OnFlow(TcpPacket(flow::kTcpSyn));

  auto labels = [](const char* family, const char* type) {
    return Labels{{"family", family}, {"type", type}, {"traffic_direction", "ingress"}};
  };
  EXPECT_EQ(Counters(registry, "hubble_icmp_total"),
            (Series{{labels("IPv4", "EchoRequest"), 1},
                    {labels("IPv4", "EchoReply"), 1},
                    {labels("IPv4", "DestinationUnreachable(Port)"), 1},
                    {labels("IPv6", "DestinationUnreachable(PortUnreachable)"), 1},
                    {labels("IPv6", "EchoRequest"), 1}}));
}

TEST(DnsHandlerTest, QueriesResponsesAndResponseTypes) {
  Registry registry;
  auto metrics = Make(registry, {"dns:sourceContext=ip"});
  metrics->OnFlow(Dns(false, {"A", "AAAA"}));
  metrics->OnFlow(Dns(false, {"A", "AAAA"}));
  metrics->OnFlow(Dns(true, {"A"}, 0, {"93.184.216.34", "93.184.216.35"}, {"A", "A"}));
  metrics->OnFlow(Dns(true, {"A"}, 3));
  metrics->OnFlow(Dns(true, {"A"}, 9));
  metrics->OnFlow(Dns(true, {"TXT"}, 15));  // an rcode without a name
  flow::Flow denied = Dns(false, {"A"});
  denied.verdict = flow::Verdict::kDropped;
  metrics->OnFlow(denied);
  flow::Flow unknown_reply = Dns(false, {"MX"});
  unknown_reply.is_reply = -1;
  metrics->OnFlow(unknown_reply);
  metrics->OnFlow(TcpPacket(flow::kTcpSyn));

  auto labels = [](const char* source, const char* rcode, const char* qtypes, const char* ips) {
    return Labels{{"source", source}, {"rcode", rcode}, {"qtypes", qtypes}, {"ips_returned", ips}};
  };
  EXPECT_EQ(Counters(registry, "hubble_dns_queries_total"),
            (Series{{labels("10.0.0.1", "", "A,AAAA", "0"), 2},
                    {labels("10.0.0.1", "Policy denied", "A", "0"), 1},
                    {labels("10.0.0.1", "", "MX", "0"), 1}}));
  EXPECT_EQ(Counters(registry, "hubble_dns_responses_total"),
            (Series{{labels("10.96.0.10", "No Error", "A", "2"), 1},
                    {labels("10.96.0.10", "Non-Existent Domain", "A", "0"), 1},
                    {labels("10.96.0.10", "Not Authorized", "A", "0"), 1},
                    {labels("10.96.0.10", "", "TXT", "0"), 1}}));
  EXPECT_EQ(Counters(registry, "hubble_dns_response_types_total"),
            (Series{{{{"source", "10.96.0.10"}, {"type", "A"}, {"qtypes", "A"}}, 2}}));
}

TEST(DnsHandlerTest, QueryLabelAndIgnoreAAAA) {
  Registry registry;
  auto metrics = Make(registry, {"dns:query;ignoreAAAA"});
  metrics->OnFlow(Dns(false, {"AAAA"}));
  metrics->OnFlow(Dns(true, {"AAAA"}, 0, {"2001:db8::1"}, {"AAAA"}));
  metrics->OnFlow(Dns(false, {"A", "AAAA"}));  // not only AAAA: counted
  metrics->OnFlow(Dns(true, {"A"}, 0, {"93.184.216.34"}, {"A"}));
  EXPECT_EQ(
      Counters(registry, "hubble_dns_queries_total"),
      (Series{
          {{{"rcode", ""}, {"qtypes", "A,AAAA"}, {"ips_returned", "0"}, {"query", "example.com."}},
           1}}));
  EXPECT_EQ(Counters(registry, "hubble_dns_responses_total"), (Series{{{{"rcode", "No Error"},
                                                                        {"qtypes", "A"},
                                                                        {"ips_returned", "1"},
                                                                        {"query", "example.com."}},
                                                                       1}}));
  EXPECT_EQ(Counters(registry, "hubble_dns_response_types_total"),
            (Series{{{{"type", "A"}, {"qtypes", "A"}, {"query", "example.com."}}, 1}}));
}

const char* kSeedHttpV2 =
    "httpV2:exemplars=true;labelsContext=source_ip,source_namespace,source_workload,destination_ip,"
    "destination_namespace,destination_workload,traffic_direction";

TEST(HttpV2HandlerTest, SeedLabelsFromTheRequestPerspective) {
  Registry registry;
  auto metrics = Make(registry, {kSeedHttpV2});
  metrics->OnFlow(Http(/*response=*/false));  // requests are not counted by httpV2
  metrics->OnFlow(Http(true, 200, 12'000'000));
  metrics->OnFlow(Http(true, 200, 30'000'000));
  metrics->OnFlow(Http(true, 503, 2'000'000'000));

  const Labels context = {{"source_ip", "10.0.1.5"},         {"source_namespace", "web"},
                          {"source_workload", "frontend"},   {"destination_ip", "10.0.2.7"},
                          {"destination_namespace", "shop"}, {"destination_workload", "api"},
                          {"traffic_direction", "ingress"}};
  auto with = [&](Labels extra) {
    Labels out = context;
    out.insert(out.end(), extra.begin(), extra.end());
    return out;
  };
  EXPECT_EQ(Counters(registry, "hubble_http_requests_total"),
            (Series{{with({{"method", "GET"},
                           {"protocol", "HTTP/1.1"},
                           {"status", "200"},
                           {"reporter", "server"},
                           {"http_status_code", "200"}}),
                     2},
                    {with({{"method", "GET"},
                           {"protocol", "HTTP/1.1"},
                           {"status", "503"},
                           {"reporter", "server"},
                           {"http_status_code", "503"}}),
                     1}}));
  const auto histograms = Histograms(registry, "hubble_http_request_duration_seconds");
  ASSERT_EQ(histograms.size(), 1u);
  const auto& [labels, h] = *histograms.begin();
  EXPECT_EQ(labels, with({{"method", "GET"}, {"reporter", "server"}}));
  EXPECT_EQ(h.count, 3u);
  EXPECT_DOUBLE_EQ(h.sum, 2.042);
  EXPECT_THAT(h.bounds, ElementsAre(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10));
  // 12 ms in le=0.025, 30 ms in le=0.05, 2 s in le=2.5.
  EXPECT_THAT(h.buckets, ElementsAre(0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0));
  EXPECT_EQ(Find(registry.Collect(), "hubble_http_responses_total"), nullptr);
}

TEST(HttpV2HandlerTest, HubblesExactLabelSetWithoutTheStatusCodeAlias) {
  Registry registry;
  auto metrics = Make(registry, {"httpV2:httpStatusCodeLabel=false;sourceContext=workload-name"});
  flow::Flow response = Http(true, 404, 1'000'000);
  response.direction = flow::TrafficDirection::kEgress;  // observed at the client
  metrics->OnFlow(response);
  EXPECT_EQ(Counters(registry, "hubble_http_requests_total"), (Series{{{{"source", "frontend"},
                                                                        {"method", "GET"},
                                                                        {"protocol", "HTTP/1.1"},
                                                                        {"status", "404"},
                                                                        {"reporter", "client"}},
                                                                       1}}));
}

TEST(HttpHandlerTest, V1CountsRequestsAndResponsesWithoutInverting) {
  Registry registry;
  auto metrics = Make(registry, {"http:labelsContext=source_workload,destination_workload"});
  flow::Flow request = Http(false);
  request.direction = flow::TrafficDirection::kUnknown;
  metrics->OnFlow(request);
  metrics->OnFlow(Http(true, 200, 5'000'000));
  flow::Flow sample = Http(true);
  auto l7 = std::make_shared<flow::L7Info>();
  l7->type = flow::L7Type::kSample;
  l7->http = std::make_unique<flow::HttpInfo>();
  sample.l7 = l7;
  metrics->OnFlow(sample);  // neither request nor response

  EXPECT_EQ(Counters(registry, "hubble_http_requests_total"),
            (Series{{{{"source_workload", "frontend"},
                      {"destination_workload", "api"},
                      {"method", "GET"},
                      {"protocol", "HTTP/1.1"},
                      {"reporter", "unknown"}},
                     1}}));
  // The response flow goes server -> client: v1 labels it so (Hubble's documented quirk).
  EXPECT_EQ(Counters(registry, "hubble_http_responses_total"),
            (Series{{{{"source_workload", "api"},
                      {"destination_workload", "frontend"},
                      {"method", "GET"},
                      {"protocol", "HTTP/1.1"},
                      {"status", "200"},
                      {"reporter", "server"},
                      {"http_status_code", "200"}},
                     1}}));
  const auto histograms = Histograms(registry, "hubble_http_request_duration_seconds");
  ASSERT_EQ(histograms.size(), 1u);
  EXPECT_EQ(histograms.begin()->first, (Labels{{"source_workload", "api"},
                                               {"destination_workload", "frontend"},
                                               {"method", "GET"},
                                               {"reporter", "server"}}));
  EXPECT_EQ(histograms.begin()->second.count, 1u);
}

constexpr const char* kTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr const char* kSpanId = "00f067aa0ba902b7";

TEST(HttpExemplarTest, ExplicitTraceThenTraceparentHeader) {
  telemetry::TraceContext storage;
  const flow::Flow plain = Http(true);
  ExemplarRef ref = HttpExemplar(plain, nullptr, &storage);
  EXPECT_TRUE(ref.trace_id.empty());

  const TraceIds explicit_ids{kTraceId, kSpanId};
  ref = HttpExemplar(plain, &explicit_ids, &storage);
  EXPECT_EQ(ref.trace_id, kTraceId);
  EXPECT_EQ(ref.span_id, kSpanId);

  const flow::Flow with_header =
      Http(true, 200, 1,
           {{"Content-Type", "text/plain"},
            {"TraceParent", std::string("00-") + kTraceId + "-" + kSpanId + "-01"}});
  const TraceIds empty_ids;
  ref = HttpExemplar(with_header, &empty_ids, &storage);
  EXPECT_EQ(ref.trace_id, kTraceId);
  EXPECT_EQ(ref.span_id, kSpanId);

  const flow::Flow bad_header = Http(true, 200, 1, {{"traceparent", "00-zz-00f067aa0ba902b7-01"}});
  EXPECT_TRUE(HttpExemplar(bad_header, nullptr, &storage).trace_id.empty());
}

// Exemplars reach the registry: Observe(v, exemplar) stores the ids per bucket.
TEST(HttpV2HandlerTest, ExemplarsCarryTheTraceIds) {
  Registry registry;
  auto metrics = Make(registry, {kSeedHttpV2});
  metrics->OnFlow(Http(true, 200, 12'000'000), TraceIds{kTraceId, kSpanId});
  const auto histograms = Histograms(registry, "hubble_http_request_duration_seconds");
  ASSERT_EQ(histograms.size(), 1u);
  const HistogramSeries& h = histograms.begin()->second;
  ASSERT_EQ(h.exemplars.size(), h.buckets.size());
  ASSERT_TRUE(h.exemplars[2].has_value());  // le=0.025
  EXPECT_EQ(h.exemplars[2]->trace_id, kTraceId);
  EXPECT_EQ(h.exemplars[2]->span_id, kSpanId);
  EXPECT_DOUBLE_EQ(h.exemplars[2]->value, 0.012);
}

// On the wire the exemplar is Hubble's: {traceID="<trace id>"} with no span id, the name the
// seed's Grafana datasource (exemplarTraceIdDestinations: name traceID) looks up.
TEST(HttpV2HandlerTest, ExemplarsUseHubbleLabelName) {
  FakeClock clock(1'700'000'000'500'000'000);
  Registry registry(clock);
  auto metrics = Make(registry, {kSeedHttpV2});
  metrics->OnFlow(Http(true, 200, 12'000'000), TraceIds{kTraceId, kSpanId});
  std::vector<FamilySnapshot> families = registry.Collect();
  const FamilySnapshot* family = Find(families, "hubble_http_request_duration_seconds");
  ASSERT_NE(family, nullptr);
  EXPECT_EQ(family->exemplar_labels, ExemplarLabels::kHubble);
  const std::string text = prometheus::RenderOpenMetrics({*family});
  std::vector<std::string> with_exemplar;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(" # {") != std::string::npos) with_exemplar.push_back(line);
  }
  ASSERT_EQ(with_exemplar.size(), 1u) << text;
  EXPECT_THAT(with_exemplar[0], ::testing::EndsWith(std::string("le=\"0.025\"} 1 # {traceID=\"") +
                                                    kTraceId + "\"} 0.012 1700000000.5"));
  EXPECT_EQ(text.find("span_id"), std::string::npos);
  EXPECT_EQ(text.find("trace_id"), std::string::npos);
}

TEST(HttpV2HandlerTest, NoExemplarsUnlessEnabled) {
  Registry registry;
  auto metrics = Make(registry, {"httpV2"});
  metrics->OnFlow(Http(true, 200, 12'000'000), TraceIds{kTraceId, kSpanId});
  const auto histograms = Histograms(registry, "hubble_http_request_duration_seconds");
  ASSERT_EQ(histograms.size(), 1u);
  for (const auto& exemplar : histograms.begin()->second.exemplars) {
    EXPECT_FALSE(exemplar.has_value());
  }
}

TEST(FlowsToWorldHandlerTest, CountsNonReplyFlowsToWorld) {
  Registry registry;
  auto metrics = Make(registry, {"flows-to-world:port;destinationContext=ip"});
  auto world = Peer("", "", "", {"reserved:world"});
  flow::Flow out = TcpPacket(flow::kTcpSyn);
  out.dst_info = world;
  metrics->OnFlow(out);
  flow::Flow ack = TcpPacket(flow::kTcpAck);
  ack.dst_info = world;
  metrics->OnFlow(ack);
  flow::Flow reply = out;
  reply.is_reply = 1;
  metrics->OnFlow(reply);
  flow::Flow denied = Drop(133);
  denied.dst_info = world;
  denied.is_reply = 1;  // drops count even when they are replies
  metrics->OnFlow(denied);
  flow::Flow other_drop = Drop(0);
  other_drop.dst_info = world;
  metrics->OnFlow(other_drop);
  flow::Flow icmp = Icmp(false, 8, 0);
  icmp.dst_info = world;
  metrics->OnFlow(icmp);
  flow::Flow cluster = TcpPacket(flow::kTcpSyn);
  cluster.dst_info = Peer("shop", "api-0", "api", {"k8s:app=api"});
  metrics->OnFlow(cluster);
  metrics->OnFlow(TcpPacket(flow::kTcpSyn));  // unknown destination

  auto labels = [](const char* protocol, const char* verdict, const char* port) {
    return Labels{
        {"protocol", protocol}, {"verdict", verdict}, {"port", port}, {"destination", "10.0.0.2"}};
  };
  EXPECT_EQ(Counters(registry, "hubble_flows_to_world_total"),
            (Series{{labels("TCP", "FORWARDED", "443"), 2},
                    {labels("TCP", "DROPPED", "443"), 1},
                    {labels("ICMPv4", "FORWARDED", ""), 1}}));
}

TEST(FlowsToWorldHandlerTest, AnyDropAndSynOnly) {
  Registry registry;
  auto metrics = Make(registry, {"flows-to-world:any-drop;syn-only"});
  auto world = Peer("", "", "", {"reserved:world"});
  for (uint8_t flags : {flow::kTcpSyn, flow::kTcpAck, uint8_t(flow::kTcpSyn | flow::kTcpAck)}) {
    flow::Flow f = TcpPacket(flags);
    f.dst_info = world;
    metrics->OnFlow(f);
  }
  flow::Flow drop = Drop(0);  // a SYN dropped for another reason
  drop.dst_info = world;
  metrics->OnFlow(drop);
  flow::Flow udp = TcpPacket(0);
  udp.l4 = flow::L4Protocol::kUdp;
  udp.dst_info = world;
  metrics->OnFlow(udp);  // syn-only: not TCP SYN
  EXPECT_EQ(Counters(registry, "hubble_flows_to_world_total"),
            (Series{{{{"protocol", "TCP"}, {"verdict", "FORWARDED"}}, 2},
                    {{{"protocol", "TCP"}, {"verdict", "DROPPED"}}, 1}}));
}

TEST(KafkaHandlerTest, FamiliesAreRegisteredAndStayEmpty) {
  Registry registry;
  auto metrics = Make(registry, {"kafka:labelsContext=source_pod"});
  metrics->OnFlow(Http(true));
  metrics->OnFlow(TcpPacket(flow::kTcpSyn));
  const auto families = registry.Collect();
  const FamilySnapshot* requests = Find(families, "hubble_kafka_requests_total");
  const FamilySnapshot* duration = Find(families, "hubble_kafka_request_duration_seconds");
  ASSERT_NE(requests, nullptr);
  ASSERT_NE(duration, nullptr);
  EXPECT_EQ(requests->type, MetricType::kCounter);
  EXPECT_EQ(duration->type, MetricType::kHistogram);
  EXPECT_TRUE(requests->samples.empty());
  EXPECT_TRUE(duration->samples.empty());
}

flow::Flow Connect(bool known_peers) {
  flow::Flow f;
  f.l4 = flow::L4Protocol::kTcp;
  f.direction = flow::TrafficDirection::kEgress;
  f.src_ip = Ip("10.0.1.5");
  f.dst_ip = Ip("10.0.2.7");
  f.src_port = 50000;
  f.dst_port = 8080;
  if (known_peers) {
    f.src_info = Peer("web", "frontend-0", "frontend");
    f.dst_info = Peer("shop", "api-0", "api");
  }
  return f;
}

TEST(TcpConnectTest, AlwaysCarriesBothWorkloads) {
  Registry registry;
  auto metrics = Make(registry, {});
  metrics->OnTcpConnect(Connect(true), 0.0007);
  metrics->OnTcpConnect(Connect(true), 0.004);
  metrics->OnTcpConnect(Connect(false), 12);

  const auto histograms = Histograms(registry, "hubble_tcp_connect_duration_seconds");
  const Labels known = {{"source_namespace", "web"},
                        {"source_workload", "frontend"},
                        {"destination_namespace", "shop"},
                        {"destination_workload", "api"}};
  const Labels unknown = {{"source_namespace", ""},
                          {"source_workload", ""},
                          {"destination_namespace", ""},
                          {"destination_workload", ""}};
  ASSERT_EQ(histograms.size(), 2u);
  const HistogramSeries& h = histograms.at(known);
  EXPECT_EQ(h.count, 2u);
  EXPECT_DOUBLE_EQ(h.sum, 0.0047);
  EXPECT_EQ(h.bounds, TcpConnectBuckets());
  ASSERT_EQ(h.buckets.size(), 17u);
  EXPECT_EQ(h.buckets[1], 1u);                        // le=0.001
  EXPECT_EQ(h.buckets[3], 1u);                        // le=0.005
  EXPECT_EQ(histograms.at(unknown).buckets[16], 1u);  // +Inf
}

TEST(TcpConnectTest, FollowsTheTcpHandlersContext) {
  Registry registry;
  auto metrics = Make(registry, {"tcp:labelsContext=source_namespace,traffic_direction,"
                                 "destination_pod;destinationContext=ip"});
  metrics->OnTcpConnect(Connect(true), 0.002);
  const auto histograms = Histograms(registry, "hubble_tcp_connect_duration_seconds");
  ASSERT_EQ(histograms.size(), 1u);
  EXPECT_EQ(histograms.begin()->first, (Labels{{"source_namespace", "web"},
                                               {"source_workload", "frontend"},
                                               {"destination_pod", "api-0"},
                                               {"destination_namespace", "shop"},
                                               {"destination_workload", "api"},
                                               {"traffic_direction", "egress"},
                                               {"destination", "10.0.2.7"}}));
}

TEST(HubbleMetricsTest, SeedListEndToEnd) {
  Registry registry;
  auto metrics =
      Make(registry, {"dns", "drop", "tcp", "flow", "port-distribution", "icmp", kSeedHttpV2});
  ASSERT_EQ(metrics->specs().size(), 7u);
  metrics->OnFlow(TcpPacket(flow::kTcpSyn));
  metrics->OnFlow(Drop(133));
  metrics->OnFlow(Dns(true, {"A"}, 3));
  metrics->OnFlow(Icmp(false, 8, 0));
  metrics->OnFlow(Http(true, 200, 1'000'000));
  EXPECT_EQ(Counters(registry, "hubble_flows_processed_total").size(), 5u);
  EXPECT_EQ(Counters(registry, "hubble_drop_total"),
            (Series{{{{"reason", "POLICY_DENIED"}, {"protocol", "TCP"}}, 1}}));
  EXPECT_EQ(
      Counters(registry, "hubble_dns_responses_total"),
      (Series{{{{"rcode", "Non-Existent Domain"}, {"qtypes", "A"}, {"ips_returned", "0"}}, 1}}));
  EXPECT_EQ(Counters(registry, "hubble_tcp_flags_total"),
            (Series{{{{"flag", "SYN"}, {"family", "IPv4"}}, 1}}));
  EXPECT_EQ(Counters(registry, "hubble_icmp_total"),
            (Series{{{{"family", "IPv4"}, {"type", "EchoRequest"}}, 1}}));
  // The seed's SLI selects http_status_code=~"2.." and groups by destination_workload.
  const Series http = Counters(registry, "hubble_http_requests_total");
  ASSERT_EQ(http.size(), 1u);
  const Labels& labels = http.begin()->first;
  auto value_of = [&](const std::string& name) -> std::string {
    for (const auto& [k, v] : labels) {
      if (k == name) return v;
    }
    return "<absent>";
  };
  EXPECT_EQ(value_of("http_status_code"), "200");
  EXPECT_EQ(value_of("status"), "200");
  EXPECT_EQ(value_of("destination_workload"), "api");
  EXPECT_EQ(value_of("destination_namespace"), "shop");
  EXPECT_NE(Find(registry.Collect(), "hubble_tcp_connect_duration_seconds"), nullptr);
}

TEST(HubbleMetricsTest, ConcurrentFlowsAreAllCounted) {
  Registry registry;
  auto metrics = Make(registry, {"flow", "tcp", "port-distribution"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&metrics, t] {
      flow::Flow f = TcpPacket(flow::kTcpSyn);
      f.dst_port = static_cast<uint16_t>(8000 + t);
      for (int i = 0; i < 5000; ++i) metrics->OnFlow(f);
    });
  }
  for (auto& thread : threads) thread.join();
  const Series flows = Counters(registry, "hubble_flows_processed_total");
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows.begin()->second, 20000);
  EXPECT_EQ(Counters(registry, "hubble_tcp_flags_total").begin()->second, 20000);
  const Series ports = Counters(registry, "hubble_port_distribution_total");
  ASSERT_EQ(ports.size(), 4u);
  for (const auto& [labels, value] : ports) EXPECT_EQ(value, 5000) << labels[1].second;
}

TEST(NamesTest, WireNames) {
  EXPECT_EQ(TraceObservationPointName(0), "to-endpoint");
  EXPECT_EQ(TraceObservationPointName(5), "from-endpoint");
  EXPECT_EQ(TraceObservationPointName(11), "to-network");
  EXPECT_EQ(TraceObservationPointName(13), "to-crypto");
  EXPECT_EQ(TraceObservationPointName(14), "");
  EXPECT_EQ(TraceObservationPointName(101), "");
  EXPECT_EQ(VerdictName(flow::Verdict::kUnknown), "VERDICT_UNKNOWN");
  EXPECT_EQ(VerdictName(flow::Verdict::kTranslated), "TRANSLATED");
  EXPECT_EQ(DropReasonName(133), "POLICY_DENIED");
  EXPECT_EQ(DropReasonName(0xffffffffu), "DROP_REASON_UNKNOWN");
  EXPECT_EQ(DnsRcodeMetricName(11), "DSO-TYPE Not Implemented");
  EXPECT_EQ(DnsRcodeMetricName(12), "");
  EXPECT_EQ(Reporter(flow::TrafficDirection::kEgress), "client");
  EXPECT_EQ(Reporter(flow::TrafficDirection::kIngress), "server");
  EXPECT_EQ(Reporter(flow::TrafficDirection::kUnknown), "unknown");
}

}  // namespace
}  // namespace loupe::metrics::hubble
