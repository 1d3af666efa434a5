#include "src/api/convert.h"

#include "gtest/gtest.h"
#include "src/cli/printer.h"

namespace loupe::api {
namespace {

using flow::Flow;

flow::IpAddress Ip(const char* text) {
  flow::IpAddress ip;
  EXPECT_TRUE(flow::IpAddress::Parse(text, &ip));
  return ip;
}

Flow SynAck() {
  Flow f;
  f.id = 7;
  f.time_ns = 1234'567'800'000;
  f.verdict = flow::Verdict::kForwarded;
  f.event_type = flow::EventType::kTrace;
  f.event_subtype = 0;
  f.observation_point = flow::ObservationPoint::kToEndpoint;
  f.direction = flow::TrafficDirection::kIngress;
  f.is_reply = 1;
  f.has_ethernet = true;
  f.src_mac = {0x02, 0x42, 0xac, 0x11, 0x00, 0x02};
  f.dst_mac = {0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
  f.src_ip = Ip("10.0.0.2");
  f.dst_ip = Ip("10.0.0.1");
  f.l4 = flow::L4Protocol::kTcp;
  f.src_port = 80;
  f.dst_port = 40000;
  f.tcp_flags = flow::kTcpSyn | flow::kTcpAck;
  f.ifindex = 4242;
  return f;
}

std::string Convert(const Flow& f) {
  ConvertContext ctx;
  ctx.node_name = "node-a";
  ctx.emitter_version = "0.1.0";
  ctx.interface_name = [](uint32_t) { return std::string("veth0"); };
  flowpb::Flow out;
  FlowToProto(f, ctx, &out);
  EXPECT_EQ(out.uuid(), flow::FlowUuid(f.id));
  out.clear_uuid();  // random per process
  return cli::ToJson(out);
}

TEST(ConvertTest, TcpFlowGoldenJson) {
  EXPECT_EQ(Convert(SynAck()),
            R"({"time":"1970-01-01T00:20:34.567800Z","verdict":"FORWARDED","ethernet":{"source":)"
            R"("02:42:ac:11:00:02","destination":"0a:0b:0c:0d:0e:0f"},"IP":{"source":"10.0.0.2",)"
            R"("destination":"10.0.0.1","ipVersion":"IPv4"},"l4":{"TCP":{"source_port":80,)"
            R"("destination_port":40000,"flags":{"SYN":true,"ACK":true}}},"Type":"L3_L4",)"
            R"("node_name":"node-a","reply":true,"event_type":{"type":4},)"
            R"("traffic_direction":"INGRESS","trace_observation_point":"TO_ENDPOINT",)"
            R"("is_reply":true,"interface":{"index":4242,"name":"veth0"},)"
            R"("emitter":{"name":"Loupe","version":"0.1.0"},"Summary":"TCP Flags: SYN, ACK"})");
}

TEST(ConvertTest, DropGoldenJson) {
  Flow f = SynAck();
  f.has_ethernet = false;
  f.ifindex = 0;
  f.is_reply = -1;
  f.verdict = flow::Verdict::kDropped;
  f.event_type = flow::EventType::kDrop;
  f.event_subtype = 133;
  f.drop_reason = 133;
  f.observation_point = flow::ObservationPoint::kUnknown;
  f.tcp_flags = flow::kTcpSyn;
  EXPECT_EQ(Convert(f),
            R"({"time":"1970-01-01T00:20:34.567800Z","verdict":"DROPPED","drop_reason":133,)"
            R"("IP":{"source":"10.0.0.2","destination":"10.0.0.1","ipVersion":"IPv4"},"l4":{"TCP":)"
            R"({"source_port":80,"destination_port":40000,"flags":{"SYN":true}}},"Type":"L3_L4",)"
            R"("node_name":"node-a","event_type":{"type":1,"sub_type":133},)"
            R"("traffic_direction":"INGRESS","drop_reason_desc":"POLICY_DENIED",)"
            R"("emitter":{"name":"Loupe","version":"0.1.0"},"Summary":"TCP Flags: SYN"})");
}

const char* FakeKernelReasonName(uint16_t reason) {
  return reason == 77 ? "TCP_INVALID_SEQUENCE" : "";
}

// A kernel drop reason Hubble has no DropReason for: drop_reason_desc stays unset (the enum cannot
// carry it) and the Summary names the kernel's reason.
TEST(ConvertTest, KernelOnlyDropReasonGoesIntoTheSummary) {
  Flow f = SynAck();
  f.has_ethernet = false;
  f.ifindex = 0;
  f.is_reply = -1;
  f.verdict = flow::Verdict::kDropped;
  f.event_type = flow::EventType::kDrop;
  f.event_subtype = 0;
  f.drop_reason = 0;
  f.kernel_reason = 77;
  f.observation_point = flow::ObservationPoint::kUnknown;
  f.tcp_flags = flow::kTcpAck;
  ConvertContext ctx;
  ctx.node_name = "node-a";
  ctx.emitter_version = "0.1.0";
  ctx.kernel_drop_reason_name = &FakeKernelReasonName;
  flowpb::Flow out;
  FlowToProto(f, ctx, &out);
  out.clear_uuid();  // random per process
  EXPECT_EQ(cli::ToJson(out),
            R"({"time":"1970-01-01T00:20:34.567800Z","verdict":"DROPPED",)"
            R"("IP":{"source":"10.0.0.2","destination":"10.0.0.1","ipVersion":"IPv4"},"l4":{"TCP":)"
            R"({"source_port":80,"destination_port":40000,"flags":{"ACK":true}}},"Type":"L3_L4",)"
            R"("node_name":"node-a","event_type":{"type":1},"traffic_direction":"INGRESS",)"
            R"("emitter":{"name":"Loupe","version":"0.1.0"},)"
            R"x("Summary":"TCP Flags: ACK (kernel drop reason: TCP_INVALID_SEQUENCE)"})x");
  EXPECT_EQ(KernelDropReasonFromSummary(out.summary()), "TCP_INVALID_SEQUENCE");
  // A value this kernel has no name for (no BTF) shows as a number; without a resolver (no
  // kernel at hand, e.g. the synthetic server) the Summary is Cilium's plain one.
  f.kernel_reason = 78;
  EXPECT_EQ(FlowSummary(f, &ctx), "TCP Flags: ACK (kernel drop reason: 78)");
  EXPECT_EQ(FlowSummary(f), "TCP Flags: ACK");
  // A reason with a Hubble equivalent keeps Cilium's plain Summary.
  f.drop_reason = 178;
  f.kernel_reason = 77;
  EXPECT_EQ(FlowSummary(f, &ctx), "TCP Flags: ACK");
  // Forwarded flows never carry one.
  f.drop_reason = 0;
  f.verdict = flow::Verdict::kForwarded;
  EXPECT_EQ(FlowSummary(f, &ctx), "TCP Flags: ACK");
  EXPECT_EQ(KernelDropReasonFromSummary("TCP Flags: ACK"), "");
  EXPECT_EQ(KernelDropReasonFromSummary(""), "");
}

TEST(ConvertTest, DnsResponseGoldenJson) {
  Flow f;
  f.time_ns = 1'000'000'000;
  f.type = flow::FlowType::kL7;
  f.event_type = flow::EventType::kL7;
  f.is_reply = 1;
  f.src_ip = Ip("fd00::53");
  f.dst_ip = Ip("fd00::1");
  f.l4 = flow::L4Protocol::kUdp;
  f.src_port = 53;
  f.dst_port = 41000;
  auto l7 = std::make_shared<flow::L7Info>();
  l7->type = flow::L7Type::kResponse;
  l7->latency_ns = 1500;
  l7->dns = std::make_unique<flow::DnsInfo>();
  l7->dns->query = "example.com.";
  l7->dns->qtypes = {"A"};
  l7->dns->ips = {"1.2.3.4"};
  l7->dns->rrtypes = {"A"};
  l7->dns->ttl = 30;
  l7->dns->observation_source = "proxy";
  f.l7 = l7;
  EXPECT_EQ(
      Convert(f),
      R"({"time":"1970-01-01T00:00:01Z","verdict":"FORWARDED","IP":{"source":"fd00::53",)"
      R"("destination":"fd00::1","ipVersion":"IPv6"},"l4":{"UDP":{"source_port":53,)"
      R"("destination_port":41000}},"Type":"L7","node_name":"node-a","l7":{"type":"RESPONSE",)"
      R"("latency_ns":"1500","dns":{"query":"example.com.","ips":["1.2.3.4"],"ttl":30,)"
      R"("observation_source":"proxy","qtypes":["A"],"rrtypes":["A"]}},"reply":true,)"
      R"("event_type":{"type":129},"is_reply":true,)"
      R"("emitter":{"name":"Loupe","version":"0.1.0"},)"
      R"j("Summary":"DNS Answer \"1.2.3.4\" TTL: 30 (Proxy example.com. A)"})j");
}

TEST(ConvertTest, Summaries) {
  Flow f;
  f.l4 = flow::L4Protocol::kTcp;
  f.tcp_flags = flow::kTcpFin | flow::kTcpAck | flow::kTcpPsh;
  EXPECT_EQ(FlowSummary(f), "TCP Flags: ACK, FIN, PSH");
  f.tcp_flags = flow::kTcpRst;
  EXPECT_EQ(FlowSummary(f), "TCP Flags: RST");
  f.l4 = flow::L4Protocol::kUdp;
  EXPECT_EQ(FlowSummary(f), "UDP");
  f.l4 = flow::L4Protocol::kSctp;
  EXPECT_EQ(FlowSummary(f), "SCTP");
  f.l4 = flow::L4Protocol::kIcmpv4;
  f.icmp_type = 8;
  EXPECT_EQ(FlowSummary(f), "ICMPv4 EchoRequest");
  f.icmp_type = 3;
  f.icmp_code = 3;
  EXPECT_EQ(FlowSummary(f), "ICMPv4 DestinationUnreachable(Port)");
  f.icmp_type = 8;
  f.icmp_code = 1;
  EXPECT_EQ(FlowSummary(f), "ICMPv4 EchoRequest(Code: 1)");
  f.icmp_type = 42;
  EXPECT_EQ(FlowSummary(f), "ICMPv4 42(1)");
  f.l4 = flow::L4Protocol::kIcmpv6;
  f.icmp_type = 135;
  f.icmp_code = 0;
  EXPECT_EQ(FlowSummary(f), "ICMPv6 NeighborSolicitation");
  f.l4 = flow::L4Protocol::kNone;
  f.src_ip = Ip("10.0.0.1");
  EXPECT_EQ(FlowSummary(f), "IPv4");

  auto l7 = std::make_shared<flow::L7Info>();
  l7->type = flow::L7Type::kRequest;
  l7->dns = std::make_unique<flow::DnsInfo>();
  l7->dns->query = "example.com.";
  l7->dns->qtypes = {"A", "AAAA"};
  f.l7 = l7;
  EXPECT_EQ(FlowSummary(f), "DNS Query example.com. A,AAAA");
  l7->type = flow::L7Type::kResponse;
  l7->dns->rcode = 3;
  l7->dns->ttl = 4294967295u;
  EXPECT_EQ(FlowSummary(f),
            "DNS Answer RCode: Non-Existent Domain TTL: 4294967295 (Query example.com. A,AAAA)");
  l7->dns->rcode = 0;
  l7->dns->ttl = 3;
  l7->dns->ips = {"1.1.1.1", "2.2.2.2"};
  l7->dns->cnames = {"a.example."};
  EXPECT_EQ(FlowSummary(f),
            "DNS Answer \"1.1.1.1,2.2.2.2\" CNAMEs: \"a.example.\" TTL: 3 (Query example.com. "
            "A,AAAA)");

  auto http = std::make_shared<flow::L7Info>();
  http->type = flow::L7Type::kResponse;
  http->latency_ns = 1'400'000;
  http->http = std::make_unique<flow::HttpInfo>();
  http->http->code = 200;
  http->http->method = "GET";
  http->http->url = "http://deathstar/";
  http->http->protocol = "HTTP/1.1";
  f.l7 = http;
  EXPECT_EQ(FlowSummary(f), "HTTP/1.1 200 1ms (GET http://deathstar/)");
  http->type = flow::L7Type::kRequest;
  EXPECT_EQ(FlowSummary(f), "HTTP/1.1 GET http://deathstar/");
}

TEST(ConvertTest, LostEvent) {
  flow::LostEvent lost;
  lost.source = flow::LostSource::kPerfEventRingBuffer;
  lost.num_events_lost = 12;
  lost.cpu = 3;
  flowpb::LostEvent out;
  LostEventToProto(lost, &out);
  EXPECT_EQ(cli::ToJson(out),
            R"({"source":"PERF_EVENT_RING_BUFFER","num_events_lost":"12","cpu":3})");
}

TEST(ConvertTest, FilterFromProto) {
  flowpb::FlowFilter in;
  in.add_source_ip("10.0.0.0/8");
  in.add_verdict(flowpb::DROPPED);
  in.add_tcp_flags()->set_syn(true);
  in.add_event_type()->set_type(4);
  auto out = FilterFromProto(in);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FALSE(out->never_matches);
  EXPECT_EQ(out->spec.source_ip, std::vector<std::string>{"10.0.0.0/8"});
  ASSERT_EQ(out->spec.verdict.size(), 1u);
  EXPECT_EQ(out->spec.verdict[0], flow::Verdict::kDropped);
  EXPECT_EQ(out->spec.tcp_flags, std::vector<uint8_t>{flow::kTcpSyn});
  ASSERT_EQ(out->spec.event_type.size(), 1u);
  EXPECT_EQ(out->spec.event_type[0].type, 4);

  flowpb::FlowFilter cel;
  cel.mutable_experimental()->add_cel_expression("true");
  auto bad = FilterFromProto(cel);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(bad.status().message()).find("cel_expression"), std::string::npos);

  // Identity fields reach the spec and are matched against flow identities.
  flowpb::FlowFilter identity;
  auto* w = identity.add_destination_workload();
  w->set_name("api");
  w->set_kind("Deployment");
  identity.add_source_identity(2);
  identity.add_source_cluster_name("default");
  auto converted = FilterFromProto(identity);
  ASSERT_TRUE(converted.ok());
  EXPECT_FALSE(converted->never_matches);
  ASSERT_EQ(converted->spec.destination_workload.size(), 1u);
  EXPECT_EQ(converted->spec.destination_workload[0].name, "api");
  EXPECT_EQ(converted->spec.destination_workload[0].kind, "Deployment");
  EXPECT_EQ(converted->spec.source_identity, std::vector<uint32_t>{2});
  EXPECT_EQ(converted->spec.source_cluster_name, std::vector<std::string>{"default"});
}

TEST(ConvertTest, EndpointsNamesAndServices) {
  auto src = std::make_shared<flow::PeerInfo>();
  src->endpoint.id = 42;
  src->endpoint.identity = 300;
  src->endpoint.cluster_name = "default";
  src->endpoint.namespace_name = "prod";
  src->endpoint.pod_name = "web-1";
  src->endpoint.labels = {"k8s:app=web"};
  src->endpoint.workloads = {{"web", "Deployment"}};
  auto dst = std::make_shared<flow::PeerInfo>();
  dst->endpoint.identity = 2;
  dst->endpoint.labels = {"reserved:world"};
  dst->names = {"example.com"};
  dst->service_name = "ext";
  dst->service_namespace = "prod";
  flow::Flow f;
  f.src_info = src;
  f.dst_info = dst;
  flowpb::Flow out;
  FlowToProto(f, ConvertContext{}, &out);
  EXPECT_EQ(out.source().id(), 42u);
  EXPECT_EQ(out.source().identity(), 300u);
  EXPECT_EQ(out.source().namespace_(), "prod");
  EXPECT_EQ(out.source().pod_name(), "web-1");
  EXPECT_EQ(out.source().cluster_name(), "default");
  ASSERT_EQ(out.source().labels_size(), 1);
  EXPECT_EQ(out.source().labels(0), "k8s:app=web");
  ASSERT_EQ(out.source().workloads_size(), 1);
  EXPECT_EQ(out.source().workloads(0).kind(), "Deployment");
  EXPECT_EQ(out.destination().identity(), 2u);
  ASSERT_EQ(out.destination_names_size(), 1);
  EXPECT_EQ(out.destination_names(0), "example.com");
  EXPECT_EQ(out.destination_service().name(), "ext");
  EXPECT_EQ(out.destination_service().namespace_(), "prod");
  EXPECT_FALSE(out.has_source_service());
}

// Agent events as Hubble's JSON shows them (field names of flow.proto; the notification by type).
TEST(ConvertTest, AgentEventsGoldenJson) {
  flow::AgentEvent e;
  e.type = flow::AgentEventType::kAgentStarted;
  e.time_ns = 1'700'000'000'500'000'000;
  e.start_time_ns = 1'700'000'000'000'000'000;
  flowpb::AgentEvent out;
  AgentEventToProto(e, &out);
  EXPECT_EQ(cli::ToJson(out),
            R"({"type":"AGENT_STARTED","agent_start":{"time":"2023-11-14T22:13:20Z"}})");
  e = {};
  e.type = flow::AgentEventType::kEndpointDeleted;
  e.labels = {"k8s:app=web", "k8s:io.kubernetes.pod.namespace=shop"};
  e.namespace_name = "shop";
  e.pod_name = "web-1";
  AgentEventToProto(e, &out);
  EXPECT_EQ(cli::ToJson(out),
            R"({"type":"ENDPOINT_DELETED","endpoint_update":{"labels":["k8s:app=web",)"
            R"("k8s:io.kubernetes.pod.namespace=shop"],"pod_name":"web-1","namespace":"shop"}})");
  e = {};
  e.type = flow::AgentEventType::kIpcacheUpserted;
  e.cidr = "10.0.0.9/32";
  e.identity = 4242;
  e.old_identity = 300;
  e.host_ip = "192.168.1.2";
  e.namespace_name = "shop";
  e.pod_name = "web-1";
  AgentEventToProto(e, &out);
  EXPECT_EQ(cli::ToJson(out),
            R"({"type":"IPCACHE_UPSERTED","ipcache_update":{"cidr":"10.0.0.9/32",)"
            R"("identity":4242,"old_identity":300,"host_ip":"192.168.1.2","namespace":"shop",)"
            R"("pod_name":"web-1"}})");
}

}  // namespace
}  // namespace loupe::api
