#include "src/cli/printer.h"

#include <algorithm>
#include <sstream>

#include "gtest/gtest.h"

namespace loupe::cli {
namespace {

// The flow of hubble's printer tests (reference/hubble.md §4.3): 1.1.1.1:31793 (health) ->
// 2.2.2.2:8080 (ID:12345), dropped by policy, time 1234.5678 s after the epoch, node k8s1.
observer::GetFlowsResponse PolicyDeniedFlow() {
  observer::GetFlowsResponse resp;
  flowpb::Flow* f = resp.mutable_flow();
  f->mutable_time()->set_seconds(1234);
  f->mutable_time()->set_nanos(567800000);
  f->set_verdict(flowpb::DROPPED);
  f->mutable_ip()->set_source("1.1.1.1");
  f->mutable_ip()->set_destination("2.2.2.2");
  f->mutable_l4()->mutable_tcp()->set_source_port(31793);
  f->mutable_l4()->mutable_tcp()->set_destination_port(8080);
  f->mutable_source()->set_identity(4);
  f->mutable_destination()->set_identity(12345);
  f->set_type(flowpb::L3_L4);
  f->set_node_name("k8s1");
  f->mutable_event_type()->set_type(1);
  f->mutable_event_type()->set_sub_type(133);
  f->mutable_is_reply()->set_value(false);
  f->set_summary("TCP Flags: SYN");
  return resp;
}

std::string Print(const observer::GetFlowsResponse& resp, OutputFormat format, bool node) {
  std::ostringstream out;
  std::ostringstream err;
  PrinterOptions options;
  options.format = format;
  options.node_name = node;
  FlowPrinter printer(options, out, err);
  printer.Write(resp);
  printer.Flush();
  return out.str();
}

TEST(PrinterTest, CompactGoldenLines) {
  auto resp = PolicyDeniedFlow();
  EXPECT_EQ(Print(resp, OutputFormat::kCompact, true),
            "Jan  1 00:20:34.567 [k8s1]: 1.1.1.1:31793 (health) -> 2.2.2.2:8080 (ID:12345) "
            "Policy denied DROPPED (TCP Flags: SYN)\n");
  resp.mutable_flow()->clear_is_reply();
  EXPECT_EQ(Print(resp, OutputFormat::kCompact, true),
            "Jan  1 00:20:34.567 [k8s1]: 1.1.1.1:31793 (health) <> 2.2.2.2:8080 (ID:12345) "
            "Policy denied DROPPED (TCP Flags: SYN)\n");
  // Policy verdict events (hubble's second golden line).
  resp.mutable_flow()->mutable_event_type()->set_type(5);
  resp.mutable_flow()->mutable_event_type()->set_sub_type(0);
  resp.mutable_flow()->set_traffic_direction(flowpb::EGRESS);
  EXPECT_EQ(Print(resp, OutputFormat::kCompact, true),
            "Jan  1 00:20:34.567 [k8s1]: 1.1.1.1:31793 (health) <> 2.2.2.2:8080 (ID:12345) "
            "policy-verdict:none EGRESS DENIED (TCP Flags: SYN)\n");
}

TEST(PrinterTest, CompactReplySwapsEnds) {
  auto resp = PolicyDeniedFlow();
  resp.mutable_flow()->mutable_is_reply()->set_value(true);
  EXPECT_EQ(Print(resp, OutputFormat::kCompact, false),
            "Jan  1 00:20:34.567: 2.2.2.2:8080 (ID:12345) <- 1.1.1.1:31793 (health) "
            "Policy denied DROPPED (TCP Flags: SYN)\n");
}

TEST(PrinterTest, TableGoldenLines) {
  EXPECT_EQ(Print(PolicyDeniedFlow(), OutputFormat::kTable, true),
            "TIMESTAMP             NODE   SOURCE          DESTINATION    TYPE            VERDICT  "
            " SUMMARY\n"
            "Jan  1 00:20:34.567   k8s1   1.1.1.1:31793   2.2.2.2:8080   Policy denied   DROPPED  "
            " TCP Flags: SYN\n");
}

TEST(PrinterTest, DictGoldenLines) {
  EXPECT_EQ(Print(PolicyDeniedFlow(), OutputFormat::kDict, true),
            "  TIMESTAMP: Jan  1 00:20:34.567\n"
            "       NODE: k8s1\n"
            "     SOURCE: 1.1.1.1:31793\n"
            "DESTINATION: 2.2.2.2:8080\n"
            "       TYPE: Policy denied\n"
            "    VERDICT: DROPPED\n"
            "    SUMMARY: TCP Flags: SYN\n");
}

TEST(PrinterTest, DictSeparatesRecords) {
  std::ostringstream out;
  std::ostringstream err;
  PrinterOptions options;
  options.format = OutputFormat::kDict;
  FlowPrinter printer(options, out, err);
  printer.Write(PolicyDeniedFlow());
  printer.Write(PolicyDeniedFlow());
  EXPECT_NE(out.str().find("    SUMMARY: TCP Flags: SYN\n------------\n  TIMESTAMP: "),
            std::string::npos);
}

TEST(PrinterTest, JsonGoldenLine) {
  EXPECT_EQ(Print(PolicyDeniedFlow(), OutputFormat::kJson, false),
            "{\"flow\":{\"time\":\"1970-01-01T00:20:34.567800Z\",\"verdict\":\"DROPPED\","
            "\"IP\":{\"source\":\"1.1.1.1\",\"destination\":\"2.2.2.2\"},\"l4\":{\"TCP\":{"
            "\"source_port\":31793,\"destination_port\":8080}},\"source\":{\"identity\":4},"
            "\"destination\":{\"identity\":12345},\"Type\":\"L3_L4\",\"node_name\":\"k8s1\","
            "\"event_type\":{\"type\":1,\"sub_type\":133},\"is_reply\":false,"
            "\"Summary\":\"TCP Flags: SYN\"}}\n");
}

TEST(PrinterTest, LostEvents) {
  observer::GetFlowsResponse resp;
  resp.mutable_lost_events()->set_source(flowpb::HUBBLE_RING_BUFFER);
  resp.mutable_lost_events()->set_num_events_lost(1);
  resp.mutable_lost_events()->mutable_cpu()->set_value(0);
  EXPECT_EQ(Print(resp, OutputFormat::kCompact, false),
            "EVENTS LOST: HUBBLE_RING_BUFFER CPU(0) 1\n");
  EXPECT_EQ(Print(resp, OutputFormat::kDict, false),
            "  TIMESTAMP: \n     SOURCE: HUBBLE_RING_BUFFER\n       TYPE: EVENTS LOST\n"
            "    VERDICT: \n    SUMMARY: CPU(0) - 1\n");
}

TEST(PrinterTest, TypeColumn) {
  flowpb::Flow f;
  f.mutable_event_type()->set_type(4);
  f.mutable_event_type()->set_sub_type(0);
  EXPECT_EQ(FlowTypeString(f), "to-endpoint");
  f.mutable_event_type()->set_sub_type(11);
  EXPECT_EQ(FlowTypeString(f), "to-network");
  f.mutable_event_type()->set_type(1);
  f.mutable_event_type()->set_sub_type(151);
  EXPECT_EQ(FlowTypeString(f), "Stale or unroutable IP");
  f.mutable_l7()->set_type(flowpb::REQUEST);
  f.mutable_l7()->mutable_dns()->set_observation_source("proxy");
  EXPECT_EQ(FlowTypeString(f), "dns-request proxy");
  f.mutable_l7()->set_type(flowpb::RESPONSE);
  f.mutable_l7()->mutable_http();
  EXPECT_EQ(FlowTypeString(f), "http-response");
}

// A kernel drop without a Hubble DropReason: sub_type 0, the kernel's name in the Summary
// (api::FlowSummary). The TYPE column shows that name rather than "Unknown".
observer::GetFlowsResponse KernelOnlyDropFlow() {
  auto resp = PolicyDeniedFlow();
  resp.mutable_flow()->mutable_event_type()->set_sub_type(0);
  resp.mutable_flow()->set_summary("TCP Flags: ACK (kernel drop reason: TCP_INVALID_SEQUENCE)");
  return resp;
}

TEST(PrinterTest, KernelDropReasonGoldenLines) {
  const auto resp = KernelOnlyDropFlow();
  EXPECT_EQ(Print(resp, OutputFormat::kCompact, false),
            "Jan  1 00:20:34.567: 1.1.1.1:31793 (health) -> 2.2.2.2:8080 (ID:12345) "
            "TCP_INVALID_SEQUENCE DROPPED (TCP Flags: ACK (kernel drop reason: "
            "TCP_INVALID_SEQUENCE))\n");
  EXPECT_EQ(Print(resp, OutputFormat::kTable, false),
            "TIMESTAMP             SOURCE          DESTINATION    TYPE                   VERDICT  "
            " SUMMARY\n"
            "Jan  1 00:20:34.567   1.1.1.1:31793   2.2.2.2:8080   TCP_INVALID_SEQUENCE   DROPPED  "
            " TCP Flags: ACK (kernel drop reason: TCP_INVALID_SEQUENCE)\n");
  EXPECT_EQ(Print(resp, OutputFormat::kDict, false),
            "  TIMESTAMP: Jan  1 00:20:34.567\n"
            "     SOURCE: 1.1.1.1:31793\n"
            "DESTINATION: 2.2.2.2:8080\n"
            "       TYPE: TCP_INVALID_SEQUENCE\n"
            "    VERDICT: DROPPED\n"
            "    SUMMARY: TCP Flags: ACK (kernel drop reason: TCP_INVALID_SEQUENCE)\n");
  // Mapped reasons keep Hubble's text; a reason-0 drop without a kernel name stays "Unknown".
  EXPECT_EQ(FlowTypeString(PolicyDeniedFlow().flow()), "Policy denied");
  auto unknown = resp;
  unknown.mutable_flow()->set_summary("TCP Flags: ACK");
  EXPECT_EQ(FlowTypeString(unknown.flow()), "Unknown");
}

TEST(PrinterTest, HostsUsePodsAndBracketIpv6) {
  flowpb::Flow f;
  f.mutable_ip()->set_source("fd00::1");
  f.mutable_ip()->set_destination("10.0.0.2");
  f.mutable_l4()->mutable_udp()->set_source_port(53);
  f.mutable_l4()->mutable_udp()->set_destination_port(5353);
  f.mutable_destination()->set_namespace_("default");
  f.mutable_destination()->set_pod_name("xwing");
  f.mutable_is_reply()->set_value(false);
  f.mutable_event_type()->set_type(4);
  f.set_verdict(flowpb::FORWARDED);
  f.set_summary("UDP");
  observer::GetFlowsResponse resp;
  *resp.mutable_flow() = f;
  EXPECT_EQ(Print(resp, OutputFormat::kCompact, false),
            "N/A: [fd00::1]:53 (unknown) -> default/xwing:5353 (unknown) "
            "to-endpoint FORWARDED (UDP)\n");
}

TEST(PrinterTest, StatusCompact) {
  observer::ServerStatusResponse s;
  s.set_num_flows(8190);
  s.set_max_flows(8190);
  s.set_seen_flows(100);
  s.set_uptime_ns(10'000'000'000);
  s.set_flows_rate(22.857);
  std::ostringstream out;
  PrintServerStatus(s, OutputFormat::kCompact, out);
  EXPECT_EQ(out.str(), "Current/Max Flows: 8,190/8,190 (100.00%)\nFlows/s: 22.86\n");
  s.set_flows_rate(0);
  std::ostringstream out2;
  PrintServerStatus(s, OutputFormat::kCompact, out2);
  EXPECT_EQ(out2.str(), "Current/Max Flows: 8,190/8,190 (100.00%)\nFlows/s: 10.00\n");
}

TEST(PrinterTest, GroupDigits) {
  EXPECT_EQ(GroupDigits(0), "0");
  EXPECT_EQ(GroupDigits(999), "999");
  EXPECT_EQ(GroupDigits(1000), "1,000");
  EXPECT_EQ(GroupDigits(1234567), "1,234,567");
}

observer::GetNamespacesResponse SomeNamespaces(bool with_cluster) {
  observer::GetNamespacesResponse resp;
  for (const char* name : {"default", "kube-system", "sh\"op"}) {
    observer::Namespace* ns = resp.add_namespaces();
    ns->set_namespace_(name);
    if (with_cluster) ns->set_cluster("east");
  }
  return resp;
}

std::string Namespaces(const observer::GetNamespacesResponse& resp, const std::string& format) {
  std::ostringstream out;
  PrintNamespaces(resp, format, out);
  return out.str();
}

// hubble list namespaces: NAMESPACE, and CLUSTER in wide; json as Go's MarshalIndent of the list.
TEST(PrinterTest, ListNamespaces) {
  EXPECT_EQ(Namespaces(SomeNamespaces(false), "table"),
            "NAMESPACE\ndefault\nkube-system\nsh\"op\n");
  EXPECT_EQ(Namespaces(SomeNamespaces(true), "wide"),
            "NAMESPACE     CLUSTER\n"
            "default       east\n"
            "kube-system   east\n"
            "sh\"op         east\n");
  EXPECT_EQ(Namespaces(SomeNamespaces(false), "json"),
            "[\n  {\n    \"namespace\": \"default\"\n  },\n  {\n    \"namespace\": "
            "\"kube-system\"\n  },\n  {\n    \"namespace\": \"sh\\\"op\"\n  }\n]\n");
  const std::string with_cluster = Namespaces(SomeNamespaces(true), "json");
  EXPECT_EQ(
      with_cluster.rfind("[\n  {\n    \"cluster\": \"east\",\n    \"namespace\": \"default\"\n", 0),
      0u)
      << with_cluster;
  EXPECT_EQ(Namespaces(observer::GetNamespacesResponse(), "json"), "[]\n");
  EXPECT_EQ(Namespaces(observer::GetNamespacesResponse(), "table"), "NAMESPACE\n");
}

}  // namespace
observer::GetAgentEventsResponse AgentEventResponse(flowpb::AgentEventType type, int64_t seconds) {
  observer::GetAgentEventsResponse r;
  r.set_node_name("node-a");
  r.mutable_time()->set_seconds(seconds);
  r.mutable_time()->set_nanos(123'000'000);
  flowpb::AgentEvent* e = r.mutable_agent_event();
  e->set_type(type);
  return r;
}

// hubble observe agent-events: compact, dict and table, with the details hubble prints per type.
TEST(PrinterTest, AgentEvents) {
  std::vector<observer::GetAgentEventsResponse> events;
  events.push_back(AgentEventResponse(flowpb::AGENT_STARTED, 1'700'000'000));
  events.back().mutable_agent_event()->mutable_agent_start()->mutable_time()->set_seconds(
      1'700'000'000);
  events.push_back(AgentEventResponse(flowpb::ENDPOINT_CREATED, 1'700'000'001));
  auto* ep = events.back().mutable_agent_event()->mutable_endpoint_update();
  ep->set_namespace_("shop");
  ep->set_pod_name("web-1");
  events.push_back(AgentEventResponse(flowpb::IPCACHE_UPSERTED, 1'700'000'002));
  auto* ipc = events.back().mutable_agent_event()->mutable_ipcache_update();
  ipc->set_cidr("10.0.0.9/32");
  ipc->set_identity(4242);
  ipc->mutable_old_identity()->set_value(300);
  ipc->set_host_ip("192.168.1.2");
  events.push_back(AgentEventResponse(flowpb::POLICY_UPDATED, 1'700'000'003));  // no details
  const auto print = [&](OutputFormat format, bool node) {
    std::ostringstream out;
    PrinterOptions options;
    options.format = format;
    options.node_name = node;
    options.time_format = "RFC3339Milli";
    AgentEventPrinter printer(options, out);
    for (const auto& e : events) printer.Write(e);
    printer.Flush();
    return out.str();
  };
  EXPECT_EQ(print(OutputFormat::kCompact, false),
            "2023-11-14T22:13:20.123Z: AGENT_STARTED (start time: 2023-11-14T22:13:20.000Z)\n"
            "2023-11-14T22:13:21.123Z: ENDPOINT_CREATED (id: 0, namespace: shop, pod name: "
            "web-1)\n"
            "2023-11-14T22:13:22.123Z: IPCACHE_UPSERTED (cidr: 10.0.0.9/32, identity: 4242, old "
            "identity: 300, host ip: 192.168.1.2, encrypt key: 0)\n"
            "2023-11-14T22:13:23.123Z: POLICY_UPDATED (UNKNOWN)\n");
  EXPECT_EQ(print(OutputFormat::kCompact, true).substr(0, 50),
            "2023-11-14T22:13:20.123Z [node-a]: AGENT_STARTED (");
  const std::string dict = print(OutputFormat::kDict, true);
  EXPECT_EQ(dict.substr(0, dict.find("------------")),
            "  TIMESTAMP: 2023-11-14T22:13:20.123Z\n"
            "       NODE: node-a\n"
            "       TYPE: AGENT_STARTED\n"
            "    DETAILS: start time: 2023-11-14T22:13:20.000Z\n");
  size_t separators = 0;
  for (size_t at = dict.find("\n------------\n"); at != std::string::npos;
       at = dict.find("\n------------\n", at + 1)) {
    ++separators;
  }
  EXPECT_EQ(separators, 3u);  // between the four events
  const std::string table = print(OutputFormat::kTable, false);
  EXPECT_EQ(table.substr(0, table.find('\n', table.find('\n') + 1) + 1),
            "TIMESTAMP                  TYPE               DETAILS\n"
            "2023-11-14T22:13:20.123Z   AGENT_STARTED      start time: 2023-11-14T22:13:20.000Z\n");
  EXPECT_EQ(
      print(OutputFormat::kJson, false)
          .rfind(
              R"({"agent_event":{"type":"AGENT_STARTED","agent_start":{"time":"2023-11-14T22:13:20Z"}},)"
              R"("node_name":"node-a","time":"2023-11-14T22:13:20.123Z"})"
              "\n",
              0),
      0u);
}

}  // namespace loupe::cli
