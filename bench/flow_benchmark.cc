// Benchmarks of the network view's user-space path: appending to the flow buffer, filtering,
// reading back, and the memory a buffered flow costs.
#include <malloc.h>

#include <memory>
#include <vector>

#include "benchmark/benchmark.h"
#include "src/flow/filter.h"
#include "src/flow/flow_buffer.h"
#include "src/protocols/dns/dns_tracker.h"

namespace loupe {
namespace {

flow::Flow SyntheticFlow(uint64_t i) {
  flow::Flow f;
  f.time_ns = static_cast<int64_t>(i);
  flow::IpAddress::Parse("198.18.0.2", &f.src_ip);
  flow::IpAddress::Parse("198.18.0.3", &f.dst_ip);
  f.src_ip.bytes[3] = static_cast<uint8_t>(i);
  f.l4 = flow::L4Protocol::kTcp;
  f.src_port = static_cast<uint16_t>(30000 + i % 20000);
  f.dst_port = (i % 4 == 0) ? 443 : 80;
  f.tcp_flags = flow::kTcpAck;
  f.direction = flow::TrafficDirection::kEgress;
  f.ifindex = 3;
  return f;
}

void BM_FlowBufferAppend(benchmark::State& state) {
  flow::FlowBuffer buffer(65535);
  uint64_t i = 0;
  for (auto _ : state) buffer.Append(SyntheticFlow(i++));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FlowBufferAppend);

// The same with both ends in Kubernetes namespaces (shared PeerInfo, as the identity caches hand
// them out): each append also notes the two namespaces for GetNamespaces.
void BM_FlowBufferAppendWithNamespaces(benchmark::State& state) {
  flow::FlowBuffer buffer(65535);
  std::vector<std::shared_ptr<const flow::PeerInfo>> peers;
  for (const char* ns : {"shop", "kube-system", "payments", "default"}) {
    auto info = std::make_shared<flow::PeerInfo>();
    info->endpoint.cluster_name = "prod-eu";
    info->endpoint.namespace_name = ns;
    peers.push_back(std::move(info));
  }
  uint64_t i = 0;
  for (auto _ : state) {
    flow::Flow f = SyntheticFlow(i);
    f.src_info = peers[i % peers.size()];
    f.dst_info = peers[(i + 1) % peers.size()];
    buffer.Append(std::move(f));
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FlowBufferAppendWithNamespaces);

// A typical `loupe observe --from-ip 198.18.0.0/24 --port 443 --not --verdict DROPPED` request.
void BM_FilterMatch(benchmark::State& state) {
  flow::FilterSpec white_src;
  white_src.source_ip = {"198.18.0.0/24"};
  white_src.destination_port = {"443"};
  flow::FilterSpec black;
  black.verdict = {flow::Verdict::kDropped};
  auto predicate = flow::FlowPredicate::Compile({white_src}, {black}, {"node", nullptr});
  std::vector<flow::Flow> flows;
  for (uint64_t i = 0; i < 1024; ++i) flows.push_back(SyntheticFlow(i));
  size_t matched = 0;
  uint64_t i = 0;
  for (auto _ : state) matched += predicate->Matches(flows[i++ & 1023]) ? 1 : 0;
  benchmark::DoNotOptimize(matched);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FilterMatch);

// Append + filter on one core: the ingest side of the ">= 2 M flow events/s" target
// (the BPF event decode is measured separately with the sensor's decoder).
void BM_AppendAndFilter(benchmark::State& state) {
  flow::FlowBuffer buffer(65535);
  flow::FilterSpec spec;
  spec.destination_port = {"443"};
  auto predicate = flow::FlowPredicate::Compile({spec}, {}, {"node", nullptr});
  size_t matched = 0;
  uint64_t i = 0;
  for (auto _ : state) {
    flow::Flow f = SyntheticFlow(i++);
    matched += predicate->Matches(f) ? 1 : 0;
    buffer.Append(std::move(f));
  }
  benchmark::DoNotOptimize(matched);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AppendAndFilter);

// Reading the whole buffer back (what `loupe observe --last 65535` costs the agent).
void BM_ReadAll(benchmark::State& state) {
  flow::FlowBuffer buffer(65535);
  for (uint64_t i = 0; i < 65535; ++i) buffer.Append(SyntheticFlow(i));
  std::vector<flow::FlowBuffer::Entry> out;
  out.reserve(65535);
  for (auto _ : state) {
    out.clear();
    buffer.Read(buffer.oldest_seq(), buffer.next_seq(), 65535, &out, nullptr);
  }
  state.SetItemsProcessed(state.iterations() * 65535);
}
BENCHMARK(BM_ReadAll)->Unit(benchmark::kMillisecond);

// Heap bytes per buffered flow: a full 65535-flow buffer of L3/L4 flows, and of DNS L7 flows.
void BM_MemoryPerFlow(benchmark::State& state) {
  const bool dns = state.range(0) != 0;
  double per_flow = 0;
  for (auto _ : state) {
    const size_t before = mallinfo2().uordblks;
    auto buffer = std::make_unique<flow::FlowBuffer>(65535);
    for (uint64_t i = 0; i < 65535; ++i) {
      flow::Flow f = SyntheticFlow(i);
      if (dns) {
        auto l7 = std::make_shared<flow::L7Info>();
        l7->dns = std::make_unique<flow::DnsInfo>();
        l7->dns->query = "api.payments.svc.cluster.local.";
        l7->dns->qtypes = {"A"};
        l7->dns->ips = {"198.18.0.9"};
        l7->dns->rrtypes = {"A"};
        f.l7 = std::move(l7);
      }
      buffer->Append(std::move(f));
    }
    const size_t after = mallinfo2().uordblks;
    per_flow = static_cast<double>(after - before) / 65535.0;
    benchmark::DoNotOptimize(buffer);
  }
  state.counters["bytes_per_flow"] = per_flow;
  state.counters["sizeof_entry"] = sizeof(flow::FlowBuffer::Entry);
}
BENCHMARK(BM_MemoryPerFlow)->Arg(0)->Arg(1)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace loupe
