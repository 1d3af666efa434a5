// Benchmarks of the Hubble metric handlers (src/metrics/hubble): the per-flow cost of OnFlow for
// the seed's handler list (dns, drop, tcp, flow, port-distribution, icmp, httpV2 with exemplars
// and seven labelsContext labels), per kind of flow, and of OnTcpConnect. Every series already
// exists (the steady state); `allocs/flow` counts heap allocations per flow on that path.
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bench/counting_new.h"
#include "benchmark/benchmark.h"
#include "src/metrics/hubble/hubble_metrics.h"

namespace loupe::metrics::hubble {
namespace {

const std::vector<std::string> kSeedEntries = {
    "dns",
    "drop",
    "tcp",
    "flow",
    "port-distribution",
    "icmp",
    std::string("httpV2:exemplars=true;labelsContext=source_ip,source_namespace,source_workload,") +
        "destination_ip,destination_namespace,destination_workload,traffic_direction",
};

flow::IpAddress Ip(const char* text) {
  flow::IpAddress ip;
  flow::IpAddress::Parse(text, &ip);
  return ip;
}

std::shared_ptr<const flow::PeerInfo> Peer(const char* ns, const char* pod, const char* workload) {
  auto info = std::make_shared<flow::PeerInfo>();
  info->endpoint.namespace_name = ns;
  info->endpoint.pod_name = pod;
  info->endpoint.workloads.push_back({workload, "Deployment"});
  info->endpoint.labels = {std::string("k8s:app=") + workload};
  return info;
}

flow::Flow TcpPacket(uint16_t dst_port, uint8_t flags) {
  flow::Flow f;
  f.type = flow::FlowType::kL3L4;
  f.event_type = flow::EventType::kTrace;
  f.event_subtype = 10;
  f.observation_point = flow::ObservationPoint::kFromNetwork;
  f.verdict = flow::Verdict::kForwarded;
  f.direction = flow::TrafficDirection::kIngress;
  f.is_reply = 0;
  f.l4 = flow::L4Protocol::kTcp;
  f.src_ip = Ip("10.0.1.5");
  f.dst_ip = Ip("10.0.2.7");
  f.src_port = 50000;
  f.dst_port = dst_port;
  f.tcp_flags = flags;
  f.src_info = Peer("web", "frontend-7d4b9c5f6-x2kq9", "frontend");
  f.dst_info = Peer("shop", "api-6c9f7d8b5-q7x2k", "api");
  return f;
}

flow::Flow HttpResponse(uint32_t code) {
  flow::Flow f = TcpPacket(50000, 0);
  f.type = flow::FlowType::kL7;
  f.event_type = flow::EventType::kL7;
  f.is_reply = 1;
  std::swap(f.src_ip, f.dst_ip);
  std::swap(f.src_info, f.dst_info);
  f.src_port = 8080;
  auto l7 = std::make_shared<flow::L7Info>();
  l7->type = flow::L7Type::kResponse;
  l7->latency_ns = 3'000'000;
  l7->http = std::make_unique<flow::HttpInfo>();
  l7->http->code = code;
  l7->http->method = "GET";
  l7->http->url = "http://api.shop:8080/items";
  l7->http->protocol = "HTTP/1.1";
  f.l7 = std::move(l7);
  return f;
}

flow::Flow DnsResponse() {
  flow::Flow f = TcpPacket(41000, 0);
  f.type = flow::FlowType::kL7;
  f.event_type = flow::EventType::kL7;
  f.l4 = flow::L4Protocol::kUdp;
  f.is_reply = 1;
  f.src_port = 53;
  auto l7 = std::make_shared<flow::L7Info>();
  l7->type = flow::L7Type::kResponse;
  l7->dns = std::make_unique<flow::DnsInfo>();
  l7->dns->query = "api.shop.svc.cluster.local.";
  l7->dns->qtypes = {"A"};
  l7->dns->ips = {"10.96.12.7"};
  l7->dns->rrtypes = {"A"};
  f.l7 = std::move(l7);
  return f;
}

flow::Flow Drop() {
  flow::Flow f = TcpPacket(5432, flow::kTcpSyn);
  f.verdict = flow::Verdict::kDropped;
  f.event_type = flow::EventType::kDrop;
  f.drop_reason = 133;
  return f;
}

flow::Flow Icmp() {
  flow::Flow f = TcpPacket(0, 0);
  f.l4 = flow::L4Protocol::kIcmpv4;
  f.icmp_type = 8;
  return f;
}

std::vector<flow::Flow> Flows(int kind) {
  switch (kind) {
    case 0:  // L3/L4 TCP packets: the bulk of a node's flows
      return {TcpPacket(443, flow::kTcpAck), TcpPacket(443, flow::kTcpSyn),
              TcpPacket(8080, flow::kTcpAck | flow::kTcpPsh), TcpPacket(5432, flow::kTcpFin)};
    case 1:  // HTTP responses (httpV2 with labelsContext and an exemplar)
      return {HttpResponse(200), HttpResponse(404)};
    case 2:  // DNS responses
      return {DnsResponse()};
    default:  // a mix: 6 TCP, 1 HTTP response, 1 DNS response, 1 drop, 1 ICMP
      return {TcpPacket(443, flow::kTcpAck),
              TcpPacket(443, flow::kTcpSyn),
              TcpPacket(443, flow::kTcpAck),
              TcpPacket(8080, flow::kTcpAck | flow::kTcpPsh),
              TcpPacket(8080, flow::kTcpAck),
              TcpPacket(5432, flow::kTcpFin),
              HttpResponse(200),
              DnsResponse(),
              Drop(),
              Icmp()};
  }
}

const char* KindName(int kind) {
  switch (kind) {
    case 0:
      return "tcp";
    case 1:
      return "http_response";
    case 2:
      return "dns_response";
    default:
      return "mix";
  }
}

void RunOnFlow(benchmark::State& state, const std::vector<std::string>& entries) {
  Registry registry;
  auto metrics = HubbleMetrics::Create(registry, entries);
  if (!metrics.ok()) std::abort();
  const std::vector<flow::Flow> flows = Flows(static_cast<int>(state.range(0)));
  const TraceIds trace{"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"};
  for (const auto& f : flows) (*metrics)->OnFlow(f, trace);  // create the series
  size_t i = 0;
  const uint64_t allocs_before = bench::Allocations();
  for (auto _ : state) {
    (*metrics)->OnFlow(flows[i], trace);
    if (++i == flows.size()) i = 0;
  }
  const uint64_t allocs = bench::Allocations() - allocs_before;
  state.SetLabel(KindName(static_cast<int>(state.range(0))));
  state.SetItemsProcessed(state.iterations());
  state.counters["allocs/flow"] =
      static_cast<double>(allocs) / static_cast<double>(state.iterations());
}

// The seed's seven handlers.
void BM_OnFlowSeed(benchmark::State& state) { RunOnFlow(state, kSeedEntries); }
BENCHMARK(BM_OnFlowSeed)->Arg(0)->Arg(1)->Arg(2)->Arg(3);

// Only `flow` (hubble_flows_processed_total), the handler every flow reaches.
void BM_OnFlowFlowOnly(benchmark::State& state) { RunOnFlow(state, {"flow"}); }
BENCHMARK(BM_OnFlowFlowOnly)->Arg(0);

void BM_OnTcpConnect(benchmark::State& state) {
  Registry registry;
  auto metrics = HubbleMetrics::Create(registry, kSeedEntries);
  if (!metrics.ok()) std::abort();
  flow::Flow tuple = TcpPacket(8080, 0);
  tuple.direction = flow::TrafficDirection::kEgress;
  (*metrics)->OnTcpConnect(tuple, 0.001);
  const uint64_t allocs_before = bench::Allocations();
  for (auto _ : state) (*metrics)->OnTcpConnect(tuple, 0.001);
  state.SetItemsProcessed(state.iterations());
  state.counters["allocs/connect"] = static_cast<double>(bench::Allocations() - allocs_before) /
                                     static_cast<double>(state.iterations());
}
BENCHMARK(BM_OnTcpConnect);

}  // namespace
}  // namespace loupe::metrics::hubble

BENCHMARK_MAIN();
